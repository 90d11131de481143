"""Job round trip on a real devnet, from the buyer's side: the digits program and a 1024³ GEMM.

Usage: ``python -m bench.jobs [--json] [--quick]`` (``--quick``: one run per job instead of 3).

A fresh devnet in a temporary folder (anvil with the contracts, a coordinator, two node agents,
no verifier), each party its own process on loopback; a buyer with a random funded key submits
through the real SDK (:class:`gcx.sdk.jobs.JobsClient`: quote, escrow, ``POST /v1/jobs``) to a
chosen provider, one job at a time, alternating between the nodes. Per run, each figure is
seconds on the buyer's clock from the moment ``submit`` was called (so they add up) except
``download_s``:

* ``submit_s`` — ``submit`` returned (quote + approve/open escrow on chain + POST);
* ``to_result_s`` — the coordinator's job view is ``submitted`` with the op leaves: the
  provider ran it and posted its result root on chain (the result is available);
* ``download_s`` — ``client.result(job_id)`` alone: the outputs downloaded from the provider
  over ``/gcx/data/1`` and verified against the root on chain;
* ``to_finalizable_s`` — the chain's latest block is at or past the job's challenge deadline
  (anyone may call ``finalize``); dominated by the devnet's challenge window;
* ``to_finalized_s`` — the coordinator's view says ``finalized`` (the node finalized it itself).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_account import Account

from gcx.devnet import COORDINATOR_ENV, Devnet, DevnetError

if TYPE_CHECKING:
    from gcx.chain.client import Chain
    from gcx.sdk.jobs import JobsClient, JobView

NODES = 2
GRADE = "D"  # the devnet's CPU nodes are graded D
MAX_PRICE = 10_000_000  # micro-USDC per job: far above any devnet quote
GEMM_SIZE = 1024
POLL_S = 0.2
JOB_TIMEOUT_S = 300.0
FIGURES = ("submit_s", "to_result_s", "download_s", "to_finalizable_s", "to_finalized_s")


@dataclass(frozen=True, slots=True)
class BenchJob:
    """One job to time: its name and a maker of its job file for run ``i``."""

    name: str
    make: Callable[[int], bytes]


def bench_jobs() -> list[BenchJob]:
    """The digits classifier (one job file, trained once) and a seeded 1024³ GEMM (a new seed
    each run)."""
    from gcx.tp.examples.digits import digits_job
    from gcx.tp.examples.matmul import matmul_job
    from gcx.tp.jobfile import encode_job

    digits = encode_job(digits_job(0)[0])
    return [
        BenchJob("digits", lambda _i: digits),
        BenchJob(f"gemm{GEMM_SIZE}", lambda i: encode_job(matmul_job(GEMM_SIZE, seed=i + 1))),
    ]


def _wait(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = POLL_S) -> Any:
    """Poll ``check`` until it returns something truthy; :class:`DevnetError` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise DevnetError(f"bench.jobs timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def _all_verified(api: str, peers: set[str]) -> bool:
    try:
        listing = httpx.get(f"{api}/v1/providers", timeout=5).json()["providers"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    verified = {p["peer_id"] for p in listing if p.get("verified")}
    return peers <= verified


def time_run(client: JobsClient, chain: Chain, job_bytes: bytes, provider: str) -> dict[str, Any]:
    """One round trip of ``job_bytes`` on ``provider`` (see the module's docstring)."""
    t0 = time.monotonic()
    view = client.submit(job_bytes, GRADE, MAX_PRICE, provider=provider)
    t_submit = time.monotonic()
    job_id = view.job_id

    def with_result() -> JobView | None:
        v = client.status(job_id)
        if v.state in ("open", "delivered"):
            return None
        if v.state not in ("submitted", "finalized"):
            raise DevnetError(f"job {job_id} is {v.state}, not submitted")
        return v if v.leaves is not None and v.challenge_deadline is not None else None

    view = _wait(f"job {job_id}'s result", with_result, JOB_TIMEOUT_S)
    t_result = time.monotonic()
    outputs = client.result(job_id)
    t_download = time.monotonic()
    if not outputs:
        raise DevnetError(f"job {job_id}'s verified download has no outputs")
    deadline = int(view.challenge_deadline)
    t_finalizable: float | None = None
    end = time.monotonic() + JOB_TIMEOUT_S
    while True:
        now_chain = int(chain.w3.eth.get_block("latest")["timestamp"])
        if t_finalizable is None and now_chain >= deadline:
            t_finalizable = time.monotonic()
        state = client.status(job_id).state
        if state == "finalized":
            t_finalized = time.monotonic()
            break
        if state != "submitted":
            raise DevnetError(f"job {job_id} is {state}, not submitted or finalized")
        if time.monotonic() > end:
            raise DevnetError(f"bench.jobs timed out waiting for job {job_id} to be finalized")
        time.sleep(POLL_S)
    if t_finalizable is None:  # finalized at the first look: it was finalizable by then
        t_finalizable = t_finalized
    return {
        "job_id": job_id,
        "micro_ch": view.micro_ch,
        "amount": view.amount,
        "submit_s": t_submit - t0,
        "to_result_s": t_result - t0,
        "download_s": t_download - t_result,
        "to_finalizable_s": t_finalizable - t0,
        "to_finalized_s": t_finalized - t0,
    }


def summarize(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of each figure over the runs, plus the per-run lists."""
    out: dict[str, Any] = {
        "name": name,
        "micro_ch": runs[0]["micro_ch"],
        "amount": runs[0]["amount"],
        "runs": len(runs),
    }
    for key in FIGURES:
        out[key] = round(statistics.median(r[key] for r in runs), 3)
    out["per_run"] = {key: [round(r[key], 3) for r in runs] for key in FIGURES}
    return out


def run(runs: int, base: Path) -> dict[str, Any]:
    """Start the devnet in ``base``, time ``runs`` round trips of each job, tear it down."""
    from gcx.chain.staking import connect
    from gcx.keys import ParticipantKey
    from gcx.sdk.jobs import BuyerStore, JobsClient

    jobs = bench_jobs()
    started = time.monotonic()
    net = Devnet(NODES, base=base, fresh=True, verifier=False)
    try:
        net.start()
        startup_s = time.monotonic() - started
        api = net.summary["api"]
        peers = [n["peer_id"] for n in sorted(net.summary["nodes"], key=lambda n: n["name"])]
        _wait("every node listed and verified", lambda: _all_verified(api, set(peers)), 120, 0.5)
        raw = secrets.token_bytes(32)
        buyer = ParticipantKey("buyer", Account.from_key(raw).address, base / "buyer", False, raw)
        net.fund(buyer.address)
        chain = connect(net.chain["rpc_url"], Path(net.chain["deployment"]), buyer)
        results = []
        with JobsClient(api, buyer, chain, store=BuyerStore(base / "buyer" / "jobs")) as client:
            for j, job in enumerate(jobs):
                timed = [
                    time_run(client, chain, job.make(i), peers[(i + j) % len(peers)]) for i in range(runs)
                ]
                results.append(summarize(job.name, timed))
    finally:
        net.stop()
    return {
        "bench": "jobs",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        },
        "devnet": {
            "nodes": NODES,
            "verifier": False,
            "challenge_window_s": int(COORDINATOR_ENV["GCX_JOBS__CHALLENGE_WINDOW_S"]),
            "block_time_s": 1,
            "startup_s": round(startup_s, 1),
        },
        "jobs": results,
        "notes": (
            "seconds on the buyer's clock from calling submit (download_s alone is client.result's "
            "duration); jobs run one at a time, alternating between the two nodes; to_finalizable is "
            "dominated by the devnet's 10 s challenge window (a 1 s block time and polling every "
            f"{POLL_S:g} s add up to ~1 s), to_finalized by when the node's own finalize lands"
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one compact JSON object")
    parser.add_argument("--quick", action="store_true", help="one run per job (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gcx-bench-jobs-") as tmp:
        out = run(1 if args.quick else 3, Path(tmp) / "devnet")
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
