"""Engine snapshots and crash recovery: latest snapshot + replay of the journal after it.

Theory of operation
-------------------
A snapshot is the engine's state after the command with journal sequence number ``seq``,
encoded explicitly (msgpack, never pickle) as::

    [FORMAT, seq, engine_seq, last_price, volume, state_hash, [[order_id, account, side,
     price, qty, post_only], ...]]

where the orders are ``Engine.resting_orders()`` — every resting order, bids best price
first then asks, each level in time priority — with their *remaining* quantity. That is
exactly what ``Engine.state_hash()`` covers, so a snapshot is complete for the engine as it is
today: the book (orders, priority, levels, touch), the last trade price (the price band's
reference), the traded volume and the command counter. Not in a snapshot: the instrument's
``EngineConfig`` and pre-trade hook (configuration, supplied again on recovery) and events
(output, not state; a consumer that lost events re-reads them by replaying from its own
position).

**Restore** gives the resting orders, in priority order, to ``Engine.restore`` of a fresh
engine built with the real configuration: it puts each at the back of its level with no
admission check (no band, no size limits, no hook: those judged the orders when they arrived,
and a partially filled order may now be below the minimum size) and no event, i.e. in its
original priority, and refuses a crossed book; the counters are set and the state hash is
compared with the one recorded in the snapshot (``SnapshotError`` on a mismatch).

**Recovery** (``recover``): take the newest snapshot whose CRC checks (or none), restore it,
then replay every journal command after it, in order, through ``Engine.apply``. The result
equals a full replay from seq 1 — same state hash — which the tests check after real SIGKILLs.

**When to snapshot** (``Snapshotter``): after applying a batch, if at least ``every`` commands
were journaled since the last snapshot. Snapshots are taken at batch boundaries only, so the
engine's state is exactly "after ``journal.last_seq``". This module assumes one engine per
journal (commands carry no instrument id yet); with several books the coordinator would wrap
each command in an ``(instrument, command)`` envelope and snapshot every book at one seq.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from coordinator.exchange.core.commands import decode_command
from coordinator.exchange.core.engine import Engine, EngineConfig, PreTradeCheck
from coordinator.exchange.core.events import Event
from coordinator.exchange.errors import JournalCorruptError, JournalError
from coordinator.exchange.journal import Journal

__all__ = [
    "SNAPSHOT_FORMAT",
    "Recovered",
    "SnapshotError",
    "Snapshotter",
    "decode_snapshot",
    "encode_snapshot",
    "recover",
    "replay",
    "restore",
]

SNAPSHOT_FORMAT: Final = 1


class SnapshotError(JournalError):
    """A snapshot cannot be decoded or does not restore to the state it recorded."""


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    seq: int  # journal sequence number of the last command included
    engine_seq: int
    last_price: int
    volume: int
    state_hash: bytes
    orders: tuple[tuple[int, int, int, int, int, int], ...]


def encode_snapshot(seq: int, engine: Engine) -> bytes:
    """The snapshot of ``engine`` as it is after journal command ``seq``."""
    orders = [[*o[:5], int(o[5])] for o in engine.resting_orders()]
    head = [SNAPSHOT_FORMAT, seq, engine.seq, engine.last_price, engine.volume, engine.state_hash()]
    return msgpack.packb([*head, orders], use_bin_type=True)  # type: ignore[no-any-return]


def _int(value: Any) -> int:
    if type(value) is not int:
        raise SnapshotError(f"snapshot field {value!r} is not an integer")
    return value


def decode_snapshot(data: bytes) -> EngineSnapshot:
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise SnapshotError(f"snapshot is not msgpack: {exc}") from None
    if not isinstance(raw, list) or len(raw) != 7 or raw[0] != SNAPSHOT_FORMAT:
        raise SnapshotError("not a snapshot of a known format")
    _, seq, engine_seq, last_price, volume, state_hash, orders = raw
    if not isinstance(state_hash, bytes) or not isinstance(orders, list):
        raise SnapshotError("malformed snapshot")
    parsed: list[tuple[int, int, int, int, int, int]] = []
    for order in orders:
        if not isinstance(order, list) or len(order) != 6:
            raise SnapshotError(f"malformed resting order {order!r}")
        oid, account, side, price, qty, post = (_int(v) for v in order)
        parsed.append((oid, account, side, price, qty, post))
    return EngineSnapshot(
        _int(seq), _int(engine_seq), _int(last_price), _int(volume), state_hash, tuple(parsed)
    )


def restore(
    snapshot: EngineSnapshot, config: EngineConfig | None = None, pre_trade: PreTradeCheck | None = None
) -> Engine:
    """An engine with ``config`` and ``pre_trade`` in the state ``snapshot`` recorded."""
    engine = Engine(config, pre_trade)
    try:
        engine.restore(snapshot.orders, snapshot.engine_seq, snapshot.last_price, snapshot.volume)
    except ValueError as exc:
        raise SnapshotError(f"snapshot at seq {snapshot.seq}: {exc}") from None
    if engine.state_hash() != snapshot.state_hash:
        raise SnapshotError(f"snapshot at seq {snapshot.seq} does not restore to its recorded state")
    return engine


def replay(
    journal: Journal,
    engine: Engine,
    after: int = 0,
    on_events: Callable[[int, list[Event]], None] | None = None,
) -> int:
    """Apply every journal command after seq ``after`` to ``engine``; return the last seq.

    ``on_events(seq, events)`` sees each command's events (for determinism checks, feeds).
    """
    last = after
    apply = engine.apply
    for first, commands in journal.read_frames(after + 1):
        for offset, data in enumerate(commands):
            events = apply(decode_command(data))
            if on_events is not None:
                on_events(first + offset, events)
        last = first + len(commands) - 1
    return last


@dataclass(frozen=True, slots=True)
class Recovered:
    engine: Engine
    last_seq: int  # the journal's last command, now applied
    snapshot_seq: int  # 0 when recovery replayed from seq 1
    replayed: int  # commands replayed after the snapshot


def recover(
    journal: Journal, config: EngineConfig | None = None, pre_trade: PreTradeCheck | None = None
) -> Recovered:
    """The engine state after the whole journal: newest snapshot, then replay of the rest.

    A snapshot that fails its CRC is skipped for the next older one (or a full replay); one
    that passes its CRC but does not restore to its recorded hash raises ``SnapshotError``.
    """
    before: int | None = None
    while True:
        try:
            latest = journal.latest_snapshot(before)
            break
        except JournalCorruptError as exc:
            before = exc.seq
    if latest is None:
        engine, start = Engine(config, pre_trade), 0
    else:
        snap = decode_snapshot(latest[1])
        if snap.seq != latest[0]:
            raise SnapshotError(f"snapshot stored at seq {latest[0]} says {snap.seq}")
        engine, start = restore(snap, config, pre_trade), snap.seq
    last = replay(journal, engine, start)
    return Recovered(engine, last, start, last - start)


class Snapshotter:
    """Takes a snapshot every ``every`` journaled commands, at batch boundaries."""

    def __init__(self, journal: Journal, every: int, last_snapshot_seq: int = 0) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.journal = journal
        self.every = every
        self.last_snapshot_seq = last_snapshot_seq

    def after_batch(self, engine: Engine) -> bool:
        """Call after applying every journaled command; snapshot if one is due."""
        seq = self.journal.last_seq
        if seq - self.last_snapshot_seq < self.every:
            return False
        self.journal.write_snapshot(seq, encode_snapshot(seq, engine))
        self.last_snapshot_seq = seq
        return True
