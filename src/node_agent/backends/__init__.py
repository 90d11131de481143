"""Compute backends: CuPy on an NVIDIA GPU, NumPy on the CPU, behind one interface.

:func:`select_backend` picks one. GPU detection never crashes: any failure to import CuPy, find
a device, load cuBLAS or run a smoke test becomes a reason string, and the CPU backend is used.
"""

from __future__ import annotations

from typing import Literal

from gcx.errors import BackendUnavailable

from .base import BenchPlan, ComputeBackend, DeviceInfo, Kernel, TelemetrySampler

BackendChoice = Literal["auto", "cupy", "numpy"]

__all__ = [
    "BackendChoice",
    "BenchPlan",
    "ComputeBackend",
    "DeviceInfo",
    "Kernel",
    "TelemetrySampler",
    "open_cupy",
    "open_numpy",
    "select_backend",
]


def open_cupy(device_index: int = 0) -> ComputeBackend:
    """Open the CuPy backend on GPU ``device_index``, or raise :class:`BackendUnavailable`."""
    try:
        from .cupy_backend import CupyBackend
    except BackendUnavailable:
        raise
    except Exception as exc:  # a broken CuPy install can raise anything at import time
        raise BackendUnavailable(f"cannot import CuPy: {type(exc).__name__}: {exc}") from exc
    return CupyBackend(device_index)


def open_numpy() -> ComputeBackend:
    """Open the NumPy (CPU) backend."""
    from .numpy_backend import NumpyBackend

    return NumpyBackend()


def select_backend(
    choice: BackendChoice = "auto", device_index: int = 0
) -> tuple[ComputeBackend, str | None]:
    """Return ``(backend, fallback_reason)``.

    ``auto`` tries CuPy and falls back to NumPy with the reason; ``cupy`` fails with
    :class:`BackendUnavailable` instead of falling back; ``numpy`` never touches the GPU.
    """
    if choice == "numpy":
        return open_numpy(), None
    try:
        return open_cupy(device_index), None
    except BackendUnavailable as exc:
        if choice == "cupy":
            raise
        return open_numpy(), exc.reason
