"""The exchange state machine over journal entries: codec, behaviour, snapshots and determinism."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.exchange.core import lifecycle
from coordinator.exchange.core import state as state_module
from coordinator.exchange.core.commands import Command
from coordinator.exchange.core.engine import Engine
from coordinator.exchange.core.entry import (
    CANCEL,
    ORDER,
    REPLACE,
    Entry,
    EntryDecodeError,
    decode_entry,
    encode_entry,
    entry_from_message,
    entry_message,
)
from coordinator.exchange.core.events import Event
from coordinator.exchange.core.instruments import Spot
from coordinator.exchange.core.state import ExchangeState
from coordinator.exchange.errors import StateSnapshotError
from gcx.orders import Domain, sign_order, verify_typed

A = bytes.fromhex("11" * 20)
B = bytes.fromhex("22" * 20)
C = bytes.fromhex("33" * 20)
SPOT = Spot(
    kind="spot",
    grade="A",
    tick_size=1000,
    lot_size=100,
    price_band_ticks=50,
    reference_price_ticks=100,
    max_lots=1000,
)
INSTRUMENTS = {"X": SPOT, "Y": SPOT.model_copy(update={"grade": "B"})}
GTC, IOC, FOK, POST, MARKET = range(5)


class Driver:
    """Feeds entries to a state with increasing seq, nonces and order ids."""

    def __init__(self, state: ExchangeState | None = None) -> None:
        self.state = state or ExchangeState(INSTRUMENTS)
        self.nonce = 0
        self.oid = self.state.next_order_id
        self.entries: list[Entry] = []

    def send(self, entry: Entry):  # type: ignore[no-untyped-def]
        self.entries.append(entry)
        return self.state.apply(self.state.last_seq + 1, entry)

    def order(self, account: bytes, coid: int, side: int, price: int, qty: int, t: int = GTC, sym: str = "X"):  # type: ignore[no-untyped-def]
        self.nonce += 1
        self.oid += 1
        return self.send(
            Entry(
                ORDER, 1_000 * self.nonce, sym, account, self.nonce, coid, side, t, price, qty, 99, self.oid
            )
        )

    def cancel(self, account: bytes, coid: int, sym: str = "X"):  # type: ignore[no-untyped-def]
        self.nonce += 1
        return self.send(Entry(CANCEL, 1_000 * self.nonce, sym, account, self.nonce, coid))

    def replace(self, account: bytes, coid: int, price: int, qty: int, sym: str = "X"):  # type: ignore[no-untyped-def]
        self.nonce += 1
        return self.send(
            Entry(REPLACE, 1_000 * self.nonce, sym, account, self.nonce, coid, price=price, qty=qty)
        )


# -- entries ------------------------------------------------------------------------------------

entries = st.builds(
    Entry,
    kind=st.sampled_from([ORDER, CANCEL, REPLACE]),
    ts_ms=st.integers(0, 2**63),
    instrument=st.text("ABCXYZ-0123", min_size=1, max_size=48),
    account=st.binary(min_size=20, max_size=20),
    nonce=st.integers(0, 2**64 - 1),
    client_order_id=st.integers(0, 2**64 - 1),
    side=st.integers(0, 1),
    order_type=st.integers(0, 4),
    price=st.integers(0, 2**64 - 1),
    qty=st.integers(0, 2**64 - 1),
    expiry=st.integers(0, 2**64 - 1),
    order_id=st.integers(0, 2**62),
    signature=st.binary(max_size=65),
)


@given(entries)
def test_an_entry_round_trips_byte_for_byte(entry: Entry) -> None:
    data = encode_entry(entry)
    assert decode_entry(data) == entry
    assert encode_entry(decode_entry(data)) == data


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_decoding_garbage_raises_only_the_typed_error(data: bytes) -> None:
    with contextlib.suppress(EntryDecodeError):
        decode_entry(data)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw[:-1],  # a field missing
        lambda raw: [2, *raw[1:]],  # unknown format
        lambda raw: [raw[0], 9, *raw[2:]],  # unknown kind
        lambda raw: [*raw[:4], b"short", *raw[5:]],  # account not 20 bytes
        lambda raw: [*raw[:5], -1, *raw[6:]],  # negative nonce
        lambda raw: [*raw[:3], "", *raw[4:]],  # empty instrument
    ],
)
def test_malformed_entries_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    import msgpack

    raw = msgpack.unpackb(encode_entry(Entry(ORDER, 1, "X", A, 1, 1, 0, 0, 100, 1, 9, 1)), raw=False)
    with pytest.raises(EntryDecodeError):
        decode_entry(msgpack.packb(mutate(raw), use_bin_type=True))


def test_an_entry_keeps_the_signed_message_for_audit() -> None:
    domain = Domain(31337, "0x" + "ab" * 20)
    acct = Account.create()
    message = {
        "account": acct.address,
        "instrument": "CH-A-SPOT",
        "side": 1,
        "orderType": 0,
        "price": 2000,
        "qty": 5,
        "clientOrderId": 7,
        "nonce": 42,
        "expiry": int(time.time()) + 60,
    }
    sig = sign_order(message, acct.key, domain)
    entry = decode_entry(encode_entry(entry_from_message("Order", message, bytes.fromhex(sig[2:]), 5, 9)))
    kind, back = entry_message(entry)
    assert (kind, back) == ("Order", message)
    assert verify_typed(kind, back, "0x" + entry.signature.hex(), domain, now=0) == acct.address


# -- behaviour ----------------------------------------------------------------------------------


def test_a_trade_fills_both_accounts_and_settles_their_orders() -> None:
    d = Driver()
    first = d.order(A, 1, 1, 100, 10)
    assert (first.status, first.order["remaining"]) == ("resting", 10)
    hit = d.order(B, 1, 0, 101, 4)
    assert hit.status == "filled" and hit.fills[0]["price"] == 100 and hit.fills[0]["role"] == "taker"
    s = d.state
    a, b = s.accounts[A], s.accounts[B]
    assert [f["role"] for f in s.fills[a]] == ["maker"] and [f["role"] for f in s.fills[b]] == ["taker"]
    assert s.fills[a][0]["trade_id"] == s.fills[b][0]["trade_id"] == 1
    [open_a] = s.open_orders(A)
    assert (open_a["filled"], open_a["remaining"], open_a["status"]) == (4, 6, "resting")
    assert s.open_orders(B) == []
    assert s.exposure[a] == s.notional("X", 100, 6) and s.exposure.get(b, 0) == 0
    assert [m["type"] for m in hit.feed] == ["trade", "l2update"]
    assert s.candles["X"][60].candles()[-1][1:] == [100, 100, 100, 100, 4]


def test_partial_fill_ioc_remainder_market_and_fok() -> None:
    d = Driver()
    d.order(A, 1, 1, 100, 3)
    partial = d.order(B, 1, 0, 100, 5)
    assert partial.status == "partially_filled" and partial.order["remaining"] == 2
    d.order(A, 2, 1, 101, 3)
    ioc = d.order(C, 1, 0, 101, 5, IOC)
    assert ioc.status == "cancelled" and ioc.order["filled"] == 3
    empty = d.order(C, 2, 0, 0, 5, MARKET)
    assert (empty.status, empty.error) == ("rejected", "no_liquidity")
    fok = d.order(C, 3, 1, 90, 50, FOK)
    assert (fok.status, fok.error) == ("rejected", "fok_not_fillable")
    market = d.order(C, 4, 1, 0, 1, MARKET)
    assert market.status == "filled" and market.order["price"] == 0


def test_client_order_ids_name_orders_per_account_and_instrument() -> None:
    d = Driver()
    d.order(A, 1, 1, 100, 3)
    dup = d.order(A, 1, 1, 101, 3)
    assert (dup.status, dup.error) == ("rejected", "duplicate_order_id")
    assert d.order(A, 1, 1, 101, 3, sym="Y").status == "resting"  # another instrument
    assert d.order(B, 1, 1, 101, 3).status == "resting"  # another account
    assert d.cancel(C, 1).error == "unknown_order"  # C cannot name A's or B's order 1
    assert d.cancel(A, 1).status == "cancelled"
    assert d.cancel(A, 1).error == "unknown_order"  # not live any more
    assert d.order(A, 1, 1, 102, 3).status == "resting"  # the id is free again


def test_replace_keeps_priority_only_when_reducing_at_the_same_price() -> None:
    d = Driver()
    d.order(A, 1, 1, 100, 5)
    d.order(B, 1, 1, 100, 5)
    kept = d.replace(A, 1, 100, 3)
    assert (kept.status, kept.kept_priority, kept.order["qty"]) == ("replaced", True, 3)
    hit = d.order(C, 1, 0, 100, 3)
    assert hit.fills[0]["qty"] == 3 and d.state.open_orders(A) == []  # A's order still first
    lost = d.replace(B, 1, 100, 9)
    assert lost.kept_priority is False and d.state.exposure[d.state.accounts[B]] == d.state.notional(
        "X", 100, 9
    )
    crossing = d.replace(B, 1, 99, 9)  # moves down; nothing bids, it just rests
    assert crossing.order["price"] == 99


def test_the_credit_limit_rejects_orders_beyond_the_open_notional() -> None:
    state = ExchangeState(INSTRUMENTS, credit_limit=SPOT.tick_size * 100 * 10 * SPOT.lot_size // 1000)
    d = Driver(state)
    assert d.order(A, 1, 0, 100, 10).status == "resting"  # exactly the limit
    over = d.order(A, 2, 0, 100, 1)
    assert (over.status, over.error) == ("rejected", "insufficient_balance")
    d.cancel(A, 1)
    assert d.order(A, 3, 0, 100, 1).status == "resting"  # the cancel released the exposure


def test_an_unknown_instrument_is_rejected_and_recorded() -> None:
    d = Driver()
    out = d.order(A, 1, 0, 100, 1, sym="NOPE")
    assert (out.status, out.error) == ("rejected", "unknown_instrument")
    assert d.state.history[d.state.accounts[A]][-1]["event"] == "rejected"


def test_price_band_and_post_only_rejections_carry_their_codes() -> None:
    d = Driver()
    assert d.order(A, 1, 0, 1000, 1).error == "price_band"
    d.order(A, 2, 1, 100, 1)
    assert d.order(B, 1, 0, 100, 1, POST).error == "post_only_would_cross"
    assert d.order(B, 2, 0, 100, 2000).error == "size_limit"


def test_prices_and_quantities_beyond_every_engine_limit_are_refused_before_the_engine() -> None:
    """A signed order may carry any uint64; the engines keep int64. Above 2**62 the state
    refuses it (no order record, nothing reaches the engine); above the instrument's highest
    price the engine rejects it, on an instrument without a reference price too (whose band is
    off until the first trade: the price array must not grow to the price)."""
    unbanded = {"U": SPOT.model_copy(update={"reference_price_ticks": None, "max_price_ticks": 10_000})}
    d = Driver(ExchangeState(INSTRUMENTS | unbanded))
    assert d.order(A, 1, 0, 2**64 - 1, 1).error == "price_limit"
    assert d.order(A, 2, 0, 100, 2**63).error == "size_limit"
    assert d.state.open_orders(A) == []
    assert d.order(A, 3, 0, 10_001, 1, sym="U").error == "price_limit"
    assert d.order(A, 4, 0, 10_000, 1, sym="U").status == "resting"
    assert d.replace(A, 4, 2**40, 1, sym="U").error == "price_limit"
    assert d.replace(A, 4, 2**63, 1, sym="U").error == "price_limit"
    assert len(d.state.engines["U"]._levels) <= 10_003


# -- determinism and snapshots ------------------------------------------------------------------


def random_entries(n: int, seed: int) -> list[Entry]:
    rng = random.Random(seed)
    accounts = [bytes([i + 1]) * 20 for i in range(6)]
    live: list[tuple[bytes, str, int]] = []
    out: list[Entry] = []
    for i in range(1, n + 1):
        acct, sym = rng.choice(accounts), rng.choice(["X", "Y", "Y"])
        r = rng.random()
        if live and r < 0.25:
            a, s, coid = live.pop(rng.randrange(len(live)))
            out.append(Entry(CANCEL, i * 7, s, a, i, coid))
        elif live and r < 0.35:
            a, s, coid = rng.choice(live)
            out.append(
                Entry(REPLACE, i * 7, s, a, i, coid, price=rng.randint(80, 120), qty=rng.randint(1, 9))
            )
        else:
            coid = rng.randint(1, 40)
            t = rng.choices(range(5), weights=[70, 10, 5, 10, 5])[0]
            price = 0 if t == MARKET else rng.randint(85, 115)
            out.append(
                Entry(ORDER, i * 7, sym, acct, i, coid, rng.randint(0, 1), t, price, rng.randint(1, 12), 9, i)
            )
            live.append((acct, sym, coid))
    return out


def _consistent(state: ExchangeState) -> None:
    """Order records, engines and exposure agree."""
    for sym, engine in state.engines.items():
        resting = {o[0]: (o[1], o[2], o[3], o[4]) for o in engine.resting_orders()}
        records = {
            oid: (r.account, r.side, r.price, r.remaining)
            for oid, r in state.orders.items()
            if r.instrument == sym
        }
        assert resting == records
    exposure: dict[int, int] = {}
    for r in state.orders.values():
        exposure[r.account] = exposure.get(r.account, 0) + state.notional(r.instrument, r.price, r.remaining)
    assert {a: e for a, e in state.exposure.items() if e} == exposure


@given(st.integers(0, 2**32), st.integers(0, 400))
@settings(max_examples=25, deadline=None)
def test_snapshot_then_replay_equals_straight_replay(seed: int, cut: int) -> None:
    stream = random_entries(400, seed)
    straight = ExchangeState(INSTRUMENTS, history_limit=50)
    for seq, e in enumerate(stream, 1):
        straight.apply(seq, e)
    _consistent(straight)
    head = ExchangeState(INSTRUMENTS, history_limit=50)
    for seq, e in enumerate(stream[:cut], 1):
        head.apply(seq, e)
    resumed = ExchangeState(INSTRUMENTS, history_limit=50)
    resumed.restore(head.snapshot())
    assert resumed.state_hash() == head.state_hash()
    for seq, e in enumerate(stream[cut:], cut + 1):
        resumed.apply(seq, e)
    assert resumed.snapshot() == straight.snapshot()
    _consistent(resumed)


def test_the_same_entries_give_the_same_outcomes_and_hash() -> None:
    stream = random_entries(1500, 7)
    runs = []
    for _ in range(2):
        state = ExchangeState(INSTRUMENTS)
        outcomes = [state.apply(seq, e) for seq, e in enumerate(stream, 1)]
        runs.append(([(o.status, o.error, o.fills, o.feed) for o in outcomes], state.state_hash()))
    assert runs[0] == runs[1]
    assert any(o[0] == "filled" for o in runs[0][0]) and any(o[0] == "rejected" for o in runs[0][0])


def test_a_damaged_or_foreign_snapshot_is_refused() -> None:
    state = ExchangeState(INSTRUMENTS)
    for seq, e in enumerate(random_entries(200, 3), 1):
        state.apply(seq, e)
    data = state.snapshot()
    with pytest.raises(StateSnapshotError):
        ExchangeState(INSTRUMENTS).restore(data[:-3])
    with pytest.raises(StateSnapshotError):
        ExchangeState({"X": SPOT}).restore(data)  # written with an instrument this config lacks
    with pytest.raises(ValueError, match="fresh"):
        state.restore(data)


def test_entries_must_come_in_sequence() -> None:
    state = ExchangeState(INSTRUMENTS)
    with pytest.raises(ValueError):
        state.apply(2, Entry(CANCEL, 1, "X", A, 1, 1))


def test_a_journal_reusing_a_live_order_id_is_refused_without_losing_the_live_order() -> None:
    d = Driver()
    d.order(A, 1, 1, 100, 5)
    live_id = d.oid
    clash = d.send(Entry(ORDER, 1, "X", B, 1, 7, 0, GTC, 101, 1, 9, live_id))
    assert (clash.status, clash.error) == ("rejected", "duplicate_order_id")
    assert d.cancel(A, 1).status == "cancelled"


# -- the order lifecycle ------------------------------------------------------------------------

lifecycle_ops = st.lists(
    st.tuples(
        st.sampled_from(["order", "order", "order", "cancel", "replace"]),
        st.sampled_from([A, B, C]),
        st.integers(1, 5),  # client order id: cancels and replaces often name a live order
        st.integers(0, 1),  # side
        st.integers(0, 4),  # GTC, IOC, FOK, post-only, market
        st.integers(95, 105),  # inside the band, and a few that cross
        st.integers(1, 12),
    ),
    min_size=1,
    max_size=60,
)


class _RecordingEngine:
    """An engine that keeps every event it emits (for the independent lifecycle spec)."""

    def __init__(self, engine: Engine, events: list[Event]) -> None:
        self._engine, self._events = engine, events

    def apply(self, command: Command) -> list[Event]:
        out = self._engine.apply(command)
        self._events.extend(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


Op = tuple[str, bytes, int, int, int, int, int]


def _lifecycle_problems(
    ops: list[Op],
    advance: Callable[..., lifecycle.OrderState] = lifecycle.advance,
    rows: set[tuple[lifecycle.OrderState, lifecycle.Transition]] | None = None,
) -> list[str]:
    """Drive a state with ``ops``; list every way its orders' lifecycle departs from the table.

    The state's own steps (every call of ``advance``, the real :func:`lifecycle.advance` unless
    a test mutates it) must chain from ``NEW`` per order, each one a row of ``TRANSITIONS``; the
    states they end in must equal what :func:`lifecycle.follow` reads off the engine's event
    stream; and what clients see (each answer's ``status`` and its order's ``status``) must be
    the state's :class:`lifecycle.Status`. Raises ``IllegalTransition`` where the state does.
    ``rows`` collects the ``(state, transition)`` rows taken.
    """
    new = lifecycle.OrderState.NEW
    events: list[Event] = []
    d = Driver()
    d.state.engines = {sym: _RecordingEngine(e, events) for sym, e in d.state.engines.items()}  # type: ignore[misc]
    chain: dict[int, lifecycle.OrderState] = {}  # order id -> state after its last step
    problems: list[str] = []

    def recording_advance(
        state: lifecycle.OrderState, transition: lifecycle.Transition, order_id: int = 0
    ) -> lifecycle.OrderState:
        nxt = advance(state, transition, order_id)
        if chain.get(order_id, new) is not state:
            problems.append(f"order {order_id}: stepped from {state} but was {chain.get(order_id, new)}")
        if lifecycle.TRANSITIONS.get((state, transition)) is not nxt:
            problems.append(f"order {order_id}: {state} --{transition}--> {nxt} is not in the table")
        chain[order_id] = nxt
        if rows is not None:
            rows.add((state, transition))
        return nxt

    statuses = {s.value for s in lifecycle.Status}
    with mock.patch.object(state_module, "advance", recording_advance):
        for kind, account, coid, side, order_type, price, qty in ops:
            if kind == "order":
                out = d.order(account, coid, side, 0 if order_type == MARKET else price, qty, order_type)
            elif kind == "cancel":
                out = d.cancel(account, coid)
            else:
                out = d.replace(account, coid, price, qty)
            if out.status not in statuses:
                problems.append(f"answer status {out.status!r} is not a lifecycle status")
            if out.order is None:
                continue  # refused before any order was named (duplicate or unknown id)
            oid = out.order["order_id"]
            shown = lifecycle.ORDER_STATUS.get(chain.get(oid, new))
            if shown is None or out.order["status"] != shown.value:
                problems.append(f"order {oid} shows {out.order['status']!r}, its state is {chain.get(oid)}")
                continue
            refused = out.error is not None
            expect = lifecycle.answer_status(
                chain[oid], out.order["filled"], replace=kind == "replace", refused=refused
            )
            if out.status != expect.value:
                problems.append(f"order {oid}: answer {out.status!r}, lifecycle says {expect.value!r}")
    spec: dict[int, tuple[lifecycle.OrderState, int]] = {}
    lifecycle.follow(events, spec)  # raises IllegalTransition on a stream the table forbids
    if {oid: s for oid, (s, _) in spec.items()} != chain:
        problems.append(f"the state's lifecycle {chain} differs from the event stream's {spec}")
    working = {oid for oid, s in chain.items() if s is lifecycle.OrderState.WORKING}
    resting = {o[0] for e in d.state.engines.values() for o in e.resting_orders()}
    if not working == set(d.state.orders) == resting:
        problems.append(f"working {working}, live records {set(d.state.orders)}, resting {resting}")
    return problems


@given(lifecycle_ops)
@settings(max_examples=300, deadline=None)
def test_random_commands_only_take_legal_lifecycle_transitions(ops: list[Op]) -> None:
    assert _lifecycle_problems(ops) == []


# Every transition the table has, in one short sequence (a positive control of the checks).
EVERY_TRANSITION = [
    ("order", A, 1, 1, GTC, 100, 10),  # NEW -accepted-> WORKING (rests)
    ("order", B, 1, 0, GTC, 100, 4),  # A's: partial fill; B's: accepted, fill
    ("replace", A, 1, 101, 5),  # WORKING -replaced-> WORKING
    ("replace", A, 1, 1000, 5),  # WORKING -rejected-> WORKING (outside the price band)
    ("order", B, 2, 0, POST, 101, 1),  # NEW -rejected-> REJECTED (post-only would cross)
    ("replace", A, 1, 99, 5),  # a replace onto B's empty side: rests again (no cross)
    ("order", C, 1, 0, IOC, 99, 2),  # A's partial fill again; C's fill
    ("cancel", A, 1),  # WORKING -cancelled-> CANCELLED
]


def _ops(spec: list[tuple[Any, ...]]) -> list[Op]:
    out: list[Op] = []
    for op in spec:
        if op[0] == "replace":
            out.append((op[0], op[1], op[2], 0, 0, op[3], op[4]))
        elif op[0] == "cancel":
            out.append((op[0], op[1], op[2], 0, 0, 0, 0))
        else:
            out.append(op)
    return out


def test_the_lifecycle_checks_can_fail() -> None:
    """Positive controls: the checks pass on a sequence that takes every row of the table, a
    table missing a row makes that sequence raise, and a state that skips a step is caught."""
    ops = _ops(EVERY_TRANSITION)
    rows: set[tuple[lifecycle.OrderState, lifecycle.Transition]] = set()
    assert _lifecycle_problems(ops, rows=rows) == []  # the real state and table agree
    assert rows == set(lifecycle.TRANSITIONS)  # ... on every row of the table
    row = (lifecycle.OrderState.WORKING, lifecycle.Transition.PARTIAL_FILL)
    with mock.patch.dict(lifecycle.TRANSITIONS), pytest.raises(lifecycle.IllegalTransition):
        del lifecycle.TRANSITIONS[row]
        _lifecycle_problems(ops)

    def forgets_cancels(
        state: lifecycle.OrderState, transition: lifecycle.Transition, order_id: int = 0
    ) -> lifecycle.OrderState:
        if transition is lifecycle.Transition.CANCELLED:
            return state
        return lifecycle.advance(state, transition, order_id)

    try:
        problems = _lifecycle_problems(ops, forgets_cancels)
    except lifecycle.IllegalTransition as exc:
        problems = [str(exc)]  # the state itself noticed (a working order with nothing left)
    assert problems, "a state that does not follow the table went unnoticed"
