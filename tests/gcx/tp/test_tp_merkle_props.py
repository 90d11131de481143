"""Property tests of the GCX-TP commitments (gcx.tp.commit): proofs bind their position, tensor
id, dtype and shape; a leaf never passes for a node (nor an op-tree node for an op leaf); any
tampered byte of an encoded proof fails to decode or to verify; element proofs open exactly the
element the row bytes hold."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.tp import InputDecl, MatmulNT, OutputDecl, Relu, Requant, TensorType, execute, make_program
from gcx.tp import commit as c
from gcx.tp.attest import commit_run
from gcx.tp.backends import NumpyBackend
from gcx.tp.commit import DType, ElementProof, OpProof, ProofError, RowProof, TensorHeader


@st.composite
def tensors(draw: st.DrawFn) -> tuple[int, np.ndarray]:
    """(tensor id, array): 1..40 rows, int8 or int32, rank 1 when one row (sometimes); random,
    constant (rows told apart only by their index) or few-valued contents."""
    rows, cols = draw(st.integers(1, 40)), draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.int8, np.int32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    info = np.iinfo(dtype)
    mode = draw(st.sampled_from(["random", "constant", "two"]))
    if mode == "random":
        a = rng.integers(info.min, info.max, (rows, cols), dtype=dtype, endpoint=True)
    elif mode == "constant":
        a = np.full((rows, cols), draw(st.integers(-128, 127)), dtype=dtype)
    else:
        a = rng.integers(0, 2, (rows, cols), dtype=dtype)
    if rows == 1 and draw(st.booleans()):
        a = a.reshape(cols)
    return draw(st.integers(0, 2**32 - 1)), a


@settings(max_examples=150, deadline=None)
@given(tensors(), st.data())
def test_row_proof_binds_index(case: tuple[int, np.ndarray], data: st.DataObject) -> None:
    tid, a = case
    t = c.commit_tensor(tid, a)
    rows = a.reshape(t.header.rows, -1)
    for i in range(t.header.rows):
        p = c.prove_row(t, a, i)
        assert c.verify_row(t.root, p) and c.decode_row_proof(p.encode()) == p
        assert p.values() == rows[i].tolist()
    if t.header.rows == 1:
        return
    i = data.draw(st.integers(0, t.header.rows - 1))
    j = data.draw(st.integers(0, t.header.rows - 2).map(lambda x: x if x < i else x + 1))
    p = c.prove_row(t, a, i)
    assert not c.verify_row(t.root, RowProof(p.header, j, p.row, p.siblings))
    # row i's bytes on row j's true path: a proof of row j exactly when the two rows are equal
    replay = RowProof(p.header, j, p.row, t.siblings(j))
    assert c.verify_row(t.root, replay) == (rows[i].tobytes() == rows[j].tobytes())


@settings(max_examples=150, deadline=None)
@given(tensors(), st.integers(0, 2**32 - 1), st.data())
def test_row_proof_binds_tensor_id(case: tuple[int, np.ndarray], other_id: int, data: st.DataObject) -> None:
    tid, a = case
    if other_id == tid:
        other_id ^= 1
    t, other = c.commit_tensor(tid, a), c.commit_tensor(other_id, a)
    assert t.root != other.root
    i = data.draw(st.integers(0, t.header.rows - 1))
    p = c.prove_row(t, a, i)
    assert not c.verify_row(other.root, p)
    relabelled = RowProof(other.header, i, p.row, p.siblings)  # the same bytes, claimed for the other id
    assert not c.verify_row(t.root, relabelled)
    # the siblings hash the id too: only a one-row tensor (no siblings) relabels into the other's
    # genuine proof of the same row
    genuine = c.prove_row(other, a, i)
    assert c.verify_row(other.root, relabelled) == (relabelled == genuine) == (t.header.rows == 1)


def _reshapes(a: np.ndarray) -> list[np.ndarray]:
    """Every other rank-1/rank-2 shape of the same elements, and int32 rows viewed as int8."""
    n = a.size
    shapes: list[tuple[int, ...]] = [(n,)] + [(r, n // r) for r in range(1, n + 1) if n % r == 0]
    out = [a.reshape(s) for s in shapes if s != a.shape]
    if a.dtype == np.int32:
        out.append(
            np.ascontiguousarray(a).reshape(-1 if a.ndim == 1 else a.shape[0], *a.shape[1:]).view(np.int8)
        )
    return out


@settings(max_examples=150, deadline=None)
@given(tensors(), st.data())
def test_row_proof_binds_shape_and_dtype(case: tuple[int, np.ndarray], data: st.DataObject) -> None:
    tid, a = case
    t = c.commit_tensor(tid, a)
    i = data.draw(st.integers(0, t.header.rows - 1))
    p = c.prove_row(t, a, i)
    for b in _reshapes(a):
        tb = c.commit_tensor(tid, b)
        assert tb.root != t.root, (a.shape, b.shape, b.dtype)
        assert not c.verify_row(tb.root, p)
        try:
            moved = RowProof(tb.header, i, p.row, p.siblings)  # the same bytes under b's header
        except ProofError:
            continue  # index, row size or path length do not fit b's shape: refused outright
        assert not c.verify_row(t.root, moved)
        # under b's root only when it is b's genuine proof (b's row i: the same bytes and path)
        assert c.verify_row(tb.root, moved) == (moved == c.prove_row(tb, b, i))


def test_int32_rows_viewed_as_int8_have_other_roots() -> None:
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    b = a.view(np.int8)  # int8[3,16]: byte-identical rows
    ta, tb = c.commit_tensor(0, a), c.commit_tensor(0, b)
    pa = c.prove_row(ta, a, 1)
    assert c.prove_row(tb, b, 1).row == pa.row
    moved = RowProof(tb.header, 1, pa.row, pa.siblings)  # constructs: same row size and depth
    assert not c.verify_row(tb.root, moved) and not c.verify_row(ta.root, moved)


# -- leaves versus nodes ----------------------------------------------------------------------------


def _four_rows() -> tuple[np.ndarray, c.TensorCommitment]:
    a = np.random.default_rng(1).integers(-(2**31), 2**31, (4, 16), dtype=np.int32)  # rows of 64 bytes
    return a, c.commit_tensor(0, a)


def test_row_node_pair_never_verifies_as_a_row() -> None:
    """A row of 64 bytes is the size of a node's two children: present the children of each
    level-1 node (and of the root) as a row of a shallower tree. Only the leaf/node tags stop
    this (the untagged climb would reach the tree root); every attempt fails."""
    a, t = _four_rows()
    (l0, l1, l2, l3), (n0, n1), (tree_root,) = t.levels
    assert hashlib.sha256(c.TAG_ROW_NODE + n0 + n1).digest() == tree_root  # the pair is the root's preimage
    assert hashlib.sha256(c.TAG_ROW_NODE + l0 + l1).digest() == n0
    h4 = t.header
    h2 = TensorHeader(0, DType.INT32, 2, 2, 16)  # one level shallower
    h1 = TensorHeader(0, DType.INT32, 2, 1, 16)  # two levels shallower: the tree root is the leaf
    with pytest.raises(ProofError, match="1 siblings, the shape needs 2"):
        RowProof(h4, 0, l0 + l1, (n1,))  # the real header forbids the short path
    attempts = [
        RowProof(h2, 0, l0 + l1, (n1,)),
        RowProof(h2, 1, l2 + l3, (n0,)),
        RowProof(h1, 0, n0 + n1, ()),
    ]
    for p in attempts:
        for root in (t.root, c.tensor_root_of(p.header, tree_root)):  # even a root forged for h2/h1
            assert not c.verify_row(root, p)
    # one level deeper: the real row 0 under a header of 8 rows, its real path plus one more level
    h8 = TensorHeader(0, DType.INT32, 2, 8, 16)
    pads = [c.ROW_PAD]
    for _ in range(2):
        pads.append(hashlib.sha256(c.TAG_ROW_NODE + pads[-1] + pads[-1]).digest())
    deeper = RowProof(h8, 0, a[0].tobytes(), (l1, n1, pads[2]))
    for root in (t.root, c.tensor_root_of(h8, tree_root)):
        assert not c.verify_row(root, deeper)


def _result() -> tuple[c.ResultCommitment, tuple[c.TensorCommitment, ...]]:
    p = make_program(
        [InputDecl("x", TensorType("int8", (2, 8))), InputDecl("y", TensorType("int32", (2, 2)))],
        [MatmulNT(0, 0), Relu(2), Requant(3, 5, 2, 1), MatmulNT(4, 4)],
        [OutputDecl("z", 5)],
    )
    vals = {"x": np.arange(16, dtype=np.int8).reshape(2, 8), "y": np.ones((2, 2), np.int32)}
    run = commit_run(p, execute(p, vals, NumpyBackend()))
    return run.result, run.tensors


def test_op_node_never_verifies_as_an_op_leaf() -> None:
    r, _ = _result()
    _, (m0, m1), (tree_root,) = r.levels
    d = r.program_digest
    assert hashlib.sha256(c.TAG_OP_NODE + m0 + m1).digest() == tree_root
    leaf0 = r.leaves[0]
    with pytest.raises(ProofError, match="1 siblings, the shape needs 2"):
        OpProof(4, d, leaf0, (m1,))
    with pytest.raises(ProofError, match=r"op 2 is outside 0\.\.1"):
        OpProof(2, d, r.leaves[2], (m0,))
    # the level-1 node pair under the leaf tag is not the node: the tags keep leaves and nodes apart
    assert hashlib.sha256(c.TAG_OP_LEAF + m0 + m1).digest() != tree_root
    moved = c.OpLeaf(1, leaf0.opcode, leaf0.inputs, leaf0.attrs, leaf0.output, leaf0.output_root)
    attempts = [
        OpProof(2, d, leaf0, (m1,)),  # a leaf presented at the level of the nodes
        OpProof(2, d, moved, (m0,)),  # leaf 0's content claimed at position 1
        OpProof(1, d, leaf0, ()),  # a leaf presented as the whole tree
    ]
    for p in attempts:
        for root in (r.root, c.result_root_of(d, p.n_ops, tree_root), c.result_root_of(d, 4, tree_root)):
            assert not c.verify_op(root, p)
    for k in range(4):
        assert c.verify_op(r.root, c.prove_op(r, k))


def test_row_and_op_trees_never_cross() -> None:
    """A row proof is not an op proof (nor the reverse) in bytes or under the other's root; a
    one-row tensor's root is not a one-op result root."""
    r, tensors = _result()
    t = tensors[2]  # matmul output int32[2,2]
    a = np.arange(16, dtype=np.int8).reshape(2, 8)
    row = c.prove_row(tensors[0], a, 1)
    op = c.prove_op(r, 1)
    assert (
        not c.verify_row(r.root, row) and not c.verify_op(t.root, op) and not c.verify_op(tensors[0].root, op)
    )
    with pytest.raises(ProofError, match="proof kind 1, expected 3"):
        c.decode_op_proof(row.encode())
    with pytest.raises(ProofError, match="proof kind 3, expected 1"):
        c.decode_row_proof(op.encode())
    one = c.commit_result(r.program_digest, [r.leaves[0]])
    assert one.tree_root == r.leaves[0].digest() and one.root != r.root
    single = c.commit_tensor(0, np.arange(3, dtype=np.int8))
    assert single.tree_root == single.levels[0][0] and single.root not in (one.root, one.tree_root)
    tags = [c.TAG_ROW_LEAF, c.TAG_ROW_NODE, c.TAG_ROW_PAD, c.TAG_TENSOR, c.TAG_OP_LEAF, c.TAG_OP_NODE,
            c.TAG_OP_PAD, c.TAG_RESULT]  # fmt: skip
    assert len(set(tags)) == 8 and all(len(x) == 16 for x in tags) and c.ROW_PAD != c.OP_PAD


# -- tampering ---------------------------------------------------------------------------------------


def _variants(enc: bytes) -> list[bytes]:
    """Every single-bit flip, every byte inverted, every truncation, one appended byte."""
    out = []
    for pos in range(len(enc)):
        for mask in [1 << b for b in range(8)] + [0xFF]:
            d = bytearray(enc)
            d[pos] ^= mask
            out.append(bytes(d))
    return out + [enc[:n] for n in range(len(enc))] + [enc + b"\x00"]


def _small_tensor() -> tuple[np.ndarray, c.TensorCommitment]:
    a = np.arange(-7, 8, dtype=np.int32).reshape(5, 3)  # depth 3: the last row has padding siblings
    return a, c.commit_tensor(9, a)


@pytest.mark.parametrize("index", [0, 3, 4])
def test_every_tampered_row_proof_fails(index: int) -> None:
    a, t = _small_tensor()
    enc = c.prove_row(t, a, index).encode()
    assert len(enc) == 20 + 12 + 32 * 3
    refused = 0
    for data in _variants(enc):
        try:
            p = c.decode_row_proof(data)
        except ProofError:
            refused += 1
            continue
        assert not c.verify_row(t.root, p), data.hex()
    assert refused > 0


@pytest.mark.parametrize(("row", "col"), [(0, 0), (4, 2), (2, 1)])
def test_every_tampered_element_proof_fails(row: int, col: int) -> None:
    """Asked for (row, col), no tampered proof verifies. Without the position, a changed column
    is a true proof of another element of the row (the column is not hashed): it then opens
    exactly that element's value."""
    a, t = _small_tensor()
    enc = c.prove_element(t, a, row, col).encode()
    other_columns = 0
    for data in _variants(enc):
        try:
            p = c.decode_element_proof(data)
        except ProofError:
            continue
        assert not c.verify_element(t.root, p, at=(row, col)), data.hex()
        if c.verify_element(t.root, p):
            assert p.row_proof.index == row and p.col != col and p.value == a[row, p.col]
            other_columns += 1
    assert other_columns > 0  # such flips exist: the position check is what stops them


def test_every_tampered_op_proof_fails() -> None:
    r, _ = _result()
    for k in range(4):
        enc = c.prove_op(r, k).encode()
        for data in _variants(enc):
            try:
                p = c.decode_op_proof(data)
            except ProofError:
                continue
            assert not c.verify_op(r.root, p), (k, data.hex())


@settings(max_examples=150, deadline=None)
@given(tensors(), st.data())
def test_random_tampering_fails(case: tuple[int, np.ndarray], data: st.DataObject) -> None:
    tid, a = case
    t = c.commit_tensor(tid, a)
    i = data.draw(st.integers(0, t.header.rows - 1))
    j = data.draw(st.integers(0, t.header.cols - 1))
    for enc, decode in ((c.prove_row(t, a, i).encode(), c.decode_proof),
                        (c.prove_element(t, a, i, j).encode(), c.decode_proof)):  # fmt: skip
        pos = data.draw(st.integers(0, len(enc) - 1))
        mask = data.draw(st.integers(1, 255))
        d = bytearray(enc)
        d[pos] ^= mask
        try:
            p = decode(bytes(d))
        except ProofError:
            continue
        if isinstance(p, ElementProof):
            assert not c.verify_element(t.root, p, at=(i, j))
        else:
            assert isinstance(p, RowProof) and not c.verify_row(t.root, p)


# -- element proofs -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(tensors(), st.data())
def test_element_proofs_open_what_the_row_holds(case: tuple[int, np.ndarray], data: st.DataObject) -> None:
    tid, a = case
    t = c.commit_tensor(tid, a)
    rows = a.reshape(t.header.rows, t.header.cols)
    i = data.draw(st.integers(0, t.header.rows - 1))
    j = data.draw(st.integers(0, t.header.cols - 1))
    ep = c.prove_element(t, a, i, j)
    assert ep.value == int(rows[i, j]) and c.verify_element(t.root, ep, at=(i, j))
    assert c.decode_element_proof(ep.encode()) == ep
    w = t.header.dtype.width
    assert ep.value == int.from_bytes(ep.row_proof.row[w * j : w * j + w], "little", signed=True)
    if t.header.cols == 1:
        return
    k = data.draw(st.integers(0, t.header.cols - 2).map(lambda x: x if x < j else x + 1))
    assert not c.verify_element(t.root, ep, at=(i, k))  # a proof for (i, j) is not one for (i, k)
    moved = ElementProof(ep.row_proof, k)
    assert moved.value == int(rows[i, k]) and not c.verify_element(t.root, moved, at=(i, j))
    if rows[i, j] != rows[i, k]:  # claim (i, j) holds (i, k)'s value: the row must be forged
        forged = bytearray(ep.row_proof.row)
        forged[w * j : w * j + w] = ep.row_proof.row[w * k : w * k + w]
        lie = ElementProof(RowProof(t.header, i, bytes(forged), ep.row_proof.siblings), j)
        assert lie.value == int(rows[i, k]) and not c.verify_element(t.root, lie)


def test_element_column_out_of_range_refused() -> None:
    a, t = _small_tensor()
    p = c.prove_row(t, a, 1)
    with pytest.raises(ProofError, match=r"column 3 is outside 0\.\.2"):
        ElementProof(p, 3)
    enc = bytearray(c.prove_element(t, a, 1, 2).encode())
    enc[23] = 3
    with pytest.raises(ProofError, match="column 3"):
        c.decode_element_proof(bytes(enc))
