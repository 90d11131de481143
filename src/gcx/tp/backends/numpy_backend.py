"""The NumPy executor: exact int8 GEMM through floating-point BLAS, vectorized elementwise ops.

``matmul_nt`` converts the int8 operands to float32 when ``k ≤ 1024`` and to float64 beyond.
Every product of two int8 values has magnitude at most 2**14 and every partial sum at most
``k · 2**14``: at most 2**24 for ``k ≤ 1024`` (every integer of that size is a float32) and at
most 2**30 for ``k ≤ 65536`` (far below float64's 2**53). Every intermediate value of the BLAS
computation is then an exactly representable integer, whatever its summation order or use of
FMA, so the result is exact and converts to int32 without rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT32_MAX_K = 1024


class NumpyBackend:
    """Exact GCX-TP on the CPU with NumPy."""

    name = "numpy"

    def load(self, value: np.ndarray) -> np.ndarray:
        return value

    def fetch(self, value: Any) -> np.ndarray:
        return np.ascontiguousarray(value)

    def matmul_nt(self, a: Any, b: Any) -> np.ndarray:
        k = a.shape[1]
        ftype = np.float32 if k <= FLOAT32_MAX_K else np.float64
        c = a.astype(ftype) @ b.astype(ftype).T
        return np.ascontiguousarray(c.astype(np.int32))

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
