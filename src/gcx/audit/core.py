"""Capacity audits, the pure core (docs/audits.md), re-exported from its modules.

Theory of operation. A verifier doubts a provider's *claimed* int8 GEMM rate ``R`` (ops/s). It
draws a 64-bit seed from a CSPRNG and asks for ``C = A·Bᵀ`` where ``B`` (int8 ``[n, k]``) is
seeded tensor 0 and ``A`` (int8 ``[M, k]``, ``M = blocks · m``) is cut into ``blocks`` seeded
tensors ``A_j`` (tensor ``j + 1``, ``[m, k]``) so that every tensor stays within GCX-TP's
limits. The work ``2·M·n·k`` ops is sized to take ``target_s`` at ``R`` (:func:`size_challenge`).
The provider answers with the tensor roots of the ``C_j`` (GCX-TP row commitments, tensor id
``j``), signed; the verifier times the answer on its own clock against
``deadline = expected_s · slack + allowance``. Only then does it draw ``r`` distinct rows of the
``M`` from a CSPRNG; the provider opens them with row proofs and the verifier recomputes each
opened row exactly (one ``1×k`` by ``k×n`` product) and checks its proof against the signed root.

Why it binds: the seed is unknown until the challenge arrives (nothing to precompute), the answer
signs the challenge's id (it cannot be replayed for another challenge), and the roots are
committed before the rows are chosen. A provider that computed only a fraction ``f`` of the rows
correctly passes with probability at most ``f^r`` (:func:`pass_probability`).

The core's modules, each pure (no I/O, no clock, no randomness of its own: callers pass ``now``
and an RNG): :mod:`.sizing` (:class:`AuditConfig`, :class:`ChallengeShape`, the cost model,
:func:`size_challenge`, detection odds, deadlines), :mod:`.seeded` (the seeded inputs and the
exact rows of the product), :mod:`.messages` (challenge, answer, open request and opening: codecs
and signing), :mod:`.record` (verdicts, :func:`check_answer`, :func:`check_opening`,
:class:`AuditRecord`, :func:`recheck`). This module re-exports their public names.
"""

from .messages import (
    ANSWER_TYPE,
    CHALLENGE_TYPE,
    MAX_FRAME,
    NONCE_SIZE,
    OPEN_TYPE,
    OPENING_TYPE,
    PROTOCOL,
    Answer,
    Challenge,
    Opening,
    OpenRequest,
    decode_answer,
    decode_challenge,
    decode_open,
    decode_opening,
    make_challenge,
    prove_rows,
    sign_answer,
)
from .record import (
    MAX_RECORD,
    RECORD_TYPE,
    AnswerRejected,
    AuditRecord,
    RowCheck,
    Verdict,
    check_answer,
    check_opening,
    decode_record,
    recheck,
)
from .seeded import (
    expected_rows,
    seeded_b,
    seeded_rows,
)
from .sizing import (
    GEN_COST,
    HASH_COST,
    MAX_BLOCKS,
    MAX_K,
    MAX_OPEN_ROWS,
    MIN_DIM,
    AuditConfig,
    AuditError,
    ChallengeShape,
    claimed_int8_ops_per_s,
    cost_ratio,
    deadline_s,
    open_timeout_s,
    pass_probability,
    pick_rows,
    recompute_cost,
    rows_for_detection,
    size_challenge,
    verifier_cost,
)

__all__ = [
    "ANSWER_TYPE",
    "CHALLENGE_TYPE",
    "GEN_COST",
    "HASH_COST",
    "MAX_BLOCKS",
    "MAX_FRAME",
    "MAX_K",
    "MAX_OPEN_ROWS",
    "MAX_RECORD",
    "MIN_DIM",
    "NONCE_SIZE",
    "OPENING_TYPE",
    "OPEN_TYPE",
    "PROTOCOL",
    "RECORD_TYPE",
    "Answer",
    "AnswerRejected",
    "AuditConfig",
    "AuditError",
    "AuditRecord",
    "Challenge",
    "ChallengeShape",
    "OpenRequest",
    "Opening",
    "RowCheck",
    "Verdict",
    "check_answer",
    "check_opening",
    "claimed_int8_ops_per_s",
    "cost_ratio",
    "deadline_s",
    "decode_answer",
    "decode_challenge",
    "decode_open",
    "decode_opening",
    "decode_record",
    "expected_rows",
    "make_challenge",
    "open_timeout_s",
    "pass_probability",
    "pick_rows",
    "prove_rows",
    "recheck",
    "recompute_cost",
    "rows_for_detection",
    "seeded_b",
    "seeded_rows",
    "sign_answer",
    "size_challenge",
    "verifier_cost",
]
