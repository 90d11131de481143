"""Verifiers' mismatch reports to the job book (docs/jobs-api.md, ``POST /v1/jobs/{id}/mismatch``).

A report is checked before it counts: its signature recovers to the named verifier, that
verifier is an active verifier in StakingRegistry, the job is submitted (or challenged) with the
result root the evidence names, and the evidence holds when the coordinator re-checks it with the
NumPy backend (:func:`verifier.compare.check_mismatch`). A verifier has one check in flight at a
time and waits :data:`MISMATCH_BACKOFF_S` after evidence that failed, so a flood of bad reports
costs the coordinator little. A report that holds flags the provider in the store.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import trio
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak

from gcx.errors import GCXError
from gcx.tp.jobfile import JobFile

from .core import JobsError
from .store import JobStore

log = logging.getLogger("gcx.coordinator.jobs")

MISMATCH_DOMAIN: Final = b"gcx-mismatch/1"
MISMATCH_BACKOFF_S: Final = 60.0
VERIFIER_ROLE: Final = 2  # StakingRegistry.Role


def hx(b: bytes) -> str:
    """``0x`` + lower-case hex."""
    return "0x" + b.hex()


def mismatch_message(job_id: bytes, evidence: bytes) -> bytes:
    """What a verifier signs (EIP-191 personal_sign) to report a mismatch."""
    return MISMATCH_DOMAIN + job_id + keccak(evidence)


class MismatchDesk:
    """Checks and records mismatch reports for the job book's ``store``; ``chain`` reads the
    verifiers' stakes, ``decode_stored`` gives a stored job's file, ``clock`` unix seconds."""

    def __init__(
        self,
        store: JobStore,
        chain: Any,
        decode_stored: Callable[[str], Awaitable[JobFile]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.chain, self.decode_stored, self.clock = store, chain, decode_stored, clock
        self._checking: set[str] = set()  # verifiers with a check in flight
        self._failed_at: dict[str, float] = {}  # verifier → when its last evidence failed

    async def report(self, job_id: str, evidence_b64: str, verifier: str, signature: str) -> dict[str, Any]:
        """Check a verifier's signed evidence; flag the provider when it holds (docs/jobs-api.md,
        ``POST /v1/jobs/{id}/mismatch``): 404 ``unknown_job``, 422 ``bad_evidence``, 401
        ``bad_signature``, 429 ``rate_limited``, 403 ``not_a_verifier``, 409 ``wrong_state``."""
        from verifier.compare import EvidenceError, decode_mismatch

        key = job_id.lower()
        job = self.store.job(key)
        if job is None:
            raise JobsError(404, "unknown_job", f"no job {job_id}")
        try:
            evidence = base64.b64decode(evidence_b64, validate=True)
            record = decode_mismatch(evidence)
        except (ValueError, EvidenceError) as exc:
            raise JobsError(422, "bad_evidence", f"the evidence does not decode: {exc}") from None
        try:
            sig = bytes.fromhex(signature[2:] if signature.startswith("0x") else signature)
            message = mismatch_message(bytes.fromhex(key[2:]), evidence)
            signer = str(Account.recover_message(encode_defunct(primitive=message), signature=sig))
        except Exception:
            raise JobsError(401, "bad_signature", "the signature does not recover") from None
        if signer.lower() != verifier.lower():
            raise JobsError(401, "bad_signature", f"the signature is by {signer}, not {verifier}")
        who = signer.lower()
        if who in self._checking:
            raise JobsError(429, "rate_limited", "a check of this verifier's evidence is in flight")
        failed = self._failed_at.get(who)
        if failed is not None and self.clock() - failed < MISMATCH_BACKOFF_S:
            raise JobsError(
                429, "rate_limited", f"this verifier's last evidence failed; wait {MISMATCH_BACKOFF_S:g} s"
            )
        self._checking.add(who)  # before the first await: one check per verifier at a time
        try:
            holds = await self._check_evidence(key, signer, record)
        finally:
            self._checking.discard(who)
        if not holds:
            self._failed_at[who] = self.clock()
            raise JobsError(422, "bad_evidence", "the evidence does not hold")
        job = self.store.job(key)
        assert job is not None
        self.store.add_mismatch(job, who, record.op_index, record.row, evidence, int(self.clock()))
        log.warning("job %s: verified mismatch at op %d by %s; provider %s flagged", key, record.op_index, who,
                    job["provider_address"])  # fmt: skip
        return {"accepted": True, "provider_flagged": True}

    async def _check_evidence(self, key: str, signer: str, record: Any) -> bool:
        """Whether ``record`` holds against job ``key``, after the stake and state checks."""
        from gcx.tp.backends import NumpyBackend
        from verifier.compare import check_mismatch

        try:
            active = await trio.to_thread.run_sync(
                self.chain.call, "StakingRegistry", "isActive", signer, VERIFIER_ROLE
            )
        except GCXError as exc:
            raise JobsError(503, "jobs_unavailable", f"cannot read the verifier's stake: {exc}") from None
        if not active:
            raise JobsError(403, "not_a_verifier", f"{signer} is not an active verifier in StakingRegistry")
        job = self.store.job(key)
        assert job is not None
        if job["state"] not in ("submitted", "challenged") or job["result_root"] != hx(record.result_root):
            raise JobsError(
                409, "wrong_state", f"job {key} is {job['state']} with result root {job['result_root']}"
            )
        jobfile = await self.decode_stored(key)

        def check() -> bool:
            try:
                return check_mismatch(jobfile.program, jobfile.values(), NumpyBackend(), record)
            except GCXError:
                return False

        return await trio.to_thread.run_sync(check)
