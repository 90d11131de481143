"""A capacity audit's seeded inputs and the exact rows of its product (docs/audits.md).

``B`` (int8 ``[n, k]``) is seeded tensor 0 and block ``A_j`` (int8 ``[m, k]``) seeded tensor
``j + 1`` of the challenge's seed (:mod:`gcx.tp.seeded`); the verifier recomputes only the rows it
opens. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gcx.tp.backends.numpy_backend import matmul_nt_blocked
from gcx.tp.seeded import MASK64, fill_seeded, tensor_key

from .sizing import AuditError, ChallengeShape


def seeded_rows(xp: Any, seed: int, tensor_id: int, cols: int, row_start: int, rows: int) -> Any:
    """Rows ``row_start .. row_start + rows - 1`` of the int8 seeded tensor ``tensor_id`` with
    ``cols`` columns (:mod:`gcx.tp.seeded`), computed with the array module ``xp`` (NumPy, or
    CuPy to generate on the device): element ``i`` is ``(mix(key + (i+1)·G) >> 56) - 128``."""
    if not 0 <= seed <= MASK64:
        raise AuditError("a seed is a 64-bit unsigned integer")
    out = xp.empty(rows * cols, dtype=xp.int8)
    fill_seeded(xp, tensor_key(seed, tensor_id), row_start * cols, out)
    return out.reshape(rows, cols)


def seeded_b(seed: int, shape: ChallengeShape) -> np.ndarray:
    """The challenge's ``B`` (seeded tensor 0, int8 ``[n, k]``) on the host."""
    out: np.ndarray = seeded_rows(np, seed, 0, shape.k, 0, shape.n)
    return out


def expected_rows(seed: int, shape: ChallengeShape, rows: Sequence[int], b: np.ndarray) -> list[bytes]:
    """The exact bytes (little-endian int32) of the global rows ``rows`` of ``C``, given ``B``:
    the rows of ``A`` are generated one by one and multiplied by ``B`` in one exact GEMM."""
    if not rows:
        return []
    a = np.empty((len(rows), shape.k), dtype=np.int8)
    for i, row in enumerate(rows):
        block, local = shape.locate(row)
        a[i] = seeded_rows(np, seed, block + 1, shape.k, local, 1)[0]
    c = matmul_nt_blocked(a, b).astype("<i4")
    return [c[i].tobytes() for i in range(len(rows))]
