"""Row, element and op commitments of GCX-TP (gcx.tp.commit): position binding and strict decoding."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcx.tp import commit as c


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
    assert not c.verify_element(t.root, proof)


@given(st.binary(max_size=300))
def test_tp_commit_decoder_fuzz(data: bytes) -> None:
    try:
        proof = c.decode_proof(data)
    except c.ProofError:
        return
    assert proof.encode() == data


def test_tp_commit_op_proofs() -> None:
    a = np.arange(6, dtype=np.int8)
    t = c.commit_tensor(2, a)
    leaves = [c.op_leaf(k, b"relu", [k], t) for k in range(3)]
    r = c.commit_result(leaves)
    for k in range(3):
        p = c.decode_op_proof(c.prove_op(r, k).encode())
        assert c.verify_op(r.root, p)
    with pytest.raises(c.CommitmentError):
        c.commit_result(leaves[1:])
