"""The provider's side of ``/gcx/audit/1``: :class:`AuditServer`.

A challenge is checked (signed by the stream's peer, addressed to this provider, fresh, never
seen, within this provider's limits) and computed at once, off the trio thread, one audit at a
time: a challenge that arrives while another is being computed is refused with ``busy``. The
answer (the signed block roots) is the response to the challenge request. The result is then
kept until it is opened (once, by the challenger) or expires: whole blocks (backend arrays and
their commitments) while they fit in ``keep_bytes``, only the roots beyond that; an opened block
that was not kept is recomputed for the opening. The GEMM runs on a GCX-TP backend (NumPy or
CuPy; on CuPy the seeded inputs are generated on the device too).

Error codes (``RemoteError.code`` at the verifier): ``bad_request`` (undecodable), ``busy``,
``too_large``, ``wrong_provider``, ``bad_signature``, ``stale``, ``replay``,
``unknown_challenge``, ``not_yours``, ``bad_rows``, ``withheld`` (a fault), ``stopped``,
``rate_limited`` (a challenger within ``min_interval_s`` of its previous accepted challenge:
one peer cannot keep this provider computing; with one challenge in flight at a time, each
challenger has at most one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from gcx import wire
from gcx.errors import GCXError, SignatureError, WireError
from gcx.p2p import RemoteError, Server, address_of_peer, serve
from gcx.tp.backends import Backend, open_backend
from gcx.tp.commit import RowProof, TensorCommitment, commit_tensor

from .core import (
    CHALLENGE_TYPE,
    MAX_FRAME,
    OPEN_TYPE,
    PROTOCOL,
    Challenge,
    ChallengeShape,
    Opening,
    decode_challenge,
    decode_open,
    seeded_rows,
    sign_answer,
)

log = logging.getLogger("gcx.audit")


@dataclass(frozen=True, slots=True)
class AuditFaults:
    """Deliberate misbehaviour, for tests and demos (issue 13, item 6).

    ``wrong_row_fraction``: zero that fraction of each block's rows (every ``1/f``-th row)
    before committing. ``wrong_seed``: compute with another seed. ``withhold``: refuse every
    opening. ``corrupt_proofs``: damage every proof's path. ``slow_factor``: take that many
    times as long (sleeping after the GEMM). ``bad_signature``: sign answers with another key.
    """

    wrong_row_fraction: float = 0.0
    wrong_seed: bool = False
    withhold: bool = False
    corrupt_proofs: bool = False
    slow_factor: float = 1.0
    bad_signature: bool = False


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What a provider accepts: at most ``max_ops`` ops and ``max_deadline_s``; challenges issued
    within ``max_skew_s`` of its clock; results kept ``keep_s`` (at most ``max_pending`` of them,
    whole blocks up to ``keep_bytes`` in all). A computation still running ``give_up_s`` after
    the challenge's deadline is stopped (between blocks): no verifier waits for it any more.
    One challenger has at least ``min_interval_s`` between two accepted challenges (the
    coordinator's audit schedule leaves more: ``AuditPolicy.min_gap_s``)."""

    max_ops: int = 2 * 2**26 * 8192 * 4096
    max_deadline_s: float = 600.0
    max_skew_s: float = 300.0
    keep_s: float = 300.0
    max_pending: int = 4
    keep_bytes: int = 1 << 30
    give_up_s: float = 60.0
    min_interval_s: float = 1.0


class _StoppedError(Exception):
    pass


@dataclass
class _Pending:
    challenge: Challenge
    peer: ID
    roots: list[bytes]
    created: float
    kept: dict[int, tuple[Any, TensorCommitment]] = field(default_factory=dict)
    kept_bytes: int = 0


class AuditServer:
    """Answers capacity audits on ``/gcx/audit/1`` with ``private_key``'s identity (the node key,
    which is also the host's). ``backend`` is a GCX-TP backend or its name (opened at the first
    challenge)."""

    def __init__(
        self,
        private_key: bytes,
        backend: Backend | str = "auto",
        *,
        limits: ServerLimits | None = None,
        faults: AuditFaults | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = private_key
        self._backend_spec = backend
        self._backend: Backend | None = None if isinstance(backend, str) else backend
        self.limits = limits or ServerLimits()
        self.faults = faults or AuditFaults()
        self._clock = clock
        self._busy = threading.Lock()  # held by the thread computing a GEMM
        self._pending: dict[bytes, _Pending] = {}
        self._seen: dict[bytes, float] = {}
        self._last_by_peer: dict[ID, float] = {}  # when each challenger's last challenge was accepted
        self.answered = 0
        self.opened = 0
        self.refused: dict[str, int] = {}
        from eth_account import Account

        self.address: str = Account.from_key(private_key).address

    def register(self, host: IHost) -> Server:
        """Serve ``/gcx/audit/1`` on ``host``."""
        return serve(
            host,
            PROTOCOL,
            self.handle,
            max_size=MAX_FRAME,
            timeout_s=self.limits.max_deadline_s + 60,
            max_concurrent=4,
            max_per_peer=2,
        )

    @property
    def busy(self) -> bool:
        """Whether a GEMM is being computed (possibly for a challenge already given up)."""
        return self._busy.locked()

    async def wait_idle(self, timeout_s: float) -> None:
        """Return once no GEMM runs (a thread of an abandoned challenge may still be finishing)."""
        with trio.fail_after(timeout_s):
            while self._busy.locked():
                await trio.sleep(0.02)

    def _refuse(self, code: str, message: str) -> RemoteError:
        self.refused[code] = self.refused.get(code, 0) + 1
        log.info("audit refused: %s: %s", code, message)
        return RemoteError(code, message)

    async def handle(self, peer: ID, payload: bytes) -> bytes:
        """The ``/gcx/audit/1`` handler: a challenge or an open request."""
        try:
            value = wire.unpack(payload, MAX_FRAME)
            kind = value.get("type") if isinstance(value, dict) else None
            if kind == CHALLENGE_TYPE:
                challenge = decode_challenge(payload)
            elif kind == OPEN_TYPE:
                request = decode_open(payload)
            else:
                raise WireError(f"unknown message type {kind!r}")
        except GCXError as exc:
            raise self._refuse("bad_request", str(exc)) from None
        if kind == CHALLENGE_TYPE:
            return await self._answer(peer, challenge)
        return await self._open(peer, request.challenge, request.rows)

    # ------------------------------------------------------------------ challenge

    def _check(self, peer: ID, ch: Challenge) -> None:
        now = self._clock()
        if ch.provider.lower() != self.address.lower():
            raise self._refuse("wrong_provider", f"the challenge is for {ch.provider}")
        try:
            sender = address_of_peer(peer)
        except GCXError as exc:
            raise self._refuse("bad_signature", str(exc)) from None
        if sender.lower() != ch.verifier.lower() or ch.verifier_peer != str(peer):
            raise self._refuse("bad_signature", "the challenge is not the sender's")
        try:
            ch.check_signature()
        except SignatureError as exc:
            raise self._refuse("bad_signature", str(exc)) from None
        if abs(ch.issued_at_ms / 1000 - now) > self.limits.max_skew_s:
            raise self._refuse("stale", f"issued {ch.issued_at_ms / 1000 - now:+.0f} s from now")
        if ch.shape.ops > self.limits.max_ops or ch.deadline_s > self.limits.max_deadline_s:
            raise self._refuse("too_large", f"{ch.shape.ops} ops within {ch.deadline_s:g} s")
        for cid, seen_at in list(self._seen.items()):
            if seen_at < now - 2 * self.limits.max_skew_s:
                del self._seen[cid]
        if ch.id in self._seen:
            raise self._refuse("replay", "this challenge was already answered")

    def _rate_limit(self, peer: ID) -> None:
        now = self._clock()
        last = self._last_by_peer.get(peer)
        if last is not None and now - last < self.limits.min_interval_s:
            raise self._refuse(
                "rate_limited",
                f"{now - last:.3f} s after your last challenge (at least {self.limits.min_interval_s:g} s)",
            )
        if len(self._last_by_peer) >= 4096:  # bounded: forget challengers outside the interval
            cutoff = now - self.limits.min_interval_s
            self._last_by_peer = {p: t for p, t in self._last_by_peer.items() if t >= cutoff}

    async def _answer(self, peer: ID, ch: Challenge) -> bytes:
        self._check(peer, ch)
        # One challenge in flight at all (so at most one per challenger): ``busy``; then at least
        # ``min_interval_s`` between one challenger's accepted challenges: ``rate_limited``.
        if not self._busy.acquire(blocking=False):
            raise self._refuse("busy", "another audit is being computed")
        try:
            self._rate_limit(peer)
        except RemoteError:
            self._busy.release()
            raise
        self._seen[ch.id] = self._clock()
        self._last_by_peer[peer] = self._clock()
        return await self._compute_answer(peer, ch)

    async def _compute_answer(self, peer: ID, ch: Challenge) -> bytes:
        self._expire()
        budget = self.limits.keep_bytes - sum(p.kept_bytes for p in self._pending.values())
        stop = threading.Event()
        guard = threading.Lock()
        state = {"running": False, "abandoned": False}

        def work() -> _Pending | None:
            with guard:
                if state["abandoned"]:  # cancelled before the thread ran: the lock is released
                    return None
                state["running"] = True
            try:
                return self._compute(ch, peer, stop, budget)
            finally:
                self._busy.release()

        pending: _Pending | None = None
        try:
            with trio.move_on_after(ch.deadline_s + self.limits.give_up_s):
                pending = await trio.to_thread.run_sync(work, abandon_on_cancel=True)  # type: ignore[call-arg]  # mypy and TypeVarTuple
        except _StoppedError:
            raise self._refuse("stopped", "the computation was stopped") from None
        finally:
            stop.set()
            with guard:
                if not state["running"]:
                    state["abandoned"] = True
                    self._busy.release()
        if pending is None:
            raise self._refuse("stopped", f"given up {self.limits.give_up_s:g} s after the deadline")
        self._expire()
        while len(self._pending) >= self.limits.max_pending:
            del self._pending[min(self._pending, key=lambda c: self._pending[c].created)]
        self._pending[ch.id] = pending
        key = self._key
        if self.faults.bad_signature:
            key = bytes(31) + b"\x07"
        self.answered += 1
        return sign_answer(key, ch, pending.roots).encode()

    def _expire(self) -> None:
        now = self._clock()
        for cid in [c for c, p in self._pending.items() if p.created < now - self.limits.keep_s]:
            del self._pending[cid]

    def warm(self) -> None:
        """Open the backend now (blocking: call it in a thread), so that the first challenge does
        not pay for it (CuPy compiles its kernels and checks the device when opened)."""
        self._open_backend()

    def _open_backend(self) -> Backend:
        if self._backend is None:
            assert isinstance(self._backend_spec, str)
            self._backend = open_backend(self._backend_spec)
        return self._backend

    def _seed(self, ch: Challenge) -> int:
        return ch.seed ^ 0x5A5A if self.faults.wrong_seed else ch.seed

    def _xp(self, backend: Backend) -> Any:
        return getattr(backend, "cp", np) if backend.name == "cupy" else np

    def _b(self, backend: Backend, ch: Challenge) -> Any:
        return seeded_rows(self._xp(backend), self._seed(ch), 0, ch.shape.k, 0, ch.shape.n)

    def _block(self, backend: Backend, ch: Challenge, block: int, b: Any) -> tuple[Any, TensorCommitment]:
        shape: ChallengeShape = ch.shape
        a = seeded_rows(self._xp(backend), self._seed(ch), block + 1, shape.k, 0, shape.m)
        c = backend.matmul_nt(a, b)
        frac = self.faults.wrong_row_fraction
        if frac > 0:
            c[:: max(1, round(1 / frac))] = 0
        commit = getattr(backend, "commit", None)
        commitment = commit(block, c) if commit is not None else commit_tensor(block, backend.fetch(c))
        return c, commitment

    def _compute(self, ch: Challenge, peer: ID, stop: threading.Event, budget: int) -> _Pending:
        started = time.monotonic()
        backend = self._open_backend()
        b = self._b(backend, ch)
        pending = _Pending(ch, peer, [], self._clock())
        block_bytes = 4 * ch.shape.m * ch.shape.n
        for j in range(ch.shape.blocks):
            if stop.is_set():
                raise _StoppedError
            c, commitment = self._block(backend, ch, j, b)
            pending.roots.append(commitment.root)
            if pending.kept_bytes + block_bytes <= budget:
                pending.kept[j] = (c, commitment)
                pending.kept_bytes += block_bytes
        if self.faults.slow_factor > 1:
            extra = (time.monotonic() - started) * (self.faults.slow_factor - 1)
            if stop.wait(extra):
                raise _StoppedError
        return pending

    # ------------------------------------------------------------------ opening

    async def _open(self, peer: ID, challenge_id: bytes, rows: tuple[int, ...]) -> bytes:
        self._expire()
        pending = self._pending.get(challenge_id)
        if pending is None:
            raise self._refuse("unknown_challenge", "no result kept for this challenge")
        if pending.peer != peer:
            raise self._refuse("not_yours", "only the challenger opens its audit")
        shape = pending.challenge.shape
        if any(r >= shape.rows for r in rows):
            raise self._refuse("bad_rows", f"rows must be below {shape.rows}")
        del self._pending[challenge_id]  # opened once
        if self.faults.withhold:
            raise self._refuse("withheld", "fault: withholding the opening")
        proofs = await trio.to_thread.run_sync(self._prove, pending, rows, abandon_on_cancel=True)  # type: ignore[call-arg]
        self.opened += 1
        return Opening(challenge_id, proofs).encode()

    def _prove(self, pending: _Pending, rows: tuple[int, ...]) -> tuple[bytes, ...]:
        ch, shape = pending.challenge, pending.challenge.shape
        backend = self._open_backend()
        blocks = dict(pending.kept)
        missing = sorted({r // shape.m for r in rows} - set(blocks))
        if missing:
            with self._busy:
                b = self._b(backend, ch)
                for j in missing:
                    blocks[j] = self._block(backend, ch, j, b)
        out = []
        for r in rows:
            j, local = divmod(r, shape.m)
            c, commitment = blocks[j]
            row = np.ascontiguousarray(backend.fetch(c[local : local + 1]), dtype="<i4").tobytes()
            siblings = commitment.siblings(local)
            if self.faults.corrupt_proofs and siblings:
                first = bytes([siblings[0][0] ^ 1]) + siblings[0][1:]
                siblings = (first, *siblings[1:])
            out.append(RowProof(commitment.header, local, row, siblings).encode())
        return tuple(out)
