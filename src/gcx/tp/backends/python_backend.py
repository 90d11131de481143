"""The reference executor: plain Python integers, one element at a time (the oracle).

It follows docs/gcx-tp.md literally and shares no code with the fast backends, so the
differential tests compare two independent implementations. Slow: for tests and small jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..commit import commit_tensor


@dataclass(frozen=True, slots=True)
class PyTensor:
    """A tensor as a shape and a flat row-major list of Python ints."""

    dtype: str
    shape: tuple[int, ...]
    data: list[int]


def wrap32(v: int) -> int:
    """``v`` reduced to two's-complement int32."""
    return ((v + 2**31) % 2**32) - 2**31


def requant_one(x: int, multiplier: int, shift: int, zero_point: int) -> int:
    """One element of ``requant`` (exact integers; ``>>`` on Python ints is a floor shift)."""
    p = x * multiplier
    if shift > 0:
        p += 1 << (shift - 1)
    return max(-128, min(127, (p >> shift) + zero_point))


class PythonBackend:
    """The slow, obviously correct executor."""

    name = "python"

    def load(self, value: np.ndarray) -> PyTensor:
        return PyTensor(str(value.dtype), tuple(value.shape), [int(v) for v in value.reshape(-1).tolist()])

    commit = staticmethod(commit_tensor)  # hashing on the CPU

    def fetch(self, value: Any) -> np.ndarray:
        t: PyTensor = value
        return np.array(t.data, dtype=t.dtype).reshape(t.shape)

    def matmul_nt(self, a: Any, b: Any) -> PyTensor:
        (m, k), (n, _) = a.shape, b.shape
        out = []
        for i in range(m):
            row = a.data[i * k : (i + 1) * k]
            for j in range(n):
                col = b.data[j * k : (j + 1) * k]
                out.append(sum(x * y for x, y in zip(row, col, strict=True)))
        return PyTensor("int32", (m, n), out)

    def add(self, x: Any, y: Any) -> PyTensor:
        if y.shape == x.shape:
            data = [wrap32(u + v) for u, v in zip(x.data, y.data, strict=True)]
        else:
            n = y.shape[0]
            data = [wrap32(u + y.data[i % n]) for i, u in enumerate(x.data)]
        return PyTensor("int32", x.shape, data)

    def relu(self, x: Any) -> PyTensor:
        return PyTensor("int32", x.shape, [max(v, 0) for v in x.data])

    def requant(self, x: Any, multiplier: int, shift: int, zero_point: int) -> PyTensor:
        return PyTensor("int8", x.shape, [requant_one(v, multiplier, shift, zero_point) for v in x.data])

    def argmax(self, x: Any) -> PyTensor:
        m, n = x.shape
        out = []
        for i in range(m):
            row = x.data[i * n : (i + 1) * n]
            best = 0
            for j in range(1, n):
                if row[j] > row[best]:
                    best = j
            out.append(best)
        return PyTensor("int32", (m,), out)
