"""``gcx devnet scenario jobs``: the job path end to end on a local network (docs/jobs.md).

A fresh devnet (anvil with the contracts, a coordinator, three node agents, a verifier), one of
the nodes deliberately faulty (``fault.wrong_op``: it corrupts one op's output in every job);
a buyer with a funded key submits the digits classifier and a few seeded GEMMs through the real
SDK (quote, escrow, submit), each to a chosen provider so that every node gets work; then
everything is read back from the places a user would read it: the coordinator's job views
(states, verified mismatches), the chain (``JobFinalized`` payouts), the registry (capacity
audits), the verifier's own status, and the buyer's verified download of the digits result,
scored against the labels it kept.

Nothing here simulates a party: each runs in its own process, and the figures are what they did.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from .devnet import Devnet, DevnetError

log = logging.getLogger("gcx.devnet.jobs")

FAULTY_NODE = 3
WRONG_OP = 0  # every program has op 0, so every job the faulty node runs is wrong
GEMM_SIZES = (256, 384, 256, 512)
MAX_PRICE = 10_000_000  # micro-USDC per job: far above any devnet quote
GRADE = "D"  # the devnet's CPU nodes are graded D; "D or better" takes any of them


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """One job of the scenario: what it is and which node runs it."""

    name: str
    job_bytes: bytes
    node: int


def plan_jobs(nodes: int, seed: int = 0) -> tuple[list[PlannedJob], Any]:
    """The digits job on node 1 and the GEMMs round-robin over every node (so the faulty one gets
    work); also the digits model (for the scenario's report)."""
    from gcx.tp.examples.digits import digits_job
    from gcx.tp.examples.matmul import matmul_job
    from gcx.tp.jobfile import encode_job

    digits, model = digits_job(seed)
    jobs = [PlannedJob("digits", encode_job(digits), 1)]
    for n, size in enumerate(GEMM_SIZES):
        jobs.append(PlannedJob(f"gemm{size}", encode_job(matmul_job(size, seed=n + 1)), (n + 1) % nodes + 1))
    return jobs, model


def _wait(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; :class:`DevnetError` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise DevnetError(f"the jobs scenario timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def _providers(api: str) -> dict[str, dict[str, Any]]:
    try:
        listing = httpx.get(f"{api}/v1/providers", timeout=5).json()["providers"]
    except (httpx.HTTPError, ValueError, KeyError):
        return {}
    return {p["peer_id"]: p for p in listing}


def _verifier_status(net: Devnet, name: str = "verifier") -> dict[str, Any]:
    """``gcx verifier status --json`` in verifier ``name``'s home, as its operator would run it."""
    env = {**os.environ, "GCX_HOME": str(net.base / name)}
    proc = subprocess.run(
        [sys.executable, "-m", "gcx", "verifier", "status", "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise DevnetError(f"gcx verifier status failed: {proc.stderr.strip()[-300:]}")
    status: dict[str, Any] = json.loads(proc.stdout)
    return status


def run_jobs_scenario(net: Devnet, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run the scenario on the started devnet ``net`` (its node ``FAULTY_NODE`` must run with
    ``fault.wrong_op``) and return the figures (see ``gcx devnet scenario jobs --help``)."""
    from gcx.chain.staking import connect
    from gcx.keys import ParticipantKey
    from gcx.sdk.jobs import BuyerStore, JobsClient

    started = time.monotonic()
    api = net.summary["api"]
    nodes = {int(n["name"].split("-")[1]): n for n in net.summary["nodes"]}
    peers = {i: n["peer_id"] for i, n in nodes.items()}

    def all_verified() -> dict[str, dict[str, Any]] | None:
        views = _providers(api)
        return views if all(views.get(p, {}).get("verified") for p in peers.values()) else None

    _wait("every node to pass its first capacity audit", all_verified, 120)

    raw = secrets.token_bytes(32)
    buyer = ParticipantKey("buyer", Account.from_key(raw).address, net.base / "buyer", False, raw)
    net.fund(buyer.address)
    chain = connect(net.chain["rpc_url"], Path(net.chain["deployment"]), buyer)
    planned, _model = plan_jobs(len(nodes))
    submitted: list[tuple[PlannedJob, str]] = []
    with JobsClient(api, buyer, chain, store=BuyerStore(net.base / "buyer" / "jobs")) as client:
        for job in planned:
            view = client.submit(job.job_bytes, GRADE, MAX_PRICE, provider=peers[job.node])
            log.info(
                "submitted %s to node-%d: job %s, %d micro-USDC", job.name, job.node, view.job_id, view.amount
            )
            submitted.append((job, view.job_id))
        finals = {}
        for _job, job_id in submitted:
            finals[job_id] = client.wait(job_id, until=("finalized",), timeout_s=timeout_s, poll_s=1.0)
        digits_id = submitted[0][1]
        outputs = client.result(finals[digits_id].job_id)
        score = client.score(finals[digits_id].job_id, outputs)

    faulty_jobs = {jid for job, jid in submitted if job.node == FAULTY_NODE}

    def mismatches_reported() -> list[dict[str, Any]] | None:
        found = []
        for job_id in faulty_jobs:
            view = httpx.get(f"{api}/v1/jobs/{job_id}", timeout=5).json()
            if not view.get("mismatches"):
                return None
            found += [
                {"job_id": job_id, "provider": view["provider"]["peer_id"], **m} for m in view["mismatches"]
            ]
        return found

    mismatches = _wait("the verifier's mismatch reports on the faulty node's jobs", mismatches_reported, 120)
    payouts = {
        "0x" + bytes(e["args"]["jobId"]).hex(): int(e["args"]["payout"])
        for e in chain.events("JobEscrow", "JobFinalized", from_block=0)
    }
    views = _providers(api)
    audits = [views[p].get("audit") or {} for p in peers.values() if p in views]
    status = _verifier_status(net)
    node_of = {peers[i]: f"node-{i}" for i in peers}
    return {
        "scenario": "jobs",
        "nodes": len(nodes),
        "faulty": {"node": f"node-{FAULTY_NODE}", "peer_id": peers[FAULTY_NODE], "wrong_op": WRONG_OP},
        "jobs": len(submitted),
        "finalized": sum(v.state == "finalized" for v in finals.values()),
        "paid_micro_usdc": sum(payouts.get(jid, 0) for _, jid in submitted),
        "ch_metered": sum(v.micro_ch for v in finals.values()) / 1_000_000,
        "micro_ch_metered": sum(v.micro_ch for v in finals.values()),
        "verified_samples": int(status.get("verified", 0)) + len(status.get("mismatches", [])),
        "mismatches": [
            {
                "job_id": m["job_id"],
                "provider": m["provider"],
                "node": node_of.get(m["provider"]),
                "op": m.get("op"),
                "row": m.get("row"),
            }
            for m in mismatches
        ],
        "honest_mismatches": sum(1 for m in mismatches if m["provider"] != peers[FAULTY_NODE]),
        "audits": sum(int(a.get("audits", 0)) for a in audits),
        "audit_failures": sum(int(a.get("failures", 0)) for a in audits),
        "accuracy": None if score is None else round(score.accuracy, 4),
        "agreement": None if score is None else round(score.agreement, 4),
        "per_job": [
            {
                "name": job.name,
                "node": f"node-{job.node}",
                "job_id": jid,
                "state": finals[jid].state,
                "micro_ch": finals[jid].micro_ch,
                "amount": finals[jid].amount,
                "paid": payouts.get(jid, 0),
            }
            for job, jid in submitted
        ],
        "verifier": status,
        "seconds": round(time.monotonic() - started, 1),
    }


def scenario_devnet(nodes: int = 3, base: Path | None = None) -> Devnet:
    """A fresh devnet for the scenario: node ``FAULTY_NODE`` runs with ``fault.wrong_op``."""
    if nodes < FAULTY_NODE:
        raise DevnetError(f"the jobs scenario needs at least {FAULTY_NODE} nodes")
    net = Devnet(
        nodes, base=base, fresh=True, node_envs={FAULTY_NODE: {"GCX_FAULT__WRONG_OP": str(WRONG_OP)}}
    )
    # This scenario shows detection and reporting, and that every job is paid: its verifier does
    # not dispute on chain (``gcx devnet scenario cheater`` plays the game).
    net.verifier_env["GCX_VERIFIER__DISPUTE"] = "false"
    return net
