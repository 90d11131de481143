"""The process the crash-recovery test kills: journal + sequencer + exchange state under load.

``python crash_worker.py JOURNAL SEED OPS SNAPSHOT_EVERY`` recovers the exchange state from the
journal with the service's own :func:`~coordinator.exchange.service.recover_state` (newest
snapshot + replay), regenerates the test's workload (``random_entries(OPS, SEED)``), resumes it
where the journal ends (entry ``i`` of the workload is journal seq ``i + 1``), and processes it
in batches of random size, as concurrent arrivals would form them: submit, durable flush, then
``ACK first last`` on stdout (flushed), then apply and, every ``SNAPSHOT_EVERY`` commands, write
a state snapshot. It never stops on its own before the workload ends (``DONE``); the test
SIGKILLs it.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Final

from bench.workload import random_entries
from coordinator.exchange.core.entry import Entry, encode_entry
from coordinator.exchange.core.instruments import Spot
from coordinator.exchange.core.state import ExchangeState
from coordinator.exchange.journal import Journal
from coordinator.exchange.sequencer import Sequencer
from coordinator.exchange.service import recover_state

SYM: Final = "X"
INSTRUMENTS: Final = {SYM: Spot(kind="spot", grade="A", tick_size=1, lot_size=1000)}
"""What the worker and the test build their states with (no band: the workload wanders)."""


def new_state() -> ExchangeState:
    """A fresh state of :data:`INSTRUMENTS` (history long enough to keep every event)."""
    return ExchangeState(INSTRUMENTS, history_limit=100_000)


def main() -> None:
    path, seed, ops, every = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    entries = random_entries(ops, seed, accounts=50, instrument=SYM)
    with Journal(path) as journal:
        state, snapshot_seq = recover_state(journal, new_state)
        sequencer: Sequencer[Entry] = Sequencer(journal, encode_entry)
        rng = random.Random(journal.last_seq)
        print(f"RECOVERED {state.last_seq} {snapshot_seq}", flush=True)
        position = journal.last_seq
        while position < len(entries):
            size = rng.randint(1, 300)
            sequencer.submit_many(entries[position : position + size])
            batch = sequencer.flush()
            position += len(batch)
            print(f"ACK {batch.first_seq} {batch.first_seq + len(batch) - 1}", flush=True)
            for seq, entry in batch:
                state.apply(seq, entry)
            if state.last_seq - snapshot_seq >= every:  # at a batch boundary, as the service does
                journal.write_snapshot(state.last_seq, state.snapshot())
                snapshot_seq = state.last_seq
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
