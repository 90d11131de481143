"""The verification game through real processes (anvil with the contracts, a coordinator, node
agents, verifiers; the devnet supervisor starts them): the cheater scenario as a user runs it, and
the verifier and the cheating node each killed (SIGKILL) mid-dispute and started again — the
dispute still ends with the cheater slashed (docs/verification.md)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_jobs_e2e import GRADE, MAX_PRICE, REFUNDED, buyer_client, clean_env, peer_of, verified, wait_for

from gcx.devnet_cheater import CHEATER_NODE, scenario_devnet

pytestmark = [pytest.mark.slow]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCX_HOME", str(tmp_path / "home"))


@pytest.mark.timeout(900)
def test_the_cheater_scenario_slashes_the_cheater_and_only_the_cheater(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gcx", "devnet", "scenario", "cheater", "--json"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    cheater = out["cheater"]
    per_job = {j["name"]: j for j in out["per_job"]}
    assert per_job["digits-cheater"]["state"] == "refunded"
    assert [d["outcome"] for d in per_job["digits-cheater"]["disputes"]] == ["ChallengerWon"]
    honest = [j for name, j in per_job.items() if name != "digits-cheater"]
    assert honest and all(j["state"] == "finalized" for j in honest)
    # The dishonest challenger disputed honest results and lost every time.
    assert all(d["outcome"] == "ProviderWon" for j in honest for d in j["disputes"])
    assert out["bonds_forfeited"] == sum(len(j["disputes"]) for j in honest) >= 1
    assert out["slashed"] == [cheater["address"]] and out["honest_slashed"] == 0
    assert out["finalized"] == len(honest) and out["refunded"] == 1 == out["cheater_jobs_refunded"]
    assert out["challenged"] == sum(1 for j in out["per_job"] if j["disputes"])
    # Rounds (a provider move and the challenger's answer): at most ⌈log₂ ops⌉ + ⌈log₂ rows⌉ + 2
    # (the digits program: 7 ops, its widest output 360 rows).
    assert 0 < out["rounds"] <= 3 + 9 + 2
    assert max(out["moves_per_dispute"]) <= 2 * out["rounds"]
    gas = out["dispute_gas"]
    assert gas["total"] == sum(v for k, v in gas.items() if k != "total") > 0
    assert {"open", "revealRoot", "choose", "step"} <= set(gas)
    print(f"cheater scenario: {time.monotonic() - started:.0f} s; {json.dumps(out)[:2000]}")


@pytest.mark.timeout(600)
def test_a_verifier_and_a_cheating_node_killed_mid_dispute_play_on_after_a_restart(tmp_path: Path) -> None:
    from gcx.chain.game import GameClient

    net = scenario_devnet(base=tmp_path / "devnet")
    net.extra_verifiers = {}  # the honest verifier alone
    with net:
        wait_for("every node to pass its first capacity audit", lambda: verified(net), 120)
        from gcx.tp.examples.digits import digits_job
        from gcx.tp.jobfile import encode_job

        with buyer_client(net) as client:
            view = client.submit(
                encode_job(digits_job(0)[0]), GRADE, MAX_PRICE, provider=peer_of(net, f"node-{CHEATER_NODE}")
            )
            game = GameClient(client.chain)
            job = bytes.fromhex(view.job_id[2:])

            def moves_made() -> int:
                d = game.dispute_of(job, net.summary["verifier"]["verifier"])
                return d if d and game.get_dispute(d).moves >= 3 else 0

            dispute_id = wait_for("the verifier's dispute to be under way", moves_made, 180, 0.2)
            net.restart("verifier", signal.SIGKILL)
            net.restart(f"node-{CHEATER_NODE}", signal.SIGKILL)
            final = client.wait(view.job_id, until=("finalized", "refunded"), timeout_s=400, reoffer=False)
            assert final.state == "refunded"
            d = game.get_dispute(dispute_id)
            assert d.phase.name == "CHALLENGER_WON"
            assert int(client.chain.call("JobEscrow", "getJob", job)[1]) == REFUNDED
            # The restarted players' journals hold the whole dispute: no move lost, none repeated.
            from gcx.game.journal import DisputeJournal

            path = net.base / "verifier" / "verifier" / "disputes.sqlite"

            def ended() -> list[str] | None:  # the verifier notices the end at its next poll
                with DisputeJournal(path) as j:
                    row = j.dispute(dispute_id)
                    done = row is not None and row.outcome == "ChallengerWon" and row.credit_withdrawn
                    return [m.kind for m in j.moves(dispute_id)] if done else None

            sent = wait_for("the verifier to journal the end and withdraw", ended, 60)
            # A move sent just before the kill may be on chain and not in the journal; none is sent twice.
            assert sent.count("step") == 1 and len(sent) <= d.moves // 2
