"""The exchange as a trio service: admission, group-committed journal, matching, market data.

Theory of operation
-------------------
Everything runs on the coordinator's trio thread except the journal's writes, which run in a
worker thread so that requests keep arriving while a batch is being fsynced (LMAX's
journaller in front of the business logic):

1. **Admission** (:meth:`ExchangeService.submit`, in the request's task): verify the EIP-712
   signature and expiry (:mod:`gcx.orders`), check the instrument exists and the nonce is above the
   account's last one, assign an order id and a time stamp, and hand the resulting
   :class:`~.entry.Entry` to the :class:`~.sequencer.Sequencer`. Anything refused here is
   refused without touching the journal (a 4xx).
2. **Journalling** (:meth:`ExchangeService.run`, one task): take the pending entries as one
   frame, append it in a worker thread (one SQLite transaction, one fsync), and only then
3. **apply** each entry, in sequence order, to the :class:`~.state.ExchangeState` (matching,
   orders, fills, market data), wake each waiting request with its
   :class:`~.state.Outcome`, and send the feed messages to subscribers. A state snapshot is
   written every ``snapshot_every`` commands: encoded by a forked child (:mod:`.forked`) while
   the service goes on, then written to the journal between two appends.

So nothing is acknowledged before it is durable, and the journal alone rebuilds the state
(:func:`open_exchange` = newest snapshot + replay). If an append fails, the frame's requests
get :class:`ExchangeUnavailable` (503) and nothing of them is in the log or the state.

Market-data subscribers get a bounded channel each; one that falls ``feed_buffer`` messages
behind is dropped (its WebSocket is closed and it resubscribes), so a slow reader can never
hold the exchange's memory or delay matching.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from gcx.errors import ConfigError, GCXError
from gcx.orders import Domain, MessageKind, verify_typed
from gcx.paths import configs_dir, ensure_home
from gcx.settings import ExchangeSettings, Settings

from . import native
from .core.admission import Admission
from .core.entry import Entry, decode_entry, encode_entry
from .core.marketdata import FeedMessage
from .core.state import ExchangeState, Outcome
from .errors import (
    EntryDecodeError,
    ExchangeUnavailable,
    JournalCorruptError,
    StateSnapshotError,
    UnknownInstrument,
    VerifierUnavailable,
)
from .forked import fork_encode
from .instruments_file import load_instruments
from .journal import Journal
from .sequencer import Sequencer
from .verifier_pool import Verdict, VerifierPool, verdict_error

__all__ = [
    "ExchangeService",
    "domain_from_settings",
    "open_exchange",
    "recover_state",
]

log = logging.getLogger("gcx.coordinator.exchange")


@dataclass(slots=True)
class _Waiter:
    done: trio.Event = field(default_factory=trio.Event)
    outcome: Outcome | None = None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ExchangeService:
    """The exchange's request path and journaller (see the module docstring)."""

    def __init__(
        self,
        journal: Journal,
        state: ExchangeState,
        domain: Domain,
        *,
        snapshot_every: int = 50_000,
        snapshot_in_child: bool = True,
        max_batch: int = 4096,
        feed_buffer: int = 10_000,
        clock_ms: Callable[[], int] = _now_ms,
        verifiers: VerifierPool | None = None,
    ) -> None:
        if journal.last_seq != state.last_seq:
            raise ValueError(f"state at seq {state.last_seq}, journal at {journal.last_seq}")
        self.journal = journal
        self.state = state
        self.domain = domain
        self.snapshot_every = snapshot_every
        self.snapshot_in_child = snapshot_in_child
        self._snapshotting = False  # a snapshot is being encoded or written
        self._nursery: trio.Nursery | None = None
        self.feed_buffer = feed_buffer
        self.clock_ms = clock_ms
        self.sequencer: Sequencer[Entry] = Sequencer(journal, encode_entry, max_batch=max_batch)
        self._waiters: dict[int, _Waiter] = {}
        self.admission = Admission(state)
        self._work = trio.Event()
        self.verifiers = verifiers
        self._hash_cache: tuple[int, str] = (-1, "")
        self._tickets = 0  # admission order: request batches are admitted by ticket
        self._admitted = -1
        self._turns: dict[int, trio.Event] = {}
        self._subscribers: dict[str, set[trio.MemorySendChannel[FeedMessage]]] = {
            sym: set() for sym in state.instruments
        }
        snaps = journal.snapshot_seqs()
        self.snapshot_seq = snaps[-1] if snaps else 0
        self.stats = {
            "admitted": 0,
            "refused": 0,
            "journal_failures": 0,
            "batches": 0,
            "dropped_subscribers": 0,
        }

    # -- admission ----------------------------------------------------------------------------

    async def submit(self, kind: MessageKind, message: Mapping[str, Any], signature: str) -> Outcome:
        """Admit, journal and apply one signed request; its outcome once it is durable.

        Raises :class:`~gcx.orders.AuthError` (signature, expiry, malformed, replayed nonce) or
        :class:`~.errors.AdmissionError` (unknown instrument, journal unavailable).
        """
        [result] = await self.submit_many([(kind, message, signature)])
        if isinstance(result, GCXError):
            raise result
        return result

    async def submit_many(
        self, requests: Sequence[tuple[MessageKind, Mapping[str, Any], str]]
    ) -> list[Outcome | GCXError]:
        """Admit, journal and apply a batch of signed requests, in order; for each its outcome or
        the error that refused it (one bad request does not spoil the others).

        A batch of several requests has its signatures checked by the verifier processes (when
        the service has them) while the event loop goes on; then it waits for its turn — requests
        are admitted in the order they arrived, whatever their batches — and is admitted at once,
        so it is journaled contiguously and in order, usually in one commit.
        """
        ticket = self._tickets
        self._tickets += 1
        results: list[Outcome | GCXError | None] = []
        waiters: list[tuple[int, _Waiter]] = []
        try:
            with trio.CancelScope(shield=True):  # a ticket must always be admitted, in turn
                verdicts = await self._verify(requests) if len(requests) > 1 else None
                if self._admitted != ticket - 1:
                    turn = self._turns[ticket] = trio.Event()
                    await turn.wait()
            for i, (kind, message, signature) in enumerate(requests):
                try:
                    if verdicts is None:
                        entry = self.admit(kind, message, signature)
                    else:
                        entry = self._admit_verdict(kind, message, signature, verdicts[i])
                except GCXError as exc:
                    results.append(exc)
                    continue
                results.append(None)  # until it is applied
                waiter = _Waiter()
                self._waiters[self.sequencer.submit(entry)] = waiter
                waiters.append((i, waiter))
        finally:
            self._admitted = ticket
            if (following := self._turns.pop(ticket + 1, None)) is not None:
                following.set()
        if waiters:
            self._work.set()
        for i, waiter in waiters:
            await waiter.done.wait()
            results[i] = waiter.outcome or ExchangeUnavailable(
                "the journal could not write the request; nothing was accepted"
            )
        return [r for r in results if r is not None]

    async def _verify(
        self, requests: Sequence[tuple[MessageKind, Mapping[str, Any], str]]
    ) -> list[Verdict] | None:
        """The verifier processes' verdicts on ``requests``, or None to check them here."""
        if self.verifiers is None:
            return None
        now = self.clock_ms() // 1000
        try:
            return await trio.to_thread.run_sync(self.verifiers.verify, requests, now)
        except VerifierUnavailable as exc:
            log.warning("checking signatures in the event loop: %s", exc)
            return None

    def _admit_verdict(
        self, kind: MessageKind, message: Mapping[str, Any], signature: str, verdict: Verdict
    ) -> Entry:
        if verdict[0] != "ok":
            self.stats["refused"] += 1
            raise verdict_error(verdict)
        return self._admit_verified(kind, message, signature, self.clock_ms())

    def admit(self, kind: MessageKind, message: Mapping[str, Any], signature: str) -> Entry:
        """The journal entry of an acceptable request (no await: admission is atomic)."""
        now_ms = self.clock_ms()
        try:
            verify_typed(kind, message, signature, self.domain, now=now_ms // 1000)
        except GCXError:
            self.stats["refused"] += 1
            raise
        return self._admit_verified(kind, message, signature, now_ms)

    def _admit_verified(
        self, kind: MessageKind, message: Mapping[str, Any], signature: str, now_ms: int
    ) -> Entry:
        """Admission after the signature (:mod:`.core.admission`): instrument, expiry, nonce."""
        try:
            entry = self.admission.admit(kind, message, signature, now_ms)
        except GCXError:
            self.stats["refused"] += 1
            raise
        self.stats["admitted"] += 1
        return entry

    # -- the journaller -----------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Journal and apply admitted requests until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                await self._work.wait()
                self._work = trio.Event()
                while self.sequencer.pending:
                    await self._commit_one()

    async def _commit_one(self) -> None:
        frame = self.sequencer.take()
        try:
            first_seq = await trio.to_thread.run_sync(self.journal.append_frame, frame.encoded)
        except Exception as exc:  # disk full, I/O error, conflict: refuse the frame, keep going
            self.stats["journal_failures"] += 1
            log.error("journal append of %d requests failed: %s", len(frame.commands), exc)
            for ticket in frame.tickets:
                self._waiters.pop(ticket).done.set()
            return
        self.stats["batches"] += 1
        batch = Sequencer.committed(frame, first_seq)
        apply, waiters = self.state.apply, self._waiters
        for ticket, (seq, entry) in zip(batch.tickets, batch, strict=True):
            outcome = apply(seq, entry)
            if outcome.feed:
                self._broadcast(entry.instrument, outcome.feed)
            waiter = waiters.pop(ticket)
            waiter.outcome = outcome
            waiter.done.set()
        if self.state.last_seq - self.snapshot_seq >= self.snapshot_every and not self._snapshotting:
            self._start_snapshot()

    def _start_snapshot(self) -> None:
        """Capture the state as it is now (right after a commit), in a forked child when
        ``snapshot_in_child`` and the platform allow, else by encoding it here; the rest
        (collecting the bytes, writing them) runs as a background task."""
        seq = self.state.last_seq
        collect = fork_encode(self.state.snapshot) if self.snapshot_in_child else None
        if collect is None:
            body = self.state.snapshot()
            collect = lambda: body  # noqa: E731 - the inline path's trivial collector
        self._snapshotting = True
        assert self._nursery is not None
        self._nursery.start_soon(self._finish_snapshot, seq, collect)

    async def _finish_snapshot(self, seq: int, collect: Callable[[], bytes]) -> None:
        started = time.perf_counter()
        try:
            body = await trio.to_thread.run_sync(collect)
            await trio.to_thread.run_sync(self.journal.write_snapshot, seq, body)
        except Exception as exc:  # a missed snapshot costs replay time, not data
            log.warning("snapshot at seq %d failed: %s", seq, exc)
            return
        finally:
            self._snapshotting = False
        self.snapshot_seq = max(self.snapshot_seq, seq)
        log.info(
            "exchange snapshot at seq %d (%d bytes, %.2f s)", seq, len(body), time.perf_counter() - started
        )
        if self.state.last_seq - self.snapshot_seq >= self.snapshot_every:  # due again meanwhile
            self._start_snapshot()

    # -- market data --------------------------------------------------------------------------

    def subscribe(self, instrument: str) -> tuple[dict[str, Any], trio.MemoryReceiveChannel[FeedMessage]]:
        """An ``l2snapshot`` of ``instrument`` and a channel of every message after it."""
        if instrument not in self._subscribers:
            raise UnknownInstrument(f"no instrument {instrument!r}")
        send, receive = trio.open_memory_channel[FeedMessage](self.feed_buffer)
        self._subscribers[instrument].add(send)
        return dict(self.state.publishers[instrument].snapshot()), receive

    def _broadcast(self, instrument: str, messages: list[FeedMessage]) -> None:
        subscribers = self._subscribers[instrument]
        for send in list(subscribers):
            try:
                for msg in messages:
                    send.send_nowait(msg)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                subscribers.discard(send)
                send.close()
                if isinstance(exc, trio.WouldBlock):
                    self.stats["dropped_subscribers"] += 1
                    log.info("dropped a %s feed subscriber %d messages behind", instrument, self.feed_buffer)

    def close(self) -> None:
        """Close the journal and stop the verifier processes."""
        if self.verifiers is not None:
            self.verifiers.close()
        self.journal.close()

    def info(self) -> dict[str, Any]:
        """Domain, journal position and state hash (computed once per journal position: it
        encodes the whole state, so repeated reads must not repeat the work)."""
        seq = self.state.last_seq
        if self._hash_cache[0] != seq:
            self._hash_cache = (seq, self.state.state_hash().hex())
        return {
            "domain": self.domain.to_dict(),
            "last_seq": seq,
            "snapshot_seq": self.snapshot_seq,
            "state_hash": self._hash_cache[1],
            "engine": _engine_build(),
        }


# -- opening and recovery ----------------------------------------------------------------------


def recover_state(journal: Journal, make_state: Callable[[], ExchangeState]) -> tuple[ExchangeState, int]:
    """The state after the whole journal: newest usable snapshot, then replay of the rest.

    Returns ``(state, snapshot_seq)`` (0 when everything was replayed). A snapshot that fails
    its CRC or does not restore (e.g. written under another instruments file) is skipped for
    the next older one, with a warning.
    """
    before: int | None = None
    while True:
        state = make_state()
        try:
            latest = journal.latest_snapshot(before)
        except JournalCorruptError as exc:
            log.warning("skipping the exchange snapshot at seq %d: %s", exc.seq, exc)
            before = exc.seq
            continue
        if latest is None:
            start = 0
            break
        start = latest[0]
        try:
            state.restore(latest[1])
            if state.last_seq != start:
                raise StateSnapshotError(f"snapshot stored at seq {start} says {state.last_seq}")
            break
        except StateSnapshotError as exc:
            log.warning("skipping the exchange snapshot at seq %d: %s", start, exc)
            before = start
    apply = state.apply
    for first, frames in journal.read_frames(start + 1):
        for offset, data in enumerate(frames):
            try:
                entry = decode_entry(data)
            except EntryDecodeError as exc:  # CRC-clean but not an entry: written so, not damaged
                raise JournalCorruptError(first + offset, str(exc), journal.path) from None
            apply(first + offset, entry)
    return state, start


def domain_from_settings(settings: Settings) -> Domain:
    """The EIP-712 domain: the chain's id and CollateralVault when a deployment is read, else
    ``exchange.chain_id`` and ``exchange.verifying_contract``."""
    if settings.chain.rpc_url:
        from gcx.chain.deployment import read_deployment

        deployment = read_deployment(settings.chain.deployment)
        vault = deployment.contracts.get("CollateralVault")
        if vault is None:
            raise ConfigError("the chain deployment has no CollateralVault (the exchange's EIP-712 domain)")
        return Domain(deployment.chain_id, vault.address)
    x = settings.exchange
    return Domain(x.chain_id, x.verifying_contract)


_engine_status = functools.cache(native.status)  # hashes the engine's sources: once a process


def _engine_build() -> str:
    """The matching engine's build for ``info()``: compiled, compiled (stale) or python."""
    st = _engine_status()
    return "compiled (stale)" if st.state == "stale" else st.build


def open_exchange(settings: Settings, domain: Domain | None = None) -> ExchangeService:
    """Open the journal, recover the state and build the service (call ``run`` to serve)."""
    x: ExchangeSettings = settings.exchange
    engine_build = _engine_status()
    (log.warning if engine_build.state == "stale" else log.info)("%s", engine_build.describe())
    instruments = load_instruments(x.instruments or configs_dir() / "instruments.toml")
    if x.journal is None:  # the home's: its directory is ours to make
        path = ensure_home() / "coordinator" / "exchange.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
    else:  # configured: a missing directory is a mistake, not a place for a new exchange
        path = x.journal
    journal = Journal(path, synchronous=x.synchronous, check=True)
    try:
        started = time.perf_counter()
        state, snap = recover_state(
            journal,
            lambda: ExchangeState(instruments, credit_limit=x.credit_limit, history_limit=x.history_limit),
        )
        if state.last_seq:
            log.info(
                "exchange recovered to seq %d (snapshot %d, %d replayed) in %.2f s",
                state.last_seq,
                snap,
                state.last_seq - snap,
                time.perf_counter() - started,
            )
        domain = domain or domain_from_settings(settings)
        return ExchangeService(
            journal,
            state,
            domain,
            snapshot_every=x.snapshot_every,
            snapshot_in_child=x.snapshot_in_child,
            max_batch=x.max_batch,
            feed_buffer=x.feed_buffer,
            verifiers=VerifierPool(domain, workers) if (workers := verify_workers(x)) else None,
        )
    except BaseException:
        journal.close()
        raise


def verify_workers(x: ExchangeSettings) -> int:
    """How many verifier processes to start: ``exchange.verify_workers``, or by default one per
    core beyond the event loop's, at most 8 (none on one core)."""
    if x.verify_workers is not None:
        return x.verify_workers
    return max(0, min(8, (os.cpu_count() or 1) - 1))
