"""Snapshots, deterministic replay and crash recovery against the real engine and real SQLite,
including a real process killed with SIGKILL in the middle of a load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from bench.workload import random_commands
from coordinator.exchange.core.commands import Command, OrderType, PlaceLimit, Replace, Side, encode_command
from coordinator.exchange.core.engine import Engine, EngineConfig
from coordinator.exchange.core.events import REJECTED, Event, RejectReason, encode_events
from coordinator.exchange.journal import Journal
from coordinator.exchange.sequencer import Sequencer
from coordinator.exchange.snapshot import (
    SnapshotError,
    Snapshotter,
    decode_snapshot,
    encode_snapshot,
    recover,
    replay,
    restore,
)

WORKER = Path(__file__).with_name("crash_worker.py")
# Bands and size limits on, so that restoring a book must not re-judge its resting orders.
CONFIG = EngineConfig(band_ticks=60, reference_price=10_000, min_qty=2, max_qty=15)


def _journal_of(path: Path, commands: list[Command], batch: int = 97, every: int = 0) -> list[Event]:
    """Run ``commands`` live (sequencer → journal → engine); return the live events."""
    engine = Engine(CONFIG)
    events: list[Event] = []
    with Journal(path, synchronous="NORMAL") as journal:
        sequencer: Sequencer[Command] = Sequencer(journal, encode_command)
        snapshots = Snapshotter(journal, every) if every else None
        for i in range(0, len(commands), batch):
            sequencer.submit_many(commands[i : i + batch])
            for command in sequencer.flush().commands:
                events += engine.apply(command)
            if snapshots:
                snapshots.after_batch(engine)
    return events


def _full_replay(journal: Journal) -> tuple[Engine, list[Event]]:
    engine = Engine(CONFIG)
    events: list[Event] = []
    replay(journal, engine, on_events=lambda _seq, evs: events.extend(evs))
    return engine, events


def test_replaying_a_journal_twice_gives_byte_identical_events_and_state(tmp_path: Path) -> None:
    commands = random_commands(6000, seed=7, accounts=30, all_types=True)
    live = _journal_of(tmp_path / "j.db", commands)
    with Journal(tmp_path / "j.db") as journal:
        first, first_events = _full_replay(journal)
        second, second_events = _full_replay(journal)
    assert encode_events(first_events) == encode_events(second_events) == encode_events(live)
    assert first.state_hash() == second.state_hash()
    assert first.seq == 6000
    kinds = {e[0] for e in live}
    assert kinds == {1, 2, 3, 4, 5, 6}  # every event kind occurred: the stream is not trivial


def test_recovery_from_any_snapshot_equals_a_full_replay(tmp_path: Path) -> None:
    commands = random_commands(5000, seed=11, accounts=20, all_types=True)
    _journal_of(tmp_path / "j.db", commands, batch=61, every=400)
    with Journal(tmp_path / "j.db") as journal:
        full, full_events = _full_replay(journal)
        seqs = journal.snapshot_seqs()
        assert len(seqs) >= 10
        recovered = recover(journal, CONFIG)
        assert recovered.snapshot_seq == seqs[-1] and recovered.last_seq == 5000
        assert recovered.replayed == 5000 - seqs[-1]
        assert recovered.engine.state_hash() == full.state_hash()
        # every snapshot, restored and replayed forward, reaches the same state and events
        for seq in seqs:
            engine = restore(decode_snapshot(_snapshot_at(journal, seq)), CONFIG)
            tail: list[Event] = []
            replay(journal, engine, seq, on_events=_collector(tail))
            assert engine.state_hash() == full.state_hash()
            assert encode_events(tail) == encode_events(full_events[len(full_events) - len(tail) :])


def _collector(into: list[Event]) -> Callable[[int, list[Event]], None]:
    def collect(_seq: int, events: list[Event]) -> None:
        into.extend(events)

    return collect


def _snapshot_at(journal: Journal, seq: int) -> bytes:
    import sqlite3

    with sqlite3.connect(journal.path) as db:
        body: bytes = db.execute("SELECT body FROM snapshots WHERE seq = ?", (seq,)).fetchone()[0]
    return body


def test_restore_keeps_priority_post_only_flags_and_small_partial_remainders(tmp_path: Path) -> None:
    engine = Engine(CONFIG)
    engine.apply(PlaceLimit(1, 1, Side.SELL, 10_010, 5))
    engine.apply(PlaceLimit(2, 2, Side.SELL, 10_010, 4, OrderType.POST_ONLY))
    engine.apply(PlaceLimit(3, 3, Side.BUY, 10_010, 4))  # leaves 1 lot of order 1 (< min_qty)
    engine.apply(PlaceLimit(4, 4, Side.BUY, 9_950, 3))  # at the band's edge before the trade
    restored = restore(decode_snapshot(encode_snapshot(4, engine)), CONFIG)
    assert restored.state_hash() == engine.state_hash()
    assert restored.resting_orders() == engine.resting_orders()
    # the restored post-only order still refuses to cross; both engines agree from here on
    for e in (engine, restored):
        assert e.apply(Replace(2, 2, 9_950, 4)) == [(REJECTED, 2, 2, int(RejectReason.POST_ONLY_WOULD_CROSS))]
        e.apply(PlaceLimit(5, 5, Side.BUY, 10_010, 3))
    assert restored.state_hash() == engine.state_hash()


def test_a_damaged_snapshot_is_skipped_or_refused(tmp_path: Path) -> None:
    import sqlite3
    import zlib

    commands = random_commands(1500, seed=3, accounts=10)
    _journal_of(tmp_path / "j.db", commands, every=500)
    with Journal(tmp_path / "j.db") as journal:
        full, _ = _full_replay(journal)
        good = journal.latest_snapshot()
        older = journal.snapshot_seqs()[-2]
    assert good is not None
    rotten = bytearray(good[1])
    rotten[len(rotten) // 2] ^= 0x40
    with sqlite3.connect(tmp_path / "j.db") as db:  # bit rot: CRC fails → the older snapshot
        db.execute("UPDATE snapshots SET body = ? WHERE seq = ?", (bytes(rotten), good[0]))
    with Journal(tmp_path / "j.db") as journal:
        recovered = recover(journal, CONFIG)
        assert recovered.snapshot_seq == older and recovered.engine.state_hash() == full.state_hash()
    raw = msgpack.unpackb(good[1])
    raw[4] += 1  # a wrong traded volume with a valid CRC: restore must notice, not diverge
    forged = msgpack.packb(raw)
    with sqlite3.connect(tmp_path / "j.db") as db:
        db.execute(
            "UPDATE snapshots SET body = ?, crc = ? WHERE seq = ?", (forged, zlib.crc32(forged), good[0])
        )
    with Journal(tmp_path / "j.db") as journal, pytest.raises(SnapshotError):
        recover(journal, CONFIG)
    with pytest.raises(SnapshotError):
        decode_snapshot(b"\x93\x01\x02")


def test_apply_batch_is_apply_one_by_one() -> None:
    commands = random_commands(4000, seed=5, accounts=25, all_types=True)
    single, batched = Engine(CONFIG), Engine(CONFIG)
    single_events: list[Event] = []
    batched_events: list[Event] = []
    for i in range(0, len(commands), 128):
        chunk = commands[i : i + 128]
        for c in chunk:
            single_events += single.apply(c)
        batched_events += batched.apply_batch(chunk)
    assert encode_events(batched_events) == encode_events(single_events)
    assert batched.state_hash() == single.state_hash() and batched.seq == single.seq == 4000
    with pytest.raises(TypeError):
        batched.apply_batch([object()])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        encode_command(object())  # type: ignore[arg-type]


# -- a real process, SIGKILLed under load ----------------------------------------------

OPS, SEED, EVERY = 60_000, 2024, 2_000


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_load_loses_no_acknowledged_command(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    commands = random_commands(OPS, SEED, accounts=50, all_types=True)
    root = Path(__file__).parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    deadline = time.monotonic() + 50
    acked_total = 0
    snapshot_recoveries = 0
    for kill_after in (5, 23, 61, 3, 140):
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(path), str(SEED), str(OPS), str(EVERY)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        acked: list[tuple[int, int]] = []
        recovered_line = proc.stdout.readline().split()
        assert recovered_line[0] == "RECOVERED", recovered_line
        snapshot_recoveries += int(recovered_line[2]) > 0
        for line in proc.stdout:
            assert time.monotonic() < deadline, "crash test out of time"
            word, *numbers = line.split()
            assert word == "ACK", line
            acked.append((int(numbers[0]), int(numbers[1])))
            if len(acked) == kill_after:
                break
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup, no atexit, mid-load
        proc.wait(timeout=10)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, "the worker finished before it was killed"
        assert len(acked) == kill_after
        acked_total += kill_after

        with Journal(path) as journal:
            last = journal.verify()  # no gap, no undecodable frame
            assert acked[-1][1] <= last  # every acknowledged command survived
            assert [s for s, _ in acked] == sorted(s for s, _ in acked)
            stored = [c for _, c in journal.read_from(1)]
            assert stored == [encode_command(c) for c in commands[:last]]  # and is the command sent
            recovered = recover(journal)
            fresh = Engine()
            assert replay(journal, fresh) == last
            assert recovered.last_seq == last
            assert recovered.engine.state_hash() == fresh.state_hash()
    assert snapshot_recoveries >= 2  # later runs restarted from a snapshot, not from seq 1
    assert acked_total == 5 + 23 + 61 + 3 + 140
