"""Benchmark: the coordinator's advert ingest rate (decode + verify + store), one core.

``python -m bench.ingest [--nodes 20] [--adverts 3000] [--json]`` signs adverts from
``--nodes`` real keys (each embedding its node's real signed report), then times
:meth:`Registry.ingest_advert` on all of them against a real SQLite file, ``--repeats`` times
(median reported: this machine is shared and noisy). The first advert of
each node pays for full report verification; later ones hit the verified-report cache, as in
production where a node re-advertises the same report. Signing is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from eth_account import Account

from coordinator.registry import Registry
from coordinator.registry.store import RegistryStore
from gcx.advert import make_advert
from gcx.keys import ParticipantKey
from gcx.reference import load_profile
from gcx.stats import summarize
from node_agent.backends.base import DeviceInfo, empty_telemetry
from node_agent.capacity import build_report
from node_agent.runner import BenchResult, BenchRun

MEASURED = ("gemm_fp64", "gemm_fp32", "gemm_int8", "mem_triad")


def _report(key: ParticipantKey, profile: object) -> dict[str, object]:
    from gcx.reference import ReferenceProfile

    assert isinstance(profile, ReferenceProfile)
    results = []
    for name in MEASURED:
        v = profile.benchmarks[name].value
        samples = tuple(v * (1 + i / 100) for i in range(10))
        results.append(
            BenchResult(name, profile.benchmarks[name].unit, samples, summarize(samples), "n", "t", 1)
        )
    run = BenchRun(
        "numpy", DeviceInfo("cpu", "bench", "bench", 0, {}), True, tuple(results), empty_telemetry(), 1.0
    )
    return build_report(run, profile, key, "hpc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--adverts", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    profile = load_profile()
    now = int(time.time())
    keys = []
    for i in range(args.nodes):
        acct = Account.create()
        keys.append(ParticipantKey(f"n{i}", acct.address, Path("-"), False, bytes(acct.key)))
    reports = [_report(k, profile) for k in keys]
    adverts = []
    for j in range(args.adverts):
        i = j % args.nodes
        data = make_advert(
            keys[i],
            f"peer-{i}",
            reports[i],
            price_per_ch=500_000,
            hours=24,
            nonce=j + 1,
            now=now,
            ttl_s=120,
            listen_addrs=["/ip4/127.0.0.1/tcp/4001"],
        )
        adverts.append((data, f"peer-{i}", keys[i].address))
    rates, accepted = [], 0
    for _ in range(args.repeats):  # a fresh registry each time: first adverts pay full verification
        with tempfile.TemporaryDirectory() as tmp:
            registry = Registry(RegistryStore(Path(tmp) / "r.sqlite"), profile, rate=1e9, burst=1e9)
            start = time.perf_counter()
            accepted = sum(registry.ingest_advert(d, p, a, now=now) for d, p, a in adverts)
            rates.append(args.adverts / (time.perf_counter() - start))
            registry.store.close()
    result = {
        "bench": "gcx.coordinator.ingest/1",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "nodes": args.nodes,
        "adverts": args.adverts,
        "accepted": accepted,
        "advert_bytes": len(adverts[0][0]),
        "repeats": args.repeats,
        "adverts_per_s": round(statistics.median(rates), 1),
        "adverts_per_s_runs": [round(r, 1) for r in rates],
        "target_adverts_per_s": 3000,
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
