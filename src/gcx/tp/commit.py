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
* Op ``k``'s **op leaf** hashes ``TAG_OP_LEAF ‖ k ‖ op bytes ‖ input tensor ids ‖ output header
  ‖ output tensor root``; the **result root** ``H(TAG_RESULT ‖ op count ‖ op tree root)`` is a
  Merkle root of the same shape over the op leaves (own tags and padding constant), so every
  intermediate tensor of a program is committed.
* Proofs (:class:`RowProof`, :class:`ElementProof`, :class:`OpProof`) have one canonical byte
  encoding each; the decoders accept exactly the encodings :meth:`encode` produces and raise
  :class:`ProofError` for anything else. ``verify_*`` answer ``True`` / ``False``.

This module is pure (hashlib, struct, numpy): no I/O, no threads, nothing of the programs above.
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

__all__ = [
    "HASH_SIZE",
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
    def _with_rows(
        cls, tensor_id: int, array: npt.NDArray[np.generic]
    ) -> tuple[TensorHeader, npt.NDArray[np.uint8]]:
        if not isinstance(array, np.ndarray):
            raise CommitmentError(f"a tensor is a numpy array, not {type(array).__name__}")
        kind, size = array.dtype.kind, array.dtype.itemsize
        if kind == "i" and size == 1:
            dtype = DType.INT8
        elif kind == "i" and size == 4:
            dtype = DType.INT32
        else:
            raise CommitmentError(f"dtype {array.dtype} is not int8 or int32")
        if array.ndim not in (1, 2):
            raise CommitmentError(f"rank {array.ndim} is not 1 or 2")
        rows, cols = (1, array.shape[0]) if array.ndim == 1 else array.shape
        header = cls(tensor_id, dtype, array.ndim, rows, cols)
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


@dataclass(frozen=True, slots=True)
class OpLeaf:
    """What op ``op_index`` commits: its canonical bytes, inputs, output header and root."""

    op_index: int
    op_bytes: bytes
    inputs: tuple[int, ...]
    output: TensorHeader
    output_root: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.op_index <= U32_MAX:
            raise ProofError(f"op index {self.op_index} is not a u32")
        if len(self.op_bytes) > U32_MAX or len(self.inputs) > U32_MAX:
            raise ProofError("op bytes or inputs too long")
        if any(not 0 <= t <= U32_MAX for t in self.inputs):
            raise ProofError(f"input tensor ids {self.inputs} are not u32")
        if len(self.output_root) != HASH_SIZE:
            raise ProofError(f"an output root of {len(self.output_root)} bytes")

    def body(self) -> bytes:
        """``op index u32 ‖ len u32 ‖ op bytes ‖ n u32 ‖ n × input id u32 ‖ output header (14)
        ‖ output tensor root (32)``: the leaf preimage after its tag."""
        return b"".join(
            (
                struct.pack(">II", self.op_index, len(self.op_bytes)),
                self.op_bytes,
                struct.pack(f">I{len(self.inputs)}I", len(self.inputs), *self.inputs),
                self.output.encode(),
                self.output_root,
            )
        )

    def digest(self) -> bytes:
        """``H(TAG_OP_LEAF ‖ body)``."""
        return _h(TAG_OP_LEAF, self.body())


def op_leaf(op_index: int, op_bytes: bytes, inputs: Sequence[int], output: TensorCommitment) -> OpLeaf:
    """The leaf of op ``op_index`` whose output tensor was committed as ``output``."""
    return OpLeaf(op_index, bytes(op_bytes), tuple(inputs), output.header, output.root)


def result_root_of(n_ops: int, tree_root: bytes) -> bytes:
    """``H(TAG_RESULT ‖ n_ops u32 ‖ op tree root)``."""
    return _h(TAG_RESULT, struct.pack(">I", n_ops), tree_root)


@dataclass(frozen=True, slots=True, eq=False)
class ResultCommitment:
    """A program's committed op leaves and their tree."""

    leaves: tuple[OpLeaf, ...]
    levels: tuple[tuple[bytes, ...], ...]

    @property
    def tree_root(self) -> bytes:
        """The Merkle root over the op leaves."""
        return self.levels[-1][0]

    @property
    def root(self) -> bytes:
        """The result root: ``H(TAG_RESULT ‖ op count ‖ tree root)``."""
        return result_root_of(len(self.leaves), self.tree_root)


def commit_result(leaves: Sequence[OpLeaf]) -> ResultCommitment:
    """Commit a program's op leaves; leaf ``k`` must be op ``k``."""
    if not 1 <= len(leaves) <= U32_MAX:
        raise CommitmentError(f"a program of {len(leaves)} ops cannot be committed")
    for k, leaf in enumerate(leaves):
        if leaf.op_index != k:
            raise CommitmentError(f"leaf {k} is of op {leaf.op_index}")
    pads = _pads(OP_PAD, TAG_OP_NODE, tree_depth(len(leaves)))
    return ResultCommitment(tuple(leaves), _levels([x.digest() for x in leaves], TAG_OP_NODE, pads))


@dataclass(frozen=True, slots=True)
class OpProof:
    """Op leaf ``leaf`` (at position ``leaf.op_index``) of a program of ``n_ops`` ops."""

    n_ops: int
    leaf: OpLeaf
    siblings: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.n_ops <= U32_MAX:
            raise ProofError(f"a program of {self.n_ops} ops")
        if self.leaf.op_index >= self.n_ops:
            raise ProofError(f"op {self.leaf.op_index} is outside 0..{self.n_ops - 1}")
        _check_digests(self.siblings, tree_depth(self.n_ops), "op proof")

    def encode(self) -> bytes:
        """``01 03 ‖ n_ops u32 ‖ op leaf body ‖ siblings``: ``6 + body + 32·ceil(log2 n_ops)``."""
        return b"".join(
            (
                bytes((PROOF_VERSION, ProofKind.OP)),
                struct.pack(">I", self.n_ops),
                self.leaf.body(),
                *self.siblings,
            )
        )


def prove_op(result: ResultCommitment, index: int) -> OpProof:
    """The proof of op ``index``'s leaf in ``result``."""
    if not 0 <= index < len(result.leaves):
        raise CommitmentError(f"op {index} is outside 0..{len(result.leaves) - 1}")
    pads = _pads(OP_PAD, TAG_OP_NODE, tree_depth(len(result.leaves)))
    return OpProof(len(result.leaves), result.leaves[index], _path(result.levels, pads, index))


def verify_op(root: bytes, proof: OpProof) -> bool:
    """Whether ``proof`` opens op ``proof.leaf.op_index`` of the program whose result root is ``root``."""
    tree_root = _climb(proof.leaf.digest(), proof.leaf.op_index, proof.siblings, TAG_OP_NODE)
    return result_root_of(proof.n_ops, tree_root) == root


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
    """The :class:`OpProof` encoded by ``data``; :class:`ProofError` for anything else."""
    r = _start(data, ProofKind.OP)
    n_ops = r.u32("op count")
    op_index = r.u32("op index")
    op_bytes = r.take(r.u32("op length"), "op bytes")
    n_inputs = r.u32("input count")
    raw_inputs = r.take(4 * n_inputs, "inputs")
    inputs = struct.unpack(f">{n_inputs}I", raw_inputs)
    output = r.header()
    output_root = r.take(HASH_SIZE, "output root")
    if n_ops == 0:
        raise ProofError("a program of 0 ops")
    siblings = r.digests(tree_depth(n_ops))
    r.end()
    return OpProof(n_ops, OpLeaf(op_index, op_bytes, inputs, output, output_root), siblings)


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
