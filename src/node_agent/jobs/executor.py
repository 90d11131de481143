"""The provider's job executor: ``/gcx/job/1`` offers in, results on chain and to the coordinator.

Theory of operation (docs/jobs-provider.md; JOBS-SPEC flow step 4):

* **Offer** — checked before anything is promised: the program decodes and its inputs are the
  offer's (names in order; a data input's root equals the program's root for it, when the
  program commits one); the node holds fewer than ``node.max_jobs`` unsubmitted jobs; the chain's
  ``JobEscrow.getJob`` shows the job ``Open`` for this node's address with the offer's buyer,
  amount, submit deadline and challenge window, and the node's provider stake is active; the
  amount covers ``ceil(micro_ch × node.price_per_ch / 10⁶)`` with ``micro_ch`` metered here
  (:func:`gcx.tp.metering.meter` on the node's reference profile); the job's reference run time
  plus :data:`DEADLINE_MARGIN_S` fits before the submit deadline. Then ``Accept`` (the job is in
  the table, ``queued``) or ``Refuse(code)``; an offer of a job already held is ``duplicate``.
* **Worker** — one job at a time, in acceptance order: fetch each data input from the offer's
  source (``""``: the peer that sent the offer) with :meth:`DataClient.fetch_committed` (every
  byte checked against the root), run the program on ``node.backend`` in a worker thread
  (commit the inputs against the program's roots first), commit every tensor, store them all in
  the node's :class:`TensorStore` and the op leaves with ``store.put_result``, call
  ``JobEscrow.submitResult``, then send ``Result`` to the coordinator (retried with backoff
  until it answers ``Ack``).
* **Finalizer** — after a submitted job's challenge deadline, ``JobEscrow.finalize`` (anyone may:
  a job someone else finalized is simply marked so); ``node.job_retention_s`` after a job ended
  its tensors and result are deleted from the store.
* **Restart** — all state is in the job table (:mod:`.state`): jobs ``fetching``/``running`` go
  back to ``queued`` and run again (a job whose ``submitResult`` had gone through is recognised on
  chain and adopted, never submitted twice), un-acknowledged results are resent.

Chain calls are blocking (web3): they run in worker threads; transactions one at a time (one
nonce sequence), reads alongside them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from gcx.chain import Chain, ChainError, RpcUnreachable, TransactionFailed
from gcx.errors import GCXError
from gcx.jobs.data import DataClient, DataServer
from gcx.jobs.delivery import (
    MAX_MESSAGE,
    PROTOCOL,
    REPLIES,
    Accept,
    Ack,
    Message,
    Offer,
    Query,
    Refuse,
    Result,
    Status,
    decode,
    encode,
)
from gcx.jobs.spec import job_spec
from gcx.jobs.store import TensorStore
from gcx.p2p import request, serve
from gcx.reference import ReferenceProfile
from gcx.settings import Settings
from gcx.tp.attest import commit_inputs, commit_run
from gcx.tp.backends import Backend, open_backend
from gcx.tp.commit import OpLeaf
from gcx.tp.errors import ProgramError, TensorValueError
from gcx.tp.metering import meter
from gcx.tp.program import Program, decode_program
from gcx.tp.seeded import seeded_tensor

from .faults import execute_ops, faulty_op
from .state import ENDED, TRANSITIONS, DuplicateJob, JobRecord, JobStateError, JobTable

__all__ = [
    "DEADLINE_MARGIN_S",
    "EscrowJob",
    "JobError",
    "JobExecutor",
    "advertised_hours",
    "price_of",
]

log = logging.getLogger("gcx.node.jobs")

DEADLINE_MARGIN_S: Final = 5
"""Seconds an offer's submit deadline must leave beyond the job's reference run time."""
FETCH_ATTEMPTS: Final = 4
MAX_BACKOFF_S: Final = 30.0
#: JobEscrow.State
OPEN, SUBMITTED, CHALLENGED, FINALIZED, REFUNDED = 1, 2, 3, 4, 5
_MICRO: Final = 1_000_000


class JobError(GCXError):
    """A job that cannot be completed (bad input data, a deadline passed, the escrow changed)."""


@dataclass(frozen=True, slots=True)
class EscrowJob:
    """``JobEscrow.getJob``: ``deadline`` is the submit deadline while Open, then the challenge deadline."""

    buyer: str
    state: int
    deadline: int
    challenge_window: int
    provider: str
    amount: int
    result_root: bytes

    @classmethod
    def of(cls, raw: Sequence[Any]) -> EscrowJob:
        buyer, state, deadline, window, _fee, provider, amount, root = raw
        return cls(
            str(buyer), int(state), int(deadline), int(window), str(provider), int(amount), bytes(root)
        )


@dataclass(frozen=True, slots=True)
class _Run:
    root: bytes
    leaves: tuple[OpLeaf, ...]
    tensors: tuple[bytes, ...]
    seconds: float


def price_of(micro_ch: int, price_per_ch: int) -> int:
    """The node's price of ``micro_ch`` in micro-USDC: ``ceil(micro_ch × price_per_ch / 10⁶)``."""
    return -(-micro_ch * price_per_ch // _MICRO)


def advertised_hours(hours: int, pending_micro_ch: int, ch_per_hour: float) -> int:
    """``max(0, hours − ceil(hours of the accepted, unsubmitted jobs))``, a job's hours being its
    CH over the node's CH per hour (1 CH = 1 reference hour when the rate is unknown)."""
    if pending_micro_ch <= 0:
        return hours
    rate = ch_per_hour if ch_per_hour > 0 else 1.0
    return max(0, hours - math.ceil(pending_micro_ch / _MICRO / rate))


def _backoff(delay: float) -> float:
    return min(MAX_BACKOFF_S, delay * 2)


class JobExecutor:
    """Accepts, runs, submits and finalizes this node's jobs.

    ``chain`` is the node's signing chain client (its address is the provider's); ``store`` the
    node's tensor store (``node.job_store``); ``on_change`` is called whenever the set of
    accepted, unsubmitted jobs changes (the daemon re-advertises its hours).
    """

    def __init__(
        self,
        settings: Settings,
        profile: ReferenceProfile,
        table: JobTable,
        store: TensorStore,
        chain: Chain,
        *,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        poll_s: float = 1.0,
    ) -> None:
        if chain.address is None:
            raise ChainError("the job executor needs a chain client with the node's key")
        self.settings, self.profile, self.table, self.store, self.chain = (
            settings,
            profile,
            table,
            store,
            chain,
        )
        self.address: str = chain.address
        self.on_change = on_change
        self.clock = clock
        self.poll_s = poll_s
        self._chain_lock = trio.Lock()
        self._wake = trio.Event()
        self._backend: Backend | None = None
        self._nursery: trio.Nursery | None = None
        self._sending: set[bytes] = set()
        self.host: IHost | None = None
        self.defender: Any = None  # .defend.Defender, when the deployment has the game

    # ------------------------------------------------------------------ wiring

    def register(self, host: IHost) -> None:
        """Serve ``/gcx/job/1`` and ``/gcx/data/1`` from the node's store on ``host`` (with
        ``fault.withhold_data``, reads of this node's results are refused: :meth:`withheld`)."""
        self.host = host
        net = self.settings.network
        serve(
            host,
            PROTOCOL,
            self.handle,
            max_size=MAX_MESSAGE,
            timeout_s=net.request_timeout_s,
            max_concurrent=16,
        )
        if not self.settings.fault.withhold_data:
            DataServer(self.store).register(host)
            return
        log.warning("fault.withhold_data: refusing reads of this node's results")
        DataServer(self.store, withhold=self.withheld).register(host)

    def withheld(self, root: bytes) -> bool:
        """Whether ``root`` is one of this node's results or op outputs (``fault.withhold_data``)."""
        root = bytes(root)
        for rec in self.table.jobs():
            n_in = len(rec.offer.inputs)
            if root == rec.result_root or root in rec.tensors[n_in:]:
                return True
        return False

    def pending_micro_ch(self) -> int:
        """Metered micro-CH of the accepted, unsubmitted jobs."""
        return sum(r.micro_ch for r in self.table.unsubmitted())

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def run(self, host: IHost, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Resume the table's jobs and run the worker and the finalizer until cancelled."""
        self.host = host
        for rec in self.table.jobs({"fetching", "running"}):
            log.info("job 0x%s was %s when the node stopped: running it again", rec.job_id.hex(), rec.state)
            self.table.move(rec.job_id, "queued")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for rec in self.table.jobs({"submitted", "finalized"}):
                if not rec.acked:
                    self._start_sender(rec.job_id)
            nursery.start_soon(self._worker)
            nursery.start_soon(self._finalizer)
            if self.chain.deployment.has("VerificationGame"):
                from gcx.game.journal import DisputeJournal

                from .defend import Defender

                self.defender = Defender(
                    self, DisputeJournal(self.table.path.parent / "disputes.sqlite"), poll_s=self.poll_s
                )
                await nursery.start(self.defender.run)
            task_status.started()

    # ------------------------------------------------------------------ chain

    async def _chain_read(self, fn: Callable[[], Any]) -> Any:
        """A view call in a worker thread (reads never wait for a transaction in flight)."""
        return await trio.to_thread.run_sync(fn)

    async def _chain_tx(self, fn: Callable[[], Any]) -> Any:
        """A transaction in a worker thread, one at a time (the account's nonces are sequential)."""
        async with self._chain_lock:
            return await trio.to_thread.run_sync(fn)

    async def escrow(self, job_id: bytes) -> EscrowJob:
        """The escrow's view of ``job_id``."""
        return EscrowJob.of(await self._chain_read(lambda: self.chain.call("JobEscrow", "getJob", job_id)))

    async def _committed_spec(self, job_id: bytes) -> bytes | None:
        """``JobSpecs.specOf(job_id)`` (zero bytes: none committed); ``None`` when the deployment
        predates JobSpecs (nothing to check)."""
        if not self.chain.deployment.has("JobSpecs"):
            return None
        return bytes(await self._chain_read(lambda: self.chain.call("JobSpecs", "specOf", job_id)))

    # ------------------------------------------------------------------ /gcx/job/1

    async def handle(self, peer: ID, data: bytes) -> bytes:
        """Answer one ``/gcx/job/1`` request (an ``Offer`` or a ``Query``)."""
        msg = decode(data, (Offer, Query))
        reply: Message
        if isinstance(msg, Query):
            reply = self.status(msg.job_id)
        else:
            assert isinstance(msg, Offer)
            reply = await self.consider(peer.to_base58(), msg, bytes(data))
            if isinstance(reply, Refuse):
                log.info(
                    "refused job 0x%s from %s: %s (%s)", msg.job_id.hex(), peer, reply.code, reply.message
                )
            else:
                log.info("accepted job 0x%s from %s", msg.job_id.hex(), peer)
        return encode(reply)

    def status(self, job_id: bytes) -> Status:
        """The node's view of ``job_id`` (``unknown`` if it does not hold it)."""
        rec = self.table.get(job_id)
        if rec is None:
            return Status(job_id, "unknown", None, None)
        detail = None if rec.error is None else rec.error[:512]
        return Status(job_id, rec.state, detail, rec.result_root)

    async def consider(self, peer: str, offer: Offer, offer_bytes: bytes) -> Accept | Refuse:
        """Check ``offer`` (its canonical bytes ``offer_bytes``, sent by ``peer``); accept it into
        the queue or say why not."""
        jid = offer.job_id

        def refuse(code: str, message: str) -> Refuse:
            return Refuse(jid, code, message[:512])

        if self.table.get(jid) is not None:
            return refuse("duplicate", "this job is already accepted")
        try:
            program = decode_program(offer.program)
        except (ProgramError, GCXError) as exc:
            return refuse("bad_program", f"the program does not decode: {exc}")
        names = [i.name for i in offer.inputs]
        if names != [d.name for d in program.inputs]:
            return refuse("bad_program", f"the offer's inputs {names} are not the program's")
        for given, decl in zip(offer.inputs, program.inputs, strict=True):
            if given.root is not None and decl.root is not None and given.root != decl.root:
                return refuse("bad_program", f"input {decl.name!r}'s root is not the one the program commits")
        try:
            micro_ch = meter(program, self.profile).micro_ch
        except GCXError as exc:
            return refuse("internal", f"cannot meter the program: {exc}")
        if micro_ch != offer.micro_ch:
            log.warning(
                "job 0x%s: offered as %d micro-CH, metered here as %d", jid.hex(), offer.micro_ch, micro_ch
            )
        max_jobs = self.settings.node.max_jobs
        if len(self.table.unsubmitted()) >= max_jobs:
            return refuse("busy", f"{max_jobs} jobs are queued or running")
        try:
            job = await self.escrow(jid)
            active = bool(
                await self._chain_read(
                    lambda: self.chain.call("StakingRegistry", "isActive", self.address, 0)
                )
            )
            committed = await self._committed_spec(jid)
        except GCXError as exc:
            return refuse("internal", f"cannot read the chain: {exc}")
        if job.state != OPEN or job.provider.lower() != self.address.lower():
            return refuse("unknown_job", f"the escrow shows no open job 0x{jid.hex()} for {self.address}")
        for what, ours, theirs in (
            ("buyer", offer.buyer.lower(), job.buyer.lower()),
            ("amount", offer.amount, job.amount),
            ("submit_deadline", offer.submit_deadline, job.deadline),
            ("challenge_window", offer.challenge_window, job.challenge_window),
        ):
            if ours != theirs:
                return refuse("terms", f"the offer's {what} is {ours}, the escrow's {theirs}")
        if committed is not None and committed != (spec := job_spec(program).hash):
            # The verification game holds the provider to the committed spec: running another
            # program's job would lose every dispute on it, however honest the result.
            what = "no spec" if committed == bytes(32) else f"spec 0x{committed.hex()}"
            return refuse(
                "bad_spec", f"JobSpecs holds {what} for the job, the program's spec is 0x{spec.hex()}"
            )
        if not active:
            return refuse("not_staked", f"{self.address}'s provider stake is not active")
        price = price_of(micro_ch, self.settings.node.price_per_ch)
        if job.amount < price:
            return refuse(
                "underpaid", f"{job.amount} micro-USDC for {micro_ch} micro-CH; the price is {price}"
            )
        needed = math.ceil(micro_ch * 3600 / _MICRO) + DEADLINE_MARGIN_S
        now = int(self.clock())
        if now + needed > offer.submit_deadline:
            return refuse(
                "deadline", f"the job needs {needed} s, the deadline is {offer.submit_deadline - now} s away"
            )
        try:
            self.table.add(offer_bytes, peer, micro_ch, max_unsubmitted=max_jobs)
        except DuplicateJob:
            return refuse("duplicate", "this job is already accepted")
        except JobStateError as exc:
            return refuse("busy", str(exc))
        self._changed()
        self._wake.set()
        return Accept(jid)

    # ------------------------------------------------------------------ worker

    async def _worker(self) -> None:
        while True:
            self._wake = trio.Event()
            rec = self.table.next_queued()
            if rec is None:
                await self._wake.wait()
                continue
            await self._process(rec)

    def _fail(self, rec: JobRecord, why: str, state: str = "failed") -> None:
        log.warning("job 0x%s %s: %s", rec.job_id.hex(), state, why)
        current = self.table.get(rec.job_id)
        if current is not None and state in TRANSITIONS[current.state]:
            self.table.move(rec.job_id, state, error=why)
        self._changed()

    async def _process(self, rec: JobRecord) -> None:
        jid, offer = rec.job_id, rec.offer
        try:
            program = decode_program(offer.program)
            job = await self._escrow_until(jid, offer.submit_deadline)
            if job.state == REFUNDED:
                self._fail(rec, "the escrow refunded the buyer", "refunded")
                return
            if job.state not in (OPEN, SUBMITTED):
                raise JobError(f"the escrow shows the job in state {job.state}")
            if job.state == OPEN and self.clock() > offer.submit_deadline:
                raise JobError("the submit deadline passed before the job ran")
            self.table.move(jid, "fetching")
            values = await self._inputs(rec, program)
            self.table.move(jid, "running")
            run = await trio.to_thread.run_sync(self._execute, jid, program, values, abandon_on_cancel=True)  # type: ignore[call-arg]  # mypy and TypeVarTuple
            self.table.set_tensors(jid, run.tensors)
            slow = self.settings.fault.slow_factor
            if slow > 1.0:
                await trio.sleep((slow - 1.0) * run.seconds)
            tx, challenge_deadline = await self._submit(jid, run.root, offer.submit_deadline)
        except GCXError as exc:
            self._fail(rec, str(exc))
            return
        except Exception as exc:  # one broken job must not take the node down
            log.exception("job 0x%s: unexpected error", jid.hex())
            self._fail(rec, f"internal error: {type(exc).__name__}: {exc}")
            return
        self.table.move(
            jid,
            "submitted",
            result_root=run.root,
            leaves=run.leaves,
            tx=tx,
            challenge_deadline=challenge_deadline,
        )
        log.info("job 0x%s submitted: result root 0x%s (tx 0x%s)", jid.hex(), run.root.hex(), tx.hex())
        self._changed()
        self._start_sender(jid)

    async def _escrow_until(self, job_id: bytes, deadline: int) -> EscrowJob:
        """The escrow's view, retried with backoff while the RPC is unreachable (until ``deadline``)."""
        delay = 1.0
        while True:
            try:
                return await self.escrow(job_id)
            except RpcUnreachable as exc:
                if self.clock() > deadline:
                    raise
                log.warning("cannot read job 0x%s (%s); retrying in %.0f s", job_id.hex(), exc, delay)
                await trio.sleep(delay)
                delay = _backoff(delay)

    async def _inputs(self, rec: JobRecord, program: Program) -> dict[str, np.ndarray]:
        """Every input's value: seeded ones generated, data ones fetched (verified) from the source."""
        offer = rec.offer
        source = offer.source or rec.peer
        assert self.host is not None
        client = DataClient(self.host, timeout_s=self.settings.network.request_timeout_s)
        values: dict[str, np.ndarray] = {}
        for tid, (given, decl) in enumerate(zip(offer.inputs, program.inputs, strict=True)):
            if given.root is None:
                assert given.seed is not None
                values[decl.name] = seeded_tensor(given.seed, tid, decl.type)
                continue
            if self.store.has(given.root):
                values[decl.name] = await trio.to_thread.run_sync(self.store.load, given.root)
                continue
            delay = 1.0
            for attempt in range(FETCH_ATTEMPTS):
                try:
                    array, commitment = await client.fetch_committed(source, given.root)
                    break
                except GCXError as exc:
                    if attempt == FETCH_ATTEMPTS - 1:
                        raise JobError(f"cannot fetch input {decl.name!r} from {source}: {exc}") from None
                    log.info("fetching input %r failed (%s); retrying in %.0f s", decl.name, exc, delay)
                    await trio.sleep(delay)
                    delay = _backoff(delay)
            if commitment.header.tensor_id != tid:
                raise JobError(
                    f"input {decl.name!r}'s tensor is tensor {commitment.header.tensor_id}, not {tid}"
                )
            await trio.to_thread.run_sync(
                lambda a=array, c=commitment, t=tid: self.store.put(t, a, commitment=c)
            )
            values[decl.name] = np.ascontiguousarray(array)
        return values

    def _open_backend(self) -> Backend:
        if self._backend is None:
            self._backend = open_backend(self.settings.node.backend)
        return self._backend

    def _execute(self, job_id: bytes, program: Program, values: dict[str, np.ndarray]) -> _Run:
        """Commit the inputs (checked against the program's roots), run, commit, store (worker thread)."""
        backend = self._open_backend()
        try:
            inputs = commit_inputs(program, values, backend.commit)
        except TensorValueError as exc:
            raise JobError(f"bad input: {exc}") from None
        bad = faulty_op(job_id, len(program.ops), self.settings.fault)
        if bad is not None:
            log.warning("fault: corrupting op %d of job 0x%s", bad, job_id.hex())
        t0 = time.perf_counter()
        execution = execute_ops(program, values, backend, bad)
        seconds = time.perf_counter() - t0
        commitment = commit_run(program, execution, inputs, backend.commit)
        roots = tuple(
            self.store.put(c.header.tensor_id, value, commitment=c)
            for value, c in zip(execution.tensors, commitment.tensors, strict=True)
        )
        leaves = commitment.result.leaves
        root = self.store.put_result(program.digest, leaves)
        if root != commitment.root:
            raise JobError("the store's result root differs from the run's")
        return _Run(root, tuple(leaves), roots, seconds)

    async def _submit(self, job_id: bytes, root: bytes, deadline: int) -> tuple[bytes, int]:
        """``submitResult`` (or adopt the node's own earlier submission); ``(tx, challenge deadline)``.

        A transient failure (the RPC unreachable, a transaction whose fate is unknown) is retried
        with backoff until the submit deadline, re-reading the escrow first each time, so a
        transaction that did go through is adopted rather than sent again."""
        delay = 1.0
        while True:
            try:
                job = await self.escrow(job_id)
                if job.state == OPEN:
                    receipt = await self._chain_tx(
                        lambda: self.chain.transact("JobEscrow", "submitResult", job_id, root)
                    )
                    tx = bytes(receipt["transactionHash"])
                    job = await self.escrow(job_id)
                    return tx, job.deadline
                if job.state in (SUBMITTED, CHALLENGED, FINALIZED) and job.result_root == root:
                    log.info("job 0x%s was already submitted with this root (before a restart)", job_id.hex())
                    return await self._submitted_tx(job_id), job.deadline
                raise JobError(f"the escrow shows state {job.state} with root 0x{job.result_root.hex()}")
            except (JobError, TransactionFailed) as exc:
                raise JobError(f"cannot submit: {exc}") from None
            except Exception as exc:  # RpcUnreachable, or web3/requests failing mid-transaction
                if self.clock() > deadline:
                    raise JobError(f"cannot submit before the deadline: {exc}") from None
                log.warning("submitting job 0x%s failed (%s); retrying in %.0f s", job_id.hex(), exc, delay)
                await trio.sleep(delay)
                delay = _backoff(delay)

    async def _submitted_tx(self, job_id: bytes) -> bytes:
        start = self.chain.deployment.block
        logs = await self._chain_read(lambda: self.chain.events("JobEscrow", "ResultSubmitted", start))
        for entry in logs:
            if bytes(entry["args"]["jobId"]) == job_id:
                return bytes(entry["transactionHash"])
        raise JobError("the escrow shows the job submitted but no ResultSubmitted event was found")

    # ------------------------------------------------------------------ Result → coordinator

    def _start_sender(self, job_id: bytes) -> None:
        if self._nursery is not None and job_id not in self._sending:
            self._sending.add(job_id)
            self._nursery.start_soon(self._send_result, job_id)

    async def _send_result(self, job_id: bytes) -> None:
        """Send the job's ``Result`` to the coordinator until it answers ``Ack``."""
        assert self.host is not None
        delay = 1.0
        try:
            while True:
                rec = self.table.get(job_id)
                if rec is None or rec.acked or rec.result_root is None or rec.purged is not None:
                    return
                assert rec.leaves is not None and rec.tx is not None
                msg = Result(job_id, rec.result_root, rec.leaves, rec.tx)
                try:
                    body = await request(
                        self.host, rec.peer, PROTOCOL, encode(msg),
                        timeout_s=self.settings.network.request_timeout_s, max_size=MAX_MESSAGE,
                    )  # fmt: skip
                    ack = decode(body, REPLIES[Result])
                    assert isinstance(ack, Ack)
                    if ack.job_id != job_id:
                        raise JobError("an Ack for another job")
                except GCXError as exc:
                    log.info(
                        "Result of job 0x%s not delivered (%s); retrying in %.0f s", job_id.hex(), exc, delay
                    )
                    await trio.sleep(delay)
                    delay = _backoff(delay)
                    continue
                if ack.accepted:
                    log.info("coordinator acknowledged the result of job 0x%s", job_id.hex())
                else:
                    log.warning(
                        "coordinator did not accept the result of job 0x%s: %s", job_id.hex(), ack.reason
                    )
                self.table.mark_acked(job_id)
                return
        finally:
            self._sending.discard(job_id)

    # ------------------------------------------------------------------ finalize, retention

    async def _finalizer(self) -> None:
        while True:
            now = self.clock()
            for rec in self.table.jobs({"submitted"}):
                if rec.challenge_deadline is not None and now >= rec.challenge_deadline:
                    await self._finalize(rec)
            self._purge(now)
            await trio.sleep(self.poll_s)

    async def _finalize(self, rec: JobRecord) -> None:
        jid = rec.job_id
        try:
            await self._chain_tx(lambda: self.chain.transact("JobEscrow", "finalize", jid))
        except TransactionFailed as exc:
            if exc.reason == "ChallengeWindowOpen":
                log.debug("job 0x%s: the chain's clock is not past the challenge deadline yet", jid.hex())
                return  # next time
            try:
                job = await self.escrow(jid)
            except GCXError as read:
                log.warning("cannot finalize job 0x%s: %s (%s)", jid.hex(), exc, read)
                return
            if job.state == FINALIZED:
                log.info("job 0x%s was already finalized", jid.hex())
            elif job.state == REFUNDED:
                self.table.move(jid, "refunded", error="refunded after a challenge")
                return
            elif job.state == CHALLENGED:
                await self._settle(jid)
                return
            else:
                log.warning("cannot finalize job 0x%s (state %d): %s", jid.hex(), job.state, exc)
                return
        except Exception as exc:  # RpcUnreachable, web3/requests failures: next time
            log.warning("cannot finalize job 0x%s: %s", jid.hex(), exc)
            return
        self.table.move(jid, "finalized")
        log.info("job 0x%s finalized: paid", jid.hex())

    async def _settle(self, jid: bytes) -> None:
        """A disputed job past its window: the game pays it once its last dispute ended in our
        favour (``VerificationGame.settle``; anyone may, and the last dispute's end does it when
        the window had closed already). Until then, or after a lost dispute, nothing to do here."""
        if self.defender is None:
            return
        game = self.defender.game
        state = await self._chain_read(lambda: game.job_game(jid))
        if state.live:
            log.debug("job 0x%s: %d dispute(s) still open", jid.hex(), state.live)
            return
        try:
            sent = await self._chain_tx(lambda: game.settle(jid))
        except GCXError as exc:
            log.info("job 0x%s: not settled yet: %s", jid.hex(), exc)
            return
        log.info("job 0x%s: disputes won, settled through the game (%d gas)", jid.hex(), sent.gas_used)

    def _purge(self, now: float) -> None:
        """Delete the tensors and result of jobs ended ``node.job_retention_s`` ago (a tensor
        another kept job also uses stays)."""
        retention = self.settings.node.job_retention_s
        jobs = self.table.jobs()
        due = [r for r in jobs if r.state in ENDED and r.purged is None and (r.ended or 0) + retention <= now]
        if not due:
            return
        gone = {r.job_id for r in due}
        kept = [r for r in jobs if r.purged is None and r.job_id not in gone]
        used = {t for r in kept for t in r.tensors}
        for rec in due:
            for root in rec.tensors:
                if root not in used:
                    self.store.delete(root)
            if rec.result_root is not None and all(r.result_root != rec.result_root for r in kept):
                self.store.delete_result(rec.result_root)
            self.table.mark_purged(rec.job_id)
            log.info(
                "job 0x%s: tensors deleted (%s %d s ago)",
                rec.job_id.hex(),
                rec.state,
                int(now - (rec.ended or 0)),
            )
