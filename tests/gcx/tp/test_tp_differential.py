"""NumPy against the pure-Python oracle on random operands and attributes (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.tp.backends import NumpyBackend, PythonBackend

PY, NP = PythonBackend(), NumpyBackend()
I32 = st.integers(-(2**31), 2**31 - 1)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 1100), st.integers(0, 2**32 - 1))
def test_matmul(m: int, n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    _same(PY.fetch(PY.matmul_nt(PY.load(a), PY.load(b))), NP.matmul_nt(a, b))


@settings(max_examples=100, deadline=None)
@given(st.lists(I32, min_size=1, max_size=12), I32, st.integers(0, 62), st.integers(-128, 127), st.booleans())
def test_elementwise(xs: list[int], mult: int, shift: int, zp: int, row: bool) -> None:
    x = np.array(xs, dtype=np.int32).reshape(1, -1) if row else np.array(xs, dtype=np.int32)
    y = np.array(xs[::-1], dtype=np.int32).reshape(x.shape)
    _same(PY.fetch(PY.requant(PY.load(x), mult, shift, zp)), NP.requant(x, mult, shift, zp))
    _same(PY.fetch(PY.add(PY.load(x), PY.load(y))), NP.add(x, y))
    _same(PY.fetch(PY.relu(PY.load(x))), NP.relu(x))
    if row:
        _same(PY.fetch(PY.argmax(PY.load(x))), NP.argmax(x))
        bias = np.array(xs[:1] * x.shape[1], dtype=np.int32)
        _same(PY.fetch(PY.add(PY.load(x), PY.load(bias))), NP.add(x, bias))
