"""The verifier's state file: the feed cursor and every outcome survive a restart, a recorded
event is never recorded again, a finished job is never checked again, and malformed feeds are
refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from verifier.state import FeedError, FeedEvent, Outcome, VerifierState, parse_feed


def event(seq: int, kind: str = "submitted", job: int | None = None) -> dict[str, Any]:
    """A feed event as the coordinator sends it."""
    return {
        "seq": seq,
        "time": 1_700_000_000 + seq,
        "kind": kind,
        "job_id": "0x" + (job if job is not None else seq).to_bytes(32, "big").hex(),
        "provider": {"peer_id": "16Uiu2Hprov", "address": "0x" + "ab" * 20, "listen_addrs": ["/ip4/1.2.3.4"]},
        "program_digest": "0x" + "11" * 32,
        "result_root": "0x" + "22" * 32 if kind == "submitted" else None,
        "micro_ch": 5,
    }


def events(*seqs: int, **kw: Any) -> list[FeedEvent]:
    parsed, _ = parse_feed({"events": [event(s, **kw) for s in seqs], "last_seq": max(seqs)}, 0)
    return parsed


def even(ev: FeedEvent) -> bool:
    return int(ev.job_id, 16) % 2 == 0


def test_cursor_and_outcomes_survive_a_restart_and_nothing_is_repeated(tmp_path: Path) -> None:
    path = tmp_path / "v" / "state.sqlite"
    with VerifierState(path) as state:
        assert state.cursor() == 0
        fresh = state.record_events(events(1, 2, 3, 4), even)
        assert [int(j, 16) for j in fresh] == [2, 4]
        assert state.cursor() == 4
        assert state.finish(fresh[0], Outcome("verified", seconds=0.5))
        mismatch = Outcome("mismatch", "op 1 row 3", 1, 3, b"evidence")
        # job 4 is interrupted mid-check: still pending
    with VerifierState(path) as state:  # a restart
        assert state.cursor() == 4
        assert [int(j.job_id, 16) for j in state.pending()] == [4]  # resumed, not skipped
        # the coordinator sends the same page again (e.g. our cursor write raced its reply): ignored
        assert state.record_events(events(3, 4), even) == []
        assert state.record_events(events(5, 6), even) == ["0x" + (6).to_bytes(32, "big").hex()]
        assert state.record_events(events(1, 2), even) == [] and state.cursor() == 6  # never backwards
        assert state.finish(fresh[1], mismatch)
        assert not state.finish(fresh[1], Outcome("verified"))  # a finished job is never redone
        assert not state.finish(fresh[0], Outcome("withheld"))
        assert state.pending_reports() == [(fresh[1], b"evidence")]
    with VerifierState(path) as state:
        assert state.pending_reports() == [(fresh[1], b"evidence")]  # reports survive too
        state.reported(fresh[1], "rejected", "wrong_state: not submitted")
        assert state.pending_reports() == []
        job = state.job(fresh[1])
        assert job is not None and (job.verdict, job.op, job.row) == ("mismatch", 1, 3)
        summary = state.summary()
    assert summary["cursor"] == 6
    assert (summary["seen"], summary["sampled"], summary["skipped"]) == (6, 3, 3)
    assert (summary["verified"], summary["pending"], summary["withheld"]) == (1, 1, 0)
    assert summary["mismatches"] == [
        {
            "job_id": fresh[1],
            "provider": "16Uiu2Hprov",
            "provider_address": "0x" + "ab" * 20,
            "op": 1,
            "row": 3,
            "report": "rejected",
            "report_detail": "wrong_state: not submitted",
        }
    ]


def test_other_event_kinds_move_the_cursor_only(tmp_path: Path) -> None:
    with VerifierState(tmp_path / "s.sqlite") as state:
        assert state.record_events(events(7, 8, kind="finalized"), lambda ev: True) == []
        assert state.cursor() == 8 and state.jobs() == []


def test_a_failing_page_records_nothing(tmp_path: Path) -> None:
    with VerifierState(tmp_path / "s.sqlite") as state:

        def boom(ev: FeedEvent) -> bool:
            if ev.seq == 2:
                raise RuntimeError("sampling failed")
            return True

        with pytest.raises(RuntimeError):
            state.record_events(events(1, 2), boom)
        assert state.cursor() == 0 and state.jobs() == []  # the whole page is retried


@pytest.mark.parametrize(
    "body",
    [
        {"events": [event(2), event(2)], "last_seq": 2},  # not increasing
        {"events": [event(1)], "last_seq": 1},  # not past the cursor (after=1)
        {"events": [{**event(3), "job_id": "0x12"}], "last_seq": 3},
        {"events": [{**event(3), "provider": None}], "last_seq": 3},
        {"events": [{**event(3), "result_root": "zz"}], "last_seq": 3},
        {"events": "nope", "last_seq": 3},
        {"events": []},
        [],
    ],
)
def test_malformed_feeds_are_refused(body: Any) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, 1)


def test_outcomes_are_consistent() -> None:
    with pytest.raises(ValueError):
        Outcome("pending")
    with pytest.raises(ValueError):
        Outcome("mismatch")  # without evidence
    with pytest.raises(ValueError):
        Outcome("verified", evidence=b"x")
