"""Every move's arguments in the verification game, from a run's commitments and the job spec.

Theory of operation (docs/verification.md, "The game" and "The adapter: job specs and proof
formats"). The on-chain game (``VerificationGame``) bisects the provider's result root: the op
tree to one op ``k``, that op's row tree to one row, then the provider reveals the row
(``revealRow``) and the challenger names a column with the one-step evidence (``step``), which the
adapter (``GcxTpGameStep``) hands to the one-step prover. This module builds each side's
arguments; it is pure (no I/O, no chain): a daemon reads the dispute and the calldata of the
provider's earlier moves, and sends what these functions return.

A side's own data is a :class:`Side`: the program, its spec (:func:`gcx.jobs.spec.job_spec`), a
run's commitments (:func:`gcx.tp.attest.commit_run`) and the run's tensors (by tensor id).

Provider: :func:`root_move`, :func:`children` (op-tree or row-tree nodes), :func:`op_move`,
:func:`reveal_row_proof`. Challenger: :func:`choose_right`, :func:`decode_reveal_row`,
:func:`step_proof` (with :func:`provider_op_proof`, the op proofs under the *provider's* result
root). Formats: ``revealRow``'s ``proof = abi.encode(bytes opProof, bytes32[] skeletonSiblings,
bytes rowProof)``; ``step``'s ``proof = abi.encode(bytes32 word, bytes32[] wordSiblings, bytes
opProof, (bytes opProof, bytes rowProof)[] operands)``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from gcx.errors import GCXError
from gcx.jobs.spec import JobSpec
from gcx.tp.attest import RunCommitment
from gcx.tp.commit import (
    OP_BODY_SIZE,
    OP_PAD,
    PROOF_VERSION,
    ROW_PAD,
    TAG_OP_NODE,
    TAG_ROW_NODE,
    DType,
    ProofKind,
    ResultCommitment,
    RowProof,
    TensorCommitment,
    decode_row_proof,
    prove_row,
    tree_depth,
)
from gcx.tp.commit import _pads as pads_of
from gcx.tp.ops import OpCode
from gcx.tp.program import Program

__all__ = [
    "REVEAL_ROW_TYPES",
    "STEP_TYPES",
    "GameProofError",
    "OpMove",
    "RevealedRow",
    "RootMove",
    "Side",
    "StepProof",
    "children",
    "choose_right",
    "decode_reveal_row",
    "encode_op_proof",
    "first_wrong_column",
    "op_move",
    "operand_rows",
    "provider_op_proof",
    "reveal_row_proof",
    "root_move",
    "step_proof",
    "word_proof",
    "word_root",
]

REVEAL_ROW_TYPES: Final = ["bytes", "bytes32[]", "bytes"]
"""``revealRow``'s proof: ``abi.encode(bytes opProof, bytes32[] skeletonSiblings, bytes rowProof)``."""
STEP_TYPES: Final = ["bytes32", "bytes32[]", "bytes", "(bytes,bytes)[]"]
"""``step``'s proof: ``abi.encode(bytes32 word, bytes32[] wordSiblings, bytes opProof, Operand[])``."""
ZERO: Final = bytes(32)
NodeMap = Mapping[tuple[int, int], bytes]
"""The provider's revealed op-tree nodes by ``(height, index)`` (leaves at height 0)."""


class GameProofError(GCXError):
    """A move cannot be built from the given data (an index out of range, calldata that is not a
    ``revealRow`` proof, a node the provider never revealed)."""


@dataclass(frozen=True, slots=True, eq=False)
class Side:
    """One side's own data for a job: the program, its spec, a run's commitments and tensors."""

    program: Program
    spec: JobSpec
    run: RunCommitment
    tensors: tuple[np.ndarray, ...]

    @property
    def n_inputs(self) -> int:
        """Program inputs (tensor ids ``0 .. n_inputs - 1``)."""
        return len(self.program.inputs)

    def output(self, k: int) -> TensorCommitment:
        """Op ``k``'s output tensor commitment."""
        return self.run.tensors[self.n_inputs + k]


@dataclass(frozen=True, slots=True)
class RootMove:
    """``revealRoot``'s arguments (after the dispute id)."""

    program_digest: bytes
    n_ops: int
    op_tree_root: bytes
    left: bytes
    right: bytes


@dataclass(frozen=True, slots=True)
class OpMove:
    """``revealOp``'s arguments (after the dispute id): the 66-byte body, the row-tree root and
    its children (zero words for a one-row tensor)."""

    body: bytes
    tree_root: bytes
    left: bytes
    right: bytes


@dataclass(frozen=True, slots=True)
class RevealedRow:
    """A decoded ``revealRow`` proof."""

    op_proof: bytes
    skeleton: tuple[bytes, ...]
    row_proof: RowProof


@dataclass(frozen=True, slots=True)
class StepProof:
    """``step``'s arguments (after the dispute id): the column and the proof bytes."""

    col: int
    proof: bytes


# -- trees ------------------------------------------------------------------------------------------


def _tree(
    tree: ResultCommitment | TensorCommitment,
) -> tuple[tuple[tuple[bytes, ...], ...], tuple[bytes, ...]]:
    if isinstance(tree, ResultCommitment):
        return tree.levels, pads_of(OP_PAD, TAG_OP_NODE, len(tree.levels) - 1)
    return tree.levels, pads_of(ROW_PAD, TAG_ROW_NODE, len(tree.levels) - 1)


def _node(levels: tuple[tuple[bytes, ...], ...], pads: tuple[bytes, ...], height: int, index: int) -> bytes:
    if not 0 <= height < len(levels) or index < 0 or index >= 1 << (len(levels) - 1 - height):
        raise GameProofError(f"no node ({height}, {index}) in a tree of depth {len(levels) - 1}")
    level = levels[height]
    return level[index] if index < len(level) else pads[height]


def children(tree: ResultCommitment | TensorCommitment, height: int, index: int) -> tuple[bytes, bytes]:
    """The two children of node ``index`` at ``height`` (≥ 1) of an op tree (a
    :class:`ResultCommitment`) or a row tree (a :class:`TensorCommitment`), padding included:
    what ``bisect`` (and ``revealRoot``/``revealOp`` at the top) reveals."""
    levels, pads = _tree(tree)
    if height < 1:
        raise GameProofError("a leaf has no children")
    return _node(levels, pads, height - 1, 2 * index), _node(levels, pads, height - 1, 2 * index + 1)


def _top_children(tree: ResultCommitment | TensorCommitment) -> tuple[bytes, bytes]:
    depth = len(tree.levels) - 1
    return (ZERO, ZERO) if depth == 0 else children(tree, depth, 0)


# -- provider ---------------------------------------------------------------------------------------


def root_move(side: Side) -> RootMove:
    """``revealRoot``: the result-root preimage and the op-tree root's children."""
    result = side.run.result
    left, right = _top_children(result)
    return RootMove(result.program_digest, len(result.leaves), result.tree_root, left, right)


def op_move(side: Side, k: int) -> OpMove:
    """``revealOp`` of op ``k``: its body, its output's row-tree root and that root's children."""
    if not 0 <= k < len(side.run.result.leaves):
        raise GameProofError(f"op {k} is not in a program of {len(side.run.result.leaves)} ops")
    out = side.output(k)
    left, right = _top_children(out)
    return OpMove(side.run.result.leaves[k].body(), out.tree_root, left, right)


def encode_op_proof(n_ops: int, program_digest: bytes, body: bytes, siblings: Sequence[bytes]) -> bytes:
    """``01 03 ‖ n_ops u32 ‖ program digest ‖ body (66) ‖ siblings``: an op proof from raw parts
    (the body need not be well formed: a provider's committed body is what it is)."""
    if len(body) != OP_BODY_SIZE or len(program_digest) != 32 or len(siblings) != tree_depth(n_ops):
        raise GameProofError(
            "an op proof needs a 66-byte body, a 32-byte digest and ceil(log2 n_ops) siblings"
        )
    return b"".join(
        (bytes((PROOF_VERSION, ProofKind.OP)), struct.pack(">I", n_ops), program_digest, body, *siblings)
    )


def _own_op_proof(side: Side, k: int) -> bytes:
    result = side.run.result
    levels, pads = _tree(result)
    sibs = [_node(levels, pads, h, (k >> h) ^ 1) for h in range(len(levels) - 1)]
    return encode_op_proof(len(result.leaves), result.program_digest, result.leaves[k].body(), sibs)


def reveal_row_proof(side: Side, k: int, row: int) -> bytes:
    """``revealRow``'s proof for row ``row`` of op ``k``:
    ``abi.encode(bytes opProof, bytes32[] skeletonSiblings, bytes rowProof)``."""
    op_proof = _own_op_proof(side, k)
    out = side.output(k)
    if not 0 <= row < out.header.rows:
        raise GameProofError(f"row {row} is outside op {k}'s {out.header.rows} rows")
    rp = prove_row(out, side.tensors[side.n_inputs + k], row).encode()
    return abi_encode(REVEAL_ROW_TYPES, [op_proof, list(side.spec.skeleton_siblings(k)), rp])


# -- challenger -------------------------------------------------------------------------------------


def choose_right(own: tuple[bytes, bytes], provider_left: bytes, provider_right: bytes) -> bool:
    """Which child of the provider's split to dispute, given one's own children ``own``: the left
    one if it differs from one's own, else the right one.

    Why this pins the first wrong op: the dispute starts at a node that differs from one's own (the
    result root). Going left only when the left child differs, and right otherwise (the left child
    then *equals* one's own), keeps the invariant "the disputed node differs, and every leaf left of
    it equals one's own leaf" (equal nodes have equal subtrees, SHA-256 being collision resistant).
    At a leaf, op ``k`` is the first op whose leaf differs, and ops ``j < k`` are one's own: their
    output roots, so the operand rows the one-step proof reads, are one's own data."""
    del provider_right  # the right child is disputed whenever the left one agrees
    return provider_left == own[0]


def decode_reveal_row(proof: bytes) -> RevealedRow:
    """The provider's ``revealRow`` proof (read from its calldata), decoded; the row bytes are the
    ``row_proof.row``. :class:`GameProofError` when it is not such an encoding."""
    try:
        op_proof, skeleton, row_proof = abi_decode(REVEAL_ROW_TYPES, proof)
        return RevealedRow(
            bytes(op_proof), tuple(bytes(s) for s in skeleton), decode_row_proof(bytes(row_proof))
        )
    except GCXError as err:
        raise GameProofError(f"not a revealRow proof: {err}") from None
    except Exception as err:  # eth_abi's decoding errors
        raise GameProofError(f"not a revealRow proof: {type(err).__name__}") from None


def _words(row: bytes) -> list[bytes]:
    padded = row + bytes(-len(row) % 32)
    words = [padded[i : i + 32] for i in range(0, len(padded), 32)]
    return words + [ZERO] * ((1 << tree_depth(len(words))) - len(words))


def word_root(row: bytes, dtype: int, cols: int) -> bytes:
    """The adapter's keccak word root of revealed row bytes (``IGcxTpOneStep.revealRow``):
    ``keccak256(dtype u8 ‖ cols u32 ‖ root)`` over zero-padded 32-byte words, node ``keccak(l ‖ r)``."""
    level = _words(row)
    while len(level) > 1:
        level = [bytes(keccak(level[i] + level[i + 1])) for i in range(0, len(level), 2)]
    return bytes(keccak(struct.pack(">BI", dtype, cols) + level[0]))


def word_proof(row: bytes, dtype: int, col: int) -> tuple[bytes, tuple[bytes, ...]]:
    """Word ``col·width / 32`` of ``row`` and its bottom-up keccak siblings (``revealedElement``)."""
    index = col * DType(dtype).width // 32
    level = _words(row)
    sibs = []
    while len(level) > 1:
        sibs.append(level[index ^ 1])
        level = [bytes(keccak(level[i] + level[i + 1])) for i in range(0, len(level), 2)]
        index >>= 1
    return _words(row)[col * DType(dtype).width // 32], tuple(sibs)


def provider_op_proof(side: Side, revealed: NodeMap, j: int, body: bytes | None = None) -> bytes:
    """The op proof of op ``j`` under the *provider's* result root (the one-step prover verifies
    every op proof against it), for ``j ≤ k``, the disputed op.

    Siblings: the provider's revealed node at ``(h, (j >> h) ^ 1)`` when it revealed one, else one's
    own. Why that is the provider's tree: the provider revealed both children of every node on the
    path to ``k``. Below the height ``h`` where ``j``'s path leaves ``k``'s, ``j`` lies in the left
    child of that split, which the challenger found equal to its own (:func:`choose_right`), so the
    whole subtree, its nodes and leaf ``j`` included, is its own; at and above ``h`` every sibling
    of ``j``'s path is a child of a split on ``k``'s path, i.e. revealed. For ``j = k`` every
    sibling is revealed and ``body`` must be the provider's (``revealOp``'s calldata)."""
    result = side.run.result
    n_ops = len(result.leaves)
    if not 0 <= j < n_ops:
        raise GameProofError(f"op {j} is not in a program of {n_ops} ops")
    levels, pads = _tree(result)
    sibs = []
    for h in range(len(levels) - 1):
        key = (h, (j >> h) ^ 1)
        sibs.append(revealed[key] if key in revealed else _node(levels, pads, *key))
    return encode_op_proof(
        n_ops, result.program_digest, result.leaves[j].body() if body is None else body, sibs
    )


def operand_rows(opcode: int, x_rank: int, y_rank: int, row: int, col: int) -> tuple[int, ...]:
    """The operand rows element ``(row, col)`` of an op reads (``IGcxTpOneStep``'s notes)."""
    if opcode == OpCode.MATMUL_NT:
        return (row, col)
    if opcode == OpCode.ADD:
        return (row, 0 if (y_rank == 1 and x_rank == 2) else row)
    if opcode == OpCode.ARGMAX:
        return (col,)
    return (row,)


def first_wrong_column(own_row: bytes, provider_row: bytes, dtype: int) -> int:
    """The first column where the provider's row differs from one's own (0 when none does: then the
    provider's leaf itself is what is wrong, and any column decides)."""
    w = DType(dtype).width
    for c in range(min(len(own_row), len(provider_row)) // w):
        if own_row[c * w : c * w + w] != provider_row[c * w : c * w + w]:
            return c
    return 0


def step_proof(
    side: Side,
    k: int,
    row: int,
    revealed_row: bytes,
    revealed: NodeMap,
    provider_body: bytes,
    col: int | None = None,
) -> StepProof:
    """``step``'s column and proof against the provider's reveal of row ``row`` of op ``k``.

    ``revealed_row`` is the provider's ``revealRow`` calldata proof (:func:`decode_reveal_row`),
    ``revealed`` its op-tree nodes from the bisection, ``provider_body`` its op ``k`` body from
    ``revealOp``. The column is the first whose element differs from one's own (``col`` overrides).
    The word proof opens the provider's row; op ``k``'s op proof and the operands' op proofs are
    under the provider's root (:func:`provider_op_proof`); the operand rows are one's own tensors
    (equal to the provider's: every op before ``k`` agrees, and program inputs are the buyer's)."""
    rr = decode_reveal_row(revealed_row).row_proof
    header = rr.header
    own_out = side.output(k)
    if col is None:
        own_row = own_out.header == header and row < own_out.header.rows
        mine = prove_row(own_out, side.tensors[side.n_inputs + k], row).row if own_row else b""
        col = first_wrong_column(mine, rr.row, header.dtype)
    word, sibs = word_proof(rr.row, header.dtype, col)
    op = side.program.ops[k]
    leaf = side.run.result.leaves[k]
    inputs = tuple(op.inputs)
    ranks = [side.run.tensors[t].header.rank for t in inputs] + [0]
    wanted = operand_rows(leaf.opcode, ranks[0], ranks[1], row, col)
    operands = []
    for t, r in zip(inputs, wanted, strict=True):
        proof = b"" if t < side.n_inputs else provider_op_proof(side, revealed, t - side.n_inputs)
        operands.append((proof, prove_row(side.run.tensors[t], side.tensors[t], r).encode()))
    op_proof = provider_op_proof(side, revealed, k, provider_body)
    return StepProof(col, abi_encode(STEP_TYPES, [word, list(sibs), op_proof, operands]))
