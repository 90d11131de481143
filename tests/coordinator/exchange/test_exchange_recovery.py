"""Snapshots, deterministic replay and crash recovery through the service's one recovery path
(:func:`~coordinator.exchange.service.recover_state`: newest usable snapshot + replay of the
journal after it), against the real engine, the real exchange state and real SQLite, including
a real process killed with SIGKILL in the middle of a load."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import msgpack
import pytest

from bench.workload import random_commands, random_entries
from coordinator.exchange.core.commands import encode_command
from coordinator.exchange.core.engine import Engine
from coordinator.exchange.core.entry import CANCEL, ORDER, REPLACE, Entry, encode_entry
from coordinator.exchange.core.events import encode_events
from coordinator.exchange.core.instruments import Spot
from coordinator.exchange.core.state import ExchangeState, Outcome
from coordinator.exchange.errors import StateSnapshotError
from coordinator.exchange.journal import Journal
from coordinator.exchange.sequencer import Sequencer
from coordinator.exchange.service import recover_state

WORKER = Path(__file__).with_name("crash_worker.py")
SYM = "X"
# Bands and size limits on, so that restoring a book must not re-judge its resting orders.
BANDED = Spot(
    kind="spot",
    grade="A",
    tick_size=1,
    lot_size=1000,
    price_band_ticks=60,
    reference_price_ticks=10_000,
    min_lots=2,
    max_lots=15,
)
CONFIG = BANDED.engine_config()
GTC, POST = 0, 3
# The crash worker's instruments and state (``crash_worker.INSTRUMENTS``, ``new_state``).
WORKER_INSTRUMENTS = {SYM: Spot(kind="spot", grade="A", tick_size=1, lot_size=1000)}


def worker_state() -> ExchangeState:
    return ExchangeState(WORKER_INSTRUMENTS, history_limit=100_000)


def _state() -> ExchangeState:
    return ExchangeState({SYM: BANDED}, history_limit=100_000)


def _journal_of(path: Path, entries: list[Entry], batch: int = 97, every: int = 0) -> list[Outcome]:
    """Run ``entries`` live (sequencer → journal → state, a snapshot every ``every`` commands at
    batch boundaries, as the service takes them); return the live outcomes."""
    state = _state()
    outcomes: list[Outcome] = []
    with Journal(path, synchronous="NORMAL") as journal:
        sequencer: Sequencer[Entry] = Sequencer(journal, encode_entry)
        snapshot_seq = 0
        for i in range(0, len(entries), batch):
            sequencer.submit_many(entries[i : i + batch])
            outcomes += [state.apply(seq, e) for seq, e in sequencer.flush()]
            if every and state.last_seq - snapshot_seq >= every:
                journal.write_snapshot(state.last_seq, state.snapshot())
                snapshot_seq = state.last_seq
    return outcomes


def _recover(path: Path) -> tuple[ExchangeState, int]:
    with Journal(path) as journal:
        return recover_state(journal, _state)


def _history_events(state: ExchangeState) -> set[str]:
    return {h["event"] for items in state.history.values() for h in items}


def test_replaying_a_journal_twice_gives_byte_identical_state_and_events(tmp_path: Path) -> None:
    entries = random_entries(6000, seed=7, accounts=30, instrument=SYM)
    live = _journal_of(tmp_path / "j.db", entries)
    first, first_snap = _recover(tmp_path / "j.db")
    second, second_snap = _recover(tmp_path / "j.db")
    assert first_snap == second_snap == 0  # no snapshot: everything was replayed
    # the snapshot encodes the whole state, each account's full event history included
    assert first.snapshot() == second.snapshot()
    assert first.last_seq == 6000
    statuses = {o.status for o in live}
    assert statuses == {"resting", "partially_filled", "filled", "cancelled", "replaced", "rejected"}
    assert _history_events(first) == {"accepted", "rejected", "trade", "cancelled", "replaced"}
    # and the replay agrees with the live run, outcome by outcome
    replayed = _state()
    assert [replayed.apply(seq, e) for seq, e in enumerate(entries, 1)] == live
    assert replayed.snapshot() == first.snapshot()


def test_recovery_from_any_snapshot_equals_a_full_replay(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    entries = random_entries(5000, seed=11, accounts=20, instrument=SYM)
    _journal_of(path, entries, batch=61, every=400)
    full = _state()
    for seq, e in enumerate(entries, 1):
        full.apply(seq, e)
    with Journal(path) as journal:
        seqs = journal.snapshot_seqs()
    assert len(seqs) >= 10
    # recover from the newest snapshot, then delete it and recover from the next older one, ...
    for seq in reversed(seqs):
        state, snap = _recover(path)
        assert snap == seq and state.last_seq == 5000
        assert state.snapshot() == full.snapshot()
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM snapshots WHERE seq = ?", (seq,))
    state, snap = _recover(path)  # ... down to a full replay from seq 1
    assert snap == 0 and state.snapshot() == full.snapshot()


def _order(i: int, account: int, side: int, price: int, qty: int, order_type: int = GTC) -> Entry:
    return Entry(ORDER, i, SYM, bytes([account]) * 20, i, i, side, order_type, price, qty, 0, i)


def test_restore_keeps_priority_post_only_flags_and_small_partial_remainders(tmp_path: Path) -> None:
    entries = [
        _order(1, 1, 1, 10_010, 5),
        _order(2, 2, 1, 10_010, 4, POST),
        _order(3, 3, 0, 10_010, 4),  # leaves 1 lot of order 1 (< min_lots)
        _order(4, 4, 0, 9_950, 3),  # at the band's edge after the trade
    ]
    _journal_of(tmp_path / "j.db", entries, every=4)
    live = _state()
    for seq, e in enumerate(entries, 1):
        live.apply(seq, e)
    restored, snap = _recover(tmp_path / "j.db")
    assert snap == 4
    assert restored.state_hash() == live.state_hash()
    assert restored.engines[SYM].resting_orders() == live.engines[SYM].resting_orders()
    assert [o[4] for o in live.engines[SYM].resting_orders()] == [3, 1, 4]  # bid, then asks in time
    # the restored post-only order still refuses to cross; both states agree from here on
    cross = Entry(REPLACE, 5, SYM, bytes([2]) * 20, 5, 2, price=9_950, qty=4)
    for s in (live, restored):
        out = s.apply(5, cross)
        assert (out.status, out.error) == ("rejected", "post_only_would_cross")
        assert s.apply(6, _order(6, 5, 0, 10_010, 3)).fills[0]["qty"] == 1  # order 1 first
        s.apply(7, Entry(CANCEL, 7, SYM, bytes([4]) * 20, 7, 4))
    assert restored.snapshot() == live.snapshot()


def _rewrite_snapshot(path: Path, seq: int, body: bytes, *, fix_crc: bool) -> None:
    with sqlite3.connect(path) as db:
        if fix_crc:
            db.execute("UPDATE snapshots SET body = ?, crc = ? WHERE seq = ?", (body, zlib.crc32(body), seq))
        else:
            db.execute("UPDATE snapshots SET body = ? WHERE seq = ?", (body, seq))


def test_a_damaged_snapshot_is_skipped_for_an_older_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j.db"
    entries = random_entries(1500, seed=3, accounts=10, instrument=SYM)
    _journal_of(path, entries, every=500)
    full, _ = _recover(path)
    with Journal(path) as journal:
        good = journal.latest_snapshot()
        older = journal.snapshot_seqs()[-2]
    assert good is not None and older < good[0]
    state, snap = _recover(path)  # positive control: the newest snapshot is used when intact
    assert snap == good[0] and state.snapshot() == full.snapshot()

    raw = msgpack.unpackb(good[1], raw=False)
    crossed = msgpack.unpackb(good[1], raw=False)
    book = crossed[5][0][4]  # the instrument's resting orders: [order_id, account, side, price, ...]
    bids = [o for o in book if o[2] == 0]
    asks = [o for o in book if o[2] == 1]
    assert bids and asks
    bids[0][3] = asks[0][3] + 1  # the best bid above the best ask
    wrong_seq = [raw[0], raw[1] + 1, *raw[2:]]
    rotten = bytearray(good[1])
    rotten[len(rotten) // 2] ^= 0x40
    damages = {
        "bit rot (the CRC fails)": (bytes(rotten), False),
        "a crossed book with a valid CRC": (msgpack.packb(crossed, use_bin_type=True), True),
        "another seq than its row's, valid CRC": (msgpack.packb(wrong_seq, use_bin_type=True), True),
        "not a snapshot, valid CRC": (b"\x93\x01\x02", True),
    }
    for what, (body, fix_crc) in damages.items():
        _rewrite_snapshot(path, good[0], body, fix_crc=fix_crc)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gcx.coordinator.exchange"):
            state, snap = _recover(path)
        assert snap == older, what  # skipped, never restored into a diverging state
        assert state.snapshot() == full.snapshot(), what
        assert f"skipping the exchange snapshot at seq {good[0]}" in caplog.text, what
    _rewrite_snapshot(path, good[0], good[1], fix_crc=True)
    assert _recover(path)[1] == good[0]  # the original is usable again
    with pytest.raises(StateSnapshotError):
        _state().restore(msgpack.packb(crossed, use_bin_type=True))


def test_apply_batch_is_apply_one_by_one() -> None:
    commands = random_commands(4000, seed=5, accounts=25, all_types=True)
    single, batched = Engine(CONFIG), Engine(CONFIG)
    single_events = []
    batched_events = []
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
    entries = random_entries(OPS, SEED, accounts=50, instrument=SYM)
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
            assert stored == [encode_entry(e) for e in entries[:last]]  # and is the entry sent
            recovered, snap = recover_state(journal, worker_state)
        assert recovered.last_seq == last and snap <= last
        fresh = worker_state()
        for seq, e in enumerate(entries[:last], 1):
            fresh.apply(seq, e)
        assert recovered.snapshot() == fresh.snapshot()
    assert snapshot_recoveries >= 2  # later runs restarted from a snapshot, not from seq 1
    assert acked_total == 5 + 23 + 61 + 3 + 140
