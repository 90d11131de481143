"""GCX-TP core: op semantics on every CPU backend against hand values, the oracle as the
reference for NumPy, the strict program decoder, and the seeded generator."""

from __future__ import annotations

import numpy as np
import pytest

from gcx.tp import (
    Add,
    Argmax,
    InputDecl,
    MatmulNT,
    OutputDecl,
    ProgramError,
    Relu,
    Requant,
    TensorType,
    decode_program,
    execute,
    make_program,
)
from gcx.tp.backends import NumpyBackend, PythonBackend
from gcx.tp.seeded import GOLDEN, element, mix, seeded_tensor

BACKENDS = [PythonBackend(), NumpyBackend()]


@pytest.mark.parametrize("be", BACKENDS, ids=lambda b: b.name)
def test_requant_rounding_ties_and_clamps(be: object) -> None:
    x = np.array([5, -5, 3, -3, 10**6, -(10**6), 7], dtype=np.int32)
    got = be.fetch(be.requant(be.load(x), 1, 1, 0))  # type: ignore[attr-defined]
    # 2.5 -> 3, -2.5 -> -2 (half up), 1.5 -> 2, -1.5 -> -1, clamps, 3.5 -> 4
    assert got.tolist() == [3, -2, 2, -1, 127, -128, 4]
    got0 = be.fetch(be.requant(be.load(x), 1, 0, -1))  # type: ignore[attr-defined]
    assert got0.tolist() == [4, -6, 2, -4, 127, -128, 6]


@pytest.mark.parametrize("be", BACKENDS, ids=lambda b: b.name)
def test_add_wraps_relu_argmax_ties(be: object) -> None:
    x = np.array([[2**31 - 1, -(2**31), 0]], dtype=np.int32)
    y = np.array([1, -1, 5], dtype=np.int32)
    assert be.fetch(be.add(be.load(x), be.load(y))).tolist() == [[-(2**31), 2**31 - 1, 5]]  # type: ignore[attr-defined]
    assert be.fetch(be.relu(be.load(x))).tolist() == [[2**31 - 1, 0, 0]]  # type: ignore[attr-defined]
    t = np.array([[1, 3, 3], [-1, -1, -1]], dtype=np.int32)
    assert be.fetch(be.argmax(be.load(t))).tolist() == [1, 0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("be", BACKENDS, ids=lambda b: b.name)
@pytest.mark.parametrize("k", [1, 1024, 1025, 65_536])
def test_matmul_extremes_exact(be: object, k: int) -> None:
    a = np.full((1, k), -128, dtype=np.int8)
    b = np.concatenate([np.full((1, k), -128, np.int8), np.full((1, k), 127, np.int8)])
    got = be.fetch(be.matmul_nt(be.load(a), be.load(b)))  # type: ignore[attr-defined]
    assert got.dtype == np.int32 and got.tolist() == [[k * 16384, -k * 16256]]


def _mlp() -> tuple[object, dict[str, np.ndarray]]:
    p = make_program(
        [
            InputDecl("x", TensorType("int8", (3, 40))),
            InputDecl("w", TensorType("int8", (5, 40)), b"\x01" * 32),
            InputDecl("bias", TensorType("int32", (5,))),
        ],
        [MatmulNT(0, 1), Add(3, 2), Relu(4), Requant(5, 1 << 20, 24, -3), Argmax(4)],
        [OutputDecl("q", 6), OutputDecl("cls", 7)],
    )
    vals = {"x": seeded_tensor(7, 0, p.types[0]), "w": seeded_tensor(7, 1, p.types[1]),
            "bias": seeded_tensor(7, 2, p.types[2])}  # fmt: skip
    return p, vals


def test_numpy_equals_oracle_and_roundtrip() -> None:
    p, vals = _mlp()
    ref = execute(p, vals, PythonBackend())  # type: ignore[arg-type]
    fast = execute(p, vals, NumpyBackend())  # type: ignore[arg-type]
    assert len(ref.tensors) == 8
    for r, f in zip(ref.tensors, fast.tensors, strict=True):
        assert r.dtype == f.dtype and np.array_equal(r, f)
    again = decode_program(p.canonical)  # type: ignore[attr-defined]
    assert again == p and again.digest == p.digest and len(p.digest) == 32


def test_decoder_refuses_bad_programs() -> None:
    p, _ = _mlp()
    wire = p.to_wire()  # type: ignore[attr-defined]
    from gcx.wire import canonical_bytes

    def bad(mutate: object) -> None:
        import copy

        w = copy.deepcopy(wire)
        mutate(w)  # type: ignore[operator]
        with pytest.raises(ProgramError):
            decode_program(canonical_bytes(w))

    bad(lambda w: w["ops"][0].update(op="conv"))
    bad(lambda w: w["ops"][0].update({"in": [0, 8]}))  # a later tensor
    bad(lambda w: w["ops"][1].update({"in": [3, 0]}))  # int8 into add
    bad(lambda w: w["inputs"][0].update(dtype="int16"))
    bad(lambda w: w["inputs"][0].update(shape=[True, 40]))
    bad(lambda w: w["inputs"][1].update(shape=[5, 41]))  # k mismatch
    bad(lambda w: w.update(extra=1))
    bad(lambda w: w["ops"][3].update(shift=63))
    bad(lambda w: w["outputs"][0].update(tensor=99))
    for junk in (b"", b"\xc1", b"\x93\x01\x02\x03", p.canonical[:-1]):  # type: ignore[attr-defined]
        with pytest.raises(ProgramError):
            decode_program(junk)


def test_seeded_generator_vectors() -> None:
    assert mix(GOLDEN) == 0xE220A8397B1DCDAF  # splitmix64(0)'s first output
    t = seeded_tensor(1, 0, TensorType("int8", (3, 5)))
    assert t.reshape(-1).tolist() == [element(1, 0, i, "int8") for i in range(15)]
    assert t.reshape(-1).tolist()[:5] == [-34, 113, -117, 71, -72]
    u = seeded_tensor(2**64 - 1, 3, TensorType("int32", (7,)))
    assert u.tolist()[:2] == [-609038484, -1318526964]
