"""GCX-TP executors behind one :class:`Backend` interface, and how to pick one.

* ``python`` — the reference oracle (plain integers; slow).
* ``numpy`` — exact int8 GEMM through float BLAS, vectorized elementwise ops (the CPU path).
* ``cupy`` — cuBLAS ``gemmEx`` int8 → int32 and CUDA kernels (imported only when opened).
* ``auto`` — CuPy when a usable GPU is there, NumPy otherwise.
"""

from __future__ import annotations

from gcx.errors import BackendUnavailable, ConfigError

from .base import Backend
from .numpy_backend import NumpyBackend
from .python_backend import PythonBackend

BACKEND_NAMES = ("auto", "numpy", "cupy", "python")


def open_backend(name: str) -> Backend:
    """The backend called ``name``; :class:`ConfigError` for an unknown name,
    :class:`BackendUnavailable` when ``cupy`` cannot run here (``auto`` then uses NumPy)."""
    if name == "numpy":
        return NumpyBackend()
    if name == "python":
        return PythonBackend()
    if name in ("cupy", "auto"):
        from .cupy_backend import CupyBackend

        try:
            return CupyBackend()
        except BackendUnavailable:
            if name == "cupy":
                raise
            return NumpyBackend()
    raise ConfigError(f"unknown backend {name!r} (known: {', '.join(BACKEND_NAMES)})")


__all__ = ["BACKEND_NAMES", "Backend", "BackendUnavailable", "NumpyBackend", "PythonBackend", "open_backend"]
