"""The job book's SQLite file: a real file, closed and reopened (a restart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coordinator.jobs.core import IllegalTransition
from coordinator.jobs.store import JobStore


def row(job_id: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "job_id": job_id, "quote_id": "q" * 32, "buyer": "0x" + "11" * 20, "provider_peer": "16Uiu2Peer",
        "provider_address": "0x" + "22" * 20, "provider_addrs": ["/ip4/127.0.0.1/tcp/1/p2p/16Uiu2Peer"],
        "micro_ch": 5, "amount": 3, "program_digest": "0x" + "aa" * 32, "job_digest": "0x" + "bb" * 32,
        "submit_deadline": 2000, "challenge_window": 600, "inputs": [{"name": "a", "seed": 1}],
    }  # fmt: skip
    base.update(kw)
    return base


def test_state_history_and_feed_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    store.put_quote({
        "quote_id": "q" * 32, "job_digest": "0x", "program_digest": "0x", "micro_ch": 5, "amount": 3,
        "provider": {"peer_id": "P"}, "challenge_window_s": 600, "submit_deadline": 2000, "expires_at": 1300,
        "created": 1000,
    })  # fmt: skip
    store.add_job(row("0x01"), b"job-file-1", 1000)
    store.add_job(row("0x02"), b"job-file-2", 1001)
    store.set_state("0x01", "delivered", 1002, event="accepted")
    store.set_state(
        "0x01", "submitted", 1003, feed="submitted", result_root="0x" + "cc" * 32, leaves=b"\1" * 66
    )
    store.set_state("0x02", "lost", 1004, feed="lost", detail="no heartbeat")
    with pytest.raises(IllegalTransition):
        store.set_state("0x02", "finalized", 1005, feed="finalized")  # nothing written
    assert store.last_seq() == 2
    store.set_meta("follow_block", "42")
    store.close()

    again = JobStore(path)  # the restart
    assert again.quote("q" * 32)["provider"] == {"peer_id": "P"}  # type: ignore[index]
    assert [j["job_id"] for j in again.in_states({"open", "delivered", "lost"})] == ["0x02"]
    job = again.job("0x01")
    assert job is not None and job["state"] == "submitted" and job["leaves"] == b"\1" * 66
    assert job["provider_addrs"] == ["/ip4/127.0.0.1/tcp/1/p2p/16Uiu2Peer"]
    assert again.job_file("0x02") == b"job-file-2"
    assert [h["event"] for h in again.history("0x01")] == ["escrowed", "accepted", "submitted"]
    assert [h["event"] for h in again.history("0x02")] == [
        "escrowed",
        "lost",
    ]  # the refused transition left nothing
    events = again.feed(0, 100)
    assert [(e["seq"], e["kind"], e["job_id"]) for e in events] == [
        (1, "submitted", "0x01"),
        (2, "lost", "0x02"),
    ]
    assert events[0]["result_root"] == "0x" + "cc" * 32 and events[0]["provider"]["peer_id"] == "16Uiu2Peer"
    assert again.get_meta("follow_block") == "42"
    # the feed continues its seq after the restart, also after the last row was deleted by hand
    again.db.execute("DELETE FROM feed WHERE seq = 2")
    again.set_state("0x02", "refunded", 1006, feed="refunded", reoffer=True)
    assert [e["seq"] for e in again.feed(1, 100)] == [3] and again.last_seq() == 3
    assert again.job("0x02")["reoffer"] is True  # type: ignore[index]
    assert again.reoffered_from("0x" + "11" * 20, "0x" + "bb" * 32) == "0x02"
    again.add_job(row("0x03", reoffer_of="0x02"), b"job-file-3", 1007)
    assert again.reoffered_from("0x" + "11" * 20, "0x" + "bb" * 32) is None  # linked once only
    assert [j["job_id"] for j in again.jobs(buyer="0x" + "11" * 20, limit=2)] == ["0x03", "0x02"]
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    again.close()


def test_mismatch_flags_the_provider(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.add_job(row("0x01"), b"j", 1000)
    job = store.set_state("0x01", "submitted", 1001, result_root="0x" + "cc" * 32)
    store.add_mismatch(job, "0x" + "Ee" * 20, 0, 3, b"evidence", 1002)
    assert store.flagged_addresses() == {"0x" + "22" * 20}
    assert store.mismatches("0x01") == [{"verifier": "0x" + "ee" * 20, "op": 0, "row": 3, "time": 1002}]
    assert store.mismatches_against("0x" + "22" * 20)[0]["job_id"] == "0x01"
    assert store.feed(0, 10)[0]["kind"] == "mismatch"
    store.close()
