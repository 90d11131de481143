"""Row, element and op commitments of GCX-TP (gcx.tp.commit): position binding and strict decoding."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcx.tp import (
    Add,
    Argmax,
    InputDecl,
    MatmulNT,
    Op,
    OutputDecl,
    Relu,
    Requant,
    TensorType,
    TensorValueError,
    make_program,
)
from gcx.tp import commit as c
from gcx.tp.attest import op_leaf_of
from gcx.tp.ops import NO_ATTRS, OpAttrs, OpCode, op_fields, op_from_fields


def _oracle_tree_root(leaves: list[bytes], node_tag: bytes, pad: bytes) -> bytes:
    """Independent reference: pad to a power of two, then hash pairs level by level."""
    size = 1
    while size < len(leaves):
        size *= 2
    level = leaves + [pad] * (size - len(leaves))
    while len(level) > 1:
        level = [hashlib.sha256(node_tag + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 8])
def test_tp_commit_root_matches_oracle(rows: int) -> None:
    a = np.arange(rows * 3, dtype=np.int32).reshape(rows, 3) - 7
    leaves = [
        hashlib.sha256(
            c.TAG_ROW_LEAF
            + (4).to_bytes(4, "big")
            + i.to_bytes(4, "big")
            + b"\x02"
            + (3).to_bytes(4, "big")
            + a[i].astype("<i4").tobytes()
        ).digest()
        for i in range(rows)
    ]
    tree = _oracle_tree_root(leaves, c.TAG_ROW_NODE, hashlib.sha256(c.TAG_ROW_PAD).digest())
    header = bytes.fromhex("000000040202") + rows.to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert c.tensor_root(4, a) == hashlib.sha256(c.TAG_TENSOR + header + tree).digest()


@given(st.integers(2, 9), st.data())
def test_tp_commit_row_proof_binds_index(rows: int, data: st.DataObject) -> None:
    a = np.ones((rows, 2), dtype=np.int8)  # identical rows: only the index tells them apart
    t = c.commit_tensor(0, a)
    i = data.draw(st.integers(0, rows - 1))
    j = data.draw(st.integers(0, rows - 1).filter(lambda x: x != i))
    p = c.prove_row(t, a, i)
    assert c.verify_row(t.root, p)
    assert not c.verify_row(t.root, c.RowProof(p.header, j, p.row, p.siblings))


def test_tp_commit_tensor_id_bound() -> None:
    a = np.arange(6, dtype=np.int8).reshape(3, 2)
    t0, t1 = c.commit_tensor(0, a), c.commit_tensor(1, a)
    p = c.prove_row(t0, a, 1)
    moved = c.RowProof(t1.header, 1, p.row, p.siblings)
    assert not c.verify_row(t1.root, moved)


@given(st.integers(0, 200), st.integers(0, 255))
def test_tp_commit_tampered_proof_fails(pos: int, flip: int) -> None:
    a = np.arange(20, dtype=np.int32).reshape(5, 4)
    t = c.commit_tensor(3, a)
    enc = bytearray(c.prove_element(t, a, 3, 1).encode())
    pos %= len(enc)
    enc[pos] ^= flip or 1
    try:
        proof = c.decode_element_proof(bytes(enc))
    except c.ProofError:
        return
    assert not c.verify_element(t.root, proof, at=(3, 1))


@given(st.binary(max_size=300))
def test_tp_commit_decoder_fuzz(data: bytes) -> None:
    try:
        proof = c.decode_proof(data)
    except c.ProofError:
        return
    assert proof.encode() == data


DIGEST = hashlib.sha256(b"a program").digest()


def _relu_leaves(n: int) -> list[c.OpLeaf]:
    """``n`` relu leaves: op k reads tensor k and writes tensor k + 1 (int32[2,3])."""
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    return [c.op_leaf(k, Relu(k), c.commit_tensor(k + 1, a)) for k in range(n)]


def test_tp_commit_op_proofs() -> None:
    leaves = _relu_leaves(3)
    r = c.commit_result(DIGEST, leaves)
    for k in range(3):
        raw = c.prove_op(r, k).encode()
        assert len(raw) == 104 + 32 * 2
        p = c.decode_op_proof(raw)
        assert p.encode() == raw and p.program_digest == DIGEST
        assert c.verify_op(r.root, p) and c.verify_op(r.root, p, program_digest=DIGEST)
        assert not c.verify_op(r.root, p, program_digest=bytes(32))
    with pytest.raises(c.CommitmentError):
        c.commit_result(DIGEST, leaves[1:])


def test_tp_commit_result_root_binds_the_program() -> None:
    """The same op leaves under two program digests give two result roots, and an op proof
    re-labelled with the other digest verifies under neither's root but its own."""
    leaves = _relu_leaves(2)
    mine, other = c.commit_result(DIGEST, leaves), c.commit_result(bytes(32), leaves)
    assert mine.tree_root == other.tree_root and mine.root != other.root
    expected = hashlib.sha256(c.TAG_RESULT + DIGEST + (2).to_bytes(4, "big") + mine.tree_root).digest()
    assert mine.root == expected == c.result_root_of(DIGEST, 2, mine.tree_root)
    p = c.prove_op(mine, 1)
    assert not c.verify_op(other.root, p)
    relabelled = c.OpProof(p.n_ops, bytes(32), p.leaf, p.siblings)
    assert not c.verify_op(mine.root, relabelled) and c.verify_op(other.root, relabelled)
    with pytest.raises(c.CommitmentError):
        c.commit_result(DIGEST[:31], leaves)


ALL_OPS = [MatmulNT(0, 1), Add(2, 0), Relu(1), Requant(2, -(2**31), 62, -128), Argmax(0)]


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.name)
def test_tp_commit_op_leaf_fixed_layout(op: Op) -> None:
    """The body is 66 bytes with every field at its fixed offset, and the op round-trips."""
    dtype = np.int8 if isinstance(op, Requant) else np.int32
    value = np.zeros(4, dtype=dtype) if isinstance(op, Argmax) else np.zeros((4, 2), dtype=dtype)
    out = c.commit_tensor(7, value)
    leaf = c.op_leaf(5, op, out)
    body = leaf.body()
    code, attrs = op_fields(op)
    assert len(body) == c.OP_BODY_SIZE == 66
    assert body[0:4] == (5).to_bytes(4, "big") and body[4] == code == leaf.opcode
    assert body[5] == len(op.inputs) == code.arity
    assert [int.from_bytes(body[i : i + 4], "big") for i in (6, 10)] == [*op.inputs, 0][:2]
    assert int.from_bytes(body[14:18], "big", signed=True) == attrs.multiplier
    assert body[18] == attrs.shift and int.from_bytes(body[19:20], "big", signed=True) == attrs.zero_point
    assert body[20:34] == out.header.encode() and body[34:] == out.root
    assert leaf.op == op and op_from_fields(code, op.inputs, attrs) == op
    r = c.commit_result(
        DIGEST,
        [c.OpLeaf(k, leaf.opcode, leaf.inputs, leaf.attrs, leaf.output, leaf.output_root) for k in range(6)],
    )
    assert c.decode_op_proof(c.prove_op(r, 5).encode()).leaf == leaf


def _with_body(raw: bytes, offset: int, value: bytes) -> bytes:
    """``raw`` (an encoded op proof) with body bytes ``offset ..`` replaced by ``value``."""
    at = 38 + offset
    return raw[:at] + value + raw[at + len(value) :]


def _requant_proof() -> bytes:
    out = c.commit_tensor(1, np.zeros((2, 2), dtype=np.int8))
    leaf = c.op_leaf(0, Requant(0, 3, 4, -5), out)
    return c.prove_op(c.commit_result(DIGEST, [leaf]), 0).encode()


def _relu_proof() -> bytes:
    return c.prove_op(c.commit_result(DIGEST, _relu_leaves(1)), 0).encode()


@pytest.mark.parametrize(
    ("make", "offset", "value", "why"),
    [
        (_relu_proof, 4, b"\x00", "opcode 0"),
        (_relu_proof, 4, b"\x06", "opcode 6"),
        (_relu_proof, 4, b"\x01", "relu's leaf as matmul_nt: arity 1 != 2"),
        (_relu_proof, 5, b"\x02", "relu with 2 inputs"),
        (_relu_proof, 5, b"\x00", "0 inputs"),
        (_relu_proof, 10, b"\x00\x00\x00\x01", "a nonzero unused input slot"),
        (_relu_proof, 14, b"\x00\x00\x00\x01", "relu with a multiplier"),
        (_relu_proof, 18, b"\x01", "relu with a shift"),
        (_relu_proof, 19, b"\xff", "relu with a zero point"),
        (_requant_proof, 18, b"\x3f", "shift 63"),
        (_requant_proof, 18, b"\xff", "shift 255"),
        (_requant_proof, 4, b"\x03", "requant's leaf as relu: nonzero attributes"),
        (_requant_proof, 6, b"\x00\x00\x00\x01", "an input that is not before the output"),
        (_requant_proof, 24, b"\x02", "requant with an int32 output"),
        (_relu_proof, 24, b"\x01", "relu with an int8 output"),
    ],
)
def test_tp_commit_op_proof_rejects_inconsistent_leaves(
    make: Callable[[], bytes], offset: int, value: bytes, why: str
) -> None:
    good = make()
    assert c.decode_op_proof(good).encode() == good
    with pytest.raises(c.ProofError):
        c.decode_op_proof(_with_body(good, offset, value))


def test_tp_commit_op_leaf_rejects_inconsistent_fields() -> None:
    out = c.commit_tensor(3, np.zeros(2, dtype=np.int32))
    ok = c.OpLeaf(0, OpCode.RELU, (1,), NO_ATTRS, out.header, out.root)
    assert ok.op == Relu(1)
    bad: list[dict[str, object]] = [
        {"opcode": 7},
        {"inputs": (1, 2)},
        {"opcode": OpCode.MATMUL_NT},
        {"attrs": OpAttrs(shift=1)},
        {"opcode": OpCode.REQUANT, "attrs": OpAttrs(1, 63, 0)},
        {"opcode": OpCode.REQUANT, "attrs": OpAttrs(2**31, 1, 0)},
        {"opcode": OpCode.REQUANT, "attrs": OpAttrs(1, 1, 128)},
        {"inputs": (3,)},
        {"output_root": b"short"},
    ]
    for change in bad:
        fields: dict[str, object] = {"op_index": 0, "opcode": OpCode.RELU, "inputs": (1,), "attrs": NO_ATTRS}
        fields |= {"output": out.header, "output_root": out.root} | change
        with pytest.raises(c.ProofError):
            c.OpLeaf(**fields)  # type: ignore[arg-type]


@given(st.integers(0, 400), st.integers(1, 255))
def test_tp_commit_tampered_op_proof_fails(pos: int, flip: int) -> None:
    """Any one-byte change of an op proof is refused or no longer verifies, and whatever
    decodes re-encodes to its bytes (no field is ignored, the unused input slot included)."""
    x = c.commit_tensor(3, np.zeros(2, dtype=np.int32))
    leaves = [
        c.op_leaf(0, Relu(1), x),
        c.op_leaf(1, Requant(3, 7, 2, -1), c.commit_tensor(4, np.zeros(2, dtype=np.int8))),
    ]
    r = c.commit_result(DIGEST, leaves)
    raw = bytearray(c.prove_op(r, 1).encode())
    raw[pos % len(raw)] ^= flip
    try:
        proof = c.decode_op_proof(bytes(raw))
    except c.ProofError:
        return
    assert proof.encode() == bytes(raw)
    assert not c.verify_op(r.root, proof)


def test_tp_commit_op_leaf_of_program() -> None:
    """attest.op_leaf_of builds op k's leaf from the program and refuses another tensor's commitment."""
    program = make_program(
        [InputDecl("x", TensorType("int32", (2, 3)))],
        [Relu(0), Requant(1, 5, 3, 2)],
        [OutputDecl("y", 2)],
    )
    y = c.commit_tensor(2, np.zeros((2, 3), dtype=np.int8))
    leaf = op_leaf_of(program, 1, y)
    assert (leaf.op_index, leaf.opcode, leaf.inputs, leaf.attrs) == (
        1,
        OpCode.REQUANT,
        (1,),
        OpAttrs(5, 3, 2),
    )
    assert leaf.op == program.ops[1] and (leaf.output, leaf.output_root) == (y.header, y.root)
    with pytest.raises(TensorValueError):
        op_leaf_of(program, 0, y)  # op 0's output is tensor 1
    with pytest.raises(TensorValueError):
        op_leaf_of(program, 2, y)
