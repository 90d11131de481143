"""Group commit in front of the journal: many concurrent submitters, one fsync per batch.

Theory of operation
-------------------
The sequencer is a sans-I/O core (h11-style, STYLE.md 1): it never waits, sleeps or spawns.
A trio service drives it:

1. each request task calls ``submit(command)`` and gets back a *ticket* (0, 1, 2, … in
   submission order), then waits for that ticket's acknowledgement;
2. a single journaller task calls ``flush()`` whenever there is something pending (typically
   right away when idle, so latency stays one fsync, and at once when ``should_flush`` says
   the batch is full). ``flush`` encodes nothing new: commands were encoded at ``submit``, so
   an unencodable command fails its own submitter, not the batch;
3. ``flush`` appends the pending commands to the journal as one frame — one transaction, one
   fsync — and *only then* returns them as a ``Batch`` numbered with their sequence numbers,
   for the engine to apply in order and for the service to acknowledge each ticket.

Nothing is returned, hence nothing applied or acknowledged, before it is durable. While a
flush runs (the fsync, in a worker thread under trio) new submissions queue up for the next
batch, which is what makes the batches grow with load: at 1 request per fsync the latency is
one fsync, at 100,000 requests/s the batch holds a few hundred commands and the journal's
throughput is bounded by bytes, not by fsyncs.

If the journal raises, the pending batch is left in place (nothing of it is durable); the
owner either retries ``flush`` or calls ``discard_pending`` and fails those tickets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from coordinator.exchange.journal import Journal

__all__ = ["Batch", "Frame", "Sequencer"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """Durable commands in sequence order: command ``i`` has ``first_seq + i`` and ticket
    ``first_ticket + i``. Iterating yields ``(seq, command)``."""

    first_seq: int
    first_ticket: int
    commands: list[T]

    def __len__(self) -> int:
        return len(self.commands)

    def __iter__(self) -> Iterator[tuple[int, T]]:
        return zip(self.seqs, self.commands, strict=True)

    @property
    def seqs(self) -> range:
        return range(self.first_seq, self.first_seq + len(self.commands))

    @property
    def tickets(self) -> range:
        return range(self.first_ticket, self.first_ticket + len(self.commands))

    def seq_of(self, ticket: int) -> int:
        """The sequence number assigned to ``ticket`` (which must be in this batch)."""
        index = ticket - self.first_ticket
        if not 0 <= index < len(self.commands):
            raise KeyError(ticket)
        return self.first_seq + index


@dataclass(frozen=True, slots=True)
class Frame(Generic[T]):
    """Commands taken out of the sequencer for one journal append (see :meth:`Sequencer.take`)."""

    first_ticket: int
    commands: list[T]
    encoded: list[bytes]

    @property
    def tickets(self) -> range:
        return range(self.first_ticket, self.first_ticket + len(self.commands))


class Sequencer(Generic[T]):
    """Collects submitted commands and appends them to ``journal`` in batches (see module doc)."""

    def __init__(self, journal: Journal, encode: Callable[[T], bytes], *, max_batch: int = 4096) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.journal = journal
        self.max_batch = max_batch
        self._encode = encode
        self._commands: list[T] = []
        self._encoded: list[bytes] = []
        self._first_ticket = 0  # ticket of _commands[0]

    @property
    def pending(self) -> int:
        """How many submitted commands wait for the next flush."""
        return len(self._commands)

    @property
    def should_flush(self) -> bool:
        """True once the pending batch reached ``max_batch`` (flush before submitting more)."""
        return len(self._commands) >= self.max_batch

    @property
    def next_ticket(self) -> int:
        return self._first_ticket + len(self._commands)

    def submit(self, command: T) -> int:
        """Queue ``command`` for the next flush; return its ticket. Raises what ``encode``
        raises for a bad command (then nothing is queued)."""
        encoded = self._encode(command)
        self._encoded.append(encoded)
        self._commands.append(command)
        return self._first_ticket + len(self._commands) - 1

    def submit_many(self, commands: list[T]) -> range:
        """Queue several commands; return their tickets. All or nothing on an encode error."""
        encoded = list(map(self._encode, commands))
        first = self.next_ticket
        self._encoded.extend(encoded)
        self._commands.extend(commands)
        return range(first, first + len(commands))

    def flush(self) -> Batch[T]:
        """Append every pending command durably and return them, numbered; empty if none."""
        commands, encoded, first_ticket = self._commands, self._encoded, self._first_ticket
        if not commands:
            return Batch(self.journal.last_seq + 1, first_ticket, [])
        first_seq = self.journal.append_frame(encoded)  # raises → pending kept, nothing durable
        self._commands, self._encoded = [], []
        self._first_ticket = first_ticket + len(commands)
        return Batch(first_seq, first_ticket, commands)

    def take(self) -> Frame[T]:
        """Move the pending commands out, for an append that runs while submissions go on.

        The two-phase form of :meth:`flush` for a service whose fsync runs in a worker thread:
        ``frame = take()`` (on the owner's thread), ``first = journal.append_frame(
        frame.encoded)`` (anywhere), then :meth:`committed` gives the numbered batch. Commands
        submitted meanwhile go to the next frame. If the append fails, the frame's tickets are
        simply never acknowledged (fail them; nothing of the frame is durable).
        """
        frame = Frame(self._first_ticket, self._commands, self._encoded)
        self._commands, self._encoded = [], []
        self._first_ticket = frame.first_ticket + len(frame.commands)
        return frame

    @staticmethod
    def committed(frame: Frame[T], first_seq: int) -> Batch[T]:
        """The batch of a frame the journal appended starting at ``first_seq``."""
        return Batch(first_seq, frame.first_ticket, frame.commands)

    def discard_pending(self) -> range:
        """Drop the pending batch (e.g. after a failed flush); return the dropped tickets."""
        dropped = range(self._first_ticket, self.next_ticket)
        self._commands, self._encoded = [], []
        self._first_ticket = dropped.stop
        return dropped
