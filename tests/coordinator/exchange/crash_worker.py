"""The process the crash-recovery test kills: journal + sequencer + engine under load.

``python crash_worker.py JOURNAL SEED OPS SNAPSHOT_EVERY`` recovers the engine from the journal
(snapshot + replay), regenerates the test's workload (``random_commands(OPS, SEED, ...)``),
resumes it where the journal ends (command ``i`` of the workload is journal seq ``i + 1``),
and processes it in batches of random size, as concurrent arrivals would form them: submit,
durable flush, then ``ACK first last`` on stdout (flushed), then apply and maybe snapshot. It
never stops on its own before the workload ends (``DONE``); the test SIGKILLs it.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from bench.workload import random_commands
from coordinator.exchange.core.commands import Command, encode_command
from coordinator.exchange.journal import Journal
from coordinator.exchange.sequencer import Sequencer
from coordinator.exchange.snapshot import Snapshotter, recover


def main() -> None:
    path, seed, ops, every = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    commands = random_commands(ops, seed, accounts=50, all_types=True)
    with Journal(path) as journal:
        recovered = recover(journal)
        engine = recovered.engine
        snapshots = Snapshotter(journal, every, recovered.snapshot_seq)
        sequencer: Sequencer[Command] = Sequencer(journal, encode_command)
        rng = random.Random(journal.last_seq)
        print(f"RECOVERED {recovered.last_seq} {recovered.snapshot_seq}", flush=True)
        position = journal.last_seq
        while position < len(commands):
            size = rng.randint(1, 300)
            sequencer.submit_many(commands[position : position + size])
            batch = sequencer.flush()
            position += len(batch)
            print(f"ACK {batch.first_seq} {batch.first_seq + len(batch) - 1}", flush=True)
            for command in batch.commands:
                engine.apply(command)
            snapshots.after_batch(engine)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
