"""Following JobEscrow: each event moves the job it names (real SQLite store, events as web3
decodes them); stale and unknown events change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coordinator.jobs.service import JobBook
from coordinator.jobs.store import JobStore
from gcx.jobs.store import TensorStore
from gcx.settings import JobsSettings


def _row(job_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id, "quote_id": "q", "buyer": "0x" + "11" * 20, "provider_peer": "P",
        "provider_address": "0x" + "22" * 20, "provider_addrs": [], "micro_ch": 5, "amount": 3,
        "program_digest": "0x" + "aa" * 32, "job_digest": "0x" + "bb" * 32, "submit_deadline": 2000,
        "challenge_window": 600, "inputs": [],
    }  # fmt: skip


@pytest.fixture
def book(tmp_path: Path) -> JobBook:
    store = JobStore(tmp_path / "jobs.sqlite")
    for n in (1, 2, 3):
        store.add_job(_row(f"0x{n:064x}"), b"", 1000)
    return JobBook(
        JobsSettings(), None, store=store, tensors=TensorStore(tmp_path / "t"), chain=None, clock=lambda: 1500
    )


def _id(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_events_move_jobs_and_stale_ones_do_not(book: JobBook) -> None:
    root = b"\x07" * 32
    book.apply_event("ResultSubmitted", {"jobId": _id(1), "resultRoot": root, "challengeDeadline": 2100})
    j = book.view(f"0x{1:064x}")
    assert (j["state"], j["result_root"], j["challenge_deadline"]) == ("submitted", "0x" + root.hex(), 2100)
    book.apply_event(
        "ResultSubmitted", {"jobId": _id(1), "resultRoot": root, "challengeDeadline": 2100}
    )  # again
    book.apply_event("JobChallenged", {"jobId": _id(1), "challenger": "0x" + "Ab" * 20})
    book.apply_event("JobRefunded", {"jobId": _id(1), "buyer": "0x", "amount": 3})  # lost the dispute
    j = book.view(f"0x{1:064x}")
    assert (j["state"], j["reoffer"]) == ("refunded", False)  # the result was wrong: no re-offer
    book.apply_event("JobFinalized", {"jobId": _id(1), "provider": "0x", "payout": 3, "fee": 0, "burn": 0})
    assert book.view(f"0x{1:064x}")["state"] == "refunded"  # terminal
    book.apply_event("JobRefunded", {"jobId": _id(2), "buyer": "0x", "amount": 3})  # refunded by someone else
    j = book.view(f"0x{2:064x}")
    assert (j["state"], j["reoffer"]) == ("refunded", True)
    book.apply_event("ResultSubmitted", {"jobId": _id(3), "resultRoot": root, "challengeDeadline": 2100})
    book.apply_event("JobFinalized", {"jobId": _id(3), "provider": "0x", "payout": 3, "fee": 0, "burn": 0})
    assert book.view(f"0x{3:064x}")["state"] == "finalized"
    book.apply_event("JobFinalized", {"jobId": _id(9), "provider": "0x", "payout": 3, "fee": 0, "burn": 0})
    kinds = [(e["job_id"][-1], e["kind"]) for e in book.feed(0, 100)["events"]]
    assert kinds == [
        ("1", "submitted"),
        ("1", "refunded"),
        ("2", "refunded"),
        ("3", "submitted"),
        ("3", "finalized"),
    ]
    assert [h["event"] for h in book.view(f"0x{1:064x}")["history"]] == [
        "escrowed", "submitted", "challenged", "refunded",
    ]  # fmt: skip
