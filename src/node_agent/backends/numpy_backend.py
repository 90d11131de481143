"""The CPU backend: NumPy and the BLAS it links against.

Benchmarks: fp64 and fp32 GEMM (``numpy.matmul``), exact int8 GEMM computed through float64
BLAS (exact: |a·b| ≤ 2^14 per product, sums stay far below 2^53 for k ≤ 65 536), and
STREAM-style copy and triad bandwidth. GEMM results are checked with Freivalds' algorithm; int8
results exactly. Timing is wall-clock (``time.perf_counter``): the CPU has no other clock.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from gcx.errors import BenchmarkError

from .base import BenchPlan, DetailValue, DeviceInfo, Kernel, TelemetrySampler
from .freivalds import freivalds_exact, freivalds_float

_SEED = 0x6C78


def _cpuinfo(field: str) -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _blas_details() -> dict[str, DetailValue]:
    try:
        from threadpoolctl import threadpool_info

        info = next((i for i in threadpool_info() if i.get("user_api") == "blas"), None)
    except Exception:  # threadpoolctl inspects shared libraries; never fail a benchmark on it
        info = None
    if not info:
        return {"blas": None, "blas_threads": None}
    return {
        "blas": f"{info.get('internal_api')} {info.get('version')}",
        "blas_threads": info.get("num_threads"),
        "blas_arch": info.get("architecture"),
    }


class _Timed:
    """Common ``run``/``close`` for CPU kernels: time ``op`` with ``perf_counter``."""

    op: Callable[[], object]

    def run(self, iters: int) -> float:
        op = self.op
        start = time.perf_counter()
        for _ in range(iters):
            op()
        return time.perf_counter() - start

    def close(self) -> None:
        self.__dict__.clear()


class _FloatGemm(_Timed):
    check_method = "freivalds"
    unit = "TFLOP/s"

    def __init__(self, name: str, dtype: type[np.floating[Any]], n: int, rng: np.random.Generator) -> None:
        self.name, self.shape, self.work_per_iter = name, f"{n}x{n}x{n}", 2.0 * n**3
        self.a = rng.standard_normal((n, n)).astype(dtype)
        self.b = rng.standard_normal((n, n)).astype(dtype)
        self.c = np.empty((n, n), dtype=dtype)
        self.rng = rng
        self.u = float(np.finfo(dtype).eps) / 2
        self.op = lambda: np.matmul(self.a, self.b, out=self.c)

    def check(self) -> None:
        freivalds_float(self.name, self.a, self.b, self.c, self.u, self.rng)


class _Int8Gemm(_Timed):
    """int8 × int8 → int32, exact, through float64 BLAS (the reference CPU path of GCX-TP)."""

    name, unit, check_method = "gemm_int8", "TOP/s", "exact-freivalds"

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.shape, self.work_per_iter = f"{n}x{n}x{n}", 2.0 * n**3
        self.a = rng.integers(-128, 128, size=(n, n), dtype=np.int8)
        self.b = rng.integers(-128, 128, size=(n, n), dtype=np.int8)
        self.c = np.empty((n, n), dtype=np.int32)
        self.rng = rng

        def op() -> None:
            prod = np.matmul(self.a.astype(np.float64), self.b.astype(np.float64))
            np.copyto(self.c, prod, casting="unsafe")

        self.op = op

    def check(self) -> None:
        freivalds_exact(self.name, self.a, self.b, self.c, self.rng)


class _Stream(_Timed):
    """STREAM copy (c = a) or triad (a = b + s·c) on float64 arrays; traffic counted as STREAM does."""

    unit, check_method = "GB/s", "elementwise"

    def __init__(self, kind: Literal["copy", "triad"], n: int, rng: np.random.Generator) -> None:
        self.name, self.kind, self.shape = f"mem_{kind}", kind, f"{n} x float64"
        self.b = rng.standard_normal(n)
        self.c = rng.standard_normal(n)
        self.a = np.empty(n)
        self.scalar = 3.0
        arrays = 2 if kind == "copy" else 3
        self.work_per_iter = float(arrays * n * 8)
        if kind == "copy":
            self.op = lambda: np.copyto(self.a, self.b)
        else:

            def triad() -> None:
                np.multiply(self.c, self.scalar, out=self.a)
                np.add(self.a, self.b, out=self.a)

            self.op = triad

    def check(self) -> None:
        expected: NDArray[np.float64] = self.b if self.kind == "copy" else self.b + self.scalar * self.c
        if not np.array_equal(self.a, expected):
            bad = int(np.count_nonzero(self.a != expected))
            raise BenchmarkError(
                f"{self.name} computed wrong results: {bad} of {self.a.size} elements differ"
            )


class NumpyBackend:
    """CPU backend. Always available."""

    name: Literal["numpy"] = "numpy"

    def device(self) -> DeviceInfo:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        details: dict[str, DetailValue] = {
            "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "machine": platform.machine(),
            "numpy": np.__version__,
            **_blas_details(),
        }
        name = _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"
        vendor = _cpuinfo("vendor_id") or "unknown"
        return DeviceInfo("cpu", name, vendor, pages * page_size, details)

    def kernels(self, plan: BenchPlan) -> Iterator[Kernel]:
        rng = np.random.default_rng(_SEED)
        gemm_n = 1024 if plan.quick else 2048
        stream_n = 1 << (23 if plan.quick else 25)  # 64 MiB / 256 MiB per array: far above any L3
        makers: list[tuple[str, Callable[[], Kernel]]] = [
            ("gemm_fp64", lambda: _FloatGemm("gemm_fp64", np.float64, gemm_n, rng)),
            ("gemm_fp32", lambda: _FloatGemm("gemm_fp32", np.float32, gemm_n, rng)),
            ("gemm_int8", lambda: _Int8Gemm(gemm_n, rng)),
            ("mem_copy", lambda: _Stream("copy", stream_n, rng)),
            ("mem_triad", lambda: _Stream("triad", stream_n, rng)),
        ]
        for name, make in makers:
            if plan.wants(name):
                yield make()

    def telemetry(self) -> TelemetrySampler:
        from ..telemetry_rapl import RaplSampler

        return RaplSampler()
