"""Benchmark: advert latency, publish → registry updated, with N nodes on loopback.

``python -m bench.adverts [--nodes 20] [--rounds 10] [--json]`` starts a coordinator
host serving the real ``/gcx/advert/1`` handler and gossip consumer of
:mod:`coordinator.daemon`, and N node hosts (real libp2p: TCP, Noise, Yamux, gossipsub with
strict signing) in one trio process. Each node publishes one advert per round at a random moment
within the round, as the daemon does: sent to the coordinator directly and gossiped. The latency
of an advert is the time from the node's send to the moment the coordinator's registry has
validated and stored it (real SQLite), whichever copy arrived first. All hosts share one event
loop on one core, so the figure includes every node's work: a pessimistic stand-in for N
separate machines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
from eth_account import Account

from coordinator.daemon import _consume_adverts, _serve_direct
from coordinator.registry import Registry
from coordinator.registry.store import RegistryStore
from gcx.advert import ADVERT_PROTOCOL, CAPACITY_TOPIC, make_advert
from gcx.keys import ParticipantKey
from gcx.p2p import P2PError, configure_libp2p_logging, connect, listen_addrs, open_host, open_pubsub, request
from gcx.reference import load_profile
from gcx.stats import percentile

from .ingest import _report


def _key(name: str) -> ParticipantKey:
    acct = Account.create()
    return ParticipantKey(name, acct.address, Path("-"), False, bytes(acct.key))


async def _run(nodes: int, rounds: int, round_s: float, gossip: bool) -> dict[str, Any]:
    profile = load_profile()
    keys = [_key(f"n{i}") for i in range(nodes)]
    reports = [_report(k, profile) for k in keys]
    sent: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(
            RegistryStore(Path(tmp) / "r.sqlite"), profile, clock=time.time, rate=100, burst=100
        )
        async with open_host(_key("c").private_key) as chost, open_pubsub(chost, [CAPACITY_TOPIC]) as cps:
            target = listen_addrs(chost)[0]

            stored = registry.store.upsert_advert

            def timed_upsert(advert: Any, data: bytes, now: int, slot: int) -> None:
                stored(advert, data, now, slot)
                latencies.append(time.perf_counter() - sent[(advert.peer_id, advert.nonce)])

            registry.store.upsert_advert = timed_upsert  # type: ignore[method-assign]
            _serve_direct(chost, registry, 10.0)

            async def node(i: int, ready: trio.Event, go: trio.Event, task_status: Any) -> None:
                async with open_host(keys[i].private_key) as host, open_pubsub(host, [CAPACITY_TOPIC]) as ps:
                    coordinator = await connect(host, target, 10.0)
                    task_status.started()
                    await go.wait()
                    peer = host.get_id().to_base58()
                    rng = random.Random(i)
                    for r in range(rounds):
                        await trio.sleep(rng.random() * round_s)
                        nonce = r + 1
                        data = make_advert(
                            keys[i],
                            peer,
                            reports[i],
                            price_per_ch=500_000,
                            hours=24,
                            nonce=nonce,
                            now=int(time.time()),
                            ttl_s=120,
                            listen_addrs=[],
                        )
                        sent[(peer, nonce)] = time.perf_counter()
                        await request(host, coordinator, ADVERT_PROTOCOL, data, timeout_s=10.0)
                        if gossip:
                            with contextlib.suppress(P2PError):
                                await ps.publish(CAPACITY_TOPIC, data)
                        await trio.sleep(round_s - (time.perf_counter() - sent[(peer, nonce)]) % round_s)
                    await ready.wait()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(_consume_adverts, cps, registry)
                ready, go = trio.Event(), trio.Event()
                started = time.perf_counter()
                for i in range(nodes):
                    await nursery.start(node, i, ready, go)
                setup_s = time.perf_counter() - started
                await trio.sleep(2.0)  # let every mesh settle past the first gossip heartbeat
                go.set()
                deadline = trio.current_time() + rounds * round_s * 2 + 30
                while len(latencies) < nodes * rounds and trio.current_time() < deadline:
                    await trio.sleep(0.1)
                ready.set()
                nursery.cancel_scope.cancel()
        registry.store.close()
    ms = [x * 1000 for x in latencies]
    return {
        "nodes": nodes,
        "gossip": gossip,
        "rounds": rounds,
        "adverts_sent": len(sent),
        "adverts_stored": len(ms),
        "setup_s": round(setup_s, 2),
        "latency_ms": {
            "p50": round(percentile(ms, 50), 2) if ms else None,
            "p99": round(percentile(ms, 99), 2) if ms else None,
            "max": round(max(ms), 2) if ms else None,
            "mean": round(statistics.fmean(ms), 2) if ms else None,
        },
        "target_p99_ms": 250,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--round-s", type=float, default=1.0)
    parser.add_argument("--no-gossip", action="store_true", help="direct delivery only (no gossip copy)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_libp2p_logging("ERROR")
    result = trio.run(_run, args.nodes, args.rounds, args.round_s, not args.no_gossip)
    result = {
        "bench": "gcx.coordinator.advert_latency/1",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        **result,
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
