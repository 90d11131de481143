"""Freivalds' check of a matrix product on the host: is ``C == A·B`` (to rounding)?

One random ±1 vector ``x`` costs O(n²): compare ``C·x`` with ``A·(B·x)`` computed in float64.
Rounding errors of a correct product are random in sign, so the residual of row ``i`` grows like
``√k·u·‖A_i‖·‖B‖`` rather than the worst-case ``k·u·(|A|·|B|)``; the tolerance is that
probabilistic bound times a safety factor — tight enough that one wrong element of ordinary
magnitude (or a transposed product) fails it by orders of magnitude, while correct products use
a few percent of it. The CuPy backend applies the same bound on the device. Integer products
are compared exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gcx.errors import BenchmarkError

SAFETY = 16.0
U64 = 2.0**-53


def freivalds_float(
    name: str,
    a: NDArray[Any],
    b: NDArray[Any],
    c: NDArray[Any],
    unit_roundoff: float,
    rng: np.random.Generator,
) -> None:
    """Raise :class:`BenchmarkError` unless ``c`` is ``a @ b`` within rounding of ``unit_roundoff``."""
    a64, b64, c64 = (np.asarray(m, dtype=np.float64) for m in (a, b, c))
    k, n = b64.shape
    x = rng.choice(np.array([-1.0, 1.0]), size=n)
    residual = np.abs(c64 @ x - a64 @ (b64 @ x))
    ab_norm = np.sqrt((a64 * a64) @ (b64 * b64).sum(axis=1))  # row i: sqrt(sum_l A_il^2 * ||B_l||^2)
    c_norm = np.sqrt((c64 * c64).sum(axis=1))
    rounding = math.sqrt(k) * unit_roundoff + 2.0 * (math.sqrt(k) + math.sqrt(n)) * U64
    bound = SAFETY * (math.sqrt(n) * U64 * c_norm + rounding * ab_norm) + 1e-300
    ratio = np.where(np.isnan(residual), np.inf, residual / bound)
    worst = int(np.argmax(ratio))
    if not ratio[worst] <= 1.0:
        raise BenchmarkError(
            f"{name} computed wrong results: row {worst} error {residual[worst]:.3g}"
            f" exceeds bound {bound[worst]:.3g}"
        )


def freivalds_exact(
    name: str, a: NDArray[Any], b: NDArray[Any], c: NDArray[Any], rng: np.random.Generator
) -> None:
    """Raise :class:`BenchmarkError` unless integer ``c`` is exactly ``a @ b`` (int64 arithmetic)."""
    x = rng.integers(-8, 9, size=b.shape[1], dtype=np.int64)
    lhs = c.astype(np.int64) @ x
    rhs = a.astype(np.int64) @ (b.astype(np.int64) @ x)
    bad = np.flatnonzero(lhs != rhs)
    if bad.size:
        raise BenchmarkError(f"{name} computed wrong results: {bad.size} rows differ (first: row {bad[0]})")
