"""The benchmark method (DESIGN §2): warm-up, calibration, repeats, statistics, results check.

For each kernel the runner warms it up (first calls pay for library initialisation and
autotuning), calibrates how many back-to-back iterations make one sample last about
``plan.target_sample_s``, takes ``plan.repeats`` samples, then checks the result — a kernel that
computes wrong numbers fails the whole run (gpu-burn style): a fast wrong answer is worth
nothing. Telemetry is sampled in the background for the whole run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gcx import units
from gcx.stats import Summary, summarize

from .backends.base import BenchPlan, ComputeBackend, DeviceInfo, Kernel

MAX_ITERS = 100_000
WARMUP_CALLS = 2

# progress(benchmark name, samples done, samples planned)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class BenchResult:
    name: str
    unit: str
    samples: tuple[float, ...]
    summary: Summary
    shape: str
    check: str
    iters_per_sample: int


@dataclass(frozen=True, slots=True)
class BenchRun:
    backend: str
    device: DeviceInfo
    quick: bool
    results: tuple[BenchResult, ...]
    telemetry: dict[str, object]
    duration_s: float


def sample_value(kernel: Kernel, iters: int, seconds: float) -> float:
    """One sample in the kernel's unit: throughput for a rate unit, time per iteration for a time unit."""
    unit = units.parse_unit(kernel.unit)
    if seconds <= 0:
        seconds = 1e-9  # below the clock's resolution: report the resolution, never divide by zero
    if unit.kind == "time":
        return seconds / iters / unit.scale
    return kernel.work_per_iter * iters / seconds / unit.scale


def measure(kernel: Kernel, plan: BenchPlan, progress: Progress | None = None) -> BenchResult:
    """Warm up, calibrate, sample and check one kernel."""
    for _ in range(WARMUP_CALLS):
        kernel.run(1)
    one = max(kernel.run(1), 1e-7)
    iters = max(1, min(MAX_ITERS, math.ceil(plan.target_sample_s / one)))
    samples = []
    for done in range(plan.repeats):
        samples.append(sample_value(kernel, iters, kernel.run(iters)))
        if progress:
            progress(kernel.name, done + 1, plan.repeats)
    kernel.check()
    return BenchResult(
        name=kernel.name,
        unit=kernel.unit,
        samples=tuple(samples),
        summary=summarize(samples),
        shape=kernel.shape,
        check=kernel.check_method,
        iters_per_sample=iters,
    )


def run_benchmarks(backend: ComputeBackend, plan: BenchPlan, progress: Progress | None = None) -> BenchRun:
    """Run every kernel the backend offers under ``plan``, with telemetry sampled throughout."""
    device = backend.device()
    sampler = backend.telemetry()
    results = []
    t0 = time.monotonic()
    sampler.start()
    try:
        for kernel in backend.kernels(plan):
            try:
                results.append(measure(kernel, plan, progress))
            finally:
                kernel.close()
    finally:
        telemetry = sampler.stop()
    return BenchRun(
        backend=backend.name,
        device=device,
        quick=plan.quick,
        results=tuple(results),
        telemetry=telemetry,
        duration_s=time.monotonic() - t0,
    )
