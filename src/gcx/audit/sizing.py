"""Capacity audits: sizing, cost and timing (docs/audits.md).

A challenge's shape (:class:`ChallengeShape`) is sized from the claimed int8 GEMM rate
(:func:`size_challenge`) under the verifier's :class:`AuditConfig`; the deadlines follow from the
shape and the claim (:func:`deadline_s`, :func:`open_timeout_s`); a provider that computed only a
fraction ``f`` of the rows correctly passes with probability at most ``f^r``
(:func:`pass_probability`).

Cost model (counted in element operations, :func:`verifier_cost`, :func:`recompute_cost`): one
multiply-accumulate, one generated seeded element or one hashed 4-byte word each cost 1. The
verifier generates ``B`` once (``n·k``), and per opened row one row of ``A`` (``k``) and ``n·k``
MACs, and hashes the row and its path; recomputing the GEMM instead costs ``M·n·k`` MACs plus the
``(M + n)·k`` generated inputs (its hashing is not even counted). :func:`size_challenge` makes
``M`` large enough that the ratio is at least ``min_ratio`` (20).

Pure: no I/O, no clock, no randomness of its own (callers pass an RNG).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from gcx.errors import GCXError
from gcx.tp.commit import DType, TensorHeader
from gcx.tp.tensor import MAX_TENSOR_ELEMENTS

if TYPE_CHECKING:
    from .messages import Challenge

MAX_K: Final = 65_536
"""Largest inner dimension: ``|C| ≤ k · 2**14 ≤ 2**30`` stays exact in int32 (GCX-TP's bound)."""
MIN_DIM: Final = 16
"""Smallest ``n`` = ``k`` a challenge uses."""
MAX_BLOCKS: Final = 4096
"""Most blocks (tensor roots in an answer) a challenge may have."""
MAX_OPEN_ROWS: Final = 256
"""Most rows one opening request may name."""


class AuditError(GCXError):
    """A capacity audit cannot be sized, built or decoded (bad configuration or bad bytes)."""

    exit_code = 2


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """How a verifier sizes and times an audit.

    ``target_s``: the GEMM's duration at the claimed rate. ``slack`` and ``allowance_s``: the
    root is due ``expected_s · slack + allowance_s`` after the challenge is sent (the allowance
    covers the network round trip, the seeded inputs' generation and the commitment hashing).
    ``grace_s``: how long after the deadline the verifier still waits, to record a late answer.
    ``rows_to_open``: ``r``; the default 66 is the least ``r`` with ``0.9**r ≤ 1e-3``.
    ``min_ratio``: the verifier's cost advantage over recomputing, enforced by the sizing.
    ``max_dim``: the largest ``n`` = ``k``. ``open_timeout_s``: the base time allowed for the
    opening (plus the time to recompute the opened blocks at the claimed rate, times slack).
    """

    target_s: float = 5.0
    slack: float = 1.5
    allowance_s: float = 2.0
    grace_s: float = 10.0
    rows_to_open: int = 66
    min_ratio: float = 20.0
    max_dim: int = 8192
    max_blocks: int = MAX_BLOCKS
    open_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        checks = {
            "target_s": 0 < self.target_s <= 3600,
            "slack": 1 <= self.slack <= 100,
            "allowance_s": 0 <= self.allowance_s <= 3600,
            "grace_s": 0 <= self.grace_s <= 3600,
            "rows_to_open": 1 <= self.rows_to_open <= MAX_OPEN_ROWS,
            "min_ratio": 1 <= self.min_ratio <= 1e6,
            "max_dim": MIN_DIM <= self.max_dim <= 8192,
            "max_blocks": 1 <= self.max_blocks <= MAX_BLOCKS,
            "open_timeout_s": 0 < self.open_timeout_s <= 3600,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise AuditError(f"audit config: {', '.join(bad)} out of range ({self!r})")


def rows_for_detection(fraction_correct: float, max_pass_probability: float) -> int:
    """The least ``r`` with ``fraction_correct**r ≤ max_pass_probability``: e.g. 66 for 0.9 and
    1e-3 (``0.9**66 ≈ 9.6e-4``), 7 for 0.5 and 1e-2."""
    if not (0 < fraction_correct < 1 and 0 < max_pass_probability < 1):
        raise AuditError("fraction_correct and max_pass_probability must be in (0, 1)")
    r = math.ceil(math.log(max_pass_probability) / math.log(fraction_correct))
    while fraction_correct ** (r - 1) <= max_pass_probability and r > 1:  # float rounding
        r -= 1
    while fraction_correct**r > max_pass_probability:
        r += 1
    return r


def pass_probability(fraction_correct: float, rows_opened: int) -> float:
    """An upper bound (``f**r``) on the chance that a provider whose result has only a fraction
    ``f`` of correct rows passes an audit opening ``r`` distinct rows drawn uniformly."""
    return float(fraction_correct**rows_opened)


# --------------------------------------------------------------------------- sizing and cost


@dataclass(frozen=True, slots=True)
class ChallengeShape:
    """``C = A·Bᵀ`` with ``A`` in ``blocks`` blocks of ``m`` rows, ``B[n, k]``, ``C_j[m, n]``."""

    m: int
    blocks: int
    n: int
    k: int

    def __post_init__(self) -> None:
        if min(self.m, self.n) < 1 or not (1 <= self.blocks <= MAX_BLOCKS and 1 <= self.k <= MAX_K):
            raise AuditError(f"challenge shape {self} out of range")
        for what, elements in (("A_j", self.m * self.k), ("B", self.n * self.k), ("C_j", self.m * self.n)):
            if elements > MAX_TENSOR_ELEMENTS:
                raise AuditError(f"{what} of {elements} elements exceeds GCX-TP's {MAX_TENSOR_ELEMENTS}")

    @property
    def rows(self) -> int:
        """``M``: the rows of ``C`` (all blocks)."""
        return self.m * self.blocks

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the whole GEMM: ``M·n·k``."""
        return self.rows * self.n * self.k

    @property
    def ops(self) -> int:
        """Ops as GEMM rates count them: ``2·M·n·k``."""
        return 2 * self.macs

    @property
    def result_bytes(self) -> int:
        """Bytes of ``C`` (int32)."""
        return 4 * self.rows * self.n

    def block_header(self, block: int) -> TensorHeader:
        """The GCX-TP header every row proof of block ``block`` must carry."""
        return TensorHeader(block, DType.INT32, 2, self.m, self.n)

    def locate(self, row: int) -> tuple[int, int]:
        """Global row ``row`` of ``C`` as ``(block, row within the block)``."""
        if not 0 <= row < self.rows:
            raise AuditError(f"row {row} is outside 0..{self.rows - 1}")
        return divmod(row, self.m)


#: What a generated seeded element and a hashed 4-byte word cost a CPU verifier, in int8
#: multiply-accumulates (the cost model's unit). Measured with NumPy (``python -m bench.audit``):
#: a MAC of a large int8 GEMM takes ~0.03 ns, generating a seeded element ~7 ns (~240 MACs),
#: hashing a word with SHA-256 ~2 ns (~60 MACs). Counting them as 1 (as a first model did)
#: let small claims get challenges only ~5x cheaper to check than to recompute, not 20x.
GEN_COST = 256
HASH_COST = 64


def verifier_cost(shape: ChallengeShape, rows_opened: int) -> int:
    """What checking the audit costs the verifier, in MACs (:data:`GEN_COST`,
    :data:`HASH_COST`): generating ``B`` (``n·k`` elements), per opened row one row of ``A``
    (``k`` elements), its ``n·k`` MACs, and hashing the row (``n`` words) and its path (16 words
    per level, plus the leaf prefix and the tensor root)."""
    depth = (shape.m - 1).bit_length()
    per_row = GEN_COST * shape.k + shape.n * shape.k + HASH_COST * (shape.n + 16 * (depth + 2))
    return GEN_COST * shape.n * shape.k + rows_opened * per_row


def recompute_cost(shape: ChallengeShape) -> int:
    """What recomputing the GEMM instead costs, in MACs: ``M·n·k`` MACs plus the ``(M + n)·k``
    generated inputs (the commitment hashing, which recomputing would need too, is not counted)."""
    return shape.macs + GEN_COST * (shape.rows + shape.n) * shape.k


def cost_ratio(shape: ChallengeShape, rows_opened: int) -> float:
    """How many times cheaper the audit is for the verifier than recomputing the GEMM."""
    return recompute_cost(shape) / verifier_cost(shape, rows_opened)


def size_challenge(
    claimed_ops_per_s: float,
    target_s: float,
    *,
    rows_to_open: int = 66,
    min_ratio: float = 20.0,
    max_dim: int = 8192,
    max_blocks: int = MAX_BLOCKS,
) -> ChallengeShape:
    """A GEMM of about ``claimed_ops_per_s · target_s`` ops within GCX-TP's limits whose audit
    (opening ``rows_to_open`` rows) costs the verifier at most ``1/min_ratio`` of recomputing it.

    ``n = k = d``, the largest power of two in ``[MIN_DIM, max_dim]`` that still leaves room for
    enough rows; ``M`` then follows from the work; blocks hold at most ``2**26 / d`` rows. A claim
    too small for the least such GEMM gets the least one (it takes longer than ``target_s``: the
    deadline is computed from the actual shape); a claim too large for ``max_blocks`` full blocks
    gets the largest one (shorter). :class:`AuditError` for a non-positive claim.
    """
    if not (math.isfinite(claimed_ops_per_s) and claimed_ops_per_s > 0 and 0 < target_s <= 3600):
        raise AuditError(f"cannot size an audit for {claimed_ops_per_s!r} ops/s over {target_s!r} s")
    if not MIN_DIM <= max_dim <= 8192:
        raise AuditError(f"max_dim {max_dim} is outside {MIN_DIM}..8192")
    macs = claimed_ops_per_s * target_s / 2
    d = 1 << (max_dim.bit_length() - 1)
    while d > MIN_DIM and _min_rows(d, rows_to_open, min_ratio) * d * d > macs:
        d //= 2
    rows = max(_min_rows(d, rows_to_open, min_ratio), min(round(macs / (d * d)), 2**62))
    per_block = MAX_TENSOR_ELEMENTS // d
    blocks = min(max_blocks, math.ceil(rows / per_block))
    m = min(per_block, math.ceil(rows / blocks))
    shape = ChallengeShape(m, blocks, d, d)
    if cost_ratio(shape, rows_to_open) < min_ratio:  # only when max_blocks is tiny
        raise AuditError(f"no challenge within {max_blocks} blocks keeps the verifier {min_ratio:g}x cheaper")
    return shape


def _min_rows(d: int, r: int, min_ratio: float) -> int:
    """The least ``M`` with ``cost_ratio ≥ min_ratio`` for ``n = k = d`` (over-estimating the
    path depth as 26 levels, so it holds for any block size)."""
    v = GEN_COST * d * d + r * (GEN_COST * d + d * d + HASH_COST * (d + 16 * 28))
    return max(r, math.ceil((min_ratio * v - GEN_COST * d * d) / (d * d + GEN_COST * d)))


# --------------------------------------------------------------------------- deadlines


def deadline_s(shape: ChallengeShape, claimed_ops_per_s: float, config: AuditConfig) -> float:
    """``expected_s · slack + allowance_s`` with ``expected_s = 2·M·n·k / claimed``."""
    return shape.ops / claimed_ops_per_s * config.slack + config.allowance_s


def open_timeout_s(challenge: Challenge, rows: int, config: AuditConfig) -> float:
    """Time allowed for an opening of ``rows`` rows: the base plus recomputing that many blocks at
    the claimed rate (a provider may keep only the roots of large results), times slack."""
    blocks = min(rows, challenge.shape.blocks)
    block_s = 2 * challenge.shape.m * challenge.shape.n * challenge.shape.k / challenge.claimed_ops_per_s
    return config.open_timeout_s + blocks * block_s * config.slack


# --------------------------------------------------------------------------- the opening and the claim


def pick_rows(shape: ChallengeShape, count: int, rng: random.Random) -> tuple[int, ...]:
    """``min(count, M)`` distinct rows of ``C`` drawn uniformly with ``rng`` (a CSPRNG), sorted."""
    return tuple(sorted(rng.sample(range(shape.rows), min(count, shape.rows))))


def claimed_int8_ops_per_s(report: Mapping[str, Any]) -> float | None:
    """The int8 GEMM rate (ops/s) a signed ``gcx.bench/1`` report claims: its ``gemm_int8``
    result's median in its unit (``TOP/s`` …), or None when it has none."""
    from gcx.units import to_base

    for result in report.get("results", []):
        if isinstance(result, Mapping) and result.get("name") == "gemm_int8":
            try:
                value = float(result["median"]) * to_base(1.0, str(result["unit"]))
            except (KeyError, TypeError, ValueError, GCXError):
                return None
            return value if math.isfinite(value) and value > 0 else None
    return None
