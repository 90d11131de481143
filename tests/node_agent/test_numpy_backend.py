"""The CPU backend and the benchmark runner, for real (small sizes)."""

from __future__ import annotations

import numpy as np
import pytest

from gcx.errors import BenchmarkError
from node_agent.backends.base import BENCHMARK_UNITS, TELEMETRY_KEYS, BenchPlan
from node_agent.backends.freivalds import freivalds_exact, freivalds_float
from node_agent.backends.numpy_backend import NumpyBackend
from node_agent.runner import measure, run_benchmarks, sample_value

QUICK = BenchPlan(quick=True, repeats=3, target_sample_s=0.005)


def test_every_kernel_has_a_known_name_and_unit_and_passes_its_check() -> None:
    for kernel in NumpyBackend().kernels(QUICK):
        try:
            assert BENCHMARK_UNITS[kernel.name] == kernel.unit
            result = measure(kernel, QUICK)
            assert result.summary.repeats == 3
            assert all(s > 0 for s in result.samples)
            assert result.summary.p10 <= result.summary.median <= result.summary.p90
        finally:
            kernel.close()


@pytest.mark.parametrize("name", ["gemm_fp64", "gemm_fp32", "gemm_int8", "mem_copy", "mem_triad"])
def test_a_corrupted_result_fails_the_check(name: str) -> None:
    plan = BenchPlan(quick=True, repeats=3, target_sample_s=0.001, only=frozenset({name}))
    (kernel,) = list(NumpyBackend().kernels(plan))
    kernel.run(1)
    out = kernel.c if name.startswith("gemm") else kernel.a  # type: ignore[attr-defined]
    index = (7, 3) if out.ndim == 2 else (7,)
    out[index] += 1  # one element off by one
    with pytest.raises(BenchmarkError, match="wrong results"):
        kernel.check()
    kernel.close()


def test_freivalds_float_accepts_rounding_and_catches_small_errors() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 500)).astype(np.float32)
    b = rng.standard_normal((500, 200)).astype(np.float32)
    c = a @ b
    freivalds_float("t", a, b, c, 2.0**-24, rng)  # correct fp32 product passes
    freivalds_float(
        "t",
        a.astype(np.float16),
        b.astype(np.float16),
        (a.astype(np.float16).astype(np.float32) @ b.astype(np.float16).astype(np.float32)).astype(
            np.float16
        ),
        2.0**-11,
        rng,
    )
    wrong = c.copy()
    wrong[10, 10] += 0.05  # a small error in one element, typical |c| is about 22
    with pytest.raises(BenchmarkError, match="row 10"):
        freivalds_float("t", a, b, wrong, 2.0**-24, rng)
    square = rng.standard_normal((256, 256)).astype(np.float32)
    with pytest.raises(BenchmarkError):
        freivalds_float(
            "t", square, square.T, (square @ square.T).T + np.eye(256, dtype=np.float32), 2.0**-24, rng
        )
    with pytest.raises(BenchmarkError):
        nan = c.copy()
        nan[0, 0] = np.nan
        freivalds_float("t", a, b, nan, 2.0**-24, rng)


def test_freivalds_exact() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, (64, 96), dtype=np.int8)
    b = rng.integers(-128, 128, (96, 32), dtype=np.int8)
    c = (a.astype(np.int32) @ b.astype(np.int32)).astype(np.int32)
    freivalds_exact("t", a, b, c, rng)
    c[5, 5] += 1
    with pytest.raises(BenchmarkError, match="row 5"):
        freivalds_exact("t", a, b, c, rng)


def test_sample_value_handles_rate_and_time_units() -> None:
    class K:
        name, unit, work_per_iter, shape, check_method = "x", "TFLOP/s", 2e12, "", ""

    assert sample_value(K(), 10, 2.0) == pytest.approx(10.0)  # 2e13 FLOP in 2 s = 10 TFLOP/s
    K.unit = "us"
    assert sample_value(K(), 1000, 0.005) == pytest.approx(5.0)  # 5 ms / 1000 = 5 us
    K.unit = "GB/s"
    K.work_per_iter = 1e9
    assert sample_value(K(), 3, 0.0) > 0  # clock resolution never divides by zero


def test_run_benchmarks_returns_results_device_and_full_telemetry() -> None:
    run = run_benchmarks(NumpyBackend(), QUICK)
    assert run.backend == "numpy"
    assert run.device.kind == "cpu"
    assert run.device.details["numpy"] == np.__version__
    assert {r.name for r in run.results} == {"gemm_fp64", "gemm_fp32", "gemm_int8", "mem_copy", "mem_triad"}
    assert set(run.telemetry) == set(TELEMETRY_KEYS)
    assert run.duration_s > 0


def test_a_failing_check_fails_the_run_and_closes_the_kernel() -> None:
    closed = []

    class Wrong:
        name, unit, work_per_iter, shape, check_method = "gemm_fp32", "TFLOP/s", 1.0, "1", "test"

        def run(self, iters: int) -> float:
            return 0.001 * iters

        def check(self) -> None:
            raise BenchmarkError("gemm_fp32 computed wrong results: test")

        def close(self) -> None:
            closed.append(True)

    class Backend(NumpyBackend):
        def kernels(self, plan: BenchPlan):  # type: ignore[no-untyped-def]
            yield Wrong()

    with pytest.raises(BenchmarkError):
        run_benchmarks(Backend(), QUICK)
    assert closed == [True]
