"""Freivalds' check of a matrix product on the host: is ``C == A·B`` (to rounding)?

One random vector ``x`` costs O(n²): compare ``C·x`` with ``A·(B·x)``. For floating-point
products the allowed difference is the standard forward-error bound of a dot product of length
``k`` — ``γ_k·(|A|·|B|)·|x|`` with ``γ_k ≈ k·u`` — times a safety factor; a wrong element of
ordinary magnitude exceeds it by orders of magnitude. Integer products are compared exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gcx.errors import BenchmarkError

SAFETY = 4.0


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
    x = rng.standard_normal(b64.shape[1])
    err = np.abs(c64 @ x - a64 @ (b64 @ x))
    k = a64.shape[1]
    bound = SAFETY * k * unit_roundoff * (np.abs(a64) @ (np.abs(b64) @ np.abs(x))) + 1e-30
    worst = int(np.argmax(err / bound))
    if not np.all(np.isfinite(err)) or err[worst] > bound[worst]:
        raise BenchmarkError(
            f"{name} computed wrong results: row {worst} error {err[worst]:.3g}"
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
