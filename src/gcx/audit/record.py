"""Capacity audits' verdicts: checking an answer and an opening, and the audit record the
registry keeps, whose evidence a third party can re-check (:func:`recheck`). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np

from gcx import signing, wire
from gcx.errors import SchemaError, SignatureError, WireError
from gcx.tp.commit import (
    HASH_SIZE,
    ProofError,
    RowProof,
    TensorHeader,
    decode_row_proof,
    row_leaf,
    verify_row,
)

from .messages import MAX_FRAME, Answer, Challenge, _check_map, decode_answer, decode_challenge
from .seeded import expected_rows, seeded_b
from .sizing import MAX_OPEN_ROWS, AuditError

RECORD_TYPE: Final = "gcx.audit.record"


class Verdict(StrEnum):
    """How an audit ended. Everything but ``passed`` is a failure of the provider."""

    PASSED = "passed"
    LATE = "late"
    """No answer by the deadline (the verifier's clock), or one after it."""
    WRONG_ROOT_FORMAT = "wrong_root_format"
    """The answer is not a well-formed answer to this challenge (bytes, block count)."""
    BAD_SIGNATURE = "bad_signature"
    """The answer is not signed by the provider, or signs another challenge (a replay)."""
    WRONG_ROW = "wrong_row"
    """An opened row proves against the signed root but is not the product's row."""
    BAD_PROOF = "bad_proof"
    """An opened row's proof is malformed, for another position, or does not reach the root."""
    NO_ANSWER = "no_answer"
    """The provider refused the challenge or the opening, or the stream failed."""


class AnswerRejected(AuditError):  # noqa: N818 - a verdict, not a crash
    """An answer that fails :func:`check_answer`: ``verdict`` says how."""

    exit_code = 1

    def __init__(self, verdict: Verdict, message: str) -> None:
        super().__init__(message)
        self.verdict = verdict


def check_answer(challenge: Challenge, data: bytes) -> Answer:
    """The provider's answer to ``challenge`` if ``data`` is one, signed by ``challenge.provider``
    and naming this challenge; :class:`AnswerRejected` otherwise."""
    try:
        answer = decode_answer(data)
    except WireError as exc:
        raise AnswerRejected(Verdict.WRONG_ROOT_FORMAT, f"malformed answer: {exc}") from None
    if len(answer.roots) != challenge.shape.blocks:
        raise AnswerRejected(
            Verdict.WRONG_ROOT_FORMAT, f"{len(answer.roots)} roots for {challenge.shape.blocks} blocks"
        )
    if answer.challenge != challenge.id:
        raise AnswerRejected(Verdict.BAD_SIGNATURE, "the answer is for another challenge (replayed)")
    if answer.provider.lower() != challenge.provider.lower():
        raise AnswerRejected(Verdict.BAD_SIGNATURE, f"the answer names {answer.provider}, not the provider")
    try:
        signing.verify(answer.body(), challenge.provider)
    except SignatureError as exc:
        raise AnswerRejected(Verdict.BAD_SIGNATURE, f"answer signature: {exc}") from None
    return answer


@dataclass(frozen=True, slots=True)
class RowCheck:
    """What the verifier found for one opened row. ``expected``/``got`` are row-leaf digests
    (``row_leaf(header, local row, bytes)``) of the recomputed and of the opened row; ``proof``
    is kept (encoded) for failures only, so the evidence stands on its own."""

    row: int
    ok: bool
    problem: str = ""
    expected: bytes = b""
    got: bytes = b""
    proof: bytes = b""


def check_opening(
    challenge: Challenge,
    answer: Answer,
    rows: Sequence[int],
    proofs: Sequence[bytes],
    b: np.ndarray | None = None,
) -> tuple[Verdict, tuple[RowCheck, ...]]:
    """Check an opening of ``rows``: each proof must decode, be for its block's header and row,
    reach the signed root, and hold exactly the recomputed row. ``wrong_row`` (strongest
    evidence: a signed root and a valid proof of a wrong row) wins over ``bad_proof``.
    ``b`` is the seeded ``B``, generated here when not given."""
    shape = challenge.shape
    if len(proofs) != len(rows):
        return Verdict.BAD_PROOF, tuple(
            RowCheck(r, False, f"{len(proofs)} proofs for {len(rows)} rows") for r in rows
        )
    if b is None:
        b = seeded_b(challenge.seed, shape)
    checks: dict[int, RowCheck] = {}
    valid: list[tuple[int, int, TensorHeader, RowProof, bytes]] = []
    for i, (row, raw) in enumerate(zip(rows, proofs, strict=True)):
        block, local = shape.locate(row)
        header = shape.block_header(block)
        try:
            proof = decode_row_proof(raw)
        except ProofError as exc:
            checks[i] = RowCheck(row, False, f"malformed proof: {exc}", proof=bytes(raw[:4096]))
            continue
        if proof.header != header or proof.index != local:
            checks[i] = RowCheck(row, False, "proof for another tensor or row", proof=bytes(raw))
        elif not verify_row(answer.roots[block], proof):
            checks[i] = RowCheck(row, False, "proof does not reach the signed root", proof=bytes(raw))
        else:
            valid.append((i, row, header, proof, bytes(raw)))
    wants = expected_rows(challenge.seed, shape, [v[1] for v in valid], b)
    for (i, row, header, proof, raw), want in zip(valid, wants, strict=True):
        local = proof.index
        got_leaf = row_leaf(header, local, proof.row)
        if proof.row != want:
            checks[i] = RowCheck(row, False, "wrong row", row_leaf(header, local, want), got_leaf, raw)
        else:
            checks[i] = RowCheck(row, True, expected=got_leaf, got=got_leaf)
    ordered = tuple(checks[i] for i in range(len(rows)))
    if any(c.problem == "wrong row" for c in ordered):
        return Verdict.WRONG_ROW, ordered
    if not all(c.ok for c in ordered):
        return Verdict.BAD_PROOF, ordered
    return Verdict.PASSED, ordered


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit's outcome and evidence, for the registry (``gcx.audit.record`` v1).

    ``challenge`` and ``answer`` are the signed messages' canonical bytes (``answer`` empty when
    none came); ``rows`` the opened rows' checks; ``elapsed_ms`` the root's arrival after the
    challenge was sent, on the verifier's clock (-1: none came); ``open_ms`` the opening's round
    trip (-1: none); ``started_at_ms`` the verifier's wall clock; ``detail`` a human reason.
    """

    verdict: Verdict
    challenge: bytes
    answer: bytes
    rows: tuple[RowCheck, ...]
    elapsed_ms: int
    open_ms: int
    started_at_ms: int
    detail: str = ""
    _decoded: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        """Whether the provider passed."""
        return self.verdict is Verdict.PASSED

    def decoded_challenge(self) -> Challenge:
        """The challenge (decoded once)."""
        if "c" not in self._decoded:
            self._decoded["c"] = decode_challenge(self.challenge)
        out: Challenge = self._decoded["c"]
        return out

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: what ``GET /v1/providers/{peer}`` and ``--json`` show."""
        c = self.decoded_challenge()
        failed = [r for r in self.rows if not r.ok]
        return {
            "verdict": str(self.verdict),
            "passed": self.passed,
            "challenge_id": "0x" + c.id.hex(),
            "verifier": c.verifier,
            "provider": c.provider,
            "provider_peer": c.provider_peer,
            "claimed_ops_per_s": c.claimed_ops_per_s,
            "shape": {"m": c.shape.m, "blocks": c.shape.blocks, "n": c.shape.n, "k": c.shape.k},
            "ops": c.shape.ops,
            "deadline_ms": c.deadline_ms,
            "elapsed_ms": self.elapsed_ms,
            "open_ms": self.open_ms,
            "rows_opened": len(self.rows),
            "rows_failed": [
                {
                    "row": r.row,
                    "problem": r.problem,
                    "expected": "0x" + r.expected.hex(),
                    "got": "0x" + r.got.hex(),
                }
                for r in failed[:8]
            ],
            "started_at_ms": self.started_at_ms,
            "detail": self.detail,
        }

    def body(self) -> dict[str, Any]:
        """The record as a msgpack map."""
        return {
            "type": RECORD_TYPE,
            "v": 1,
            "verdict": str(self.verdict),
            "challenge": self.challenge,
            "answer": self.answer,
            "rows": [[r.row, r.ok, r.problem, r.expected, r.got, r.proof] for r in self.rows],
            "elapsed_ms": self.elapsed_ms,
            "open_ms": self.open_ms,
            "started_at_ms": self.started_at_ms,
            "detail": self.detail,
        }

    def encode(self) -> bytes:
        """Canonical msgpack of :meth:`body` (what the registry stores)."""
        return wire.canonical_bytes(self.body())


_RECORD_KEYS = frozenset(
    {
        "type",
        "v",
        "verdict",
        "challenge",
        "answer",
        "rows",
        "elapsed_ms",
        "open_ms",
        "started_at_ms",
        "detail",
    }
)
MAX_RECORD: Final = 2 * MAX_FRAME


def decode_record(data: bytes) -> AuditRecord:
    """The record ``data`` encodes; :class:`WireError` for anything else."""
    v = _check_map(wire.unpack(data, MAX_RECORD), "audit record", _RECORD_KEYS, RECORD_TYPE)
    try:
        verdict = Verdict(wire.expect_str(v["verdict"], "verdict", 1, 32))
    except ValueError:
        raise SchemaError(f"unknown verdict {v['verdict']!r}") from None
    rows_in = v["rows"]
    if type(rows_in) is not list or len(rows_in) > MAX_OPEN_ROWS:
        raise SchemaError("rows must be a list of at most 256 checks")
    rows = []
    for item in rows_in:
        if type(item) is not list or len(item) != 6 or type(item[1]) is not bool:
            raise SchemaError("a row check is [row, ok, problem, expected, got, proof]")
        rows.append(
            RowCheck(
                wire.expect_int(item[0], "row", 0, 2**63),
                item[1],
                wire.expect_str(item[2], "problem", 0, 4096),
                wire.expect_bytes(item[3], "expected", 0, HASH_SIZE),
                wire.expect_bytes(item[4], "got", 0, HASH_SIZE),
                wire.expect_bytes(item[5], "proof", 0, MAX_FRAME),
            )
        )
    record = AuditRecord(
        verdict,
        wire.expect_bytes(v["challenge"], "challenge", 1, 4096),
        wire.expect_bytes(v["answer"], "answer", 0, MAX_FRAME),
        tuple(rows),
        wire.expect_int(v["elapsed_ms"], "elapsed_ms", -1, 2**63),
        wire.expect_int(v["open_ms"], "open_ms", -1, 2**63),
        wire.expect_int(v["started_at_ms"], "started_at_ms", 0, 2**63),
        wire.expect_str(v["detail"], "detail", 0, 4096),
    )
    try:
        record.decoded_challenge()
    except (WireError, AuditError) as exc:
        raise SchemaError(f"audit record: its challenge: {exc}") from None
    return record


def recheck(record: AuditRecord) -> Verdict | None:
    """Re-derive, from the evidence alone, the verdicts a third party can check without trusting
    the verifier: ``wrong_row`` / ``bad_proof`` (each failed row's proof is re-verified against
    the signed root and the row recomputed) and ``bad_signature`` / ``wrong_root_format``.
    Returns the verdict the evidence proves, or None when it proves no failure (a ``passed``,
    ``late`` or ``no_answer`` record rests on the verifier's clock and word). The challenge's own
    signature is checked first (:class:`SignatureError` if it is not the verifier's)."""
    challenge = record.decoded_challenge()
    challenge.check_signature()
    if not record.answer:
        return None
    try:
        answer = check_answer(challenge, record.answer)
    except AnswerRejected as exc:
        return exc.verdict
    failed = [r for r in record.rows if not r.ok and r.proof]
    if not failed:
        return None
    verdict, _ = check_opening(challenge, answer, [r.row for r in failed], [r.proof for r in failed])
    return None if verdict is Verdict.PASSED else verdict
