"""Commitments of GCX tensor programs: position-binding SHA-256 Merkle roots and their proofs.

Theory of operation (the byte-exact specification is docs/gcx-tp.md, "Commitments"):

* A tensor (int8 or int32, rank 1 or 2, row-major; rank 1 is one row) is committed by a Merkle
  tree over its rows. Leaf ``i`` hashes ``TAG_ROW_LEAF ‖ tensor id ‖ i ‖ dtype ‖ cols ‖ row
  bytes``; a node hashes ``TAG_ROW_NODE ‖ left ‖ right``; the tree has depth
  ``ceil(log2(rows))`` (0 for one row) and is padded on the right to ``2**depth`` leaves with
  the constant ``ROW_PAD = H(TAG_ROW_PAD)``. A proof walks up by the bits of the row index (bit
  ``l`` set: the running hash is the *right* child at level ``l``), so a row proves only at its
  own index. The **tensor root** ``H(TAG_TENSOR ‖ header ‖ tree root)`` binds the tensor id,
  dtype, rank and shape, so a row proof cannot be replayed in a tensor of another shape.
* Op ``k``'s **op leaf** hashes ``TAG_OP_LEAF ‖ body``, a fixed 66-byte body: ``k ‖ opcode ‖
  input count ‖ two input tensor id slots ‖ requant's multiplier, shift, zero point (0 for other
  ops) ‖ output header ‖ output tensor root`` (the opcode table is :class:`gcx.tp.ops.OpCode`).
  The **result root** ``H(TAG_RESULT ‖ program digest ‖ op count ‖ op tree root)`` names the
  program and is a Merkle root of the same shape over the op leaves (own tags and padding
  constant), so every intermediate tensor of a program is committed.
* Proofs (:class:`RowProof`, :class:`ElementProof`, :class:`OpProof`) have one canonical byte
  encoding each; the decoders accept exactly the encodings :meth:`encode` produces and raise
  :class:`ProofError` for anything else. ``verify_*`` answer ``True`` / ``False``.

This module is pure (hashlib, struct, numpy): no I/O, no threads; of the programs it knows only
the op table (:mod:`.ops`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from gcx.errors import GCXError

from .errors import ProgramError
from .ops import Op, OpAttrs, OpCode, op_fields, op_from_fields

__all__ = [
    "HASH_SIZE",
    "OP_BODY_SIZE",
    "OP_PAD",
    "PROOF_VERSION",
    "ROW_PAD",
    "TAG_OP_LEAF",
    "TAG_OP_NODE",
    "TAG_OP_PAD",
    "TAG_RESULT",
    "TAG_ROW_LEAF",
    "TAG_ROW_NODE",
    "TAG_ROW_PAD",
    "TAG_TENSOR",
    "CommitmentError",
    "DType",
    "ElementProof",
    "OpLeaf",
    "OpProof",
    "ProofError",
    "ProofKind",
    "ResultCommitment",
    "RowProof",
    "TensorCommitment",
    "TensorHeader",
    "commit_result",
    "commit_tensor",
    "commitment_from_levels",
    "decode_element_proof",
    "decode_op_proof",
    "decode_proof",
    "decode_row_proof",
    "op_leaf",
    "prove_element",
    "prove_op",
    "prove_row",
    "result_root_of",
    "row_leaf",
    "row_pads",
    "tensor_root",
    "tensor_root_of",
    "tree_depth",
    "verify_element",
    "verify_op",
    "verify_row",
]

HASH_SIZE: Final = 32
"""Bytes of a digest (SHA-256)."""

U32_MAX: Final = 0xFFFF_FFFF

PROOF_VERSION: Final = 1
"""First byte of every encoded proof."""


class CommitmentError(GCXError):
    """A tensor or op cannot be committed (dtype, rank, shape, id out of range, mismatch)."""

    exit_code = 1


class ProofError(CommitmentError):
    """Bytes or fields that are not a well-formed proof (they never verify, so they never decode)."""


def _tag(name: str) -> bytes:
    raw = name.encode("ascii")
    assert len(raw) <= 16, name
    return raw.ljust(16, b"\x00")


# Domain tags: an ASCII name right-padded with zero bytes to 16 bytes (Solidity: `bytes16 constant
# TAG = "name";` pads the same way). Every hash preimage starts with exactly one of them.
TAG_ROW_LEAF: Final = _tag("gcx.tp1.row.leaf")
TAG_ROW_NODE: Final = _tag("gcx.tp1.row.node")
TAG_ROW_PAD: Final = _tag("gcx.tp1.row.pad")
TAG_TENSOR: Final = _tag("gcx.tp1.tensor")
TAG_OP_LEAF: Final = _tag("gcx.tp1.op.leaf")
TAG_OP_NODE: Final = _tag("gcx.tp1.op.node")
TAG_OP_PAD: Final = _tag("gcx.tp1.op.pad")
TAG_RESULT: Final = _tag("gcx.tp1.result")


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


ROW_PAD: Final = _h(TAG_ROW_PAD)
"""The padding leaf of row trees: positions ``rows .. 2**depth - 1`` hold it."""
OP_PAD: Final = _h(TAG_OP_PAD)
"""The padding leaf of op trees."""


class DType(IntEnum):
    """Element types and their one-byte codes in hash preimages and proofs."""

    INT8 = 1
    INT32 = 2

    @property
    def width(self) -> int:
        """Bytes per element (little-endian two's complement)."""
        return 1 if self is DType.INT8 else 4


_NUMPY: Final[dict[DType, str]] = {DType.INT8: "i1", DType.INT32: "<i4"}  # numpy dtype strings


class ProofKind(IntEnum):
    """Second byte of an encoded proof."""

    ROW = 1
    ELEMENT = 2
    OP = 3


def tree_depth(count: int) -> int:
    """``ceil(log2(count))`` for ``count >= 1``: 0 for one leaf, 1 for two, 3 for five."""
    if count < 1:
        raise CommitmentError(f"a tree needs at least one leaf, not {count}")
    return (count - 1).bit_length()


_HEADER: Final = struct.Struct(">IBBII")  # tensor id, dtype, rank, rows, cols (14 bytes)


@dataclass(frozen=True, slots=True)
class TensorHeader:
    """What a tensor root binds besides its rows: id, dtype, rank and shape (rank 1: one row)."""

    tensor_id: int
    dtype: DType
    rank: int
    rows: int
    cols: int

    def __post_init__(self) -> None:
        if not 0 <= self.tensor_id <= U32_MAX:
            raise CommitmentError(f"tensor id {self.tensor_id} is not a u32")
        if self.rank not in (1, 2):
            raise CommitmentError(f"rank {self.rank} is not 1 or 2")
        if not (1 <= self.rows <= U32_MAX and 1 <= self.cols <= U32_MAX):
            raise CommitmentError(f"shape {self.rows}x{self.cols} is empty or too large")
        if self.rank == 1 and self.rows != 1:
            raise CommitmentError(f"a rank-1 tensor is one row, not {self.rows}")
        if self.cols * self.dtype.width > U32_MAX:
            raise CommitmentError(f"a row of {self.cols} elements is too long")

    @property
    def depth(self) -> int:
        """Siblings in a row proof: ``ceil(log2(rows))``."""
        return tree_depth(self.rows)

    @property
    def row_size(self) -> int:
        """Bytes of one row."""
        return self.cols * self.dtype.width

    def encode(self) -> bytes:
        """``tensor id u32 ‖ dtype u8 ‖ rank u8 ‖ rows u32 ‖ cols u32``, big-endian, 14 bytes."""
        return _HEADER.pack(self.tensor_id, self.dtype, self.rank, self.rows, self.cols)

    @classmethod
    def of(cls, tensor_id: int, array: npt.NDArray[np.generic]) -> TensorHeader:
        """The header of ``array`` as tensor ``tensor_id`` (int8/int32, rank 1 or 2, non-empty)."""
        return cls._with_rows(tensor_id, array)[0]

    @classmethod
    def for_shape(cls, tensor_id: int, dtype: np.dtype[np.generic], shape: tuple[int, ...]) -> TensorHeader:
        """The header of a tensor of numpy ``dtype`` and ``shape`` (any array library's: a device
        array is described without copying it); :class:`CommitmentError` when it cannot be one."""
        kind, size = dtype.kind, dtype.itemsize
        if kind == "i" and size == 1:
            code = DType.INT8
        elif kind == "i" and size == 4:
            code = DType.INT32
        else:
            raise CommitmentError(f"dtype {dtype} is not int8 or int32")
        if len(shape) not in (1, 2):
            raise CommitmentError(f"rank {len(shape)} is not 1 or 2")
        rows, cols = (1, shape[0]) if len(shape) == 1 else shape
        return cls(tensor_id, code, len(shape), rows, cols)

    @classmethod
    def _with_rows(
        cls, tensor_id: int, array: npt.NDArray[np.generic]
    ) -> tuple[TensorHeader, npt.NDArray[np.uint8]]:
        if not isinstance(array, np.ndarray):
            raise CommitmentError(f"a tensor is a numpy array, not {type(array).__name__}")
        header = cls.for_shape(tensor_id, array.dtype, array.shape)
        dtype, rows, cols = header.dtype, header.rows, header.cols
        data = np.ascontiguousarray(array, dtype=_NUMPY[dtype]).reshape(rows, cols)
        return header, data.view(np.uint8)


def tensor_root_of(header: TensorHeader, tree_root: bytes) -> bytes:
    """``H(TAG_TENSOR ‖ header ‖ tree root)``."""
    return _h(TAG_TENSOR, header.encode(), tree_root)


def row_leaf(header: TensorHeader, index: int, row: bytes) -> bytes:
    """Leaf ``index``: ``H(TAG_ROW_LEAF ‖ id u32 ‖ index u32 ‖ dtype u8 ‖ cols u32 ‖ row)``."""
    return _h(
        TAG_ROW_LEAF,
        struct.pack(">IIBI", header.tensor_id, index, header.dtype, header.cols),
        row,
    )


def _row_leaves(header: TensorHeader, rows: npt.NDArray[np.uint8]) -> list[bytes]:
    """Every row's leaf. The 29-byte prefixes are built as one numpy buffer; each leaf is then
    two ``update`` calls on a zero-copy row view (SHA-256 over the rows dominates)."""
    n = header.rows
    prefix = np.empty((n, 29), dtype=np.uint8)
    prefix[:, :16] = np.frombuffer(TAG_ROW_LEAF, dtype=np.uint8)
    prefix[:, 16:20] = np.frombuffer(struct.pack(">I", header.tensor_id), dtype=np.uint8)
    prefix[:, 20:24] = np.arange(n, dtype=">u4").view(np.uint8).reshape(n, 4)
    prefix[:, 24] = header.dtype
    prefix[:, 25:29] = np.frombuffer(struct.pack(">I", header.cols), dtype=np.uint8)
    flat = prefix.tobytes()
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    for i in range(n):
        h = sha256(flat[29 * i : 29 * i + 29])
        h.update(rows[i])
        leaves.append(h.digest())
    return leaves


def _pads(pad_leaf: bytes, node_tag: bytes, depth: int) -> tuple[bytes, ...]:
    """The roots of all-padding subtrees of height ``0 .. depth``."""
    pads = [pad_leaf]
    for _ in range(depth):
        pads.append(_h(node_tag, pads[-1], pads[-1]))
    return tuple(pads)


def _levels(leaves: list[bytes], node_tag: bytes, pads: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], ...]:
    """Every level of the padded tree, leaves first; a level's missing right end is padding."""
    levels = [tuple(leaves)]
    for height in range(len(pads) - 1):
        cur = levels[-1]
        nxt = []
        for i in range(0, len(cur), 2):
            right = cur[i + 1] if i + 1 < len(cur) else pads[height]
            nxt.append(_h(node_tag, cur[i], right))
        levels.append(tuple(nxt))
    return tuple(levels)


def _path(levels: tuple[tuple[bytes, ...], ...], pads: tuple[bytes, ...], index: int) -> tuple[bytes, ...]:
    """The siblings of leaf ``index``, bottom-up."""
    siblings = []
    for height, level in enumerate(levels[:-1]):
        sib = index ^ 1
        siblings.append(level[sib] if sib < len(level) else pads[height])
        index >>= 1
    return tuple(siblings)


def _climb(leaf: bytes, index: int, siblings: Sequence[bytes], node_tag: bytes) -> bytes:
    """The tree root from a leaf, its index and its siblings: bit ``l`` of ``index`` set means
    the running hash is the right child at height ``l``."""
    node = leaf
    for sib in siblings:
        node = _h(node_tag, sib, node) if index & 1 else _h(node_tag, node, sib)
        index >>= 1
    return node


@dataclass(frozen=True, slots=True, eq=False)
class TensorCommitment:
    """A committed tensor: its header, tree and roots (the rows stay with the caller)."""

    header: TensorHeader
    levels: tuple[tuple[bytes, ...], ...]
    """The padded tree's levels, leaves first, root last (a level's padding is not stored)."""

    @property
    def tree_root(self) -> bytes:
        """The Merkle root over the rows."""
        return self.levels[-1][0]

    @property
    def root(self) -> bytes:
        """The tensor root: ``H(TAG_TENSOR ‖ header ‖ tree root)``."""
        return tensor_root_of(self.header, self.tree_root)

    def siblings(self, index: int) -> tuple[bytes, ...]:
        """Row ``index``'s proof path, bottom-up (``depth`` digests)."""
        if not 0 <= index < self.header.rows:
            raise CommitmentError(f"row {index} is outside 0..{self.header.rows - 1}")
        return _path(self.levels, _pads(ROW_PAD, TAG_ROW_NODE, self.header.depth), index)


def commit_tensor(tensor_id: int, array: npt.NDArray[np.generic]) -> TensorCommitment:
    """Commit ``array`` as tensor ``tensor_id``: one SHA-256 per row plus one per node."""
    header, rows = TensorHeader._with_rows(tensor_id, array)
    pads = _pads(ROW_PAD, TAG_ROW_NODE, header.depth)
    return TensorCommitment(header, _levels(_row_leaves(header, rows), TAG_ROW_NODE, pads))


def row_pads(depth: int) -> tuple[bytes, ...]:
    """The row tree's all-padding subtree roots ``Z_0 = ROW_PAD … Z_depth`` (what a level of odd
    length is completed with at each height; for hashing the tree elsewhere, e.g. on a GPU)."""
    return _pads(ROW_PAD, TAG_ROW_NODE, depth)


def commitment_from_levels(header: TensorHeader, levels: Sequence[Sequence[bytes]]) -> TensorCommitment:
    """A :class:`TensorCommitment` from leaves and levels hashed elsewhere (a GPU kernel).

    Checks the shape only, not the hashes (it has no rows): ``depth + 1`` levels, level ``h``
    holding ``ceil(rows / 2**h)`` digests of 32 bytes, the root level one. The caller vouches
    that the digests are the ones :func:`commit_tensor` would compute (the GPU test checks it).
    """
    if len(levels) != header.depth + 1:
        raise CommitmentError(f"{len(levels)} levels, a tree of {header.rows} rows has {header.depth + 1}")
    out = []
    for height, level in enumerate(levels):
        want = (header.rows + (1 << height) - 1) >> height
        if len(level) != want:
            raise CommitmentError(f"level {height} holds {len(level)} digests, {want} expected")
        if any(not isinstance(d, bytes) or len(d) != HASH_SIZE for d in level):
            raise CommitmentError(f"level {height} holds a digest that is not {HASH_SIZE} bytes")
        out.append(tuple(level))
    return TensorCommitment(header, tuple(out))


def tensor_root(tensor_id: int, array: npt.NDArray[np.generic]) -> bytes:
    """The tensor root of ``array`` as tensor ``tensor_id``."""
    return commit_tensor(tensor_id, array).root


def _check_digests(digests: Sequence[bytes], count: int, what: str) -> None:
    if len(digests) != count:
        raise ProofError(f"{what}: {len(digests)} siblings, the shape needs {count}")
    if any(not isinstance(d, bytes) or len(d) != HASH_SIZE for d in digests):
        raise ProofError(f"{what}: a sibling is not {HASH_SIZE} bytes")


@dataclass(frozen=True, slots=True)
class RowProof:
    """Row ``index`` of the tensor described by ``header``, with its Merkle path."""

    header: TensorHeader
    index: int
    row: bytes
    siblings: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.header.rows:
            raise ProofError(f"row {self.index} is outside 0..{self.header.rows - 1}")
        if len(self.row) != self.header.row_size:
            raise ProofError(f"a row of {len(self.row)} bytes, the shape needs {self.header.row_size}")
        _check_digests(self.siblings, self.header.depth, "row proof")

    def encode(self) -> bytes:
        """``01 01 ‖ header (14) ‖ index u32 ‖ row ‖ siblings``: ``20 + row + 32·depth`` bytes."""
        return b"".join(
            (
                bytes((PROOF_VERSION, ProofKind.ROW)),
                self.header.encode(),
                struct.pack(">I", self.index),
                self.row,
                *self.siblings,
            )
        )

    def values(self) -> list[int]:
        """The row's elements."""
        return [int(v) for v in np.frombuffer(self.row, dtype=_NUMPY[self.header.dtype])]


@dataclass(frozen=True, slots=True)
class ElementProof:
    """Element ``col`` of a row proven by ``row_proof``."""

    row_proof: RowProof
    col: int

    def __post_init__(self) -> None:
        if not 0 <= self.col < self.row_proof.header.cols:
            raise ProofError(f"column {self.col} is outside 0..{self.row_proof.header.cols - 1}")

    @property
    def value(self) -> int:
        """The element (signed)."""
        w = self.row_proof.header.dtype.width
        return int.from_bytes(self.row_proof.row[w * self.col : w * self.col + w], "little", signed=True)

    def encode(self) -> bytes:
        """``01 02 ‖ header (14) ‖ row index u32 ‖ col u32 ‖ row ‖ siblings``: 24 + row + 32·depth."""
        p = self.row_proof
        return b"".join(
            (
                bytes((PROOF_VERSION, ProofKind.ELEMENT)),
                p.header.encode(),
                struct.pack(">II", p.index, self.col),
                p.row,
                *p.siblings,
            )
        )


def prove_row(commitment: TensorCommitment, array: npt.NDArray[np.generic], index: int) -> RowProof:
    """The proof of row ``index`` of ``array``, which must be the committed tensor."""
    header, rows = TensorHeader._with_rows(commitment.header.tensor_id, array)
    if header != commitment.header:
        raise CommitmentError(f"the array is {header}, the commitment is of {commitment.header}")
    siblings = commitment.siblings(index)
    row = rows[index].tobytes()
    if row_leaf(header, index, row) != commitment.levels[0][index]:
        raise CommitmentError(f"row {index} of the array is not the committed row")
    return RowProof(header, index, row, siblings)


def prove_element(
    commitment: TensorCommitment, array: npt.NDArray[np.generic], row: int, col: int
) -> ElementProof:
    """The proof of element ``[row, col]`` (rank 1: ``row`` is 0)."""
    return ElementProof(prove_row(commitment, array, row), col)


def verify_row(root: bytes, proof: RowProof) -> bool:
    """Whether ``proof`` opens row ``proof.index`` of the tensor whose tensor root is ``root``."""
    leaf = row_leaf(proof.header, proof.index, proof.row)
    tree_root = _climb(leaf, proof.index, proof.siblings, TAG_ROW_NODE)
    return tensor_root_of(proof.header, tree_root) == root


def verify_element(root: bytes, proof: ElementProof, at: tuple[int, int] | None = None) -> bool:
    """Whether ``proof``'s row verifies under ``root`` (its column is in range by construction);
    the element is then ``proof.value``.

    The column is not hashed (the row proof opens every element of the row), so a proof whose
    column was changed is a true proof of another element of the same row. A verifier that
    asked for one element passes ``at=(row, col)``: the proof must then be of that element.
    """
    if at is not None and (proof.row_proof.index, proof.col) != at:
        return False
    return verify_row(root, proof.row_proof)


_OP_BODY: Final = struct.Struct(">IBBIIiBb")  # k, opcode, n, in_0, in_1, multiplier, shift, zero_point
OP_BODY_SIZE: Final = _OP_BODY.size + _HEADER.size + HASH_SIZE
"""Bytes of an op leaf body: 20 + output header (14) + output tensor root (32) = 66."""


def _leaf_error(op_index: int, why: str) -> ProofError:
    return ProofError(f"op leaf {op_index}: {why}")


@dataclass(frozen=True, slots=True)
class OpLeaf:
    """What op ``op_index`` commits: its opcode, input tensor ids and attributes (requant's;
    all zero for other ops), and its output tensor's header and root.

    Checked on construction (:class:`ProofError`): a known opcode, exactly its arity of u32
    input ids, each below the output's tensor id (an op reads earlier tensors), attributes in
    range (multiplier i32, shift 0..62, zero point i8) and all zero unless the op is requant,
    an output dtype the op produces (int8 for requant, int32 otherwise; matmul_nt rank 2,
    argmax rank 1), and a 32-byte output root.
    """

    op_index: int
    opcode: OpCode
    inputs: tuple[int, ...]
    attrs: OpAttrs
    output: TensorHeader
    output_root: bytes

    def __post_init__(self) -> None:
        k = self.op_index
        if type(k) is not int or not 0 <= k <= U32_MAX:
            raise ProofError(f"op index {k!r} is not a u32")
        if not isinstance(self.opcode, OpCode):
            raise _leaf_error(k, f"opcode {self.opcode!r} is not an OpCode")
        if not isinstance(self.inputs, tuple) or not isinstance(self.attrs, OpAttrs):
            raise _leaf_error(k, "inputs must be a tuple and attrs an OpAttrs")
        try:
            op_from_fields(self.opcode, self.inputs, self.attrs)
        except ProgramError as err:
            raise _leaf_error(k, str(err)) from None
        if not isinstance(self.output, TensorHeader):
            raise _leaf_error(k, "the output is not a tensor header")
        if any(t >= self.output.tensor_id for t in self.inputs):
            raise _leaf_error(
                k, f"inputs {self.inputs} are not before the output tensor {self.output.tensor_id}"
            )
        want = DType.INT8 if self.opcode is OpCode.REQUANT else DType.INT32
        if self.output.dtype is not want:
            raise _leaf_error(
                k,
                f"{self.opcode.name.lower()} outputs {want.name.lower()}, not {self.output.dtype.name.lower()}",
            )
        rank = {OpCode.MATMUL_NT: 2, OpCode.ARGMAX: 1}.get(self.opcode, self.output.rank)
        if self.output.rank != rank:
            raise _leaf_error(k, f"{self.opcode.name.lower()} outputs rank {rank}, not {self.output.rank}")
        if not isinstance(self.output_root, bytes) or len(self.output_root) != HASH_SIZE:
            raise _leaf_error(k, f"an output root is {HASH_SIZE} bytes")

    def body(self) -> bytes:
        """The leaf preimage after its tag, 66 bytes at fixed offsets: ``k u32 ‖ opcode u8 ‖
        n u8 ‖ in_0 u32 ‖ in_1 u32 (0 when n = 1) ‖ multiplier i32 ‖ shift u8 ‖ zero_point i8 ‖
        output header (14) ‖ output tensor root (32)``."""
        in0, in1 = (*self.inputs, 0)[:2]
        a = self.attrs
        return b"".join(
            (
                _OP_BODY.pack(
                    self.op_index,
                    self.opcode,
                    len(self.inputs),
                    in0,
                    in1,
                    a.multiplier,
                    a.shift,
                    a.zero_point,
                ),
                self.output.encode(),
                self.output_root,
            )
        )

    def digest(self) -> bytes:
        """``H(TAG_OP_LEAF ‖ body)``."""
        return _h(TAG_OP_LEAF, self.body())

    @property
    def op(self) -> Op:
        """The program op this leaf describes."""
        return op_from_fields(self.opcode, self.inputs, self.attrs)


def op_leaf(op_index: int, op: Op, output: TensorCommitment) -> OpLeaf:
    """The leaf of op ``op_index`` (``op``) whose output tensor was committed as ``output``."""
    opcode, attrs = op_fields(op)
    return OpLeaf(op_index, opcode, tuple(op.inputs), attrs, output.header, output.root)


def _check_program_digest(program_digest: bytes, error: type[CommitmentError]) -> None:
    if not isinstance(program_digest, bytes) or len(program_digest) != HASH_SIZE:
        raise error(f"a program digest is {HASH_SIZE} bytes, not {program_digest!r:.80}")


def result_root_of(program_digest: bytes, n_ops: int, tree_root: bytes) -> bytes:
    """``H(TAG_RESULT ‖ program digest (32) ‖ n_ops u32 ‖ op tree root)``."""
    _check_program_digest(program_digest, CommitmentError)
    return _h(TAG_RESULT, program_digest, struct.pack(">I", n_ops), tree_root)


@dataclass(frozen=True, slots=True, eq=False)
class ResultCommitment:
    """A program's committed op leaves and their tree, under the program's digest."""

    program_digest: bytes
    leaves: tuple[OpLeaf, ...]
    levels: tuple[tuple[bytes, ...], ...]

    @property
    def tree_root(self) -> bytes:
        """The Merkle root over the op leaves."""
        return self.levels[-1][0]

    @property
    def root(self) -> bytes:
        """The result root: ``H(TAG_RESULT ‖ program digest ‖ op count ‖ tree root)``."""
        return result_root_of(self.program_digest, len(self.leaves), self.tree_root)


def commit_result(program_digest: bytes, leaves: Sequence[OpLeaf]) -> ResultCommitment:
    """Commit the op leaves of the program whose keccak-256 digest (``Program.digest``) is
    ``program_digest``; leaf ``k`` must be op ``k``."""
    _check_program_digest(program_digest, CommitmentError)
    if not 1 <= len(leaves) <= U32_MAX:
        raise CommitmentError(f"a program of {len(leaves)} ops cannot be committed")
    for k, leaf in enumerate(leaves):
        if leaf.op_index != k:
            raise CommitmentError(f"leaf {k} is of op {leaf.op_index}")
    pads = _pads(OP_PAD, TAG_OP_NODE, tree_depth(len(leaves)))
    levels = _levels([x.digest() for x in leaves], TAG_OP_NODE, pads)
    return ResultCommitment(program_digest, tuple(leaves), levels)


@dataclass(frozen=True, slots=True)
class OpProof:
    """Op leaf ``leaf`` (at position ``leaf.op_index``) of a program of ``n_ops`` ops whose
    digest is ``program_digest``."""

    n_ops: int
    program_digest: bytes
    leaf: OpLeaf
    siblings: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.n_ops <= U32_MAX:
            raise ProofError(f"a program of {self.n_ops} ops")
        _check_program_digest(self.program_digest, ProofError)
        if not isinstance(self.leaf, OpLeaf):
            raise ProofError(f"an op proof holds an OpLeaf, not {type(self.leaf).__name__}")
        if self.leaf.op_index >= self.n_ops:
            raise ProofError(f"op {self.leaf.op_index} is outside 0..{self.n_ops - 1}")
        _check_digests(self.siblings, tree_depth(self.n_ops), "op proof")

    def encode(self) -> bytes:
        """``01 03 ‖ n_ops u32 ‖ program digest (32) ‖ op leaf body (66) ‖ siblings``:
        ``104 + 32·ceil(log2 n_ops)`` bytes."""
        return b"".join(
            (
                bytes((PROOF_VERSION, ProofKind.OP)),
                struct.pack(">I", self.n_ops),
                self.program_digest,
                self.leaf.body(),
                *self.siblings,
            )
        )


def prove_op(result: ResultCommitment, index: int) -> OpProof:
    """The proof of op ``index``'s leaf in ``result``."""
    if not 0 <= index < len(result.leaves):
        raise CommitmentError(f"op {index} is outside 0..{len(result.leaves) - 1}")
    pads = _pads(OP_PAD, TAG_OP_NODE, tree_depth(len(result.leaves)))
    siblings = _path(result.levels, pads, index)
    return OpProof(len(result.leaves), result.program_digest, result.leaves[index], siblings)


def verify_op(root: bytes, proof: OpProof, program_digest: bytes | None = None) -> bool:
    """Whether ``proof`` opens op ``proof.leaf.op_index`` of the program whose result root is
    ``root``; with ``program_digest``, also that the proof is of that program (a verifier that
    knows the job's program should pass it)."""
    if program_digest is not None and proof.program_digest != program_digest:
        return False
    tree_root = _climb(proof.leaf.digest(), proof.leaf.op_index, proof.siblings, TAG_OP_NODE)
    return result_root_of(proof.program_digest, proof.n_ops, tree_root) == root


class _Reader:
    """A strict cursor over proof bytes: every read is bounds-checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise ProofError(f"proof truncated in its {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self, what: str) -> int:
        value: int = struct.unpack(">I", self.take(4, what))[0]
        return value

    def header(self) -> TensorHeader:
        tensor_id, dtype, rank, rows, cols = _HEADER.unpack(self.take(_HEADER.size, "tensor header"))
        if dtype not in (DType.INT8, DType.INT32):
            raise ProofError(f"unknown dtype code {dtype}")
        try:
            return TensorHeader(tensor_id, DType(dtype), rank, rows, cols)
        except CommitmentError as err:
            raise ProofError(str(err)) from None

    def digests(self, count: int) -> tuple[bytes, ...]:
        raw = self.take(HASH_SIZE * count, "siblings")
        return tuple(raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE))

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ProofError(f"{len(self.data) - self.pos} bytes after the proof")


def _start(data: bytes, kind: ProofKind) -> _Reader:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProofError(f"a proof is bytes, not {type(data).__name__}")
    reader = _Reader(bytes(data))
    version, got = reader.take(2, "version and kind")
    if version != PROOF_VERSION:
        raise ProofError(f"proof version {version}, expected {PROOF_VERSION}")
    if got != kind:
        raise ProofError(f"proof kind {got}, expected {int(kind)} ({kind.name.lower()})")
    return reader


def decode_row_proof(data: bytes) -> RowProof:
    """The :class:`RowProof` encoded by ``data``; :class:`ProofError` for anything else."""
    r = _start(data, ProofKind.ROW)
    header = r.header()
    index = r.u32("row index")
    row = r.take(header.row_size, "row")
    siblings = r.digests(header.depth)
    r.end()
    return RowProof(header, index, row, siblings)


def decode_element_proof(data: bytes) -> ElementProof:
    """The :class:`ElementProof` encoded by ``data``; :class:`ProofError` for anything else."""
    r = _start(data, ProofKind.ELEMENT)
    header = r.header()
    index = r.u32("row index")
    col = r.u32("column")
    row = r.take(header.row_size, "row")
    siblings = r.digests(header.depth)
    r.end()
    return ElementProof(RowProof(header, index, row, siblings), col)


def decode_op_proof(data: bytes) -> OpProof:
    """The :class:`OpProof` encoded by ``data``; :class:`ProofError` for anything else, an op
    leaf that no program produces included (see :class:`OpLeaf`; an unused input slot must be 0)."""
    r = _start(data, ProofKind.OP)
    n_ops = r.u32("op count")
    program_digest = r.take(HASH_SIZE, "program digest")
    leaf = _read_op_leaf(r)
    if n_ops == 0:
        raise ProofError("a program of 0 ops")
    siblings = r.digests(tree_depth(n_ops))
    r.end()
    return OpProof(n_ops, program_digest, leaf, siblings)


def _read_op_leaf(r: _Reader) -> OpLeaf:
    k, code, n, in0, in1, multiplier, shift, zero_point = _OP_BODY.unpack(r.take(_OP_BODY.size, "op leaf"))
    try:
        opcode = OpCode(code)
    except ValueError:
        raise _leaf_error(k, f"unknown opcode {code}") from None
    if n not in (1, 2):
        raise _leaf_error(k, f"{n} inputs")
    if n == 1 and in1 != 0:
        raise _leaf_error(k, f"one input, but the unused input slot holds {in1}")
    inputs = (in0, in1)[:n]
    output = r.header()
    output_root = r.take(HASH_SIZE, "output root")
    return OpLeaf(k, opcode, inputs, OpAttrs(multiplier, shift, zero_point), output, output_root)


def decode_op_leaf(body: bytes) -> OpLeaf:
    """The :class:`OpLeaf` whose :meth:`OpLeaf.body` is ``body`` (66 bytes); :class:`ProofError`
    for anything else, as :func:`decode_op_proof` checks a leaf."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ProofError(f"an op leaf is bytes, not {type(body).__name__}")
    r = _Reader(bytes(body))
    leaf = _read_op_leaf(r)
    r.end()
    return leaf


def decode_proof(data: bytes) -> RowProof | ElementProof | OpProof:
    """Any proof, by its kind byte; :class:`ProofError` for anything that is not one."""
    if len(data) < 2:
        raise ProofError("proof truncated in its version and kind")
    kind = data[1]
    if kind == ProofKind.ROW:
        return decode_row_proof(data)
    if kind == ProofKind.ELEMENT:
        return decode_element_proof(data)
    if kind == ProofKind.OP:
        return decode_op_proof(data)
    raise ProofError(f"unknown proof kind {kind}")
