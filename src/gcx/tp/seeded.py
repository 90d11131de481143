"""Seeded tensor values: a counter-based splitmix64 generator (docs/gcx-tp.md, "Seeded inputs").

For a 64-bit ``seed`` and tensor id ``t``, with ``G = 0x9E3779B97F4A7C15`` and all arithmetic
modulo 2**64::

    key   = mix(seed + (t + 1) · G)
    r_i   = mix(key + (i + 1) · G)         # i: the element's row-major index
    int8  : (r_i >> 56) - 128
    int32 : (r_i >> 32) read as a two's-complement 32-bit integer

where ``mix`` is splitmix64's output function. Every element is a function of ``(seed, t, i)``
alone, so any implementation (and any slice of a tensor) computes it directly; NumPy does a
whole tensor in a few vectorized passes.
"""

from __future__ import annotations

import numpy as np

from .tensor import TensorType

GOLDEN = 0x9E3779B97F4A7C15
MASK64 = 2**64 - 1
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def mix(z: int) -> int:
    """splitmix64's output function on one 64-bit integer."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def tensor_key(seed: int, tensor_id: int) -> int:
    """The generator's key for tensor ``tensor_id`` under ``seed``."""
    return mix(seed + (tensor_id + 1) * GOLDEN)


def element(seed: int, tensor_id: int, index: int, dtype: str) -> int:
    """Element ``index`` (row-major) of seeded tensor ``tensor_id``: the plain-integer oracle."""
    r = mix(tensor_key(seed, tensor_id) + (index + 1) * GOLDEN)
    if dtype == "int8":
        return (r >> 56) - 128
    v = r >> 32
    return v - 2**32 if v >= 2**31 else v


def _mix_array(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


_CHUNK = 1 << 22  # elements per vectorized pass (bounds the uint64 scratch to 32 MiB)


def seeded_tensor(seed: int, tensor_id: int, t: TensorType) -> np.ndarray:
    """The whole seeded tensor of type ``t`` as a C-contiguous array."""
    if not 0 <= seed <= MASK64:
        raise ValueError("a seed is a 64-bit unsigned integer")
    key = np.uint64(tensor_key(seed, tensor_id))
    n = t.elements
    out = np.empty(n, dtype=t.dtype)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        counter = np.arange(start + 1, stop + 1, dtype=np.uint64)
        r = _mix_array(key + counter * np.uint64(GOLDEN))
        if t.dtype == "int8":
            out[start:stop] = (r >> np.uint64(56)).astype(np.int16) - 128
        else:
            out[start:stop] = (r >> np.uint64(32)).astype(np.uint32).view(np.int32)
    return out.reshape(t.shape)
