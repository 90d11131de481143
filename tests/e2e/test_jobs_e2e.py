"""The job path through real processes (anvil, coordinator, node agents, verifier; the devnet
supervisor starts them): the jobs scenario as a user runs it, a provider that dies mid-job (refund at
the deadline, re-offer to another provider, paid once), a provider that withholds its data from the
verifier, and a coordinator restart with a job open (docs/jobs.md)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from gcx.devnet import Devnet

pytestmark = [pytest.mark.slow]

GRADE = "D"  # the devnet's CPU nodes are graded D
MAX_PRICE = 10_000_000  # micro-USDC: far above any devnet quote
REFUNDED, FINALIZED = 5, 4  # JobEscrow.State: None, Open, Submitted, Challenged, Finalized, Refunded


def clean_env(home: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GCX_")} | {"GCX_HOME": str(home)}


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy (HTTP errors count as not yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = check()
        except httpx.HTTPError:
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def job_view(net: Devnet, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{net.summary['api']}/v1/jobs/{job_id}", timeout=5)
    response.raise_for_status()
    view: dict[str, Any] = response.json()
    return view


def peer_of(net: Devnet, name: str) -> str:
    peer: str = next(n["peer_id"] for n in net.summary["nodes"] if n["name"] == name)
    return peer


def verified(net: Devnet) -> bool:
    listing = httpx.get(f"{net.summary['api']}/v1/providers", timeout=5).json()["providers"]
    peers = {n["peer_id"] for n in net.summary["nodes"]}
    return {p["peer_id"] for p in listing if p.get("verified")} >= peers


@contextmanager
def buyer_client(net: Devnet) -> Iterator[Any]:
    """A funded buyer with a random key and its SDK client (as ``gcx.devnet_jobs`` makes one)."""
    from gcx.chain.staking import connect
    from gcx.keys import ParticipantKey
    from gcx.sdk.jobs import BuyerStore, JobsClient

    raw = secrets.token_bytes(32)
    buyer = ParticipantKey("buyer", Account.from_key(raw).address, net.base / "buyer", False, raw)
    net.fund(buyer.address)
    chain = connect(net.chain["rpc_url"], Path(net.chain["deployment"]), buyer)
    with JobsClient(
        net.summary["api"], buyer, chain, store=BuyerStore(net.base / "buyer" / "jobs")
    ) as client:
        yield client


def escrow_state(client: Any, job_id: str) -> int:
    return int(client.chain.call("JobEscrow", "getJob", bytes.fromhex(job_id[2:]))[1])


def gemm(size: int, seed: int = 1) -> bytes:
    from gcx.tp.examples.matmul import matmul_job
    from gcx.tp.jobfile import encode_job

    return encode_job(matmul_job(size, seed=seed))


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCX_HOME", str(tmp_path / "home"))


@pytest.mark.timeout(720)
def test_the_jobs_scenario_finalizes_every_job_and_catches_the_faulty_node(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gcx", "devnet", "scenario", "jobs", "--json"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=660,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    faulty = out["faulty"]
    assert out["jobs"] == len(out["per_job"]) >= 5
    assert out["finalized"] == out["jobs"]
    assert all(j["state"] == "finalized" for j in out["per_job"])
    assert out["mismatches"], "the faulty node's wrong results were not reported"
    for m in out["mismatches"]:
        assert m["provider"] == faulty["peer_id"] and m["node"] == faulty["node"], m
        assert m["op"] == 0 == faulty["wrong_op"], m
    faulty_jobs = {j["job_id"] for j in out["per_job"] if j["node"] == faulty["node"]}
    assert {m["job_id"] for m in out["mismatches"]} == faulty_jobs
    assert out["honest_mismatches"] == 0
    assert out["accuracy"] is not None and out["accuracy"] >= 0.9
    assert out["verified_samples"] == out["jobs"]
    assert out["audits"] >= 3 and out["audit_failures"] == 0
    assert out["paid_micro_usdc"] == sum(j["paid"] for j in out["per_job"]) > 0
    assert all(0 < j["paid"] <= j["amount"] for j in out["per_job"])
    assert out["micro_ch_metered"] == sum(j["micro_ch"] for j in out["per_job"]) > 0
    print(f"jobs scenario: {time.monotonic() - started:.0f} s ({out['seconds']} s of jobs)")


@pytest.mark.timeout(420)
def test_a_provider_that_dies_mid_job_is_refunded_and_the_job_reoffered_and_paid_once(
    tmp_path: Path,
) -> None:
    node_envs = {1: {"GCX_FAULT__SLOW_FACTOR": "1000"}}
    with Devnet(2, base=tmp_path / "devnet", fresh=True, node_envs=node_envs) as net:
        wait_for("both nodes to be verified", lambda: verified(net), 60)
        slow, other = peer_of(net, "node-1"), peer_of(net, "node-2")
        with buyer_client(net) as client:
            buyer = client.key.address
            before = int(client.chain.call("MockUSD", "balanceOf", buyer))
            first = client.submit(gemm(512), GRADE, MAX_PRICE, provider=slow)
            assert first.provider.peer_id == slow
            wait_for(
                "node-1 to accept the job", lambda: job_view(net, first.job_id)["state"] == "delivered", 60
            )
            victim = next(c for c in net.children if c.name == "node-1")
            victim.proc.send_signal(signal.SIGKILL)  # mid-job: it never submits
            victim.proc.wait(timeout=10)
            assert escrow_state(client, first.job_id) == 1  # still Open
            final = client.wait(first.job_id, until=("finalized",), timeout_s=300, poll_s=1.0)
            assert final.job_id != first.job_id
            assert final.state == "finalized" and final.provider.peer_id == other
            assert escrow_state(client, first.job_id) == REFUNDED
            assert escrow_state(client, final.job_id) == FINALIZED
            after = int(client.chain.call("MockUSD", "balanceOf", buyer))
            assert before - after == final.amount  # paid once: the first escrow came back
            # refunded at (not before) the submit deadline, and re-offered only after the refund
            (refund,) = [
                e
                for e in client.chain.events("JobEscrow", "JobRefunded", from_block=0)
                if "0x" + bytes(e["args"]["jobId"]).hex() == first.job_id
            ]
            refunded_at = int(client.chain.w3.eth.get_block(refund["blockNumber"])["timestamp"])
            assert refunded_at >= first.submit_deadline
            (opened,) = [
                e
                for e in client.chain.events("JobEscrow", "JobOpened", from_block=0)
                if "0x" + bytes(e["args"]["jobId"]).hex() == final.job_id
            ]
            assert opened["blockNumber"] > refund["blockNumber"]
        old = job_view(net, first.job_id)
        assert old["state"] == "refunded" and old["reoffer"] is True
        new = job_view(net, final.job_id)
        assert new["reoffer_of"] == first.job_id and new["state"] == "finalized"


@pytest.mark.timeout(300)
def test_a_provider_that_withholds_its_data_is_seen_withheld_not_reported(tmp_path: Path) -> None:
    node_envs = {1: {"GCX_FAULT__WRONG_OP": "0", "GCX_FAULT__WITHHOLD_DATA": "true"}}
    with Devnet(1, base=tmp_path / "devnet", fresh=True, node_envs=node_envs) as net:
        wait_for("the node to be verified", lambda: verified(net), 60)
        with buyer_client(net) as client:
            view = client.submit(gemm(128), GRADE, MAX_PRICE, provider=peer_of(net, "node-1"))
            submitted = client.wait(view.job_id, until=("submitted",), timeout_s=120, poll_s=1.0)
        window = submitted.challenge_deadline
        assert window is not None

        def status() -> dict[str, Any]:
            proc = subprocess.run(
                [sys.executable, "-m", "gcx", "verifier", "status", "--json"],
                env=clean_env(net.base / "verifier"),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
            got: dict[str, Any] = json.loads(proc.stdout)
            return got

        # the verifier retries the proofs until the challenge deadline (10 s on the devnet), then gives up
        margin = max(0.0, window - time.time()) + 60
        got = wait_for(
            "the verifier's withheld verdict", lambda: (s := status())["withheld"] and s, margin, 2
        )
        assert got["withheld"] == 1 and got["verified"] == 0 and got["pending"] == 0
        assert got["mismatches"] == []
        assert job_view(net, view.job_id)["mismatches"] == []  # nothing reported, nothing accepted


@pytest.mark.timeout(300)
def test_a_coordinator_restart_resumes_an_open_job(tmp_path: Path) -> None:
    with Devnet(1, base=tmp_path / "devnet", fresh=True) as net:
        wait_for("the node to be verified", lambda: verified(net), 60)
        with buyer_client(net) as client:
            view = client.submit(gemm(256), GRADE, MAX_PRICE, provider=peer_of(net, "node-1"))
            assert view.state in ("open", "delivered")
            net.restart("coordinator")  # SIGTERM right after the POST returned, then start it again
            final = client.wait(view.job_id, until=("finalized",), timeout_s=180, poll_s=1.0)
            assert final.job_id == view.job_id and final.state == "finalized"
            assert escrow_state(client, view.job_id) == FINALIZED
