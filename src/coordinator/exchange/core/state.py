"""The whole exchange as one deterministic state machine over journal entries (sans-I/O).

Theory of operation
-------------------
:class:`ExchangeState` is what the coordinator's exchange knows: one matching engine per
instrument, the accounts (numbered in order of first appearance), every live order with its
client order id, fills and history per account (bounded), nonces, and market data (the sequenced
feed, recent trades and candles of each instrument). It changes only through
:meth:`ExchangeState.apply` of a journaled :class:`~.entry.Entry` with its sequence number, and
reads no clock (the entry carries its time stamp), so the journal alone rebuilds it exactly:
the same entries in the same order give the same :meth:`ExchangeState.state_hash`.

* **Accounts.** The engine wants integers; the signer's 20-byte address gets the next number
  the first time it appears. Clients never see these numbers.
* **Order lifecycle.** Each order's :class:`~.lifecycle.OrderState` moves only through the
  transition table of :mod:`.lifecycle` (:func:`~.lifecycle.advance`, one step per engine
  event; an illegal step raises :class:`~.lifecycle.IllegalTransition`), and the statuses clients
  see — an order's own and the answer's — are read off that state (:class:`~.lifecycle.Status`).
* **Client order ids.** Cancels and replaces name an order by ``(account, instrument,
  clientOrderId)``; a new order reusing the id of one of the account's live orders on that
  instrument is rejected (``duplicate_order_id``) without reaching the engine, and naming an
  order that is not live is ``unknown_order``. Another account's order cannot even be named:
  a request that claims another account fails its signature check before it gets here.
* **Pre-trade check (until guarantor clearing).** Each account has a credit limit
  (``credit_limit``, micro-USDC) against its *exposure*: the notional of its open orders
  (remaining lots × price, buys and sells alike). A new order whose notional would take the
  exposure above the limit is rejected (``insufficient_balance``); a market order is valued at
  the last trade price (or the reference price). Fills release exposure; positions and
  cash are not tracked yet — that is the clearing issue's job.
* **Snapshots** (:meth:`snapshot` / :meth:`restore`) encode the full state as msgpack
  (engines' resting orders in priority order, live orders, accounts, nonces, counters, fills,
  history, trades, candles). :meth:`state_hash` is the SHA-256 of that encoding, and restore
  checks that the restored state re-encodes to the same bytes.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

from gcx import wire
from gcx.errors import WireError
from gcx.orders import _checksum

from ..errors import StateSnapshotError
from .commands import Cancel, OrderType, PlaceLimit, PlaceMarket, Replace, Side
from .engine import Engine
from .engine_config import MAX_VALUE, RestingOrder
from .entry import CANCEL, ORDER, REPLACE, Entry
from .events import ACCEPTED, CANCELLED, REJECTED, REPLACED, TRADE, Event, RejectReason
from .instruments import Future, Option, Perpetual, Spot
from .lifecycle import ORDER_STATUS, IllegalTransition, OrderState, Status, Transition, advance, answer_status
from .marketdata import Candles, FeedMessage, FeedPublisher, L2Book

__all__ = [
    "CANDLE_INTERVALS",
    "ExchangeState",
    "Outcome",
    "StateSnapshotError",
]

Instrument = Spot | Future | Option | Perpetual

CANDLE_INTERVALS: Final = (60, 300, 3600)
STATE_FORMAT: Final = 1
MAX_SNAPSHOT_SIZE: Final = 1 << 32
"""The largest snapshot :meth:`ExchangeState.restore` decodes (4 GiB; a bigger one is refused
like a damaged one, and recovery replays from an older snapshot instead)."""
_SIDES: Final = ("buy", "sell")
_TYPES: Final = {int(t): t.name.lower() for t in OrderType}
_REASONS: Final = {int(r): r.name.lower() for r in RejectReason}


class OrderRecord:
    """One order of an account, as the API shows it; live while its ``state`` is working."""

    __slots__ = (
        "account",
        "client_order_id",
        "counted",
        "created_ms",
        "filled",
        "instrument",
        "order_id",
        "order_type",
        "price",
        "qty",
        "remaining",
        "side",
        "state",
        "updated_ms",
    )

    def __init__(self, order_id: int, account: int, instrument: str, entry: Entry) -> None:
        self.order_id = order_id
        self.account = account
        self.instrument = instrument
        self.client_order_id = entry.client_order_id
        self.side = entry.side
        self.order_type = entry.order_type
        self.price = 0 if entry.order_type == int(OrderType.MARKET) else entry.price
        self.qty = entry.qty
        self.filled = 0
        self.remaining = entry.qty
        self.state = OrderState.NEW
        self.created_ms = self.updated_ms = entry.ts_ms
        self.counted = 0  # notional this order adds to its account's exposure now

    @property
    def status(self) -> str:
        """The order's status as clients see it (``resting`` while it works)."""
        return ORDER_STATUS[self.state].value

    def to_list(self) -> list[Any]:
        """The record as a snapshot stores it (its state as its status)."""
        return [getattr(self, name) for name in _RECORD_FIELDS]

    @classmethod
    def from_list(cls, raw: list[Any]) -> OrderRecord:
        """A live order of a snapshot (whose status must be ``resting``: only working orders are
        kept)."""
        rec = cls.__new__(cls)
        for name, value in zip(_RECORD_FIELDS, raw, strict=True):
            if name == "status":
                if value != Status.RESTING.value:
                    raise StateSnapshotError(f"a live order of the snapshot has the status {value!r}")
                rec.state = OrderState.WORKING
            elif name == "instrument":
                rec.instrument = wire.expect_str(value, "an order's instrument")
            else:
                setattr(rec, name, wire.expect_int(value, f"an order's {name}"))
        return rec


_RECORD_FIELDS: Final = (
    "order_id",
    "account",
    "instrument",
    "client_order_id",
    "side",
    "order_type",
    "price",
    "qty",
    "filled",
    "remaining",
    "status",
    "created_ms",
    "updated_ms",
    "counted",
)


@dataclass(slots=True)
class Outcome:
    """What one entry did, for the request that sent it."""

    seq: int
    status: str  # a lifecycle.Status value: resting, partially_filled, filled, cancelled, replaced, rejected
    order: dict[str, Any] | None = None
    fills: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # a reject code (``price_band``, ``unknown_order``, …)
    message: str = ""
    kept_priority: bool | None = None
    feed: list[FeedMessage] = field(default_factory=list)  # market-data messages it caused


class ExchangeState:
    """Engines, accounts, orders and market data of the exchange (see the module docstring)."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        *,
        credit_limit: int = 10**12,
        history_limit: int = 1000,
        trades_limit: int = 1000,
        candles_limit: int = 1440,
    ) -> None:
        self.instruments = dict(sorted(instruments.items()))
        self.credit_limit = credit_limit
        self.history_limit = history_limit
        self.engines: dict[str, Engine] = {}
        self.publishers: dict[str, FeedPublisher] = {}
        self.trades: dict[str, deque[FeedMessage]] = {}
        self.candles: dict[str, dict[int, Candles]] = {}
        for sym, inst in self.instruments.items():
            self.engines[sym] = Engine(inst.engine_config(), self._pre_trade(sym, inst))
            self.publishers[sym] = FeedPublisher(sym)
            self.trades[sym] = deque(maxlen=trades_limit)
            self.candles[sym] = {i: Candles(i, keep=candles_limit) for i in CANDLE_INTERVALS}
        self.addresses: list[bytes] = [b""]  # account number -> address; 0 is unused
        self.accounts: dict[bytes, int] = {}
        self.nonces: dict[bytes, int] = {}
        self.orders: dict[int, OrderRecord] = {}  # live orders by engine order id
        self.by_client: dict[tuple[int, str, int], int] = {}
        self.exposure: dict[int, int] = {}
        self.fills: dict[int, deque[dict[str, Any]]] = {}
        self.history: dict[int, deque[dict[str, Any]]] = {}
        self.trade_ids: dict[str, int] = dict.fromkeys(self.instruments, 0)
        self.last_seq = 0
        self.next_order_id = 1

    # -- helpers ------------------------------------------------------------------------------

    def notional(self, instrument: str, price: int, qty: int) -> int:
        """Micro-USDC of ``qty`` lots at ``price`` ticks (``lot_size`` is in milli-CH)."""
        inst = self.instruments[instrument]
        return price * inst.tick_size * qty * inst.lot_size // 1000

    def _pre_trade(self, sym: str, inst: Instrument) -> Any:
        ref = inst.reference_price_ticks or 0

        def check(account: int, side: int, price: int, qty: int) -> bool:
            if not price:
                price = max(self.engines[sym].last_price, ref)
            return self.exposure.get(account, 0) + self.notional(sym, price, qty) <= self.credit_limit

        return check

    def account_of(self, address: bytes) -> int | None:
        return self.accounts.get(address)

    def _account(self, address: bytes) -> int:
        number = self.accounts.get(address)
        if number is None:
            number = len(self.addresses)
            self.accounts[address] = number
            self.addresses.append(address)
            self.fills[number] = deque(maxlen=self.history_limit)
            self.history[number] = deque(maxlen=self.history_limit)
        return number

    def view(self, rec: OrderRecord) -> dict[str, Any]:
        """The API view of an order."""
        return {
            "instrument": rec.instrument,
            "client_order_id": rec.client_order_id,
            "order_id": rec.order_id,
            "account": _checksum(self.addresses[rec.account].hex()),
            "side": _SIDES[rec.side],
            "type": _TYPES.get(rec.order_type, str(rec.order_type)),
            "price": rec.price,
            "qty": rec.qty,
            "filled": rec.filled,
            "remaining": rec.remaining,
            "status": rec.status,
            "created_ms": rec.created_ms,
            "updated_ms": rec.updated_ms,
        }

    def open_orders(self, address: bytes) -> list[dict[str, Any]]:
        number = self.accounts.get(address)
        if number is None:
            return []
        return [self.view(r) for r in self.orders.values() if r.account == number]

    def _note(self, account: int, item: dict[str, Any]) -> None:
        self.history[account].append(item)

    # -- the state machine --------------------------------------------------------------------

    def apply(self, seq: int, entry: Entry) -> Outcome:
        """Apply journal entry ``seq``; return what it did (see the module docstring)."""
        if seq != self.last_seq + 1:
            raise ValueError(f"entry {seq} applied after {self.last_seq}")
        self.last_seq = seq
        account = self._account(entry.account)
        if entry.nonce > self.nonces.get(entry.account, -1):
            self.nonces[entry.account] = entry.nonce
        sym, ts = entry.instrument, entry.ts_ms
        base = {"seq": seq, "ts_ms": ts, "instrument": sym, "client_order_id": entry.client_order_id}
        engine = self.engines.get(sym)
        if engine is None:
            return self._refuse(account, base, seq, "unknown_instrument", f"no instrument {sym!r}")
        if entry.price > MAX_VALUE or entry.qty > MAX_VALUE:  # beyond every engine's limits
            code = "price_limit" if entry.price > MAX_VALUE else "size_limit"
            return self._refuse(account, base, seq, code, "price or quantity above 2**62")
        key = (account, sym, entry.client_order_id)
        if entry.kind == ORDER:
            if key in self.by_client:
                msg = f"client order id {entry.client_order_id} is live on {sym}"
                return self._refuse(account, base, seq, "duplicate_order_id", msg)
            oid = entry.order_id
            if oid in self.orders:  # only a journal not written by the service can do this
                return self._refuse(account, base, seq, "duplicate_order_id", f"order id {oid} is live")
            self.next_order_id = max(self.next_order_id, oid + 1)
            rec = OrderRecord(oid, account, sym, entry)
            self.orders[oid] = rec
            self.by_client[key] = oid
            cmd: PlaceLimit | PlaceMarket | Cancel | Replace
            if entry.order_type == int(OrderType.MARKET):
                cmd = PlaceMarket(account, oid, Side(entry.side), entry.qty)
            else:
                side, order_type = Side(entry.side), OrderType(entry.order_type)
                cmd = PlaceLimit(account, oid, side, entry.price, entry.qty, order_type)
        else:
            oid_or_none = self.by_client.get(key)
            if oid_or_none is None:
                msg = f"no open order {entry.client_order_id} of this account on {sym}"
                return self._refuse(account, base, seq, "unknown_order", msg)
            oid = oid_or_none
            rec = self.orders[oid]
            if entry.kind == CANCEL:
                cmd = Cancel(account, oid)
            else:
                cmd = Replace(account, oid, entry.price, entry.qty)
        events = engine.apply(cmd)
        return self._process(seq, ts, sym, entry, rec, events)

    def _refuse(self, account: int, base: dict[str, Any], seq: int, code: str, message: str) -> Outcome:
        self._note(account, base | {"event": "rejected", "reason": code})
        return Outcome(seq, Status.REJECTED.value, error=code, message=message)

    def _process(
        self, seq: int, ts: int, sym: str, entry: Entry, rec: OrderRecord, events: list[Event]
    ) -> Outcome:
        touched: dict[int, OrderRecord] = {rec.order_id: rec}
        out = Outcome(seq, "")
        orders = self.orders
        for ev in events:
            kind = ev[0]
            if kind == TRADE:
                _, maker_id, taker_id, price, qty, _m, _t, _aggr = ev
                self.trade_ids[sym] += 1
                trade_id = self.trade_ids[sym]
                for oid, role in ((maker_id, "maker"), (taker_id, "taker")):
                    o = orders[oid]
                    o.filled += qty
                    o.remaining -= qty
                    step = Transition.FILL if o.remaining == 0 else Transition.PARTIAL_FILL
                    o.state = advance(o.state, step, oid)
                    o.updated_ms = ts
                    touched[oid] = o
                    fill = {
                        "trade_id": trade_id,
                        "price": price,
                        "qty": qty,
                        "role": role,
                        "seq": seq,
                        "ts_ms": ts,
                        "instrument": sym,
                        "side": _SIDES[o.side],
                        "client_order_id": o.client_order_id,
                        "order_id": oid,
                    }
                    self.fills[o.account].append(fill)
                    self._note(o.account, fill | {"event": "trade"})
                    if o is rec:
                        out.fills.append(fill)
                for candles in self.candles[sym].values():
                    candles.add(ts // 1000, price, qty)
            elif kind == ACCEPTED:
                rec.state = advance(rec.state, Transition.ACCEPTED, rec.order_id)
                self._note(rec.account, self._event(seq, ts, rec, "accepted"))
            elif kind == REJECTED:
                code = _REASONS.get(ev[3], str(ev[3]))
                out.error, out.message = code, f"rejected by the {sym} book: {code}"
                # a place command's order is rejected; a refused cancel or replace changes nothing
                rec.state = advance(rec.state, Transition.REJECTED, rec.order_id)
                self._note(rec.account, self._event(seq, ts, rec, "rejected") | {"reason": code})
            elif kind == CANCELLED:
                o = orders[ev[1]]
                o.state = advance(o.state, Transition.CANCELLED, o.order_id)
                o.remaining, o.updated_ms = 0, ts
                touched[o.order_id] = o
                self._note(o.account, self._event(seq, ts, o, "cancelled") | {"cancelled_qty": ev[3]})
            elif kind == REPLACED:
                _, oid, _acct, _side, price, qty, kept = ev
                rec.state = advance(rec.state, Transition.REPLACED, oid)
                rec.price, rec.remaining, rec.qty, rec.updated_ms = price, qty, rec.filled + qty, ts
                out.kept_priority = bool(kept)
                self._note(rec.account, self._event(seq, ts, rec, "replaced") | {"kept_priority": bool(kept)})
        out.feed = self.publishers[sym].publish(events)
        for msg in out.feed:
            if msg["type"] == "trade":
                self.trades[sym].append(msg)
        for o in touched.values():
            self._settle(o)
        out.order = self.view(rec)
        refused, replace = out.error is not None, entry.kind == REPLACE
        out.status = answer_status(rec.state, rec.filled, replace=replace, refused=refused).value
        return out

    @staticmethod
    def _event(seq: int, ts: int, rec: OrderRecord, event: str) -> dict[str, Any]:
        return {
            "seq": seq,
            "ts_ms": ts,
            "event": event,
            "instrument": rec.instrument,
            "client_order_id": rec.client_order_id,
            "order_id": rec.order_id,
            "side": _SIDES[rec.side],
            "price": rec.price,
            "qty": rec.qty,
            "remaining": rec.remaining,
        }

    def _settle(self, rec: OrderRecord) -> None:
        """Bring an order's live maps and exposure up to date after a command."""
        live = rec.state is OrderState.WORKING
        if live and rec.remaining <= 0:
            raise IllegalTransition(f"order {rec.order_id}: working with nothing left")
        counted = self.notional(rec.instrument, rec.price, rec.remaining) if live else 0
        if counted != rec.counted:
            self.exposure[rec.account] = self.exposure.get(rec.account, 0) + counted - rec.counted
            rec.counted = counted
        if not live:
            self.orders.pop(rec.order_id, None)
            key = (rec.account, rec.instrument, rec.client_order_id)
            if self.by_client.get(key) == rec.order_id:
                del self.by_client[key]

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as deterministic msgpack bytes (see the module docstring)."""
        engines = []
        for sym, engine in self.engines.items():
            orders = [[*o[:5], int(o[5])] for o in engine.resting_orders()]
            pub = self.publishers[sym]
            engines.append(
                [sym, engine.seq, engine.last_price, engine.volume, orders, pub.seq, self.trade_ids[sym]]
            )
        doc = [
            STATE_FORMAT,
            self.last_seq,
            self.next_order_id,
            self.addresses[1:],
            sorted([a, n] for a, n in self.nonces.items()),
            engines,
            [self.orders[oid].to_list() for oid in sorted(self.orders)],
            [[n, list(self.fills[n]), list(self.history[n])] for n in range(1, len(self.addresses))],
            [[sym, list(t)] for sym, t in self.trades.items()],
            [[sym, i, c.dump()] for sym, by in self.candles.items() for i, c in by.items()],
        ]
        return msgpack.packb(doc, use_bin_type=True)  # type: ignore[no-any-return]

    def state_hash(self) -> bytes:
        """SHA-256 of :meth:`snapshot`: equal states, equal hashes."""
        return hashlib.sha256(self.snapshot()).digest()

    def restore(self, data: bytes) -> None:
        """Load a :meth:`snapshot` into this fresh state (same instruments and limits)."""
        if self.last_seq or self.accounts:
            raise ValueError("restore needs a fresh state")
        try:
            doc = wire.unpack_array(data, MAX_SNAPSHOT_SIZE, (10,))
        except WireError as exc:
            raise StateSnapshotError(f"cannot decode the exchange snapshot: {exc}") from None
        try:
            self._restore(doc)
        except StateSnapshotError:
            raise
        except Exception as exc:  # well-formed msgpack, malformed content of any shape
            raise StateSnapshotError(f"cannot restore the exchange snapshot: {exc!r}") from None
        if self.snapshot() != data:
            raise StateSnapshotError(
                f"snapshot at seq {self.last_seq} does not restore to its recorded state"
            )

    def _restore(self, doc: list[Any]) -> None:
        """Load a decoded snapshot. Every number the state computes with is checked for its type
        (a bool is not an integer: it would re-encode to the same bytes); the fills, history and
        trade records are data, which the re-encoding check covers."""
        num, blob = wire.expect_int, wire.expect_bytes
        fmt, last_seq, next_oid, addresses, nonces, engines, orders, books, trades, candles = doc
        if num(fmt, "format") != STATE_FORMAT:
            raise StateSnapshotError(f"exchange snapshot format {fmt}, this code reads {STATE_FORMAT}")
        self.last_seq, self.next_order_id = num(last_seq, "last_seq", 0), num(next_oid, "next_order_id", 0)
        for address in addresses:
            self._account(blob(address, "an account", 20, 20))
        self.nonces = {blob(a, "a nonce's account", 20, 20): num(n, "a nonce", 0) for a, n in nonces}
        for sym, eseq, last_price, volume, resting, raw_pub_seq, raw_trade_id in engines:
            if sym not in self.engines:
                raise StateSnapshotError(f"the snapshot has an instrument {sym!r} the configuration lacks")
            engine = self.engines[sym]
            rows: list[RestingOrder] = []
            for oid, acct, side, price, qty, post in resting:
                what = "a resting order's field"
                row = (num(oid, what), num(acct, what), num(side, what), num(price, what))
                rows.append((*row, num(qty, what), num(post, what)))
            engine.restore(rows, num(eseq, "seq"), num(last_price, "last_price"), num(volume, "volume"))
            pub_seq, trade_id = num(raw_pub_seq, "feed seq"), num(raw_trade_id, "trade id")
            book = L2Book()
            book.apply_changes([(side, p, q) for side in (0, 1) for p, q in engine.depth(side)], pub_seq)
            self.publishers[sym] = FeedPublisher(sym, book, pub_seq, trade_id + 1)
            self.trade_ids[sym] = trade_id
        for raw in orders:
            rec = OrderRecord.from_list(raw)
            self.orders[rec.order_id] = rec
            self.by_client[(rec.account, rec.instrument, rec.client_order_id)] = rec.order_id
            self.exposure[rec.account] = self.exposure.get(rec.account, 0) + rec.counted
        for number, fills, history in books:
            if type(fills) is not list or type(history) is not list:
                raise StateSnapshotError("an account's fills and history must be arrays")
            self.fills[num(number, "an account number")].extend(fills)
            self.history[number].extend(history)
        for sym, items in trades:
            if type(items) is not list:
                raise StateSnapshotError("an instrument's trades must be an array")
            self.trades[sym].extend(items)
        for sym, interval, dumped in candles:
            self.candles[sym][num(interval, "a candle interval")].load(dumped)
