"""The NumPy executor: exact int8 GEMM through float32 BLAS, vectorized elementwise ops.

``matmul_nt`` is an exact blocked float32 GEMM. ``k`` is cut into chunks of at most
:data:`K_CHUNK` = 1024 columns; each chunk of A and B is converted to float32 and multiplied
by BLAS, and the partial product is converted to int32 and added into the int32 result. Every
product of two int8 values has magnitude at most 2**14, so every partial sum inside one chunk
has magnitude at most ``1024 · 2**14 = 2**24``: an integer that float32 represents exactly.
Every intermediate value of the chunk's BLAS computation is then exact, whatever its summation
order or use of FMA, and the chunk's product converts to int32 without rounding. The int32
accumulation over chunks is exact too: ``|C| ≤ 65536 · 2**14 = 2**30`` (k ≤ 65 536).

The rows of A are taken :data:`M_BLOCK` at a time and the rows of B :data:`N_BLOCK` at a time,
so the float32 scratch (one block of A, one of B and their product) is at most
``4 · (1024·1024 + 2048·1024 + 1024·2048)`` bytes = 20 MiB whatever the shape, and the result
is the only large allocation (docs/decisions.md, "NumPy GEMM in blocked float32"). The blocks
are large enough that BLAS runs at its full speed (measured on the 2-core reference machine).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..commit import commit_tensor

K_CHUNK = 1024
"""Columns of ``k`` per float32 GEMM: the most for which every partial sum is below 2**24."""
M_BLOCK = 1024
"""Rows of A per GEMM block."""
N_BLOCK = 2048
"""Rows of B (columns of the result) per GEMM block."""


def matmul_nt_blocked(
    a: np.ndarray, b: np.ndarray, m_block: int = M_BLOCK, n_block: int = N_BLOCK
) -> np.ndarray:
    """int8 ``A[m,k] · B[n,k]ᵀ`` as a C-contiguous int32 array, exactly, by blocked float32
    GEMMs (``k`` in chunks of :data:`K_CHUNK`; the block sizes only change speed and memory)."""
    (m, k), n = a.shape, b.shape[0]
    bm, bn, kc = min(m_block, m), min(n_block, n), min(K_CHUNK, k)
    out = np.zeros((m, n), dtype=np.int32)
    a_buf = np.empty(bm * kc, dtype=np.float32)
    b_buf = np.empty(bn * kc, dtype=np.float32)
    p_buf = np.empty(bm * bn, dtype=np.float32)
    for l0 in range(0, k, kc):
        l1 = min(k, l0 + kc)
        w = l1 - l0
        for j0 in range(0, n, bn):
            j1 = min(n, j0 + bn)
            bf = b_buf[: (j1 - j0) * w].reshape(j1 - j0, w)
            np.copyto(bf, b[j0:j1, l0:l1])  # int8 → float32: exact
            for i0 in range(0, m, bm):
                i1 = min(m, i0 + bm)
                af = a_buf[: (i1 - i0) * w].reshape(i1 - i0, w)
                np.copyto(af, a[i0:i1, l0:l1])
                p = p_buf[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
                np.matmul(af, bf.T, out=p)  # integers of magnitude ≤ 2**24: exact
                o = out[i0:i1, j0:j1]
                np.add(o, p, out=o, dtype=np.int32, casting="unsafe")  # exact float → int32
    return out


class NumpyBackend:
    """Exact GCX-TP on the CPU with NumPy."""

    name = "numpy"

    def load(self, value: np.ndarray) -> np.ndarray:
        return value

    commit = staticmethod(commit_tensor)  # hashing on the CPU

    def fetch(self, value: Any) -> np.ndarray:
        return np.ascontiguousarray(value)

    def matmul_nt(self, a: Any, b: Any) -> np.ndarray:
        return matmul_nt_blocked(a, b)

    def add(self, x: Any, y: Any) -> np.ndarray:
        out: np.ndarray = np.add(x, y, dtype=np.int32)  # integer array arithmetic wraps
        return out

    def relu(self, x: Any) -> np.ndarray:
        out: np.ndarray = np.maximum(x, np.int32(0))
        return out

    def requant(self, x: Any, multiplier: int, shift: int, zero_point: int) -> np.ndarray:
        # |x · multiplier| ≤ 2**62 and the rounding term ≤ 2**61: int64 holds every step exactly.
        p = x.astype(np.int64) * np.int64(multiplier)
        if shift > 0:
            p += np.int64(1 << (shift - 1))
        p >>= np.int64(shift)  # arithmetic (floor) shift on signed integers
        p += np.int64(zero_point)
        out: np.ndarray = np.clip(p, -128, 127).astype(np.int8)
        return out

    def argmax(self, x: Any) -> np.ndarray:
        out: np.ndarray = np.argmax(x, axis=1).astype(np.int32)  # the first maximum: lowest index
        return out
