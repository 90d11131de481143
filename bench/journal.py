"""Benchmark: matching engine + durable journal with group commit, end to end.

``python -m bench.journal --ops N --json`` generates a mixed workload of
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
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from coordinator.exchange.core.commands import Command, encode_command
from coordinator.exchange.core.engine import Engine, EngineConfig, STPMode
from coordinator.exchange.core.events import Event
from coordinator.exchange.journal import Journal, Synchronous
from coordinator.exchange.sequencer import Sequencer

from .workload import random_commands


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
