"""The journal and the sequencer on real SQLite files: numbering, durability settings, gap and
corruption detection, snapshots, group commit (no engine needed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.exchange.journal import (
    Journal,
    JournalConflictError,
    JournalCorruptError,
    JournalGapError,
)
from coordinator.exchange.sequencer import Sequencer


def _commands(n: int, start: int = 0) -> list[bytes]:
    return [f"cmd-{i}".encode() * (1 + i % 3) for i in range(start, start + n)]


def test_batches_get_consecutive_global_sequence_numbers(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        assert journal.last_seq == 0
        assert journal.append_batch(_commands(3)) == [1, 2, 3]
        assert journal.append_batch([]) == []
        assert journal.append_batch(_commands(2, 3)) == [4, 5]
        assert journal.last_seq == 5
        assert list(journal.read_from(1)) == list(enumerate(_commands(5), start=1))
        # from the middle of a frame, from a frame boundary, past the end
        assert list(journal.read_from(2)) == list(enumerate(_commands(5)[1:], start=2))
        assert [s for s, _ in journal.read_from(4)] == [4, 5]
        assert list(journal.read_from(6)) == []
        assert journal.verify() == 5
        with pytest.raises(ValueError):
            list(journal.read_from(0))


def test_durable_settings_are_wal_and_full_by_default(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        assert journal.durability() == ("wal", "FULL")
    with Journal(tmp_path / "j.db", synchronous="NORMAL") as journal:
        assert journal.durability() == ("wal", "NORMAL")
    with pytest.raises(ValueError):
        Journal(tmp_path / "j.db", synchronous="OFF")  # type: ignore[arg-type]


def test_reopen_continues_the_sequence(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        journal.append_batch(_commands(4))
    with Journal(tmp_path / "j.db") as journal:
        assert journal.last_seq == 4
        assert journal.append_batch([b"next"]) == [5]
        assert [c for _, c in journal.read_from(1)] == [*_commands(4), b"next"]


def test_a_missing_frame_is_a_typed_gap_error_after_the_good_prefix(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        for i in range(3):
            journal.append_batch(_commands(2, 2 * i))  # frames at 1, 3, 5
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM frames WHERE first_seq = 3")
    with Journal(path) as journal:
        seen: list[int] = []
        with pytest.raises(JournalGapError) as info:
            for seq, _ in journal.read_from(1):
                seen.append(seq)
        assert seen == [1, 2]
        assert (info.value.expected, info.value.found) == (3, 5)
        with pytest.raises(JournalGapError):  # also when starting inside the gap
            list(journal.read_from(4))


def test_a_journal_must_start_at_one(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        journal.append_batch([b"a"])
        journal.append_batch([b"b"])
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM frames WHERE first_seq = 1")
    with Journal(path) as journal, pytest.raises(JournalGapError):
        journal.verify()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE frames SET body = CAST(? AS BLOB)", "CRC mismatch"),
        ("UPDATE frames SET count = count + 0 * length(?) + 1", "length bytes"),
        ("UPDATE frames SET body = ?", "not blobs"),
    ],
)
def test_an_undecodable_frame_is_a_typed_corruption_error(tmp_path: Path, sql: str, reason: str) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        journal.append_batch([b"alpha", b"beta"])
    with sqlite3.connect(path) as db:
        db.execute(sql, ("alphX" + "beta",))
    with Journal(path) as journal, pytest.raises(JournalCorruptError, match=reason) as info:
        list(journal.read_from(1))
    assert info.value.seq == 1


def test_lengths_that_disagree_with_the_body_are_caught_even_with_a_matching_crc(tmp_path: Path) -> None:
    import zlib

    path = tmp_path / "j.db"
    with Journal(path) as journal:
        journal.append_batch([b"alpha", b"beta"])
    lengths = (5).to_bytes(4, "little") + (9).to_bytes(4, "little")
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE frames SET lengths = ?, crc = ?", (lengths, zlib.crc32(b"alphabeta", zlib.crc32(lengths)))
        )
    with Journal(path) as journal, pytest.raises(JournalCorruptError, match="lengths sum to 14"):
        journal.verify()


def test_a_second_writer_is_detected_and_its_batch_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as first, Journal(path) as second:
        first.append_batch([b"one"])
        with pytest.raises(JournalConflictError):
            second.append_batch([b"two"])
        assert [c for _, c in first.read_from(1)] == [b"one"]
        assert first.append_batch([b"three"]) == [2]


def test_snapshots_are_stored_with_their_sequence_number_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        assert journal.latest_snapshot() is None
        journal.append_batch(_commands(10))
        with pytest.raises(ValueError):
            journal.write_snapshot(11, b"future")
        journal.write_snapshot(4, b"state@4")
        journal.write_snapshot(9, b"state@9")
        assert journal.latest_snapshot() == (9, b"state@9")
        assert journal.snapshot_seqs() == [4, 9]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE snapshots SET body = ? WHERE seq = 9", (b"state@8",))
    with Journal(path) as journal, pytest.raises(JournalCorruptError, match="snapshot"):
        journal.latest_snapshot()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(st.binary(max_size=40), max_size=20), max_size=12),
    start=st.integers(min_value=1, max_value=200),
)
def test_any_batches_read_back_exactly_from_any_point(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[bytes]], start: int
) -> None:
    path = tmp_path_factory.mktemp("prop") / "j.db"
    flat = [c for batch in batches for c in batch]
    with Journal(path, synchronous="NORMAL") as journal:
        seqs = [s for batch in batches for s in journal.append_batch(batch)]
        assert seqs == list(range(1, len(flat) + 1))
        assert list(journal.read_from(start)) == list(enumerate(flat, start=1))[start - 1 :]
        frames = list(journal.read_frames(start))
        assert [c for _, cs in frames for c in cs] == flat[start - 1 :]
        assert all(cs for _, cs in frames)


# -- sequencer -------------------------------------------------------------------------


def test_sequencer_acknowledges_only_after_the_batch_is_durable(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal, Journal(path) as observer:
        seq: Sequencer[str] = Sequencer(journal, str.encode, max_batch=3)
        tickets = [seq.submit(s) for s in ("a", "b")]
        assert tickets == [0, 1]
        assert (seq.pending, seq.should_flush) == (2, False)
        assert list(observer.read_from(1)) == []  # submitted is not durable
        batch = seq.flush()
        # visible to another connection, i.e. committed to the file, by the time flush returns
        assert list(observer.read_from(1)) == [(1, b"a"), (2, b"b")]
        assert list(batch) == [(1, "a"), (2, "b")]
        assert batch.tickets == range(0, 2) and batch.seq_of(1) == 2
        with pytest.raises(KeyError):
            batch.seq_of(2)
        assert seq.submit_many(["c", "d", "e"]) == range(2, 5)
        assert seq.should_flush
        batch = seq.flush()
        assert (batch.first_seq, batch.first_ticket, len(batch)) == (3, 2, 3)
        assert len(seq.flush()) == 0 and seq.pending == 0


def test_one_bad_command_fails_only_its_submitter(tmp_path: Path) -> None:
    def encode(value: int) -> bytes:
        return value.to_bytes(2, "big")  # OverflowError above 65535

    with Journal(tmp_path / "j.db") as journal:
        seq: Sequencer[int] = Sequencer(journal, encode)
        seq.submit(1)
        with pytest.raises(OverflowError):
            seq.submit(70_000)
        with pytest.raises(OverflowError):
            seq.submit_many([2, 70_000])
        seq.submit(3)
        assert list(seq.flush()) == [(1, 1), (2, 3)]


def test_a_failed_flush_keeps_the_batch_pending_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal, Journal(path) as intruder:
        seq: Sequencer[bytes] = Sequencer(journal, bytes)
        seq.submit(b"x")
        intruder.append_batch([b"intruder"])
        with pytest.raises(JournalConflictError):
            seq.flush()
        assert seq.pending == 1
        assert list(journal.read_from(1)) == [(1, b"intruder")]
        assert seq.discard_pending() == range(0, 1)
        assert seq.submit(b"y") == 1
