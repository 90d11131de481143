"""``gcx job submit|status|list|result`` in real processes against a real anvil chain, a
coordinator on the other side of real HTTP and a provider on real libp2p: JSON answers, the
outputs written and scored, and every failure one ``error:`` line with the right exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from buyer_fakes import PROFILE, FakeCoordinator, FakeProvider, JobsChain, classifier_job, serve
from eth_account import Account

from gcx.chain import Chain, faucet, write_deployment
from gcx.jobs.data import DataServer
from gcx.jobs.store import TensorStore
from gcx.keys import new_key
from gcx.p2p import listen_addrs, open_host
from gcx.tp.backends import open_backend
from gcx.tp.runner import run_job

pytestmark = pytest.mark.timeout(240)


def gcx(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    full_env.update({"GCX_HOME": str(home), "GCX_KEY_PASSPHRASE": "", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "gcx", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], proc.stderr


@pytest.fixture
def home(tmp_path: Path, jobs_chain: JobsChain, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with a funded plain ``buyer`` key and the chain's deployment file."""
    path = tmp_path / "home"
    monkeypatch.setenv("GCX_HOME", str(path))
    key = new_key("buyer")
    faucet(jobs_chain.node.rpc_url, jobs_chain.deployment, jobs_chain.deployer, key.address)
    write_deployment(jobs_chain.deployment, path / "chain" / "deployment.json")
    return path


@pytest.fixture
def fake(jobs_chain: JobsChain) -> FakeCoordinator:
    return FakeCoordinator(jobs_chain.deployment, [FakeProvider.of(jobs_chain.providers[0], 3_000_000_000)])


@pytest.fixture
def api(fake: FakeCoordinator) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "classifier.gcxjob"
    path.write_bytes(classifier_job()[1])
    return path


def chain_env(jobs_chain: JobsChain) -> dict[str, str]:
    return {"GCX_CHAIN__RPC_URL": jobs_chain.node.rpc_url}


def test_submit_json_status_and_list(
    home: Path, api: str, job_file: Path, jobs_chain: JobsChain, fake: FakeCoordinator
) -> None:
    proc = gcx(home, "job", "submit", str(job_file), "--grade", "A", "--max-price", "5000", "--api", api, "--json",
               env=chain_env(jobs_chain))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    view = json.loads(proc.stdout)
    assert view["state"] == "open" and view["amount"] == 3000 and view["job_id"] in fake.jobs
    assert view["provider"]["peer_id"] == fake.providers[0].peer_id
    assert (home / "buyer" / "jobs" / f"{view['job_id']}.gcxjob").read_bytes() == job_file.read_bytes()
    chain = Chain(jobs_chain.deployment)
    assert chain.call("JobEscrow", "getJob", bytes.fromhex(view["job_id"][2:]))[1] == 1  # Open

    status = gcx(home, "job", "status", view["job_id"], "--api", api, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["job_id"] == view["job_id"]
    human = gcx(home, "job", "status", view["job_id"], "--api", api)
    assert human.returncode == 0 and "open" in human.stdout and view["job_id"] in human.stdout
    listed = gcx(home, "job", "list", "--api", api, "--json")
    assert listed.returncode == 0 and [j["job_id"] for j in json.loads(listed.stdout)["jobs"]] == [
        view["job_id"]
    ]


def test_errors_are_one_line_with_the_right_exit_code(
    home: Path, api: str, job_file: Path, jobs_chain: JobsChain, fake: FakeCoordinator, tmp_path: Path
) -> None:
    # configuration: no chain → 2
    proc = gcx(home, "job", "submit", str(job_file), "--max-price", "5000", "--api", api)
    assert_clean_failure(proc, 2, "no chain configured")
    # a bad job file → 2, before anything is asked
    bad = tmp_path / "bad.gcxjob"
    bad.write_bytes(b"\x80")
    proc = gcx(
        home, "job", "submit", str(bad), "--max-price", "5000", "--api", api, env=chain_env(jobs_chain)
    )
    assert_clean_failure(proc, 2)
    assert fake.requests == []
    # a lying coordinator → 1, nothing escrowed
    fake.tamper = lambda q: q.update(escrow=Account.create().address)
    proc = gcx(
        home, "job", "submit", str(job_file), "--max-price", "5000", "--api", api, env=chain_env(jobs_chain)
    )
    assert_clean_failure(proc, 1, "JobEscrow")
    assert fake.jobs == {}
    # too expensive: the coordinator finds no provider → 1 with its code
    fake.tamper = None
    proc = gcx(
        home, "job", "submit", str(job_file), "--max-price", "10", "--api", api, env=chain_env(jobs_chain)
    )
    assert_clean_failure(proc, 1, "no_provider")
    # an unknown job, a malformed job id, a missing key
    proc = gcx(home, "job", "status", "0x" + "00" * 32, "--api", api)
    assert_clean_failure(proc, 1, "unknown_job")
    proc = gcx(home, "job", "status", "0x12", "--api", api)
    assert_clean_failure(proc, 2, "not a job id")
    proc = gcx(home, "job", "list", "--key", "nobody", "--api", api)
    assert_clean_failure(proc, 2, "gcx keys new --name nobody")


@pytest.mark.trio
async def test_result_writes_verified_outputs_and_scores_them(
    home: Path, api: str, job_file: Path, jobs_chain: JobsChain, fake: FakeCoordinator, tmp_path: Path
) -> None:
    env = chain_env(jobs_chain)
    proc = await trio.to_thread.run_sync(
        lambda: gcx(
            home, "job", "submit", str(job_file), "--max-price", "5000", "--api", api, "--json", env=env
        )
    )
    assert proc.returncode == 0, proc.stderr
    job_id = json.loads(proc.stdout)["job_id"]
    job, _ = classifier_job()
    run = run_job(job, open_backend("numpy"), PROFILE)
    store = TensorStore(tmp_path / "provider")
    for tid, commitment in enumerate(run.commitment.tensors):
        store.put(tid, run.execution.tensors[tid], commitment=commitment)
    Chain(jobs_chain.deployment, jobs_chain.providers[0]).transact(
        "JobEscrow", "submitResult", bytes.fromhex(job_id[2:]), run.result_root
    )
    out = tmp_path / "outputs.npz"
    async with open_host(jobs_chain.providers[0]) as host:
        DataServer(store).register(host)
        with fake.lock:
            fake.jobs[job_id] |= {
                "state": "submitted",
                "result_root": "0x" + run.result_root.hex(),
                "leaves": ["0x" + leaf.body().hex() for leaf in run.commitment.result.leaves],
            }
            fake.jobs[job_id]["provider"]["listen_addrs"] = listen_addrs(host)
        proc = await trio.to_thread.run_sync(
            lambda: gcx(home, "job", "result", job_id, "--out", str(out), "--api", api, "--json", env=env)
        )
        human = await trio.to_thread.run_sync(
            lambda: gcx(home, "job", "result", job_id, "--out", str(out), "--api", api, env=env)
        )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["verified"] is True and info["accuracy"] == 15 / 16 and info["agreement"] == 1.0
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["pred"], run.execution.outputs["pred"])
        np.testing.assert_array_equal(saved["logits"], run.execution.outputs["logits"])
    assert human.returncode == 0 and "accuracy 93.75 %" in human.stdout


def test_submit_wait_returns_once_the_result_is_submitted(
    home: Path, api: str, job_file: Path, jobs_chain: JobsChain, fake: FakeCoordinator
) -> None:
    taken = fake.submit

    def submitted_at_once(body: dict[str, Any]) -> tuple[int, Any]:
        status, view = taken(body)
        if status == 201:
            view["state"] = "submitted"
        return status, view

    fake.submit = submitted_at_once  # type: ignore[method-assign]
    proc = gcx(home, "job", "submit", str(job_file), "--max-price", "5000", "--wait", "--timeout", "30",
               "--api", api, "--json", env=chain_env(jobs_chain))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "submitted"
