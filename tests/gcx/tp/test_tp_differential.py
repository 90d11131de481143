"""NumPy against the pure-Python oracle on random operands and attributes (hypothesis)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.tp.backends import NumpyBackend, PythonBackend
from gcx.tp.backends.numpy_backend import K_CHUNK, matmul_nt_blocked

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


def _oracle_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return PY.fetch(PY.matmul_nt(PY.load(a), PY.load(b)))


@pytest.mark.parametrize("k", [1024, 1025, 2049, 65_536])
@pytest.mark.parametrize("values", ["random", "extreme"])
def test_matmul_k_chunk_edges_match_the_oracle(k: int, values: str) -> None:
    """k at and just past the float32 chunk (1024), and the largest k: random operands, and
    extremes (±128·128 products summed over whole chunks, the largest partial sums)."""
    rng = np.random.default_rng(k)
    if values == "random":
        a = rng.integers(-128, 128, (3, k), dtype=np.int8)
        b = rng.integers(-128, 128, (2, k), dtype=np.int8)
    else:
        a = np.stack([np.full(k, -128), np.full(k, 127), rng.choice([-128, 127], k)]).astype(np.int8)
        b = np.stack([np.full(k, -128), rng.choice([-128, 127], k)]).astype(np.int8)
    want = _oracle_matmul(a, b)
    _same(want, NP.matmul_nt(a, b))
    if values == "extreme":
        assert want[0, 0] == k * 2**14 and want[1, 0] == -k * 127 * 128


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 2100),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
def test_matmul_blocks_of_any_size_give_the_oracles_result(
    m: int, n: int, k: int, m_block: int, n_block: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    _same(_oracle_matmul(a, b), matmul_nt_blocked(a, b, m_block, n_block))


def test_matmul_past_1024_allocates_its_result_and_a_small_float32_scratch_only() -> None:
    """k > 1024 used to convert A and B whole to float64 (8× their bytes); the blocked float32
    GEMM allocates the int32 result plus at most a few MiB of scratch here."""
    m = n = 256
    k = 16_384
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    tracemalloc.start()
    try:
        got = NP.matmul_nt(a, b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    scratch = 4 * (m * K_CHUNK + n * K_CHUNK + m * n)
    assert peak <= got.nbytes + scratch + 64 * 1024, peak
    assert np.array_equal(got, a.astype(np.int64) @ b.astype(np.int64).T)
