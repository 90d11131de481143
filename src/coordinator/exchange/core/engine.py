"""The matching engine: one order book of one instrument, sans-I/O and single-threaded.

Theory of operation
-------------------
An :class:`Engine` consumes commands (:mod:`.commands`) one at a time, in sequence, and appends
the events they cause (:mod:`.events`) to ``engine.out``. It does no I/O, reads no clock and
starts no thread (STYLE 1, 6): the same commands in the same order always give byte-identical
events and the same :meth:`Engine.state_hash`, which is what makes the journal's replay exact.
The kind of instrument (spot, future, option, perpetual) does not matter here.

**Strict price-time priority.** Prices are integer ticks, quantities integer lots (STYLE 5).
The book is a *tick-indexed array*: ``_qtys[price]`` is the total resting at that price (0: an
empty level) and ``_levels[price]`` the ``deque`` of those orders in arrival order (``None``
until the price is first used; a level that empties keeps its queue, so refilling it allocates
nothing). The book is never crossed after a command, so below the best bid every non-empty
level is a bid and above the best ask an ask: one array serves both sides. ``best_bid`` /
``best_ask`` point at the touch; when a level empties the pointer walks ``_qtys`` to the next
non-zero slot, stopped by sentinel totals at index 0 and at the top of the array (an empty bid
side has ``best_bid == 0``, an empty ask side ``best_ask == NO_ASK``). The array starts at
``EngineConfig.initial_price_capacity`` and grows to any price.
An order is a small ``list`` ``[order_id, qty, account, side, price, post_only]`` (cheaper to
build and index than any object); ``_orders`` maps id to order for O(1) lookup. A cancel takes
the order off its queue when it is at either end (O(1)); in between it only sets the order's
quantity to 0 and leaves it in place, *dead* (O(1) instead of a scan of the queue): matching
drops a dead order when it reaches the front, the read-outs skip it, an emptied level clears
its queue, and a queue is compacted once its dead orders may outnumber the live ones by more
than ``_COMPACT_AT`` (``_dead[price]`` counts them, an upper bound), so the garbage stays
bounded. Dead orders are invisible in events, priority, read-outs and the state hash.

**An aggressor** (limit order that crosses, market order, re-entered replaced order) walks the
opposite side from the touch while it has quantity and the level's price is within its limit:
each resting order in the level's queue trades in turn (``TRADE`` at the maker's price), then
the level's new total is published (``BOOK_DELTA``). Whatever remains of a GTC or post-only
order rests; of an IOC order it is cancelled (``IOC_REMAINDER``), of a market order too
(``MARKET_REMAINDER``). FOK orders are checked to be fully fillable before anything happens.

**Self-trade prevention** follows :class:`STPMode` (cancel the resting order by default).

**Checks, in order**, for a new order: duplicate id (live in this book), positive price/qty
(``BAD_TICK_LOT``), a limit price above ``max_price`` (``PRICE_LIMIT``: the array's bound), size limits, price band (limit price within ``band_ticks`` of the last trade
price, or of ``reference_price`` before the first trade; off when neither is known), the
pre-trade hook ``(account, side, price, qty) -> bool`` (price 0 for market orders), then the
type's own rule (post-only would cross, FOK not fillable, market order facing an empty book).

The order lifecycle is the transition table of :mod:`.lifecycle`; the tests check every event
stream against it. ``working`` orders that are not taking are exactly the resting ones.

**Cancel-replace** sets a new price and a new *remaining* quantity: same price and no more
quantity keeps time priority (``REPLACED`` with ``kept_priority=1``); anything else removes the
order and enters it again at the back of the new level, as an aggressor if it crosses.

The hot path avoids every per-operation cost it can: no enum or dataclass on it, events are
tuple literals, attributes and methods are bound to locals, matching loops index lists with
literal constants, and an operation allocates little beyond the order and its events.
``python -m bench.matching`` measures it. :meth:`Engine.apply_batch`
dispatches typed commands straight to the hot-path methods (what the journal's consumer uses).
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Final

from .commands import Cancel, Command, PlaceLimit, PlaceMarket, Replace
from .engine_config import NO_ASK, EngineConfig, PreTradeCheck, RestingOrder, STPMode
from .events import ACCEPTED, BOOK_DELTA, CANCELLED, REJECTED, REPLACED, TRADE, Event

__all__ = ["NO_ASK", "Engine", "EngineConfig", "PreTradeCheck", "RestingOrder", "STPMode"]

# Hot-path constants (plain ints: enum members cost an attribute lookup and a hash per use).
_BUY: Final = 0
_SELL: Final = 1
_IOC: Final = 1
_FOK: Final = 2
_POST: Final = 3
_MARKET: Final = 4
_STP_RESTING: Final = 1
_STP_TAKER: Final = 2
# Reject reasons (RejectReason values) and cancel reasons (CancelReason values).
_R_BAD: Final = 2
_R_BAND: Final = 3
_R_SIZE: Final = 4
_R_POST: Final = 5
_R_FOK: Final = 6
_R_DUP: Final = 7
_R_UNKNOWN: Final = 8
_R_OWNER: Final = 9
_R_STP: Final = 10
_R_BALANCE: Final = 11
_R_NOLIQ: Final = 12
_R_PRICE: Final = 13
_C_USER: Final = 1
_C_IOC: Final = 2
_C_MARKET: Final = 3
_C_SELF: Final = 4

_COMPACT_AT: Final = 32  # dead orders a level's queue may hold before it is compacted
_NO_ASK: Final = NO_ASK  # the module global the compiled build makes a C constant


def _compact(queue: deque[list[int]]) -> None:
    """Drop the dead (cancelled, quantity 0) orders of a level's queue, keeping the order."""
    live = [o for o in queue if o[1]]
    queue.clear()
    queue.extend(live)


_HASH_ORDER = struct.Struct("<qqqqqq")
_HASH_HEAD = struct.Struct("<qq")


class Engine:
    """The order book and matcher of one instrument (see the module docstring).

    Drive it with :meth:`apply` / :meth:`apply_batch` (typed commands, return the events) or,
    on a hot path, with :meth:`place_limit` / :meth:`place_market` / :meth:`cancel` /
    :meth:`replace`, which append to :attr:`out`; take the events with :meth:`take_events`. Public read-outs: ``best_bid``,
    ``best_ask`` (raw pointers, see :data:`NO_ASK`), ``last_price`` (0 before the first trade),
    ``volume`` (lots traded), ``seq`` (commands applied), :meth:`resting_orders`,
    :meth:`depth`, :meth:`state_hash`; :meth:`restore` loads a saved state (snapshots).
    """

    __slots__ = (
        "_band",
        "_check",
        "_dead",
        "_guarded",
        "_levels",
        "_lo",
        "_max_price",
        "_max_qty",
        "_min_qty",
        "_orders",
        "_qtys",
        "_ref0",
        "_stp",
        "_top",
        "best_ask",
        "best_bid",
        "last_price",
        "out",
        "seq",
        "volume",
    )

    def __init__(self, config: EngineConfig | None = None, pre_trade: PreTradeCheck | None = None) -> None:
        cfg = config or EngineConfig()
        self._band = -1 if cfg.band_ticks is None else cfg.band_ticks
        self._ref0 = cfg.reference_price or 0
        self._min_qty = cfg.min_qty
        self._max_qty = cfg.max_qty
        self._max_price = cfg.max_price
        self._stp = int(cfg.stp)
        self._check = pre_trade
        self._lo = max(cfg.min_qty, 1)
        self._guarded = self._band >= 0 or pre_trade is not None  # checks the fast path skips
        top = max(min(cfg.initial_price_capacity, cfg.max_price + 2), 2)
        self._levels: list[deque[list[int]] | None] = [None] * (top + 1)
        self._qtys = [0] * (top + 1)
        self._qtys[0] = self._qtys[top] = 1  # sentinels: a walk stops at a non-zero total
        self._top = top
        self._orders: dict[int, list[int]] = {}
        self._dead = [0] * (top + 1)  # dead orders in each price's queue (an upper bound)
        self.best_bid = 0
        self.best_ask = _NO_ASK
        self.last_price = 0
        self.volume = 0
        self.seq = 0
        self.out: list[Event] = []

    # -- typed entry point ---------------------------------------------------------------------

    def apply(self, command: Command) -> list[Event]:
        """Apply one command; return the events it caused (and clear :attr:`out`)."""
        return self.apply_batch((command,))

    def apply_batch(self, commands: Iterable[Command]) -> list[Event]:
        """Apply ``commands`` in order, exactly as one :meth:`apply` each would; return all
        their events, in order (with any left in :attr:`out` before, which it clears).

        Dispatches on the exact type of each command straight to the hot-path methods, most
        frequent first; anything that is not a command raises ``TypeError`` (the commands
        before it are applied, their events stay in :attr:`out`).
        """
        limit, market, cancel = self.place_limit, self.place_market, self.cancel
        for c in commands:
            kind = type(c)
            if kind is PlaceLimit:
                limit(c.account, c.order_id, int(c.side), c.price, c.qty, int(c.order_type))  # type: ignore[union-attr]
            elif kind is Cancel:
                cancel(c.account, c.order_id)
            elif kind is PlaceMarket:
                market(c.account, c.order_id, int(c.side), c.qty)  # type: ignore[union-attr]
            elif kind is Replace:
                self.replace(c.account, c.order_id, c.price, c.qty)  # type: ignore[union-attr]
            else:
                raise TypeError(f"not a command: {c!r}")
        return self.take_events()

    def execute(self, rows: Iterable[tuple[int, ...]]) -> None:
        """Apply commands given in their flat form, the tuple ``(kind, *fields)`` that
        :func:`~.commands.encode_command` writes as an array (kind 1 ``PlaceLimit``, 2
        ``PlaceMarket``, 3 ``Cancel``, 4 ``Replace``), appending their events to :attr:`out`.

        The fastest entry point: no command object per operation, and the compiled build
        dispatches to the hot-path methods without a Python call. ``ValueError`` for a row of
        another kind (the rows before it are applied); a row must be a ``tuple``.
        """
        for row in rows:
            kind = row[0]
            if kind == 1:
                self.place_limit(row[1], row[2], row[3], row[4], row[5], row[6])
            elif kind == 3:
                self.cancel(row[1], row[2])
            elif kind == 2:
                self.place_market(row[1], row[2], row[3], row[4])
            elif kind == 4:
                self.replace(row[1], row[2], row[3], row[4])
            else:
                raise ValueError(f"not a command row: {row!r}")

    def take_events(self) -> list[Event]:
        """The events appended to :attr:`out` since the last call; :attr:`out` starts empty."""
        events = self.out
        self.out = []
        return events

    def restore(self, orders: Iterable[RestingOrder], seq: int, last_price: int, volume: int) -> None:
        """Load a saved state into this fresh engine (no command applied yet, nothing resting).

        ``orders`` are ``(order_id, account, side, price, remaining qty, post_only)`` in
        priority order, as :meth:`resting_orders` gives them; each goes to the back of its
        level with no admission check (they were checked when they arrived) and no event.
        ``ValueError`` if the engine is not fresh, an order is malformed or a duplicate, or the
        book would be crossed; then the engine is unusable (build a new one).
        """
        if self.seq or self._orders:
            raise ValueError("restore needs a fresh engine")
        for order_id, account, side, price, qty, post in orders:
            if order_id in self._orders or side not in (_BUY, _SELL) or price < 1 or qty < 1:
                raise ValueError(f"bad resting order {(order_id, account, side, price, qty, post)}")
            self._rest([order_id, qty, account, side, price, bool(post)])
        self.out.clear()
        if self.best_bid >= self.best_ask:
            raise ValueError("the restored book is crossed")
        self.seq, self.last_price, self.volume = seq, last_price, volume

    # -- hot path ------------------------------------------------------------------------------

    def _precheck(self, account: int, order_id: int, side: int, price: int, qty: int, min_price: int) -> int:
        """The reject reason of a new order's common checks, or 0 (``price`` 0: market)."""
        if order_id in self._orders:
            return _R_DUP
        if qty < 1 or price < min_price:
            return _R_BAD
        if price > self._max_price:
            return _R_PRICE
        if qty < self._min_qty or qty > self._max_qty:
            return _R_SIZE
        band = self._band
        if band >= 0 and price:
            ref = self.last_price or self._ref0
            if ref and (price > ref + band or price < ref - band):
                return _R_BAND
        check = self._check
        if check is not None and not check(account, side, price, qty):
            return _R_BALANCE
        return 0

    def place_limit(  # noqa: PLR0915 - one flat function is the hot path
        self, account: int, order_id: int, side: int, price: int, qty: int, order_type: int = 0
    ) -> None:
        """A limit order; ``order_type`` is an :class:`OrderType` value other than MARKET."""
        self.seq += 1
        out = self.out
        orders = self._orders
        if (
            order_id in orders
            or not 0 < price <= self._max_price
            or not self._lo <= qty <= self._max_qty
            or self._guarded
        ):
            reason = self._precheck(account, order_id, side, price, qty, 1)
            if reason:
                out.append((REJECTED, order_id, account, reason))
                return
        if side == _BUY:
            if price >= self.best_ask:
                if order_type == _POST:
                    out.append((REJECTED, order_id, account, _R_POST))
                    return
                if order_type == _FOK:
                    reason = self._fok_reason(account, side, price, qty)
                    if reason:
                        out.append((REJECTED, order_id, account, reason))
                        return
                out.append((ACCEPTED, order_id, account, side, price, qty, order_type))
                qty = self._take_asks(out, order_id, account, qty, price)
                if not qty:
                    return
            else:
                if order_type == _FOK:
                    out.append((REJECTED, order_id, account, _R_FOK))
                    return
                out.append((ACCEPTED, order_id, account, side, price, qty, order_type))
        else:  # noqa: PLR5501 - the buy and sell branches mirror each other
            if price <= self.best_bid:
                if order_type == _POST:
                    out.append((REJECTED, order_id, account, _R_POST))
                    return
                if order_type == _FOK:
                    reason = self._fok_reason(account, side, price, qty)
                    if reason:
                        out.append((REJECTED, order_id, account, reason))
                        return
                out.append((ACCEPTED, order_id, account, side, price, qty, order_type))
                qty = self._take_bids(out, order_id, account, qty, price)
                if not qty:
                    return
            else:
                if order_type == _FOK:
                    out.append((REJECTED, order_id, account, _R_FOK))
                    return
                out.append((ACCEPTED, order_id, account, side, price, qty, order_type))
        if order_type == _IOC:
            out.append((CANCELLED, order_id, account, qty, _C_IOC))
            return
        # Rest (GTC or post-only).
        if price >= self._top:
            self._grow(price)
        levels = self._levels
        order = [order_id, qty, account, side, price, order_type == _POST]
        queue = levels[price]
        if queue is None:  # first use of this price: its queue stays, empty or not
            levels[price] = queue = deque()
        queue.append(order)
        qtys = self._qtys
        level_qty = qtys[price]
        if not level_qty:  # the level was empty
            if side == _BUY:
                if price > self.best_bid:  # noqa: PLR1730 - a call to max() costs more
                    self.best_bid = price
            elif price < self.best_ask:
                self.best_ask = price
        qtys[price] = level_qty = level_qty + qty
        orders[order_id] = order
        out.append((BOOK_DELTA, side, price, level_qty))

    def place_market(self, account: int, order_id: int, side: int, qty: int) -> None:
        """A market order: trades what it can against the other side; the rest is cancelled."""
        self.seq += 1
        out = self.out
        reason = 0
        if order_id in self._orders or not self._lo <= qty <= self._max_qty or self._guarded:
            reason = self._precheck(account, order_id, side, 0, qty, 0)
        if not reason and (self.best_ask == _NO_ASK if side == _BUY else self.best_bid == 0):
            reason = _R_NOLIQ
        if reason:
            out.append((REJECTED, order_id, account, reason))
            return
        out.append((ACCEPTED, order_id, account, side, 0, qty, _MARKET))
        if side == _BUY:
            qty = self._take_asks(out, order_id, account, qty, _NO_ASK - 1)
        else:
            qty = self._take_bids(out, order_id, account, qty, 1)
        if qty:
            out.append((CANCELLED, order_id, account, qty, _C_MARKET))

    def cancel(self, account: int, order_id: int) -> None:
        """Cancel a resting order (``UNKNOWN_ORDER`` if it is not resting, ``NOT_OWNER``)."""
        self.seq += 1
        out = self.out
        orders = self._orders
        order = orders.get(order_id)
        if order is None:
            out.append((REJECTED, order_id, account, _R_UNKNOWN))
            return
        if order[2] != account:
            out.append((REJECTED, order_id, account, _R_OWNER))
            return
        del orders[order_id]
        qty = order[1]
        out.append((CANCELLED, order_id, account, qty, _C_USER))
        # Inlined _unlink and _bury (a third of all operations are cancels).
        price = order[4]
        queue = self._levels[price]
        assert queue is not None
        if queue[-1] is order:
            queue.pop()
        elif queue[0] is order:
            queue.popleft()
        else:
            order[1] = 0  # dead: left in place, skipped when it reaches the front
            dead = self._dead
            count = dead[price] + 1
            if count > _COMPACT_AT and 2 * count > len(queue):
                _compact(queue)
                count = 0
            dead[price] = count
        qtys = self._qtys
        qtys[price] = level_qty = qtys[price] - qty
        side = order[3]
        out.append((BOOK_DELTA, side, price, level_qty))
        if level_qty:
            return
        if queue:  # only dead orders are left
            queue.clear()
        if side == _BUY:
            if price == self.best_bid:
                price -= 1
                while not qtys[price]:
                    price -= 1
                self.best_bid = price
        elif price == self.best_ask:
            price += 1
            while not qtys[price]:
                price += 1
            self.best_ask = _NO_ASK if price == self._top else price

    def _unlink(self, order: list[int]) -> None:
        """Take a resting order out of its level (not out of ``_orders``); publish the level."""
        price = order[4]
        queue = self._levels[price]
        assert queue is not None
        qty = order[1]
        if queue[-1] is order:
            queue.pop()
        elif queue[0] is order:
            queue.popleft()
        else:
            order[1] = 0  # dead (see cancel)
            self._bury(queue, price)
        qtys = self._qtys
        qtys[price] = level_qty = qtys[price] - qty
        side = order[3]
        self.out.append((BOOK_DELTA, side, price, level_qty))
        if level_qty:
            return
        if queue:  # only dead orders are left
            queue.clear()
        if side == _BUY:
            if price == self.best_bid:
                price -= 1
                while not qtys[price]:
                    price -= 1
                self.best_bid = price
        elif price == self.best_ask:
            price += 1
            while not qtys[price]:
                price += 1
            self.best_ask = _NO_ASK if price == self._top else price

    def _bury(self, queue: deque[list[int]], price: int) -> None:
        """Count one more dead order in the level at ``price``; compact the level's queue when
        dead orders may be the majority of it (so they never outnumber the live ones by more
        than ``_COMPACT_AT``). The count only ever overstates (orders dropped by matching or
        with their emptied level are not subtracted), which at worst compacts early."""
        dead = self._dead[price] + 1
        if dead > _COMPACT_AT and 2 * dead > len(queue):
            _compact(queue)
            dead = 0
        self._dead[price] = dead

    def replace(self, account: int, order_id: int, price: int, qty: int) -> None:
        """Cancel-replace a resting order to ``price`` and remaining quantity ``qty``."""
        self.seq += 1
        out = self.out
        order = self._orders.get(order_id)
        reason = 0
        if order is None:
            reason = _R_UNKNOWN
        elif order[2] != account:
            reason = _R_OWNER
        elif price < 1 or qty < 1:
            reason = _R_BAD
        elif price > self._max_price:
            reason = _R_PRICE
        elif qty < self._min_qty or qty > self._max_qty:
            reason = _R_SIZE
        if reason or order is None:
            out.append((REJECTED, order_id, account, reason))
            return
        side, old_price, remaining, post = order[3], order[4], order[1], order[5]
        if price == old_price and qty <= remaining:  # keeps time priority
            out.append((REPLACED, order_id, account, side, price, qty, 1))
            if qty < remaining:
                order[1] = qty
                qtys = self._qtys
                qtys[price] -= remaining - qty
                out.append((BOOK_DELTA, side, price, qtys[price]))
            return
        band, ref = self._band, self.last_price or self._ref0
        crosses = price >= self.best_ask if side == _BUY else price <= self.best_bid
        check = self._check
        if band >= 0 and ref and (price > ref + band or price < ref - band):
            reason = _R_BAND
        elif post and crosses:
            reason = _R_POST
        elif check is not None and not check(account, side, price, qty):
            reason = _R_BALANCE
        if reason:
            out.append((REJECTED, order_id, account, reason))
            return
        del self._orders[order_id]
        out.append((REPLACED, order_id, account, side, price, qty, 0))
        self._unlink(order)
        if crosses:
            if side == _BUY:
                qty = self._take_asks(out, order_id, account, qty, price)
            else:
                qty = self._take_bids(out, order_id, account, qty, price)
        if qty:
            self._rest([order_id, qty, account, side, price, post])

    def _rest(self, order: list[int]) -> None:
        """Append an order to the back of its level (growing the array if needed)."""
        order_id, qty, _, side, price, _ = order
        if price >= self._top:
            self._grow(price)
        levels, qtys = self._levels, self._qtys
        queue = levels[price]
        if queue is None:
            levels[price] = queue = deque()
        queue.append(order)
        if not qtys[price]:
            if side == _BUY:
                self.best_bid = max(self.best_bid, price)
            else:
                self.best_ask = min(self.best_ask, price)
        qtys[price] += qty
        self._orders[order_id] = order
        self.out.append((BOOK_DELTA, side, price, qtys[price]))

    def _take_asks(  # noqa: PLR0915 - the inner loop is flat on purpose
        self, out: list[Event], taker_id: int, account: int, qty: int, limit: int
    ) -> int:
        """A buyer takes asks priced up to ``limit``; returns its unfilled quantity."""
        levels, qtys, orders, stp = self._levels, self._qtys, self._orders, self._stp
        price = self.best_ask
        start = qty
        last = 0
        blocked = False
        while price <= limit:
            queue = levels[price]
            assert queue is not None
            level_qty = before = qtys[price]
            while True:
                maker = queue[0]
                maker_qty = maker[1]
                if not maker_qty:  # a cancelled order left in place
                    queue.popleft()
                    continue
                maker_account = maker[2]
                if maker_account == account and stp:
                    if stp == _STP_TAKER:
                        blocked = True
                        break
                    queue.popleft()
                    del orders[maker[0]]
                    level_qty -= maker_qty
                    out.append((CANCELLED, maker[0], maker_account, maker_qty, _C_SELF))
                    if level_qty:
                        continue
                    break
                last = price
                if maker_qty <= qty:
                    queue.popleft()
                    del orders[maker[0]]
                    qty -= maker_qty
                    level_qty -= maker_qty
                    out.append((TRADE, maker[0], taker_id, price, maker_qty, maker_account, account, _BUY))
                    if qty and level_qty:
                        continue
                    break
                maker[1] = maker_qty - qty
                level_qty -= qty
                out.append((TRADE, maker[0], taker_id, price, qty, maker_account, account, _BUY))
                qty = 0
                break
            if level_qty != before:
                qtys[price] = level_qty
                out.append((BOOK_DELTA, _SELL, price, level_qty))
            if level_qty or blocked:
                break
            if queue:  # only dead orders are left
                queue.clear()
            price += 1
            while not qtys[price]:
                price += 1
            if price == self._top:
                price = _NO_ASK
            if not qty:
                break
        self.best_ask = price
        if last:
            self.last_price = last
            self.volume += start - qty
        if blocked:
            out.append((CANCELLED, taker_id, account, qty, _C_SELF))
            return 0
        return qty

    def _take_bids(  # noqa: PLR0915 - mirrors _take_asks
        self, out: list[Event], taker_id: int, account: int, qty: int, limit: int
    ) -> int:
        """A seller takes bids priced down to ``limit``; returns its unfilled quantity."""
        levels, qtys, orders, stp = self._levels, self._qtys, self._orders, self._stp
        price = self.best_bid
        start = qty
        last = 0
        blocked = False
        while price >= limit:
            queue = levels[price]
            assert queue is not None
            level_qty = before = qtys[price]
            while True:
                maker = queue[0]
                maker_qty = maker[1]
                if not maker_qty:  # a cancelled order left in place
                    queue.popleft()
                    continue
                maker_account = maker[2]
                if maker_account == account and stp:
                    if stp == _STP_TAKER:
                        blocked = True
                        break
                    queue.popleft()
                    del orders[maker[0]]
                    level_qty -= maker_qty
                    out.append((CANCELLED, maker[0], maker_account, maker_qty, _C_SELF))
                    if level_qty:
                        continue
                    break
                last = price
                if maker_qty <= qty:
                    queue.popleft()
                    del orders[maker[0]]
                    qty -= maker_qty
                    level_qty -= maker_qty
                    out.append((TRADE, maker[0], taker_id, price, maker_qty, maker_account, account, _SELL))
                    if qty and level_qty:
                        continue
                    break
                maker[1] = maker_qty - qty
                level_qty -= qty
                out.append((TRADE, maker[0], taker_id, price, qty, maker_account, account, _SELL))
                qty = 0
                break
            if level_qty != before:
                qtys[price] = level_qty
                out.append((BOOK_DELTA, _BUY, price, level_qty))
            if level_qty or blocked:
                break
            if queue:  # only dead orders are left
                queue.clear()
            price -= 1
            while not qtys[price]:
                price -= 1
            if not qty:
                break
        self.best_bid = price
        if last:
            self.last_price = last
            self.volume += start - qty
        if blocked:
            out.append((CANCELLED, taker_id, account, qty, _C_SELF))
            return 0
        return qty

    def _fok_reason(self, account: int, side: int, limit: int, qty: int) -> int:
        """0 if an FOK order can fill entirely now, else its reject reason."""
        levels, qtys, stp, top = self._levels, self._qtys, self._stp, self._top
        step = 1 if side == _BUY else -1
        price = self.best_ask if side == _BUY else self.best_bid
        while 0 < price < top and (price <= limit if side == _BUY else price >= limit):
            for order in levels[price] or ():
                if not order[1]:  # dead
                    continue
                if order[2] == account and stp:
                    if stp == _STP_TAKER:
                        return _R_STP
                    continue
                qty -= order[1]
                if qty <= 0:
                    return 0
            price += step
            while not qtys[price]:
                price += step
        return _R_FOK

    def _grow(self, price: int) -> None:
        """Extend the price array so that ``price`` is a valid index below the top sentinel."""
        old_top = self._top
        top = max(price + 1, min(2 * old_top, self._max_price + 2))
        self._levels.extend([None] * (top - old_top))
        self._dead.extend([0] * (top - old_top))
        self._qtys[old_top] = 0
        self._qtys.extend([0] * (top - old_top))
        self._qtys[top] = 1  # sentinel
        self._top = top

    # -- read-outs (off the hot path) -----------------------------------------------------------

    def _level_prices(self, side: int) -> Iterator[int]:
        """Non-empty price levels of one side, best first."""
        qtys, top = self._qtys, self._top
        if side == _BUY:
            price = self.best_bid
            while price > 0:
                yield price
                price -= 1
                while not qtys[price]:
                    price -= 1
        else:
            price = self.best_ask
            while price < top:
                yield price
                price += 1
                while not qtys[price]:
                    price += 1

    def resting_orders(self) -> list[RestingOrder]:
        """Every resting order in priority order: bids best price first, then asks."""
        result: list[RestingOrder] = []
        for side in (_BUY, _SELL):
            for price in self._level_prices(side):
                for o in self._levels[price] or ():
                    if o[1]:  # not a dead (cancelled) order
                        result.append((o[0], o[2], o[3], o[4], o[1], o[5]))
        return result

    def depth(self, side: int, levels: int | None = None) -> list[tuple[int, int]]:
        """``(price, total qty)`` of the best ``levels`` levels of ``side`` (all if None)."""
        result: list[tuple[int, int]] = []
        for price in self._level_prices(side):
            if levels is not None and len(result) >= levels:
                break
            result.append((price, self._qtys[price]))
        return result

    def state_hash(self) -> bytes:
        """SHA-256 of (seq, last trade price, traded volume, resting orders in priority order)."""
        volume = self.volume.to_bytes(16, "little")  # a running total: may pass 2**63
        digest = hashlib.sha256(_HASH_HEAD.pack(self.seq, self.last_price) + volume)
        for order in self.resting_orders():
            digest.update(_HASH_ORDER.pack(*order))
        return digest.digest()
