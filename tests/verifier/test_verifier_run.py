"""``gcx verifier run`` end to end with real pieces — a real libp2p provider host serving
``/gcx/data/1`` from a real TensorStore, real re-execution, a real SQLite state file — against a
fake coordinator on the other side of the HTTP wire (tests/verifier/verifier_fakes.py)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from verifier_fakes import NP, PROGRAM, FakeCoordinator, fake_provider, job, provider_run

from gcx.keys import ParticipantKey
from gcx.settings import Settings
from verifier.compare import check_mismatch, decode_mismatch
from verifier.run import Verifier, VerifierConfig, config_from_settings
from verifier.state import VerifierState

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def coordinator() -> Iterator[FakeCoordinator]:
    c = FakeCoordinator()
    yield c
    c.close()


@pytest.fixture
def key(make_key: Callable[[str], ParticipantKey]) -> ParticipantKey:
    return make_key("verifier")


def config(tmp_path: Path, api: str, ppm: int = 1_000_000) -> VerifierConfig:
    settings = Settings.model_validate(
        {
            "verifier": {
                "coordinator_api": api,
                "sample_ppm": ppm,
                "state": str(tmp_path / "verifier" / "state.sqlite"),
                "secret": str(tmp_path / "verifier" / "sampling.key"),
                "backend": "numpy",
                "poll_s": 0.05,
            }
        }
    )
    return config_from_settings(settings)


async def run_until(verifier: Verifier, done: Callable[[Verifier], bool], timeout_s: float = 60) -> None:
    """Run the verifier until ``done(verifier)``, then cancel it (as SIGTERM does)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(verifier.run)
        with trio.fail_after(timeout_s):
            while not done(verifier):
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()


def settled(n: int) -> Callable[[Verifier], bool]:
    """``n`` jobs seen, none pending, no report unanswered."""

    def done(v: Verifier) -> bool:
        s = v.state.summary()
        return s["seen"] == n and s["pending"] == 0 and not v.state.pending_reports()

    return done


@pytest.mark.trio
async def test_a_wrong_op_is_reported_at_its_first_bad_row_and_an_honest_run_verified(
    tmp_path: Path, coordinator: FakeCoordinator, key: ParticipantKey
) -> None:
    bad_job, good_job = job(1), job(2)
    async with fake_provider(tmp_path / "provider") as provider:
        bad_root = provider.holds(*provider_run(bad_job, corrupt=(1, 2, 3)))
        good_root = provider.holds(*provider_run(good_job))
        bad_id = coordinator.add_job(bad_job, provider, bad_root)
        good_id = coordinator.add_job(good_job, provider, good_root)
        verifier = Verifier(config(tmp_path, coordinator.api), key)
        await run_until(verifier, settled(2))
    with VerifierState(tmp_path / "verifier" / "state.sqlite") as state:
        bad, good = state.job(bad_id), state.job(good_id)
    assert good is not None and good.verdict == "verified"
    assert bad is not None and (bad.verdict, bad.op, bad.row) == ("mismatch", 1, 2)
    assert bad.report == "accepted"
    assert [j for j, _ in coordinator.posts] == [bad_id]  # the honest job is not reported
    body = coordinator.posts[0][1]
    assert set(body) == {"evidence", "verifier", "signature"} and body["verifier"] == key.address
    evidence = base64.b64decode(body["evidence"])
    mismatch = decode_mismatch(evidence)
    assert (mismatch.op_index, mismatch.row, mismatch.result_root) == (1, 2, bad_root)
    assert check_mismatch(PROGRAM, bad_job.values(), NP, mismatch)
    signed = b"gcx-mismatch/1" + bytes.fromhex(bad_id[2:]) + keccak(evidence)
    recovered = Account.recover_message(encode_defunct(primitive=signed), signature=body["signature"])
    assert recovered == key.address


@pytest.mark.trio
@pytest.mark.parametrize(("ppm", "executed"), [(0, 0), (1_000_000, 3)])
async def test_the_sampling_decision_is_what_gets_re_executed(
    tmp_path: Path, coordinator: FakeCoordinator, key: ParticipantKey, ppm: int, executed: int
) -> None:
    async with fake_provider(tmp_path / "provider") as provider:
        ids = []
        for seed in (3, 4, 5):
            j = job(seed)
            ids.append(coordinator.add_job(j, provider, provider.holds(*provider_run(j))))
        verifier = Verifier(config(tmp_path, coordinator.api, ppm), key)
        await run_until(verifier, settled(3))
    assert verifier.executions == executed
    assert sum(coordinator.spec_gets.values()) == executed
    with VerifierState(tmp_path / "verifier" / "state.sqlite") as state:
        verdicts = [state.job(i).verdict for i in ids]  # type: ignore[union-attr]
    assert verdicts == (["skipped"] * 3 if ppm == 0 else ["verified"] * 3)


@pytest.mark.trio
async def test_a_restart_neither_skips_nor_repeats_a_job(
    tmp_path: Path, coordinator: FakeCoordinator, key: ParticipantKey
) -> None:
    cfg = config(tmp_path, coordinator.api)
    async with fake_provider(tmp_path / "provider") as provider:
        for seed in (6, 7):
            j = job(seed)
            coordinator.add_job(j, provider, provider.holds(*provider_run(j)))
        first = Verifier(cfg, key)
        await run_until(first, settled(2))
        for seed in (8, 9):
            j = job(seed)
            coordinator.add_job(j, provider, provider.holds(*provider_run(j, corrupt=(3, 0, 0))))
        coordinator.feed_afters.clear()
        second = Verifier(cfg, key)
        await run_until(second, settled(4))
    assert coordinator.feed_afters[0] == 2  # the restarted verifier reads on from its cursor
    assert (first.executions, second.executions) == (2, 2)
    assert set(coordinator.spec_gets.values()) == {1} and len(coordinator.spec_gets) == 4
    assert len(coordinator.posts) == 2  # the two wrong results, each reported once
    with VerifierState(cfg.state) as state:
        s = state.summary()
    assert (s["cursor"], s["verified"], len(s["mismatches"])) == (4, 2, 2)
    assert {(m["op"], m["row"], m["report"]) for m in s["mismatches"]} == {(3, 0, "accepted")}


@pytest.mark.trio
async def test_a_provider_withholding_its_proofs_is_recorded_withheld(
    tmp_path: Path, coordinator: FakeCoordinator, key: ParticipantKey
) -> None:
    j = job(10)
    async with fake_provider(tmp_path / "provider", withhold=True) as provider:
        root = provider.holds(*provider_run(j, corrupt=(0, 1, 1)))
        job_id = coordinator.add_job(j, provider, root, challenge_deadline=int(time.time()) + 2)
        verifier = Verifier(config(tmp_path, coordinator.api), key)
        await run_until(verifier, settled(1))
    with VerifierState(tmp_path / "verifier" / "state.sqlite") as state:
        record = state.job(job_id)
    assert record is not None and record.verdict == "withheld"
    assert record.detail is not None and "DataNotFound" in record.detail
    assert coordinator.posts == []


@pytest.mark.trio
async def test_an_unreachable_coordinator_is_waited_for_and_a_refused_report_recorded(
    tmp_path: Path, coordinator: FakeCoordinator, key: ParticipantKey, caplog: pytest.LogCaptureFixture
) -> None:
    j = job(11)
    coordinator.down = True
    coordinator.report_status = 409
    async with fake_provider(tmp_path / "provider") as provider:
        job_id = coordinator.add_job(j, provider, provider.holds(*provider_run(j, corrupt=(2, 4, 0))))
        verifier = Verifier(config(tmp_path, coordinator.api), key)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(verifier.run)
            await trio.sleep(1.5)  # several polls against a coordinator answering 503
            assert verifier.state.summary()["seen"] == 0
            coordinator.down = False
            with trio.fail_after(60):
                while not settled(1)(verifier):
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    outages = [r for r in caplog.records if "coordinator unreachable" in r.getMessage()]
    assert len(outages) == 1  # logged once per outage, not once per retry
    assert len(coordinator.posts) == 1  # a 4xx is an answer: not retried
    with VerifierState(tmp_path / "verifier" / "state.sqlite") as state:
        record = state.job(job_id)
    assert record is not None and (record.verdict, record.op, record.row) == ("mismatch", 2, 4)
    assert (record.report, record.report_detail) == ("rejected", "wrong_state: the job is not submitted")


@pytest.mark.trio
async def test_with_a_chain_the_verifier_bonds_its_stake_before_it_is_ready(
    tmp_path: Path, coordinator: FakeCoordinator, key: ParticipantKey
) -> None:
    from gcx.chain import VERIFIER, Chain, deploy_all, faucet, run_anvil, write_deployment

    deployer = bytes(Account.create().key)
    with run_anvil() as node:
        deployment = deploy_all(node.rpc_url, deployer)
        faucet(node.rpc_url, deployment, deployer, key.address)
        path = write_deployment(deployment, tmp_path / "deployment.json")
        cfg = dataclasses.replace(config(tmp_path, coordinator.api), rpc_url=node.rpc_url, deployment=path)
        ready: list[dict[str, Any]] = []
        verifier = Verifier(cfg, key)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(verifier.run, ready.append)
            with trio.fail_after(60):
                while not ready:
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        chain = Chain(deployment)
        minimum = chain.call("StakingRegistry", "minStake", VERIFIER)
        assert verifier.stake == minimum
        assert chain.call("StakingRegistry", "isActive", key.address, VERIFIER)
    assert ready[0]["verifier"] == key.address


def _gcx(home: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    full.update({"GCX_HOME": str(home), **env})
    return subprocess.Popen(
        [sys.executable, "-m", "gcx", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )


def test_the_cli_announces_itself_stops_on_sigterm_and_status_counts(
    isolated_home: Path, coordinator: FakeCoordinator, key: ParticipantKey
) -> None:
    for seed in (12, 13):
        coordinator.events.append(
            {
                "seq": len(coordinator.events) + 1, "time": 1, "kind": "submitted",
                "job_id": "0x" + seed.to_bytes(32, "big").hex(),
                "provider": {"peer_id": "16Uiu2Hnobody", "address": "0x" + "00" * 20, "listen_addrs": []},
                "program_digest": "0x" + PROGRAM.digest.hex(), "result_root": "0x" + "33" * 32, "micro_ch": 1,
            }
        )  # fmt: skip
    env = {"GCX_VERIFIER__COORDINATOR_API": coordinator.api, "GCX_VERIFIER__SAMPLE_PPM": "0"}
    proc = _gcx(isolated_home, "verifier", "run", "--json", env=env)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["verifier"] == key.address and ready["api"] == coordinator.api
        assert ready["peer_id"].startswith("16U")
        deadline = time.monotonic() + 30
        while coordinator.feed_gets < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    status = _gcx(isolated_home, "verifier", "status", "--json", env=env)
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0, err
    summary: dict[str, Any] = json.loads(out)
    assert (summary["seen"], summary["sampled"], summary["skipped"], summary["cursor"]) == (2, 0, 2, 2)
    assert summary["mismatches"] == []


def test_status_without_a_state_file_is_one_error_line(isolated_home: Path) -> None:
    proc = _gcx(isolated_home, "verifier", "status", env={})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: no verifier state")


def test_run_without_a_coordinator_api_is_one_error_line(isolated_home: Path, key: ParticipantKey) -> None:
    proc = _gcx(isolated_home, "verifier", "run", env={})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: no coordinator API to follow")


@pytest.mark.trio
async def test_a_verifier_with_fault_wrong_op_blames_an_honest_provider_and_its_evidence_fails(
    tmp_path: Path, coordinator: FakeCoordinator, key: ParticipantKey
) -> None:
    """``fault.wrong_op`` makes a dishonest challenger (the cheater scenario's): its own run is
    wrong at that op, so it "finds" a mismatch on an honest result, and that evidence does not
    hold when re-checked honestly."""
    honest_job = job(3)
    async with fake_provider(tmp_path / "provider") as provider:
        root = provider.holds(*provider_run(honest_job))
        jid = coordinator.add_job(honest_job, provider, root)
        cfg = dataclasses.replace(config(tmp_path, coordinator.api), wrong_op=1)
        verifier = Verifier(cfg, key)
        await run_until(verifier, settled(1))
    with VerifierState(tmp_path / "verifier" / "state.sqlite") as state:
        rec = state.job(jid)
    assert rec is not None and (rec.verdict, rec.op) == ("mismatch", 1)
    mismatch = decode_mismatch(base64.b64decode(coordinator.posts[0][1]["evidence"]))
    assert not check_mismatch(PROGRAM, honest_job.values(), NP, mismatch)


def test_fault_wrong_op_reaches_the_verifier_config(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"verifier": {"coordinator_api": "http://127.0.0.1:1"}, "fault": {"wrong_op": 2}}
    )
    assert config_from_settings(settings).wrong_op == 2
    assert (
        config_from_settings(
            Settings.model_validate({"verifier": {"coordinator_api": "http://127.0.0.1:1"}})
        ).wrong_op
        is None
    )
