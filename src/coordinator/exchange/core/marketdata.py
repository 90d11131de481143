"""Market data, sans-I/O: an L2 book from engine events, a sequenced feed, its subscriber, candles.

Nothing here does I/O or reads a clock; the service (trio, WebSocket) moves the messages and
stamps the trades. Four parts:

* :class:`L2Book` — price levels of both sides, maintained from the engine's ``BOOK_DELTA``
  events (``side, price, level_qty``; a quantity of 0 removes the level). Every applied batch
  of events increments its sequence number :attr:`L2Book.seq`.
* :class:`FeedPublisher` — turns each batch of engine events of one instrument into feed
  messages with a strictly increasing ``seq`` (one counter per instrument, shared by all
  message types): one ``trade`` message per ``TRADE`` event, in engine order, then one
  ``l2update`` with the batch's *net* level changes (none if no level changed). Its
  :meth:`FeedPublisher.snapshot` is an ``l2snapshot`` whose ``seq`` is the last message
  already reflected in it, so a subscriber applies exactly the messages with a larger ``seq``.
* :class:`FeedClient` — the subscriber: snapshot, then updates in sequence, by the one sequence
  rule of :class:`gcx.feed.FeedSequence` (which the SDK's feed uses too). A jump in ``seq`` (a
  lost message) or a stale / duplicate one raises :class:`~gcx.feed.FeedGapError`; from then on
  it refuses updates until a new snapshot is applied (:meth:`FeedClient.resync`).
* :class:`Candles` — OHLCV of trades in fixed intervals of caller-supplied timestamps.

Message shapes (JSON-ready; prices in ticks, quantities in lots, all integers)::

    {"type": "l2update", "seq": 7, "instrument": "CH-A-SPOT", "changes": [["bid", 101, 5], ["ask", 103, 0]]}
    {"type": "trade", "seq": 6, "instrument": "CH-A-SPOT", "price": 102, "qty": 3,
     "aggressor": "buy", "trade_id": 41}
    {"type": "l2snapshot", "seq": 7, "instrument": "CH-A-SPOT", "bids": [[101, 5], [100, 2]], "asks": [[103, 1]]}

Sides of a level are ``"bid"`` / ``"ask"``; a trade's ``aggressor`` is the taker's side,
``"buy"`` / ``"sell"``; ``trade_id`` counts the instrument's trades from 1 (the engine has no
trade id; a restarted publisher is given the next one). A change's quantity is the new total
at that price (0: the level is gone), never a difference, so applying one twice is harmless
for the book but is still refused by the client as a duplicate.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypedDict, TypeGuard

from gcx.feed import FeedError, FeedGapError, FeedSequence

from .events import BOOK_DELTA, TRADE, Event

__all__ = [
    "ASK",
    "BID",
    "Candle",
    "Candles",
    "Change",
    "FeedClient",
    "FeedError",
    "FeedGapError",
    "FeedMessage",
    "FeedPublisher",
    "L2Book",
    "L2Snapshot",
    "L2Update",
    "TradeMessage",
]

BID: Final = 0
"""The bid side, as the engine numbers it (``Side.BUY``)."""
ASK: Final = 1
"""The ask side, as the engine numbers it (``Side.SELL``)."""

_SIDE_NAMES: Final = ("bid", "ask")
_SIDE_CODES: Final = {"bid": BID, "ask": ASK}
_AGGRESSOR_NAMES: Final = ("buy", "sell")

Change = tuple[int, int, int]
"""One level change: ``(side, price, new total qty)``; side is :data:`BID` or :data:`ASK`."""

Candle = list[int]
"""``[start, open, high, low, close, volume]``."""


class L2Update(TypedDict):
    type: Literal["l2update"]
    seq: int
    instrument: str
    changes: list[list[str | int]]


class TradeMessage(TypedDict):
    type: Literal["trade"]
    seq: int
    instrument: str
    price: int
    qty: int
    aggressor: str
    trade_id: int


class L2Snapshot(TypedDict):
    type: Literal["l2snapshot"]
    seq: int
    instrument: str
    bids: list[list[int]]
    asks: list[list[int]]


FeedMessage = L2Update | TradeMessage | L2Snapshot


def _is_int(value: object) -> TypeGuard[int]:
    return type(value) is int


class L2Book:
    """Aggregated price levels of one instrument: ``price -> total qty`` for each side.

    :attr:`seq` is the feed sequence number of the state: :meth:`apply` (one batch of engine
    events) adds one; :meth:`apply_changes` sets it to the given message's ``seq``.
    """

    __slots__ = ("_levels", "seq")

    def __init__(self, seq: int = 0) -> None:
        self._levels: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.seq = seq

    # -- updating ------------------------------------------------------------------------------

    def net_changes(self, events: Iterable[Event]) -> list[Change]:
        """The level changes a batch of events makes, netted per level (in order of each
        level's first delta) and without those that end where they started; the book is not
        changed."""
        last: dict[tuple[int, int], int] = {}
        for ev in events:
            if ev[0] == BOOK_DELTA:
                last[(ev[1], ev[2])] = ev[3]
        levels = self._levels
        return [
            (side, price, qty) for (side, price), qty in last.items() if levels[side].get(price, 0) != qty
        ]

    def apply(self, events: Iterable[Event]) -> list[Change]:
        """Apply the ``BOOK_DELTA`` events of one batch (others are ignored), add one to
        :attr:`seq`, and return the net changes (:meth:`net_changes`)."""
        changes = self.net_changes(events)
        self._set(changes)
        self.seq += 1
        return changes

    def apply_changes(self, changes: Iterable[Change], seq: int) -> None:
        """Set levels to the given totals (0 removes one) and :attr:`seq` to ``seq``."""
        self._set(changes)
        self.seq = seq

    def _set(self, changes: Iterable[Change]) -> None:
        levels = self._levels
        for side, price, qty in changes:
            if qty:
                levels[side][price] = qty
            else:
                levels[side].pop(price, None)

    # -- reading -------------------------------------------------------------------------------

    def level(self, side: int, price: int) -> int:
        """The total resting at ``price`` on ``side`` (0 if none)."""
        return self._levels[side].get(price, 0)

    def depth(self, side: int, levels: int | None = None) -> list[tuple[int, int]]:
        """``(price, qty)`` of the best ``levels`` levels of ``side`` (all if None), best first:
        the same shape as ``Engine.depth``."""
        book = self._levels[side]
        prices = sorted(book, reverse=side == BID)
        if levels is not None:
            prices = prices[: max(levels, 0)]
        return [(p, book[p]) for p in prices]

    def snapshot(self, depth: int | None = None) -> dict[str, Any]:
        """``{"seq", "bids": [[price, qty], ...], "asks": [...]}``, best first, ``depth``
        levels a side (all if None)."""
        return {
            "seq": self.seq,
            "bids": [[p, q] for p, q in self.depth(BID, depth)],
            "asks": [[p, q] for p, q in self.depth(ASK, depth)],
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, L2Book):
            return NotImplemented
        return self._levels == other._levels

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"L2Book(seq={self.seq}, bids={self.depth(BID, 5)}, asks={self.depth(ASK, 5)})"


class FeedPublisher:
    """Feed messages of one instrument from its engine's events (see the module docstring).

    ``seq`` is the last message's sequence number (0 before any); a publisher restarted from a
    saved book passes ``seq`` and ``next_trade_id`` to continue both counters.
    """

    __slots__ = ("_book", "_next_trade_id", "_seq", "instrument")

    def __init__(
        self, instrument: str, book: L2Book | None = None, seq: int = 0, next_trade_id: int = 1
    ) -> None:
        self.instrument = instrument
        self._book = book if book is not None else L2Book()
        self._seq = seq
        self._book.seq = seq
        self._next_trade_id = next_trade_id

    @property
    def seq(self) -> int:
        """The sequence number of the last message published (0 before any)."""
        return self._seq

    @property
    def book(self) -> L2Book:
        """The book as of the last message (read it, do not change it)."""
        return self._book

    def publish(self, events: Sequence[Event]) -> list[FeedMessage]:
        """The messages for one batch of engine events: a ``trade`` per ``TRADE`` event, in
        order, then one ``l2update`` with the batch's net level changes, if any."""
        out: list[FeedMessage] = []
        seq, instrument = self._seq, self.instrument
        for ev in events:
            if ev[0] == TRADE:  # kind, maker_id, taker_id, price, qty, maker_acc, taker_acc, aggressor
                seq += 1
                out.append(
                    {
                        "type": "trade",
                        "seq": seq,
                        "instrument": instrument,
                        "price": ev[3],
                        "qty": ev[4],
                        "aggressor": _AGGRESSOR_NAMES[ev[7]],
                        "trade_id": self._next_trade_id,
                    }
                )
                self._next_trade_id += 1
        changes = self._book.net_changes(events)
        if changes:
            seq += 1
            out.append(
                {
                    "type": "l2update",
                    "seq": seq,
                    "instrument": instrument,
                    "changes": [[_SIDE_NAMES[s], p, q] for s, p, q in changes],
                }
            )
        self._book.apply_changes(changes, seq)
        self._seq = seq
        return out

    def snapshot(self, depth: int | None = None) -> L2Snapshot:
        """An ``l2snapshot`` of the book as of message :attr:`seq`. A client that needs the
        exact book takes every level (``depth=None``): a cut snapshot cannot tell it about
        deeper levels that later move up."""
        snap = self._book.snapshot(depth)
        return {
            "type": "l2snapshot",
            "seq": self._seq,
            "instrument": self.instrument,
            "bids": snap["bids"],
            "asks": snap["asks"],
        }


class FeedClient:
    """The subscriber side of a feed, for one instrument: a snapshot, then updates in order.

    :meth:`apply` takes any decoded message (a mapping, as from ``json.loads``). A snapshot
    replaces the book; an update or trade must carry exactly ``seq + 1``, else
    :class:`FeedGapError` and the client refuses every update until the next snapshot (the
    rule is :class:`gcx.feed.FeedSequence`'s). On a live feed, buffer the updates, fetch a
    snapshot and call :meth:`resync` with both: it drops the buffered messages the snapshot
    already reflects and applies the rest.
    """

    __slots__ = ("_book", "_sequence", "instrument", "trades")

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self._book = L2Book()
        self._sequence = FeedSequence()
        self.trades: list[TradeMessage] = []
        """Trades received since the last snapshot, in order (the caller may clear it)."""

    @property
    def book(self) -> L2Book:
        return self._book

    @property
    def seq(self) -> int:
        """The ``seq`` of the last message applied."""
        return self._sequence.seq

    @property
    def synced(self) -> bool:
        """Whether the client holds a snapshot and has seen no gap since."""
        return self._sequence.synced

    def apply(self, message: Mapping[str, Any]) -> None:
        """Apply one message (``l2snapshot``, ``l2update`` or ``trade``).

        The payload is read before the sequence moves, so a malformed message
        (:class:`FeedError`) changes nothing.
        """
        if message.get("instrument") != self.instrument:
            raise FeedError(f"message for {message.get('instrument')!r}, not {self.instrument!r}")
        kind = message.get("type")
        if kind == "l2snapshot":
            levels = self._snapshot_levels(message)
            seq = self._sequence.check(message)
            self._book = L2Book(seq)
            self._book.apply_changes(levels, seq)
            self.trades = []
        elif kind == "l2update":
            changes = self._parse_changes(message.get("changes"))
            self._book.apply_changes(changes, self._sequence.check(message))
        else:
            self._book.seq = self._sequence.check(message)  # a trade (or FeedError: unknown type)
            self.trades.append(message)  # type: ignore[arg-type]

    def resync(self, snapshot: Mapping[str, Any], buffered: Iterable[Mapping[str, Any]] = ()) -> None:
        """Apply ``snapshot``, skip the ``buffered`` messages it already reflects
        (``seq <= snapshot seq``), and apply the others in order (a gap among them raises)."""
        self.apply(snapshot)
        for message in buffered:
            seq = message.get("seq")
            if _is_int(seq) and self._sequence.reflects(seq):
                continue
            self.apply(message)

    @staticmethod
    def _snapshot_levels(message: Mapping[str, Any]) -> list[Change]:
        changes: list[Change] = []
        for side, key in ((BID, "bids"), (ASK, "asks")):
            levels = message.get(key)
            if not isinstance(levels, list):
                raise FeedError(f"snapshot {key} is not a list")
            for level in levels:
                if not isinstance(level, list | tuple) or len(level) != 2:
                    raise FeedError(f"bad snapshot level {level!r}")
                price, qty = level
                if not (_is_int(price) and _is_int(qty)) or price <= 0 or qty <= 0:
                    raise FeedError(f"bad snapshot level {level!r}")
                changes.append((side, price, qty))
        return changes

    @staticmethod
    def _parse_changes(raw: object) -> list[Change]:
        if not isinstance(raw, list):
            raise FeedError("l2update changes is not a list")
        changes: list[Change] = []
        for change in raw:
            if not isinstance(change, list | tuple) or len(change) != 3:
                raise FeedError(f"bad change {change!r}")
            side, price, qty = change
            if side not in _SIDE_CODES or not (_is_int(price) and _is_int(qty)) or price <= 0 or qty < 0:
                raise FeedError(f"bad change {change!r}")
            changes.append((_SIDE_CODES[side], price, qty))
        return changes


class Candles:
    """OHLCV candles of one instrument's trades in fixed intervals of ``interval`` time units.

    The caller stamps each trade (the engine has no clock) with an integer time in any unit
    (seconds, milliseconds), and ``interval`` is in the same unit; an interval starts at a
    multiple of ``interval``. Times must not go back: one earlier than the latest seen counts
    as the latest (a clock that steps back never rewrites a closed candle). Intervals without
    a trade have no candle. ``keep`` bounds how many candles are retained (oldest dropped).
    """

    __slots__ = ("_candles", "_last_ts", "_starts", "interval", "keep")

    def __init__(self, interval: int = 60, keep: int | None = None) -> None:
        if interval <= 0:
            raise ValueError("a candle interval is a positive integer")
        if keep is not None and keep <= 0:
            raise ValueError("keep is a positive number of candles, or None")
        self.interval = interval
        self.keep = keep
        self._starts: list[int] = []
        self._candles: list[Candle] = []
        self._last_ts: int | None = None

    def add(self, ts: int, price: int, qty: int) -> None:
        """Record a trade of ``qty`` lots at ``price`` ticks, stamped ``ts``."""
        if self._last_ts is not None and ts < self._last_ts:
            ts = self._last_ts
        self._last_ts = ts
        start = ts - ts % self.interval
        if self._starts and self._starts[-1] == start:
            c = self._candles[-1]
            if price > c[2]:
                c[2] = price
            elif price < c[3]:
                c[3] = price
            c[4] = price
            c[5] += qty
            return
        self._starts.append(start)
        self._candles.append([start, price, price, price, price, qty])
        if self.keep is not None and len(self._starts) > self.keep:
            del self._starts[0], self._candles[0]

    def add_events(self, ts: int, events: Iterable[Event]) -> None:
        """Record every ``TRADE`` event of a batch, all stamped ``ts``."""
        for ev in events:
            if ev[0] == TRADE:
                self.add(ts, ev[3], ev[4])

    def dump(self) -> list[Any]:
        """``[last_ts, candles]``: everything :meth:`load` needs to continue exactly."""
        return [self._last_ts, [list(c) for c in self._candles]]

    def load(self, dumped: Sequence[Any]) -> None:
        """Continue from a :meth:`dump` (into a fresh ``Candles`` of the same interval)."""
        last_ts, candles = dumped
        if self._candles:
            raise ValueError("load needs fresh candles")
        for c in candles:
            if len(c) != 6 or not all(_is_int(v) for v in c):
                raise ValueError(f"bad candle {c!r}")
            self._starts.append(c[0])
            self._candles.append(list(c))
        self._last_ts = last_ts

    def candles(self, since: int | None = None) -> list[Candle]:
        """Copies of the candles whose interval ends after ``since`` (so including the one
        that contains it), oldest first; all if None."""
        first = 0
        if since is not None:
            first = bisect_right(self._starts, since - self.interval)
        return [list(c) for c in self._candles[first:]]
