"""The matching benchmark's operation files: parsing and generating them.

One operation per line, comma-separated, no header (prices in ticks, quantities in lots, both
positive integers, prices below 1,000,000):

* ``L,<order_id>,<B|S>,<price>,<qty>`` a GTC limit order;
* ``M,<order_id>,<B|S>,<qty>`` a market order (any unfilled rest is dropped);
* ``C,<order_id>`` a cancel (a no-op if the order is already filled or cancelled).

Every order belongs to its own account (account = order id), so self-trade prevention, which
stays on in its default mode, never fires and costs only its per-maker comparison.

The generator drives a real :class:`~.engine.Engine` to know which orders rest, and keeps the
mix at 60 % limit / 10 % market / 30 % cancel with about ``target_resting`` orders over about 40
price levels: a limit order is passive (1 to 20 ticks from the mid) four times in five and
crosses the spread otherwise; a cancel hits a random resting order while the book holds at
least the target, and an order that is already gone otherwise (the no-op case).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Final

from .engine import NO_ASK, Engine, EngineConfig, STPMode

__all__ = ["MAX_PRICE", "Op", "WorkloadError", "generate", "parse_workload"]

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
            ops.append((LIMIT, _positive(fields[1], "order id", lineno), _side(fields[2], lineno),
                        price, _positive(fields[4], "qty", lineno)))  # fmt: skip
        elif kind == "M" and len(fields) == 4:
            ops.append((MARKET, _positive(fields[1], "order id", lineno), _side(fields[2], lineno), 0,
                        _positive(fields[3], "qty", lineno)))  # fmt: skip
        elif kind == "C" and len(fields) == 2:
            ops.append((CANCEL, _positive(fields[1], "order id", lineno), 0, 0, 0))
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
