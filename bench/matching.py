"""``python -m bench.matching --workload FILE --json``: the matching
engine's throughput, engine only.

The operation file (format in :mod:`bench.workload`) is read and parsed fully first, and turned
into the engine's flat command rows (:meth:`~coordinator.exchange.core.engine.Engine.execute`); then one
:class:`~coordinator.exchange.core.engine.Engine` (default configuration: no price band, self-trade prevention on in
cancel-resting mode, which never fires because every order has its own account) runs every
operation, and only that loop is timed: ``engine.execute`` on batches of 512 rows, the events
discarded after each batch, as a consumer draining ``engine.out`` would. A cancel of an order
that is gone is the engine's ``UNKNOWN_ORDER`` rejection, which the benchmark ignores. The
price array is sized from the workload's highest price before timing starts.

The engine is whichever build ``import`` gives (the compiled one after ``make native``;
``--engine python`` forces the pure-Python source); the build goes to standard error.
It prints one JSON object: ``ops, seconds, ops_per_s, best_bid, best_ask, bid_volume,
ask_volume, traded_volume`` (prices in ticks, volumes in lots, ``null`` for an empty side).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

from coordinator.exchange import native
from coordinator.exchange.core.engine import Engine, EngineConfig
from coordinator.exchange.core.engine_config import NO_ASK

from .workload import CANCEL, LIMIT, Op, WorkloadError, parse_workload

_BATCH = 512  # operations between two drains of the event buffer


def command_rows(ops: list[Op]) -> list[tuple[int, ...]]:
    """The workload's operations as the engine's flat command rows (:meth:`Engine.execute`);
    every order is its own account, and a cancel names the order's account."""
    rows: list[tuple[int, ...]] = []
    for kind, order_id, side, price, qty in ops:
        if kind == LIMIT:
            rows.append((1, order_id, order_id, side, price, qty, 0))
        elif kind == CANCEL:
            rows.append((3, order_id, order_id))
        else:
            rows.append((2, order_id, order_id, side, qty))
    return rows


def run(ops: list[Op], engine_class: type[Engine] = Engine) -> dict[str, Any]:
    """Run ``ops`` through a fresh engine; the benchmark's result object."""
    top = max((op[3] for op in ops), default=0)
    engine = engine_class(EngineConfig(initial_price_capacity=top + 2, max_price=max(top, 1)))
    execute, out = engine.execute, engine.out
    rows = command_rows(ops)
    batches = [rows[i : i + _BATCH] for i in range(0, len(rows), _BATCH)]
    gc.collect()
    gc.freeze()  # the loaded workload is not the engine's: keep the collector off it
    start = time.perf_counter()
    for batch in batches:
        execute(batch)
        out.clear()
    seconds = time.perf_counter() - start
    gc.unfreeze()
    bids, asks = engine.depth(0), engine.depth(1)
    return {
        "ops": len(ops),
        "seconds": round(seconds, 6),
        "ops_per_s": round(len(ops) / seconds) if seconds > 0 else None,
        "best_bid": engine.best_bid or None,
        "best_ask": None if engine.best_ask == NO_ASK else engine.best_ask,
        "bid_volume": sum(q for _, q in bids),
        "ask_volume": sum(q for _, q in asks),
        "traded_volume": engine.volume,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.matching", description=__doc__)
    parser.add_argument("--workload", type=Path, required=True, help="operation file")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "--engine",
        choices=("auto", "python"),
        default="auto",
        help="auto: the build import gives (compiled after `make native`); python: the pure source",
    )
    args = parser.parse_args(argv)
    try:
        ops = parse_workload(args.workload.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, WorkloadError) as exc:
        sys.exit(f"error: {args.workload}: {exc}")
    if args.engine == "python":
        engine_class: type[Engine] = native.load_python_engine().Engine
        print("matching engine: pure Python (--engine python)", file=sys.stderr)
    else:
        engine_class = Engine
        print(native.status().describe(), file=sys.stderr)
    result = run(ops, engine_class)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>14}: {value}")


if __name__ == "__main__":
    main()
