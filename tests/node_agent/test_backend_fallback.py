"""``select_backend`` falls back to NumPy, with a reason, whatever way CuPy fails.

Each test replaces the ``cupy`` module with a fake (``monkeypatch.setitem(sys.modules, ...)``):
missing, driver too old, no device, and a GPU whose matmul fails (no cuBLAS). The fakes use
NumPy arrays, so the parts of the smoke test that should work do work.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gcx.errors import BackendUnavailable
from node_agent.backends import select_backend


class _FakeDevice:
    def __init__(self, index: int = 0) -> None:
        self.id = index

    def __enter__(self) -> _FakeDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def synchronize(self) -> None:
        return None

    def use(self) -> None:
        return None


def _fake_cupy(
    *,
    device_count: Callable[[], int] = lambda: 1,
    matmul: Callable[[Any, Any], Any] = np.matmul,
) -> types.ModuleType:
    fake = types.ModuleType("cupy")
    runtime = types.SimpleNamespace(getDeviceCount=device_count)
    fake.cuda = types.SimpleNamespace(runtime=runtime, Device=_FakeDevice)  # type: ignore[attr-defined]
    fake.is_available = lambda: True  # type: ignore[attr-defined]
    fake.float32 = np.float32  # type: ignore[attr-defined]
    fake.arange = np.arange  # type: ignore[attr-defined]
    fake.ones = np.ones  # type: ignore[attr-defined]
    fake.matmul = matmul  # type: ignore[attr-defined]
    fake.__version__ = "14.2.0-fake"  # type: ignore[attr-defined]
    return fake


def _raise_driver() -> int:
    raise RuntimeError("CUDA driver version is insufficient for CUDA runtime version")


def _raise_cublas(a: Any, b: Any) -> Any:
    raise ImportError('Failure finding "libcublas.so.13": No such file')


def _assert_falls_back(cause: str) -> None:
    backend, reason = select_backend("auto")
    assert backend.name == "numpy"
    assert reason is not None
    assert cause in reason, reason
    with pytest.raises(BackendUnavailable) as info:
        select_backend("cupy")
    assert cause in info.value.reason


def test_cupy_not_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    _assert_falls_back("CuPy is not installed")


def test_driver_too_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(device_count=_raise_driver))
    _assert_falls_back("CUDA driver version is insufficient")


def test_no_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(device_count=lambda: 0))
    _assert_falls_back("no CUDA device is visible")


def test_matmul_fails_without_cublas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(matmul=_raise_cublas))
    _assert_falls_back("libcublas.so.13")
    _, reason = select_backend("auto")
    assert reason is not None and "matrix multiply through cuBLAS" in reason


def test_missing_device_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(device_count=lambda: 1))
    backend, reason = select_backend("auto", device_index=3)
    assert backend.name == "numpy"
    assert reason is not None and "GPU 3 does not exist" in reason


def test_numpy_choice_never_touches_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(device_count=_raise_driver))
    backend, reason = select_backend("numpy")
    assert backend.name == "numpy"
    assert reason is None
