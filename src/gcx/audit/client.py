"""The verifier's side of ``/gcx/audit/1``: :func:`run_audit`.

One audit is two request/response exchanges on fresh streams: the signed challenge, answered by
the signed block roots (timed on the verifier's clock, which is the one that counts), then the
opening of rows drawn from a CSPRNG only after the roots have arrived. Every way the provider can
fail ends in an :class:`~gcx.audit.core.AuditRecord` with its verdict and evidence; only the
verifier's own mistakes (a key that is not its host's, a bad configuration) raise.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from gcx.errors import WireError
from gcx.p2p import P2PError, RequestTimeout, address_of_peer, parse_peer_id, peer_id_of, request

from .core import (
    MAX_FRAME,
    PROTOCOL,
    AnswerRejected,
    AuditConfig,
    AuditError,
    AuditRecord,
    OpenRequest,
    RowCheck,
    Verdict,
    check_answer,
    check_opening,
    decode_opening,
    make_challenge,
    open_timeout_s,
    pick_rows,
)


async def run_audit(
    host: IHost,
    peer: ID | str,
    claimed_ops_per_s: float,
    config: AuditConfig | None = None,
    *,
    private_key: bytes,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> AuditRecord:
    """Audit ``peer``'s claimed int8 GEMM rate and return the record (never raises for the
    provider's failures). ``private_key`` must be ``host``'s key: the challenge is signed with it
    and the provider checks that it is the stream's peer. ``rng`` defaults to
    :class:`random.SystemRandom` (seed, nonce and rows must be unpredictable to the provider)."""
    config = config or AuditConfig()
    rng = rng or secrets.SystemRandom()
    provider_peer = parse_peer_id(peer)
    if peer_id_of(private_key) != host.get_id():
        raise AuditError("the audit key is not the host's key: the provider would refuse the challenge")
    challenge = make_challenge(
        private_key,
        verifier_peer=str(host.get_id()),
        provider_peer=str(provider_peer),
        provider=address_of_peer(provider_peer),
        claimed_ops_per_s=claimed_ops_per_s,
        config=config,
        now_ms=int(wall() * 1000),
        rng=rng,
    )
    started_ms = challenge.issued_at_ms
    encoded = challenge.encode()

    def record(
        verdict: Verdict,
        detail: str,
        *,
        answer: bytes = b"",
        rows: tuple[RowCheck, ...] = (),
        elapsed_ms: int = -1,
        open_ms: int = -1,
    ) -> AuditRecord:
        return AuditRecord(verdict, encoded, answer, rows, elapsed_ms, open_ms, started_ms, detail)

    t0 = clock()
    try:
        raw = await request(
            host,
            provider_peer,
            PROTOCOL,
            encoded,
            timeout_s=challenge.deadline_s + config.grace_s,
            max_size=MAX_FRAME,
        )
    except RequestTimeout:
        return record(Verdict.LATE, f"no answer within the deadline {challenge.deadline_s:.3f} s + grace")
    except P2PError as exc:
        return record(Verdict.NO_ANSWER, f"challenge: {type(exc).__name__}: {exc}")
    elapsed = clock() - t0
    elapsed_ms = round(elapsed * 1000)
    try:
        answer = check_answer(challenge, raw)
    except AnswerRejected as exc:
        return record(exc.verdict, str(exc), answer=raw[:MAX_FRAME], elapsed_ms=elapsed_ms)
    if elapsed > challenge.deadline_s:
        return record(
            Verdict.LATE,
            f"root after {elapsed:.3f} s, deadline {challenge.deadline_s:.3f} s",
            answer=raw,
            elapsed_ms=elapsed_ms,
        )
    rows = pick_rows(challenge.shape, config.rows_to_open, rng)
    t1 = clock()
    try:
        opened = await request(
            host,
            provider_peer,
            PROTOCOL,
            OpenRequest(challenge.id, rows).encode(),
            timeout_s=open_timeout_s(challenge, len(rows), config),
            max_size=MAX_FRAME,
        )
    except P2PError as exc:
        return record(
            Verdict.NO_ANSWER, f"opening: {type(exc).__name__}: {exc}", answer=raw, elapsed_ms=elapsed_ms
        )
    open_ms = round((clock() - t1) * 1000)
    try:
        opening = decode_opening(opened)
        if opening.challenge != challenge.id:
            raise WireError("the opening is for another challenge")
    except WireError as exc:
        checks = tuple(RowCheck(r, False, f"malformed opening: {exc}") for r in rows)
        return record(
            Verdict.BAD_PROOF, str(exc), answer=raw, rows=checks, elapsed_ms=elapsed_ms, open_ms=open_ms
        )
    verdict, checks = await trio.to_thread.run_sync(check_opening, challenge, answer, rows, opening.proofs)
    failed = [c for c in checks if not c.ok]
    detail = (
        f"{len(checks)} rows opened and checked in {elapsed:.3f} s (deadline {challenge.deadline_s:.3f} s)"
        if not failed
        else f"row {failed[0].row}: {failed[0].problem} ({len(failed)} of {len(checks)} rows failed)"
    )
    return record(verdict, detail, answer=raw, rows=checks, elapsed_ms=elapsed_ms, open_ms=open_ms)
