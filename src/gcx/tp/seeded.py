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

from typing import Any

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


_CHUNK = 1 << 20  # elements per vectorized pass (bounds the two uint64 scratch arrays to 16 MiB)


def fill_seeded(xp: Any, key: int, first: int, out: Any) -> Any:
    """Fill the flat int8 or int32 array ``out`` (NumPy or CuPy, module ``xp``) with elements
    ``first .. first + out.size - 1`` of the seeded tensor whose generator key is ``key``
    (:func:`tensor_key`); return ``out``.

    In place, in chunks: two uint64 scratch arrays and no other temporaries (about 6 ns an
    element with NumPy on one core, several times faster than evaluating the formula as written).
    """
    n = int(out.size)
    if n == 0:
        return out
    k, g = xp.uint64(key), xp.uint64(GOLDEN)
    m1, m2 = xp.uint64(_M1), xp.uint64(_M2)
    s30, s27, s31 = xp.uint64(30), xp.uint64(27), xp.uint64(31)
    int8 = out.dtype == xp.int8
    top = xp.uint64(56 if int8 else 32)
    flat = out.view(xp.uint8 if int8 else xp.uint32)
    z_buf = xp.empty(min(n, _CHUNK), dtype=xp.uint64)
    t_buf = xp.empty_like(z_buf)
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        z, t = z_buf[: hi - lo], t_buf[: hi - lo]
        z[...] = xp.arange(first + lo + 1, first + hi + 1, dtype=xp.uint64)
        xp.multiply(z, g, out=z)
        xp.add(z, k, out=z)
        for shift, mult in ((s30, m1), (s27, m2)):
            xp.right_shift(z, shift, out=t)
            xp.bitwise_xor(z, t, out=z)
            xp.multiply(z, mult, out=z)
        xp.right_shift(z, s31, out=t)
        xp.bitwise_xor(z, t, out=z)
        xp.right_shift(z, top, out=z)
        flat[lo:hi] = z  # the low 8 (int8) or 32 (int32) bits: r >> 56, r >> 32
    if int8:
        xp.bitwise_xor(flat, xp.uint8(0x80), out=flat)  # (r >> 56) - 128 == (r >> 56) ^ 0x80 as int8
    return out


def seeded_tensor(seed: int, tensor_id: int, t: TensorType) -> np.ndarray:
    """The whole seeded tensor of type ``t`` as a C-contiguous array."""
    if not 0 <= seed <= MASK64:
        raise ValueError("a seed is a 64-bit unsigned integer")
    out = np.empty(t.elements, dtype=t.dtype)
    fill_seeded(np, tensor_key(seed, tensor_id), 0, out)
    return out.reshape(t.shape)
