"""The node's job table on a real SQLite file: checked transitions, the queue, restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcx.jobs.delivery import Offer, OfferInput, encode
from gcx.reference import load_profile
from gcx.tp.backends import NumpyBackend
from gcx.tp.commit import OpLeaf
from gcx.tp.examples.matmul import matmul_job
from gcx.tp.runner import run_job
from node_agent.jobs.state import DuplicateJob, JobStateError, JobTable


def offer(n: int) -> bytes:
    job = matmul_job(4, seed=n)
    return encode(
        Offer(
            job_id=n.to_bytes(32, "big"), buyer="0x" + "11" * 20, program=job.program.canonical,
            inputs=(OfferInput("a", seed=n), OfferInput("b", seed=n)), amount=5, micro_ch=1,
            submit_deadline=2_000_000_000, challenge_window=600, source="",
        )
    )  # fmt: skip


def leaves() -> tuple[OpLeaf, ...]:
    run = run_job(matmul_job(4), NumpyBackend(), load_profile())
    return tuple(run.commitment.result.leaves)


def test_a_job_walks_the_happy_path_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    table = JobTable(path)
    rec = table.add(offer(1), "peerA", 7)
    assert (rec.state, rec.peer, rec.micro_ch, rec.offer.amount) == ("queued", "peerA", 7, 5)
    table.move(rec.job_id, "fetching")
    table.move(rec.job_id, "running")
    table.set_tensors(rec.job_id, [b"\x01" * 32, b"\x02" * 32])
    ls = leaves()
    table.move(
        rec.job_id, "submitted", result_root=b"\x09" * 32, leaves=ls, tx=b"\x08" * 32, challenge_deadline=99
    )
    table.close()

    again = JobTable(path)  # a restart reads back exactly what was committed
    got = again.get(rec.job_id)
    assert got is not None
    assert got.state == "submitted" and got.result_root == b"\x09" * 32 and got.tx == b"\x08" * 32
    assert got.leaves == ls and got.tensors == (b"\x01" * 32, b"\x02" * 32)
    assert got.challenge_deadline == 99 and not got.acked and not got.paid
    again.mark_acked(rec.job_id)
    done = again.move(rec.job_id, "finalized")
    assert done.acked and done.paid and done.ended is not None
    assert done.to_json()["paid"] is True


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), "submitted"),  # queued cannot skip the run
        (("fetching", "running", "submitted"), "queued"),  # a submitted job is never re-run
        (("failed",), "queued"),  # ended is final
        (("fetching", "running", "submitted", "finalized"), "refunded"),
    ],
)
def test_forbidden_transitions_are_refused_and_change_nothing(
    tmp_path: Path, path: tuple[str, ...], bad: str
) -> None:
    table = JobTable(tmp_path / "jobs.sqlite")
    jid = table.add(offer(1), "p", 1).job_id
    for state in path:
        table.move(jid, state)
    with pytest.raises(JobStateError):
        table.move(jid, bad)
    rec = table.get(jid)
    assert rec is not None and rec.state == (path[-1] if path else "queued")


def test_duplicates_and_the_queue_bound_are_enforced_at_insert(tmp_path: Path) -> None:
    table = JobTable(tmp_path / "jobs.sqlite")
    table.add(offer(1), "p", 1, max_unsubmitted=2)
    with pytest.raises(DuplicateJob):
        table.add(offer(1), "p", 1, max_unsubmitted=2)
    table.add(offer(2), "p", 1, max_unsubmitted=2)
    with pytest.raises(JobStateError, match="at most 2"):
        table.add(offer(3), "p", 1, max_unsubmitted=2)
    assert [r.job_id[-1] for r in table.unsubmitted()] == [1, 2]
    table.move((2).to_bytes(32, "big"), "failed", error="x")
    table.add(offer(3), "p", 1, max_unsubmitted=2)  # a failed job frees its slot
    nxt = table.next_queued()
    assert nxt is not None and nxt.job_id[-1] == 1  # acceptance order
    with pytest.raises(JobStateError):
        table.move(b"\x00" * 32, "fetching")
