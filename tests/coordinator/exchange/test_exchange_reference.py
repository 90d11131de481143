"""The engine against a deliberately simple reference book, on random command streams.

The reference keeps every resting order in one plain list and sorts it whenever it needs the
opposite side in priority order; it shares no code with the engine. Both must produce the same
non-delta events (accepts, rejects, trades, cancels, replaces — in order), the same resting
orders in the same priority, the same last price and volume; and the engine's book deltas must
add up to its own depth.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.workload import CANCEL, LIMIT, generate, parse_workload
from coordinator.exchange import native
from coordinator.exchange.core import (
    Cancel,
    Command,
    Engine,
    EngineConfig,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    Replace,
    Side,
    STPMode,
)
from coordinator.exchange.core.events import BOOK_DELTA, Event
from coordinator.exchange.core.lifecycle import OrderState, follow

BUY, SELL = 0, 1


@dataclass
class Ref:
    """An order in the reference book."""

    oid: int
    acc: int
    side: int
    price: int
    qty: int
    post: bool
    arrival: int


@dataclass
class RefBook:
    stp: int = 1
    band: int | None = None
    ref0: int = 0
    min_qty: int = 1
    max_qty: int = 1 << 62
    banned_qty: int | None = None  # the pre-trade hook refuses this quantity
    book: list[Ref] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    last: int = 0
    volume: int = 0
    clock: int = 0

    def find(self, oid: int) -> Ref | None:
        return next((o for o in self.book if o.oid == oid), None)

    def opposite(self, side: int) -> list[Ref]:
        """The other side's orders, best price first, then oldest first."""
        if side == BUY:
            return sorted((o for o in self.book if o.side == SELL), key=lambda o: (o.price, o.arrival))
        return sorted((o for o in self.book if o.side == BUY), key=lambda o: (-o.price, o.arrival))

    def mine(self, side: int) -> list[Ref]:
        return self.opposite(1 - side)

    def crosses(self, side: int, price: int, o: Ref) -> bool:
        return o.price <= price if side == BUY else o.price >= price

    def common(self, acc: int, oid: int, side: int, price: int, qty: int, market: bool) -> int:
        if self.find(oid):
            return 7
        if qty < 1 or (not market and price < 1):
            return 2
        if qty < self.min_qty or qty > self.max_qty:
            return 4
        if not market and self.out_of_band(price):
            return 3
        if qty == self.banned_qty:
            return 11
        return 0

    def out_of_band(self, price: int) -> bool:
        ref = self.last or self.ref0
        return self.band is not None and ref != 0 and abs(price - ref) > self.band

    def match(self, acc: int, oid: int, side: int, qty: int, limit: int | None) -> int:
        for o in self.opposite(side):
            if qty == 0 or (limit is not None and not self.crosses(side, limit, o)):
                break
            if o.acc == acc and self.stp:
                if self.stp == 2:
                    self.events.append((4, oid, acc, qty, 4))
                    return 0
                self.book.remove(o)
                self.events.append((4, o.oid, o.acc, o.qty, 4))
                continue
            fill = min(qty, o.qty)
            self.events.append((3, o.oid, oid, o.price, fill, o.acc, acc, side))
            o.qty -= fill
            qty -= fill
            self.last = o.price
            self.volume += fill
            if o.qty == 0:
                self.book.remove(o)
        return qty

    def rest(self, acc: int, oid: int, side: int, price: int, qty: int, post: bool) -> None:
        self.clock += 1
        self.book.append(Ref(oid, acc, side, price, qty, post, self.clock))

    def limit(self, acc: int, oid: int, side: int, price: int, qty: int, otype: int) -> None:
        reason = self.common(acc, oid, side, price, qty, market=False)
        crossing = [o for o in self.opposite(side) if self.crosses(side, price, o)]
        if not reason and otype == 3 and crossing:
            reason = 5
        if not reason and otype == 2:
            need = qty
            reason = 6
            for o in crossing:
                if o.acc == acc and self.stp == 2:
                    reason = 10
                    break
                if o.acc == acc and self.stp == 1:
                    continue
                need -= o.qty
                if need <= 0:
                    reason = 0
                    break
        if reason:
            self.events.append((2, oid, acc, reason))
            return
        self.events.append((1, oid, acc, side, price, qty, otype))
        qty = self.match(acc, oid, side, qty, price)
        if qty and otype == 1:
            self.events.append((4, oid, acc, qty, 2))
        elif qty:
            self.rest(acc, oid, side, price, qty, otype == 3)

    def market(self, acc: int, oid: int, side: int, qty: int) -> None:
        reason = self.common(acc, oid, side, 0, qty, market=True)
        if not reason and not self.opposite(side):
            reason = 12
        if reason:
            self.events.append((2, oid, acc, reason))
            return
        self.events.append((1, oid, acc, side, 0, qty, 4))
        qty = self.match(acc, oid, side, qty, None)
        if qty:
            self.events.append((4, oid, acc, qty, 3))

    def cancel(self, acc: int, oid: int) -> None:
        o = self.find(oid)
        if o is None or o.acc != acc:
            self.events.append((2, oid, acc, 8 if o is None else 9))
            return
        self.book.remove(o)
        self.events.append((4, oid, acc, o.qty, 1))

    def replace(self, acc: int, oid: int, price: int, qty: int) -> None:
        o = self.find(oid)
        reason = 8 if o is None else 9 if o.acc != acc else 2 if price < 1 or qty < 1 else 0
        if not reason and (qty < self.min_qty or qty > self.max_qty):
            reason = 4
        if reason or o is None:
            self.events.append((2, oid, acc, reason))
            return
        if price == o.price and qty <= o.qty:
            self.events.append((5, oid, acc, o.side, price, qty, 1))
            o.qty = qty
            return
        crossing = any(self.crosses(o.side, price, x) for x in self.opposite(o.side))
        if self.out_of_band(price):
            reason = 3
        elif o.post and crossing:
            reason = 5
        elif qty == self.banned_qty:
            reason = 11
        if reason:
            self.events.append((2, oid, acc, reason))
            return
        self.book.remove(o)
        self.events.append((5, oid, acc, o.side, price, qty, 0))
        left = self.match(acc, oid, o.side, qty, price)
        if left:
            self.rest(acc, oid, o.side, price, left, o.post)

    def apply(self, c: Command) -> None:
        if isinstance(c, PlaceLimit):
            self.limit(c.account, c.order_id, int(c.side), c.price, c.qty, int(c.order_type))
        elif isinstance(c, PlaceMarket):
            self.market(c.account, c.order_id, int(c.side), c.qty)
        elif isinstance(c, Cancel):
            self.cancel(c.account, c.order_id)
        else:
            self.replace(c.account, c.order_id, c.price, c.qty)

    def resting(self) -> list[tuple[int, int, int, int, int, int]]:
        return [
            (o.oid, o.acc, o.side, o.price, o.qty, int(o.post)) for o in [*self.mine(BUY), *self.mine(SELL)]
        ]


order_ids = st.integers(1, 15)
sides = st.sampled_from([Side.BUY, Side.SELL])
prices = st.integers(0, 10)  # 0: BAD_TICK_LOT
qtys = st.integers(0, 8)
limit_types = st.sampled_from(
    [OrderType.GTC, OrderType.GTC, OrderType.IOC, OrderType.FOK, OrderType.POST_ONLY]
)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    """Mostly an order id's own account (id % 3 + 1), so cancels and replaces find their order."""
    oid = draw(order_ids)
    acc = oid % 3 + 1 if draw(st.integers(0, 9)) else draw(st.integers(1, 3))
    kind = draw(st.integers(0, 9))
    if kind < 4:
        return PlaceLimit(acc, oid, draw(sides), draw(prices), draw(qtys), draw(limit_types))
    if kind < 5:
        return PlaceMarket(acc, oid, draw(sides), draw(qtys))
    if kind < 7:
        return Cancel(acc, oid)
    return Replace(acc, oid, draw(prices), draw(qtys))


@st.composite
def configs(draw: st.DrawFn) -> tuple[EngineConfig, int | None]:
    band = draw(st.none() | st.integers(1, 6))
    min_qty = draw(st.integers(1, 2))
    cfg = EngineConfig(
        band_ticks=band,
        reference_price=draw(st.none() | st.integers(3, 8)),
        min_qty=min_qty,
        max_qty=draw(st.integers(min_qty + 5, 12)),
        stp=draw(st.sampled_from(list(STPMode))),
        initial_price_capacity=draw(st.integers(2, 16)),  # small: exercises growth
    )
    return cfg, draw(st.none() | st.integers(1, 9))


def _l2(events: list[Event], l2: dict[tuple[int, int], int]) -> None:
    for ev in events:
        if ev[0] == BOOK_DELTA:
            l2[(ev[1], ev[2])] = ev[3]


# Both builds of the engine: the one ``import`` gives (compiled by ``make``) and its pure source.
BUILDS = {"imported": Engine, "python": native.load_python_engine().Engine}


@pytest.mark.parametrize("build", list(BUILDS))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), st.lists(commands(), min_size=10, max_size=100))
def test_engine_matches_reference_book(
    build: str, setup: tuple[EngineConfig, int | None], cmds: list[Command]
) -> None:
    cfg, banned = setup
    engine = BUILDS[build](cfg, None if banned is None else (lambda a, s, p, q: q != banned))
    ref = RefBook(int(cfg.stp), cfg.band_ticks, cfg.reference_price or 0, cfg.min_qty, cfg.max_qty, banned)
    l2: dict[tuple[int, int], int] = {}
    states: dict[int, tuple[OrderState, int]] = {}
    for cmd in cmds:
        got = engine.apply(cmd)
        ref.events.clear()
        ref.apply(cmd)
        assert [e for e in got if e[0] != BOOK_DELTA] == ref.events, cmd
        _l2(got, l2)
        follow(got, states)
        assert [(o[0], o[1], o[2], o[3], o[4], int(o[5])) for o in engine.resting_orders()] == ref.resting()
        assert (engine.last_price, engine.volume) == (ref.last, ref.volume)
    book = {(s, p): q for s in (BUY, SELL) for p, q in engine.depth(s)}
    assert {k: v for k, v in l2.items() if v} == book
    working = {oid for oid, (state, _) in states.items() if state is OrderState.WORKING}
    assert working == {o[0] for o in engine.resting_orders()}


@settings(max_examples=60, deadline=None)
@given(st.lists(commands(), max_size=60))
def test_replay_is_deterministic(cmds: list[Command]) -> None:
    from coordinator.exchange.core import encode_event

    runs = []
    for _ in range(2):
        engine = Engine(EngineConfig(band_ticks=5, reference_price=6))
        encoded = b"".join(encode_event(e) for c in cmds for e in engine.apply(c))
        runs.append((encoded, engine.state_hash()))
    assert runs[0] == runs[1]


def test_bench_json_matches_reference(tmp_path: Path) -> None:
    lines = generate(3000, seed=7, target_resting=60, mid=50)
    path = tmp_path / "w.txt"
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.matching", "--workload", str(path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout)
    assert set(result) == {"ops", "seconds", "ops_per_s", "best_bid", "best_ask", "bid_volume", "ask_volume",
                           "traded_volume"}  # fmt: skip
    ref = RefBook()
    for kind, oid, side, price, qty in parse_workload(path.read_text()):
        if kind == LIMIT:
            ref.limit(oid, oid, side, price, qty, 0)
        elif kind == CANCEL:
            ref.cancel(oid, oid)
        else:
            ref.market(oid, oid, side, qty)
    bids, asks = ref.mine(BUY), ref.mine(SELL)
    assert result["ops"] == 3000
    assert result["best_bid"] == (bids[0].price if bids else None)
    assert result["best_ask"] == (asks[0].price if asks else None)
    assert result["bid_volume"] == sum(o.qty for o in bids) > 0
    assert result["ask_volume"] == sum(o.qty for o in asks) > 0
    assert result["traded_volume"] == ref.volume > 0


@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("seed", range(3))
def test_long_queues_with_cancels_in_the_middle_match_the_reference(seed: int, build: str) -> None:
    """Deep levels where most cancels hit the middle of a queue: the engine leaves those orders
    in place (dead) and compacts a queue once they may outnumber the live ones; none of it may
    show in events, priority, read-outs or the state hash."""
    rng = random.Random(seed)
    engine = BUILDS[build](EngineConfig(stp=STPMode.CANCEL_RESTING, initial_price_capacity=8))
    ref = RefBook(int(STPMode.CANCEL_RESTING), None, 0, 1, 1 << 62, None)
    live: list[int] = []
    for oid in range(1, 6000):
        r = rng.random()
        cmd: Command
        if r < 0.5 or not live:
            side = rng.choice([Side.BUY, Side.SELL])
            price = rng.choice([4, 5]) if side is Side.BUY else rng.choice([6, 7])
            if rng.random() < 0.03:  # an aggressor now and then, through one or two levels
                price = 7 if side is Side.BUY else 4
            cmd = PlaceLimit(oid % 40 + 1, oid, side, price, rng.randint(1, 6), OrderType.GTC)
            live.append(oid)
        elif r < 0.55:
            cmd = PlaceLimit(
                oid % 40 + 1,
                oid,
                rng.choice([Side.BUY, Side.SELL]),
                rng.randint(4, 7),
                rng.randint(1, 30),
                OrderType.FOK,
            )
        elif r < 0.9:
            victim = live.pop(rng.randrange(len(live)))
            cmd = Cancel(victim % 40 + 1, victim)
        else:
            victim = live[rng.randrange(len(live))]
            cmd = Replace(victim % 40 + 1, victim, rng.randint(4, 7), rng.randint(1, 6))
        got = engine.apply(cmd)
        ref.events.clear()
        ref.apply(cmd)
        assert [e for e in got if e[0] != BOOK_DELTA] == ref.events, cmd
    assert [(o[0], o[1], o[2], o[3], o[4], int(o[5])) for o in engine.resting_orders()] == ref.resting()
    assert (engine.last_price, engine.volume) == (ref.last, ref.volume)
    book: dict[tuple[int, int], int] = {}
    for o in ref.resting():
        book[(o[2], o[3])] = book.get((o[2], o[3]), 0) + o[4]
    assert {(s, p): q for s in (BUY, SELL) for p, q in engine.depth(s)} == book
    for queue in engine._levels:  # dead orders never outnumber live ones by more than 32
        if queue:
            dead = sum(1 for o in queue if not o[1])
            assert dead <= len(queue) - dead + 33
