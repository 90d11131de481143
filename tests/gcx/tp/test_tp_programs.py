"""Whole random programs (hypothesis): NumPy against the Python oracle on every tensor, the
commitments of both runs, the canonical round trip and metering.

The strategy builds well-typed programs of 1 to 8 chained ops: ``matmul_nt`` on int8 inputs or
``requant`` outputs (k sometimes past 1024, so both of NumPy's float paths run), ``add`` with a
same-shape or a row-bias operand, ``relu``, ``requant`` with random attributes and ``argmax``,
on rank-1 and rank-2 tensors; operands are earlier op outputs or fresh inputs, and the outputs
name random tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gcx.reference import ReferenceProfile
from gcx.tp import (
    Add,
    Argmax,
    InputDecl,
    MatmulNT,
    Op,
    OutputDecl,
    Program,
    Relu,
    Requant,
    TensorType,
    decode_program,
    execute,
    make_program,
)
from gcx.tp.attest import commit_inputs, commit_run
from gcx.tp.backends import NumpyBackend, PythonBackend
from gcx.tp.commit import tensor_root
from gcx.tp.metering import meter
from gcx.tp.tensor import DTYPE_RANGE

PY, NP = PythonBackend(), NumpyBackend()

# A reference during construction: ("in", k) is input k, ("op", j) is op j's output; ids are
# assigned once the number of inputs is known (inputs first, then the ops).
Ref = tuple[str, int]


@dataclass
class _Builder:
    inputs: list[TensorType]
    ops: list[tuple[str, tuple[Ref, ...], tuple[int, int, int]]]
    types: dict[Ref, TensorType]

    def pool(self, dtype: str, ranks: tuple[int, ...]) -> list[Ref]:
        return [r for r, t in self.types.items() if t.dtype == dtype and len(t.shape) in ranks]

    def new_input(self, t: TensorType) -> Ref:
        ref = ("in", len(self.inputs))
        self.inputs.append(t)
        self.types[ref] = t
        return ref


DIM = st.integers(1, 4)
# k past 1024 (a quarter of fresh A operands) takes NumPy's float64 path
K = st.integers(0, 3).flatmap(lambda c: st.integers(1000, 1100) if c == 0 else st.integers(1, 16))
MULTIPLIER = st.one_of(
    st.integers(-(2**31), 2**31 - 1), st.integers(1, 2**16), st.sampled_from([-(2**31), 1])
)
NAME_STEM = st.builds(lambda a, b: a + b, st.sampled_from("abxyz"), st.text("abcz09", max_size=5))
SHIFT = st.one_of(st.integers(0, 62), st.integers(8, 24))


def _operand(draw: st.DrawFn, b: _Builder, dtype: str, ranks: tuple[int, ...]) -> Ref:
    """An existing tensor of ``dtype`` and one of ``ranks``, or a fresh input."""
    pool = b.pool(dtype, ranks)
    if pool and draw(st.booleans()):
        return draw(st.sampled_from(pool))
    rank = draw(st.sampled_from(ranks))
    shape = (draw(DIM), draw(DIM)) if rank == 2 else (draw(st.integers(1, 6)),)
    return b.new_input(TensorType(dtype, shape))  # type: ignore[arg-type]


_Drawn = tuple[tuple[Ref, ...], tuple[int, int, int], TensorType]  # operands, attributes, output


def _matmul(draw: st.DrawFn, b: _Builder) -> _Drawn:
    pool = b.pool("int8", (2,))
    if pool and draw(st.integers(0, 3)) > 0:  # reuse (a requant output) more often than not
        a = draw(st.sampled_from(pool))
    else:
        a = b.new_input(TensorType("int8", (draw(DIM), draw(K))))
    k = b.types[a].shape[1]
    event("matmul k > 1024 (float64)" if k > 1024 else "matmul k <= 1024")
    same_k = [r for r in pool if b.types[r].shape[1] == k]
    if same_k and draw(st.integers(0, 3)) > 0:
        bb = draw(st.sampled_from(same_k))
    else:
        bb = b.new_input(TensorType("int8", (draw(DIM), k)))
    if "op" in (a[0], bb[0]):
        event("matmul_nt on a requant output")
    return (a, bb), (0, 0, 0), TensorType("int32", (b.types[a].shape[0], b.types[bb].shape[0]))


def _add(draw: st.DrawFn, b: _Builder) -> _Drawn:
    x = _operand(draw, b, "int32", (1, 2))
    xt = b.types[x]
    shape = draw(st.sampled_from([xt.shape] + ([xt.shape[1:]] if len(xt.shape) == 2 else [])))
    event("add " + ("same shape" if shape == xt.shape else "row bias"))
    fits = [r for r in b.pool("int32", (1, 2)) if b.types[r].shape == shape]
    y = (
        draw(st.sampled_from(fits))
        if fits and draw(st.booleans())
        else b.new_input(TensorType("int32", shape))
    )
    return (x, y), (0, 0, 0), xt


def _unary(draw: st.DrawFn, b: _Builder, kind: str) -> _Drawn:
    x = _operand(draw, b, "int32", (2,) if kind == "argmax" else (1, 2))
    xt = b.types[x]
    if kind == "relu":
        return (x,), (0, 0, 0), xt
    if kind == "requant":
        attrs = (draw(MULTIPLIER), draw(SHIFT), draw(st.integers(-128, 127)))
        return (x,), attrs, TensorType("int8", xt.shape)
    return (x,), (0, 0, 0), TensorType("int32", (xt.shape[0],))


def _op(kind: str, ids: list[int], attrs: tuple[int, int, int]) -> Op:
    if kind == "matmul_nt":
        return MatmulNT(ids[0], ids[1])
    if kind == "add":
        return Add(ids[0], ids[1])
    if kind == "relu":
        return Relu(ids[0])
    if kind == "requant":
        return Requant(ids[0], *attrs)
    return Argmax(ids[0])


def _inputs(draw: st.DrawFn, types: list[TensorType]) -> tuple[list[InputDecl], dict[str, np.ndarray]]:
    """Declarations (roots: the value's, or none) and random values for the inputs."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    decls, values = [], {}
    for n, t in enumerate(types):
        name = draw(NAME_STEM) + f"_{n}"  # unique: the index ends the name
        lo, hi = DTYPE_RANGE[t.dtype]
        if t.dtype == "int32":  # full range (add wraps, requant clamps), small values, ties
            lo, hi = draw(st.sampled_from([(lo, hi), (-3000, 3000), (-2, 2), (2**31 - 4, hi)]))
        else:  # extremes make |A·Bᵀ| pass 2**24 with odd partial sums: float32 cannot hold them
            lo, hi = draw(st.sampled_from([(lo, hi), (126, 127), (-128, -127)]))
        v = np.ascontiguousarray(rng.integers(lo, hi, t.shape, dtype=t.dtype, endpoint=True))
        values[name] = v
        decls.append(InputDecl(name, t, tensor_root(n, v) if draw(st.booleans()) else None))
    return decls, values


@st.composite
def programs(draw: st.DrawFn) -> tuple[Program, dict[str, np.ndarray]]:
    """A random well-typed program and input values for it."""
    b = _Builder([], [], {})
    n_ops = draw(st.integers(1, 8))
    for j in range(n_ops):
        kind = draw(st.sampled_from(["matmul_nt", "add", "relu", "requant", "argmax"]))
        if kind == "matmul_nt":
            operands, attrs, out = _matmul(draw, b)
        elif kind == "add":
            operands, attrs, out = _add(draw, b)
        else:
            operands, attrs, out = _unary(draw, b, kind)
        event(f"{kind} on rank {len(b.types[operands[0]].shape)}")
        b.ops.append((kind, operands, attrs))
        b.types[("op", j)] = out
    n_in = len(b.inputs)
    ops = [
        _op(kind, [r[1] + (n_in if r[0] == "op" else 0) for r in refs], attrs) for kind, refs, attrs in b.ops
    ]
    decls, values = _inputs(draw, b.inputs)
    out_ids = draw(st.lists(st.integers(0, n_in + n_ops - 1), min_size=1, max_size=4))
    outputs = [OutputDecl(draw(NAME_STEM) + f"_{n}", t) for n, t in enumerate(out_ids)]
    return make_program(decls, ops, outputs), values


def _count_work(program: Program, tensors: tuple[np.ndarray, ...]) -> tuple[int, int]:
    """gemm ops and bytes moved counted from the arrays a run produced (independent of meter())."""
    gemm = moved = 0
    for j, op in enumerate(program.ops):
        out = tensors[program.op_tensor(j)]
        if isinstance(op, MatmulNT):
            a, bt = tensors[op.a], tensors[op.b]
            gemm += 2 * a.shape[0] * bt.shape[0] * a.shape[1]
        else:
            moved += sum(tensors[t].nbytes for t in op.inputs) + out.nbytes
    return gemm, moved


@settings(max_examples=300, deadline=None)
@given(case=programs())
def test_random_programs_numpy_equals_oracle_everywhere(
    case: tuple[Program, dict[str, np.ndarray]], shipped_profile: ReferenceProfile
) -> None:
    program, values = case
    ref = execute(program, values, PY)
    fast = execute(program, values, NP)
    assert len(ref.tensors) == len(fast.tensors) == len(program.types)
    for t, r, f in zip(program.types, ref.tensors, fast.tensors, strict=True):
        assert r.dtype == f.dtype == np.dtype(t.dtype) and r.shape == f.shape == t.shape
        assert r.flags.c_contiguous and f.flags.c_contiguous
        assert r.tobytes() == f.tobytes()
    assert list(ref.outputs) == list(fast.outputs) == [o.name for o in program.outputs]
    for name in ref.outputs:
        assert ref.outputs[name].tobytes() == fast.outputs[name].tobytes()

    c_ref, c_fast = commit_run(program, ref), commit_run(program, fast)
    checked = commit_run(program, fast, commit_inputs(program, values))  # the buyer's roots hold
    assert c_ref.root == c_fast.root == checked.root and len(c_ref.root) == 32
    assert (
        [t.root for t in c_ref.tensors]
        == [t.root for t in c_fast.tensors]
        == [t.root for t in checked.tensors]
    )
    for decl, tc in zip(program.inputs, c_ref.tensors[: len(program.inputs)], strict=True):
        assert decl.root in (None, tc.root)

    again = decode_program(program.canonical)
    assert again == program and again.digest == program.digest and again.canonical == program.canonical
    m = meter(program, shipped_profile)
    assert meter(again, shipped_profile) == m
    assert (m.gemm_ops, m.bytes_moved) == _count_work(program, ref.tensors)


@pytest.mark.parametrize("k", [1024, 1025, 1101])
def test_chained_program_on_both_float_paths(k: int) -> None:
    """matmul at k around the float32/float64 switch, requant, a second matmul on the requant
    output, bias add with wrap, relu, argmax: every tensor identical on both backends."""
    program = make_program(
        [InputDecl("x", TensorType("int8", (3, k))), InputDecl("w", TensorType("int8", (4, k))),
         InputDecl("bias", TensorType("int32", (3,)))],
        [MatmulNT(0, 1), Requant(3, 3, 9, -1), MatmulNT(4, 4), Add(5, 2), Relu(6), Argmax(7)],
        [OutputDecl("cls", 8), OutputDecl("h", 4)],
    )  # fmt: skip
    values = {
        "x": np.full((3, k), 127, np.int8),  # odd products: k = 1101 sums past 2**24 to odd values
        "w": np.concatenate([np.full((2, k), 127, np.int8), np.full((2, k), -127, np.int8)]),
        "bias": np.array([2**31 - 1, -(2**31), 5], np.int32),
    }
    ref, fast = execute(program, values, PY), execute(program, values, NP)
    assert ref.tensors[3][0].tolist() == [k * 16129] * 2 + [-k * 16129] * 2
    for r, f in zip(ref.tensors, fast.tensors, strict=True):
        assert r.dtype == f.dtype and r.tobytes() == f.tobytes()
    assert commit_run(program, ref).root == commit_run(program, fast).root
