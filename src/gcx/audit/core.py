"""Capacity audits, the pure core: sizing, messages, checks and the audit record (docs/audits.md).

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

Cost model (counted in element operations, :func:`verifier_cost`, :func:`recompute_cost`): one
multiply-accumulate, one generated seeded element or one hashed 4-byte word each cost 1. The
verifier generates ``B`` once (``n·k``), and per opened row one row of ``A`` (``k``) and ``n·k``
MACs, and hashes the row and its path; recomputing the GEMM instead costs ``M·n·k`` MACs plus the
``(M + n)·k`` generated inputs (its hashing is not even counted). :func:`size_challenge` makes
``M`` large enough that the ratio is at least ``min_ratio`` (20).

This module is pure: no I/O, no clock, no randomness of its own (callers pass ``now`` and an RNG).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np
from eth_account import Account
from eth_utils.address import to_checksum_address

from gcx import signing, wire
from gcx.errors import GCXError, SchemaError, SignatureError, WireError
from gcx.tp.backends.numpy_backend import matmul_nt_blocked
from gcx.tp.commit import (
    HASH_SIZE,
    DType,
    ProofError,
    RowProof,
    TensorHeader,
    decode_row_proof,
    row_leaf,
    verify_row,
)
from gcx.tp.seeded import MASK64, fill_seeded, tensor_key
from gcx.tp.tensor import MAX_TENSOR_ELEMENTS

PROTOCOL: Final = "/gcx/audit/1"
"""The libp2p protocol of capacity audits."""
MAX_FRAME: Final = 16 * 1024 * 1024
"""Largest request or response frame on :data:`PROTOCOL`: an opening of :data:`MAX_OPEN_ROWS`
rows of 8192 int32 columns with their proofs (``256 · (20 + 4·8192 + 32·26)`` bytes) fits."""
MAX_K: Final = 65_536
"""Largest inner dimension: ``|C| ≤ k · 2**14 ≤ 2**30`` stays exact in int32 (GCX-TP's bound)."""
MIN_DIM: Final = 16
"""Smallest ``n`` = ``k`` a challenge uses."""
MAX_BLOCKS: Final = 4096
"""Most blocks (tensor roots in an answer) a challenge may have."""
MAX_OPEN_ROWS: Final = 256
"""Most rows one opening request may name."""
NONCE_SIZE: Final = 16

CHALLENGE_TYPE: Final = "gcx.audit.challenge"
ANSWER_TYPE: Final = "gcx.audit.answer"
OPEN_TYPE: Final = "gcx.audit.open"
OPENING_TYPE: Final = "gcx.audit.opening"
RECORD_TYPE: Final = "gcx.audit.record"

_ADDRESS_LEN = 42
_MAX_PEER_LEN = 128


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


# --------------------------------------------------------------------------- seeded inputs


def seeded_rows(xp: Any, seed: int, tensor_id: int, cols: int, row_start: int, rows: int) -> Any:
    """Rows ``row_start .. row_start + rows - 1`` of the int8 seeded tensor ``tensor_id`` with
    ``cols`` columns (:mod:`gcx.tp.seeded`), computed with the array module ``xp`` (NumPy, or
    CuPy to generate on the device): element ``i`` is ``(mix(key + (i+1)·G) >> 56) - 128``."""
    if not 0 <= seed <= MASK64:
        raise AuditError("a seed is a 64-bit unsigned integer")
    out = xp.empty(rows * cols, dtype=xp.int8)
    fill_seeded(xp, tensor_key(seed, tensor_id), row_start * cols, out)
    return out.reshape(rows, cols)


def seeded_b(seed: int, shape: ChallengeShape) -> np.ndarray:
    """The challenge's ``B`` (seeded tensor 0, int8 ``[n, k]``) on the host."""
    out: np.ndarray = seeded_rows(np, seed, 0, shape.k, 0, shape.n)
    return out


def expected_rows(seed: int, shape: ChallengeShape, rows: Sequence[int], b: np.ndarray) -> list[bytes]:
    """The exact bytes (little-endian int32) of the global rows ``rows`` of ``C``, given ``B``:
    the rows of ``A`` are generated one by one and multiplied by ``B`` in one exact GEMM."""
    if not rows:
        return []
    a = np.empty((len(rows), shape.k), dtype=np.int8)
    for i, row in enumerate(rows):
        block, local = shape.locate(row)
        a[i] = seeded_rows(np, seed, block + 1, shape.k, local, 1)[0]
    c = matmul_nt_blocked(a, b).astype("<i4")
    return [c[i].tobytes() for i in range(len(rows))]


# --------------------------------------------------------------------------- messages


def _check_map(value: Any, what: str, keys: frozenset[str], type_name: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise SchemaError(f"{what} must be a map")
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise SchemaError(f"{what}: missing {missing}, unknown {extra}")
    if value["type"] != type_name or type(value["v"]) is not int or value["v"] != 1:
        raise SchemaError(f"{what} must have type {type_name!r} and v 1")
    return value


def _address(value: Any, what: str) -> str:
    text = wire.expect_str(value, what, _ADDRESS_LEN, _ADDRESS_LEN)
    if not text.startswith("0x"):
        raise SchemaError(f"{what} must be a 0x-prefixed address")
    try:
        int(text[2:], 16)
    except ValueError:
        raise SchemaError(f"{what} must be hex") from None
    return text


def _signature(value: Any) -> str:
    sig = wire.expect_str(value, "signature", 132, 132)
    try:
        signing.signature_bytes(sig)
    except SignatureError as exc:
        raise SchemaError(str(exc)) from None
    return sig


_CHALLENGE_KEYS = frozenset(
    {
        "type",
        "v",
        "verifier",
        "verifier_peer",
        "provider",
        "provider_peer",
        "seed",
        "nonce",
        "m",
        "blocks",
        "n",
        "k",
        "claimed_ops_per_s",
        "issued_at_ms",
        "deadline_ms",
        "signature",
    }
)


@dataclass(frozen=True, slots=True)
class Challenge:
    """A signed audit challenge (``gcx.audit.challenge`` v1, see docs/protocol.md)."""

    verifier: str
    verifier_peer: str
    provider: str
    provider_peer: str
    seed: int
    nonce: bytes
    shape: ChallengeShape
    claimed_ops_per_s: int
    issued_at_ms: int
    deadline_ms: int
    signature: str

    def body(self) -> dict[str, Any]:
        """The message as a map, signature included."""
        return {
            "type": CHALLENGE_TYPE,
            "v": 1,
            "verifier": self.verifier,
            "verifier_peer": self.verifier_peer,
            "provider": self.provider,
            "provider_peer": self.provider_peer,
            "seed": self.seed,
            "nonce": self.nonce,
            "m": self.shape.m,
            "blocks": self.shape.blocks,
            "n": self.shape.n,
            "k": self.shape.k,
            "claimed_ops_per_s": self.claimed_ops_per_s,
            "issued_at_ms": self.issued_at_ms,
            "deadline_ms": self.deadline_ms,
            "signature": self.signature,
        }

    def encode(self) -> bytes:
        """Canonical msgpack of :meth:`body`."""
        return wire.canonical_bytes(self.body())

    @property
    def id(self) -> bytes:
        """The challenge id: keccak-256 of the canonical challenge without its signature."""
        return signing.digest(self.body())

    def check_signature(self) -> None:
        """:class:`SignatureError` unless ``verifier`` signed the challenge."""
        signing.verify(self.body(), self.verifier)

    @property
    def deadline_s(self) -> float:
        """Seconds the provider has, from the challenge being sent to the root arriving."""
        return self.deadline_ms / 1000


def decode_challenge(data: bytes) -> Challenge:
    """The challenge ``data`` encodes; :class:`WireError` (or :class:`AuditError` for an
    impossible shape) for anything else. The signature is decoded, not verified."""
    v = _check_map(wire.unpack(data, 4096), "challenge", _CHALLENGE_KEYS, CHALLENGE_TYPE)
    shape = ChallengeShape(
        wire.expect_int(v["m"], "m", 1, MAX_TENSOR_ELEMENTS),
        wire.expect_int(v["blocks"], "blocks", 1, MAX_BLOCKS),
        wire.expect_int(v["n"], "n", 1, MAX_TENSOR_ELEMENTS),
        wire.expect_int(v["k"], "k", 1, MAX_K),
    )
    return Challenge(
        verifier=_address(v["verifier"], "verifier"),
        verifier_peer=wire.expect_str(v["verifier_peer"], "verifier_peer", 1, _MAX_PEER_LEN),
        provider=_address(v["provider"], "provider"),
        provider_peer=wire.expect_str(v["provider_peer"], "provider_peer", 1, _MAX_PEER_LEN),
        seed=wire.expect_int(v["seed"], "seed", 0, MASK64),
        nonce=wire.expect_bytes(v["nonce"], "nonce", NONCE_SIZE, NONCE_SIZE),
        shape=shape,
        claimed_ops_per_s=wire.expect_int(v["claimed_ops_per_s"], "claimed_ops_per_s", 1, 2**63),
        issued_at_ms=wire.expect_int(v["issued_at_ms"], "issued_at_ms", 0, 2**63),
        deadline_ms=wire.expect_int(v["deadline_ms"], "deadline_ms", 1, 24 * 3600 * 1000),
        signature=_signature(v["signature"]),
    )


def deadline_s(shape: ChallengeShape, claimed_ops_per_s: float, config: AuditConfig) -> float:
    """``expected_s · slack + allowance_s`` with ``expected_s = 2·M·n·k / claimed``."""
    return shape.ops / claimed_ops_per_s * config.slack + config.allowance_s


def open_timeout_s(challenge: Challenge, rows: int, config: AuditConfig) -> float:
    """Time allowed for an opening of ``rows`` rows: the base plus recomputing that many blocks at
    the claimed rate (a provider may keep only the roots of large results), times slack."""
    blocks = min(rows, challenge.shape.blocks)
    block_s = 2 * challenge.shape.m * challenge.shape.n * challenge.shape.k / challenge.claimed_ops_per_s
    return config.open_timeout_s + blocks * block_s * config.slack


def make_challenge(
    private_key: bytes,
    *,
    verifier_peer: str,
    provider_peer: str,
    provider: str,
    claimed_ops_per_s: float,
    config: AuditConfig,
    now_ms: int,
    rng: random.Random,
) -> Challenge:
    """A challenge sized by ``config`` for the claim, seeded and nonced from ``rng`` (pass a
    :class:`random.SystemRandom`), signed with ``private_key`` (the verifier's node key)."""
    shape = size_challenge(
        claimed_ops_per_s,
        config.target_s,
        rows_to_open=config.rows_to_open,
        min_ratio=config.min_ratio,
        max_dim=config.max_dim,
        max_blocks=config.max_blocks,
    )
    body: dict[str, Any] = {
        "type": CHALLENGE_TYPE,
        "v": 1,
        "verifier": to_checksum_address(Account.from_key(private_key).address),
        "verifier_peer": verifier_peer,
        "provider": to_checksum_address(provider),
        "provider_peer": provider_peer,
        "seed": rng.getrandbits(64),
        "nonce": rng.getrandbits(8 * NONCE_SIZE).to_bytes(NONCE_SIZE, "big"),
        "m": shape.m,
        "blocks": shape.blocks,
        "n": shape.n,
        "k": shape.k,
        "claimed_ops_per_s": max(1, round(claimed_ops_per_s)),
        "issued_at_ms": now_ms,
        "deadline_ms": max(1, math.ceil(deadline_s(shape, claimed_ops_per_s, config) * 1000)),
    }
    body["signature"] = signing.sign(body, private_key)
    return decode_challenge(wire.canonical_bytes(body))


_ANSWER_KEYS = frozenset({"type", "v", "challenge", "provider", "roots", "signature"})


@dataclass(frozen=True, slots=True)
class Answer:
    """The provider's signed commitment (``gcx.audit.answer`` v1): one tensor root per block."""

    challenge: bytes
    provider: str
    roots: tuple[bytes, ...]
    signature: str

    def body(self) -> dict[str, Any]:
        """The message as a map, signature included."""
        return {
            "type": ANSWER_TYPE,
            "v": 1,
            "challenge": self.challenge,
            "provider": self.provider,
            "roots": list(self.roots),
            "signature": self.signature,
        }

    def encode(self) -> bytes:
        """Canonical msgpack of :meth:`body`."""
        return wire.canonical_bytes(self.body())


def decode_answer(data: bytes) -> Answer:
    """The answer ``data`` encodes; :class:`WireError` for anything else (signature unchecked)."""
    v = _check_map(wire.unpack(data, MAX_FRAME), "answer", _ANSWER_KEYS, ANSWER_TYPE)
    roots = v["roots"]
    if type(roots) is not list or not 1 <= len(roots) <= MAX_BLOCKS:
        raise SchemaError(f"roots must be a list of 1 to {MAX_BLOCKS} digests")
    return Answer(
        challenge=wire.expect_bytes(v["challenge"], "challenge", HASH_SIZE, HASH_SIZE),
        provider=_address(v["provider"], "provider"),
        roots=tuple(wire.expect_bytes(r, "root", HASH_SIZE, HASH_SIZE) for r in roots),
        signature=_signature(v["signature"]),
    )


def sign_answer(private_key: bytes, challenge: Challenge, roots: Sequence[bytes]) -> Answer:
    """The provider's answer to ``challenge``: ``roots[j]`` is block ``j``'s tensor root."""
    body: dict[str, Any] = {
        "type": ANSWER_TYPE,
        "v": 1,
        "challenge": challenge.id,
        "provider": to_checksum_address(Account.from_key(private_key).address),
        "roots": [bytes(r) for r in roots],
    }
    body["signature"] = signing.sign(body, private_key)
    return Answer(body["challenge"], body["provider"], tuple(body["roots"]), body["signature"])


_OPEN_KEYS = frozenset({"type", "v", "challenge", "rows"})


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """``gcx.audit.open`` v1: the rows (global indices of ``C``) the verifier wants opened."""

    challenge: bytes
    rows: tuple[int, ...]

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return wire.canonical_bytes(
            {"type": OPEN_TYPE, "v": 1, "challenge": self.challenge, "rows": list(self.rows)}
        )


def decode_open(data: bytes) -> OpenRequest:
    """The open request ``data`` encodes: 1 to :data:`MAX_OPEN_ROWS` distinct row indices;
    :class:`WireError` for anything else."""
    v = _check_map(wire.unpack(data, 8192), "open request", _OPEN_KEYS, OPEN_TYPE)
    rows = v["rows"]
    if type(rows) is not list or not 1 <= len(rows) <= MAX_OPEN_ROWS:
        raise SchemaError(f"rows must be a list of 1 to {MAX_OPEN_ROWS} indices")
    out = tuple(wire.expect_int(r, "row", 0, 2**63) for r in rows)
    if len(set(out)) != len(out):
        raise SchemaError("rows must be distinct")
    return OpenRequest(wire.expect_bytes(v["challenge"], "challenge", HASH_SIZE, HASH_SIZE), out)


_OPENING_KEYS = frozenset({"type", "v", "challenge", "proofs"})


@dataclass(frozen=True, slots=True)
class Opening:
    """``gcx.audit.opening`` v1: one encoded GCX-TP row proof per requested row, in order."""

    challenge: bytes
    proofs: tuple[bytes, ...]

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return wire.canonical_bytes(
            {"type": OPENING_TYPE, "v": 1, "challenge": self.challenge, "proofs": list(self.proofs)}
        )


def decode_opening(data: bytes) -> Opening:
    """The opening ``data`` encodes (proofs still encoded); :class:`WireError` otherwise."""
    v = _check_map(wire.unpack(data, MAX_FRAME), "opening", _OPENING_KEYS, OPENING_TYPE)
    proofs = v["proofs"]
    if type(proofs) is not list or not 1 <= len(proofs) <= MAX_OPEN_ROWS:
        raise SchemaError(f"proofs must be a list of 1 to {MAX_OPEN_ROWS} row proofs")
    return Opening(
        wire.expect_bytes(v["challenge"], "challenge", HASH_SIZE, HASH_SIZE),
        tuple(wire.expect_bytes(p, "proof", 2, MAX_FRAME) for p in proofs),
    )


def pick_rows(shape: ChallengeShape, count: int, rng: random.Random) -> tuple[int, ...]:
    """``min(count, M)`` distinct rows of ``C`` drawn uniformly with ``rng`` (a CSPRNG), sorted."""
    return tuple(sorted(rng.sample(range(shape.rows), min(count, shape.rows))))


# --------------------------------------------------------------------------- verdicts


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


def prove_rows(proofs: Sequence[RowProof]) -> tuple[bytes, ...]:
    """Encode row proofs for an :class:`Opening`."""
    return tuple(p.encode() for p in proofs)


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
