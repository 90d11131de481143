"""Workloads shared by the benchmarks and the tests: the matching benchmark's operation files
(parsing and generating them), :func:`random_commands`, the typed command stream of the
journal benchmark, and :func:`random_entries`, the same stream as the exchange's journal entries
(the recovery tests).

One operation per line, comma-separated, no header (prices in ticks, quantities in lots, both
positive integers, prices below 1,000,000; order ids any non-negative integer):

* ``L,<order_id>,<B|S>,<price>,<qty>`` a GTC limit order;
* ``M,<order_id>,<B|S>,<qty>`` a market order (any unfilled rest is dropped);
* ``C,<order_id>`` a cancel (a no-op if the order is already filled or cancelled).

Every order belongs to its own account (account = order id), so self-trade prevention, which
stays on in its default mode, never fires and costs only its per-maker comparison.

The generator drives a real :class:`~coordinator.exchange.core.engine.Engine` to know which orders rest, and keeps the
mix at 60 % limit / 10 % market / 30 % cancel with about ``target_resting`` orders over about 40
price levels: a limit order is passive (1 to 20 ticks from the mid) four times in five and
crosses the spread otherwise; a cancel hits a random resting order while the book holds at
least the target, and an order that is already gone otherwise (the no-op case).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Final

from coordinator.exchange.core.commands import (
    Cancel,
    Command,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    Replace,
    Side,
)
from coordinator.exchange.core.engine import NO_ASK, Engine, EngineConfig, STPMode
from coordinator.exchange.core.entry import CANCEL as CANCEL_ENTRY
from coordinator.exchange.core.entry import ORDER, REPLACE, Entry
from coordinator.exchange.core.events import ACCEPTED, CANCELLED, REPLACED, TRADE, Event

__all__ = [
    "MAX_PRICE",
    "Op",
    "WorkloadError",
    "generate",
    "parse_workload",
    "random_commands",
    "random_entries",
    "write_workload",
]

MAX_PRICE: Final = 1_000_000

LIMIT: Final = 0
MARKET: Final = 1
CANCEL: Final = 2

Op = tuple[int, int, int, int, int]
"""``(kind, order_id, side, price, qty)``; kind LIMIT/MARKET/CANCEL, unused fields 0."""


class WorkloadError(ValueError):
    """A line of an operation file is malformed; the message names the line."""


_SIDES: Final = {"B": 0, "S": 1}


def _positive(text: str, what: str, lineno: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise WorkloadError(f"line {lineno}: {what} {text!r} is not an integer") from None
    if value < 1:
        raise WorkloadError(f"line {lineno}: {what} must be positive, got {value}")
    return value


def _order_id(text: str, lineno: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise WorkloadError(f"line {lineno}: order id {text!r} is not an integer") from None
    if value < 0:
        raise WorkloadError(f"line {lineno}: order id must be non-negative, got {value}")
    return value


def _side(text: str, lineno: int) -> int:
    try:
        return _SIDES[text]
    except KeyError:
        raise WorkloadError(f"line {lineno}: side {text!r} is not B or S") from None


def parse_workload(text: str) -> list[Op]:
    """The operations of an operation file's text (blank lines ignored)."""
    ops: list[Op] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.strip().split(",")
        kind = fields[0]
        if kind == "L" and len(fields) == 5:
            price = _positive(fields[3], "price", lineno)
            if price >= MAX_PRICE:
                raise WorkloadError(f"line {lineno}: price {price} is not below {MAX_PRICE}")
            ops.append((LIMIT, _order_id(fields[1], lineno), _side(fields[2], lineno),
                        price, _positive(fields[4], "qty", lineno)))  # fmt: skip
        elif kind == "M" and len(fields) == 4:
            ops.append((MARKET, _order_id(fields[1], lineno), _side(fields[2], lineno), 0,
                        _positive(fields[3], "qty", lineno)))  # fmt: skip
        elif kind == "C" and len(fields) == 2:
            ops.append((CANCEL, _order_id(fields[1], lineno), 0, 0, 0))
        elif line.strip():
            raise WorkloadError(f"line {lineno}: not an L, M or C operation: {line.strip()!r}")
    return ops


def generate(ops: int, seed: int, target_resting: int = 1000, mid: int = 500_000) -> list[str]:
    """``ops`` lines of a mixed workload, a pure function of its arguments."""
    rng = random.Random(seed)
    engine = Engine(EngineConfig(stp=STPMode.NONE, initial_price_capacity=MAX_PRICE))
    orders = engine._orders  # the generator peeks at which orders rest
    lines: list[str] = []
    next_id = 1
    gone: list[int] = []
    pool: list[int] = []  # ids that rested when placed; pruned lazily when found gone
    for _ in range(ops):
        r = rng.random()
        bid, ask = engine.best_bid, engine.best_ask
        if bid and ask != NO_ASK:
            mid = (bid + ask) // 2
        if r < 0.6:
            side = rng.randrange(2)
            if rng.random() < 0.2 and (ask != NO_ASK if side == 0 else bid):
                price = ask + rng.randrange(3) if side == 0 else bid - rng.randrange(3)
            else:
                price = mid - rng.randint(1, 20) if side == 0 else mid + rng.randint(1, 20)
            price = min(max(price, 1), MAX_PRICE - 1)
            qty = rng.randint(1, 10)
            lines.append(f"L,{next_id},{'BS'[side]},{price},{qty}")
            engine.place_limit(next_id, next_id, side, price, qty)
            (pool if next_id in orders else gone).append(next_id)
            next_id += 1
        elif r < 0.7:
            side = rng.randrange(2)
            qty = rng.randint(1, 20)
            lines.append(f"M,{next_id},{'BS'[side]},{qty}")
            engine.place_market(next_id, next_id, side, qty)
            gone.append(next_id)
            next_id += 1
        else:
            victim = rng.choice(gone) if gone else 1
            while pool and (len(orders) >= target_resting or not gone):
                i = rng.randrange(len(pool))
                candidate = pool[i]
                pool[i] = pool[-1]
                pool.pop()
                if candidate in orders:
                    victim = candidate
                    break
                gone.append(candidate)
            lines.append(f"C,{victim}")
            engine.cancel(victim, victim)
        engine.out.clear()
    return lines


def write_workload(path: Path, ops: int, seed: int) -> None:
    """Generate a workload and write it to ``path``."""
    path.write_text("\n".join(generate(ops, seed)) + "\n", encoding="ascii")


def random_commands(
    ops: int, seed: int, *, accounts: int = 0, all_types: bool = False, resting: int = 1000
) -> list[Command]:
    """A reproducible mixed stream: 60 % limit, 10 % market, 30 % cancel around the touch.

    Limit orders sit 1 to 20 ticks behind the touch four times in five and cross it otherwise
    (about 40 levels in use); a cancel hits a random resting order while about ``resting``
    orders rest, and an order that is already gone otherwise (a rejected no-op), as in the
    matching benchmark's files. A scratch engine, read only through its events, tells which
    orders rest. ``accounts=0`` gives every order its own account (no self-trades);
    ``accounts=k`` draws from ``k`` accounts. ``all_types`` also mixes IOC, FOK and
    post-only limits and cancel-replaces (for recovery tests, not the benchmark).
    """
    rng = random.Random(seed)
    engine = Engine(EngineConfig(stp=STPMode.CANCEL_RESTING, initial_price_capacity=1 << 15))
    live: dict[int, tuple[int, int]] = {}  # order id -> (account, remaining qty), if resting
    pool: list[int] = []  # ids that may rest (pruned lazily)
    types = (OrderType.GTC, OrderType.GTC, OrderType.IOC, OrderType.FOK, OrderType.POST_ONLY)
    commands: list[Command] = []
    mid = 10_000
    for order_id in range(1, ops + 1):
        account = rng.randint(1, accounts) if accounts else order_id
        bid, ask = engine.best_bid, engine.best_ask
        if bid and ask != NO_ASK:
            mid = (bid + ask) // 2
        r = rng.random()
        command: Command
        if r < 0.6:
            side = rng.randrange(2)
            offset = rng.randint(1, 20) if rng.random() < 0.8 else -rng.randint(0, 3)
            price = max(1, mid - offset if side == 0 else mid + offset)
            order_type = rng.choice(types) if all_types else OrderType.GTC
            command = PlaceLimit(account, order_id, Side(side), price, rng.randint(1, 10), order_type)
            pool.append(order_id)
        elif r < 0.7:
            command = PlaceMarket(account, order_id, Side(rng.randrange(2)), rng.randint(1, 20))
        else:
            victim = rng.randint(1, order_id)
            while pool and len(live) >= resting:
                i = rng.randrange(len(pool))
                candidate = pool[i]
                pool[i] = pool[-1]
                pool.pop()
                if candidate in live:
                    victim = candidate
                    break
            owner = live[victim][0] if victim in live else account
            if all_types and rng.random() < 0.3:
                command = Replace(owner, victim, mid + rng.randint(-20, 20), rng.randint(1, 10))
                pool.append(victim)
            else:
                command = Cancel(owner, victim)
        commands.append(command)
        for event in engine.apply(command):
            _track(live, event)
    return commands


def random_entries(ops: int, seed: int, *, accounts: int = 50, instrument: str = "X") -> list[Entry]:
    """:func:`random_commands` (every order type, ``accounts`` accounts) as the journal entries on
    ``instrument`` that :class:`~coordinator.exchange.core.state.ExchangeState` replays.

    Account ``k`` signs as the address ``k`` (20 bytes, big-endian), an order's client order id
    is its order id (so cancels and replaces name it), and entry ``i`` (from 1) has nonce ``i``
    and time stamp ``i`` ms. No signatures: the entries are replayed, not admitted.
    """
    entries: list[Entry] = []
    for i, c in enumerate(random_commands(ops, seed, accounts=accounts, all_types=True), 1):
        address = c.account.to_bytes(20, "big")
        if isinstance(c, PlaceLimit | PlaceMarket):
            order_type = int(c.order_type) if isinstance(c, PlaceLimit) else int(OrderType.MARKET)
            price = c.price if isinstance(c, PlaceLimit) else 0
            e = Entry(ORDER, i, instrument, address, i, c.order_id, int(c.side), order_type, price, c.qty,
                      0, c.order_id)  # fmt: skip
        elif isinstance(c, Cancel):
            e = Entry(CANCEL_ENTRY, i, instrument, address, i, c.order_id)
        else:
            e = Entry(REPLACE, i, instrument, address, i, c.order_id, price=c.price, qty=c.qty)
        entries.append(e)
    return entries


def _track(live: dict[int, tuple[int, int]], event: Event) -> None:
    """Follow which orders rest, from the engine's events alone."""
    kind = event[0]
    if kind in (ACCEPTED, REPLACED):
        live[event[1]] = (event[2], event[5])
    elif kind == TRADE:
        for order_id in (event[1], event[2]):
            if order_id in live:
                account, qty = live[order_id]
                if qty > event[4]:
                    live[order_id] = (account, qty - event[4])
                else:
                    del live[order_id]
    elif kind == CANCELLED:
        live.pop(event[1], None)
