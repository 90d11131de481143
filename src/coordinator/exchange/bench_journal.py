"""Benchmark: matching engine + durable journal with group commit, end to end.

``python -m coordinator.exchange.bench_journal --ops N --json`` generates a mixed workload of
typed commands like the matching benchmark's (60 % limit, 10 % market, 30 % cancel over ~40
levels; ``random_commands``), then times, per batch of
``--batch`` commands: ``Sequencer.submit_many`` (encoding each command), ``flush`` (one SQLite
transaction and fsync for the batch) and ``Engine.apply_batch`` of the batch
(events built and discarded). Generation is not timed; encoding, journalling and matching are.
The journal is a fresh file in a temporary directory (``--dir`` to choose the disk) with
``synchronous=FULL`` unless ``--synchronous NORMAL``. Prints one JSON object:
``{ops, seconds, ops_per_s, batch_size, synchronous}`` (plus ``path``, ``batches``,
``flush_ms_p50``).

Both paths (``--path``) use the public API: ``encode_command`` (one reused msgpack packer,
dispatch on the command's type) for the journal, then ``batch`` (the default) applies each
durable batch with one ``Engine.apply_batch`` call, ``single`` with one ``Engine.apply`` per
command (the per-call overhead a caller pays without batching). The tests check that both give
identical events.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from coordinator.exchange.commands import (
    Cancel,
    Command,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    Replace,
    Side,
    encode_command,
)
from coordinator.exchange.engine import NO_ASK, Engine, EngineConfig, STPMode
from coordinator.exchange.events import ACCEPTED, CANCELLED, REPLACED, TRADE, Event
from coordinator.exchange.journal import Journal, Synchronous
from coordinator.exchange.sequencer import Sequencer


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


def _single_applier(engine: Engine) -> Callable[[list[Command]], list[Event]]:
    apply = engine.apply

    def apply_each(commands: list[Command]) -> list[Event]:
        events: list[Event] = []
        for c in commands:
            events += apply(c)
        return events

    return apply_each


def run(
    commands: list[Command], path: Path, batch: int, synchronous: Synchronous, batched: bool = True
) -> dict[str, object]:
    engine = Engine(EngineConfig(stp=STPMode.NONE, initial_price_capacity=1 << 15))
    apply_batch = engine.apply_batch if batched else _single_applier(engine)
    flush_times: list[float] = []
    with Journal(path, synchronous=synchronous) as journal:
        sequencer: Sequencer[Command] = Sequencer(journal, encode_command, max_batch=batch)
        start = time.perf_counter()
        for i in range(0, len(commands), batch):
            sequencer.submit_many(commands[i : i + batch])
            t = time.perf_counter()
            durable = sequencer.flush()
            flush_times.append(time.perf_counter() - t)
            apply_batch(durable.commands)
        seconds = time.perf_counter() - start
        assert journal.last_seq == len(commands)
    flush_times.sort()
    return {
        "ops": len(commands),
        "seconds": round(seconds, 6),
        "ops_per_s": round(len(commands) / seconds),
        "batch_size": batch,
        "synchronous": synchronous,
        "path": "batch" if batched else "single",
        "batches": len(flush_times),
        "flush_ms_p50": round(1000 * flush_times[len(flush_times) // 2], 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--path", choices=("batch", "single"), default="batch")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary journal goes")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)
    commands = random_commands(args.ops, args.seed)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = run(commands, Path(tmp) / "journal.db", args.batch, args.synchronous, args.path == "batch")
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>14}: {value}")


if __name__ == "__main__":
    main()
