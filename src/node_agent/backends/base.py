"""The narrow interface every compute backend implements (CuPy on a GPU, NumPy on the CPU).

Theory of operation: a backend knows its device and hands out :class:`Kernel` objects, one per
benchmark, sized for the device and the plan (quick or full). The runner
(:mod:`node_agent.runner`) owns the method: warm-up, calibration of iterations per sample,
repeats, statistics, the results check and telemetry. A kernel only knows how to run its
operation ``iters`` times and time it with the device's own clock (CUDA events on a GPU,
``perf_counter`` on the CPU), and how to check that its last result is right.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

DetailValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the benchmark ran on. ``details`` holds driver/runtime/BLAS facts as flat scalars."""

    kind: Literal["gpu", "cpu"]
    name: str
    vendor: str
    memory_bytes: int | None
    details: dict[str, DetailValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """How much work to do. ``quick`` is CI-sized (seconds); full is the grading run."""

    quick: bool
    repeats: int
    target_sample_s: float
    only: frozenset[str] | None = None  # benchmark names to run; None = all the backend offers

    def wants(self, name: str) -> bool:
        return self.only is None or name in self.only


class Kernel(Protocol):
    """One benchmark operation, allocated and ready to run.

    ``unit`` is the unit its samples are reported in (see :mod:`gcx.units`). For a throughput
    unit, one iteration does ``work_per_iter`` units of the unit's numerator (FLOP, OP or byte);
    for a time unit (latency), the sample is the time of one iteration.
    """

    name: str
    unit: str
    work_per_iter: float
    shape: str  # human description of the working set, e.g. "8192x8192x8192"
    check_method: str  # how results are verified, e.g. "freivalds", "exact", "elementwise"

    def run(self, iters: int) -> float:
        """Run the operation ``iters`` times back to back; return elapsed seconds (device clock)."""
        ...

    def check(self) -> None:
        """Verify the last result; raise :class:`gcx.errors.BenchmarkError` if it is wrong."""
        ...

    def close(self) -> None:
        """Release the kernel's buffers."""
        ...


class TelemetrySampler(Protocol):
    """Samples power, clocks, temperature... in the background while kernels run."""

    def start(self) -> None: ...

    def stop(self) -> dict[str, object]:
        """Stop sampling and return the telemetry summary (see :data:`TELEMETRY_KEYS`)."""
        ...


# Keys of the telemetry summary; every key is present, ``None`` where unavailable.
TELEMETRY_KEYS: tuple[str, ...] = (
    "source",  # "nvml", "rapl" or None
    "samples",  # number of samples taken
    "duration_s",  # seconds between start and stop
    "energy_j",  # energy counter delta over the run (J), or power integrated over time
    "power_w_avg",
    "power_w_max",
    "power_limit_w",
    "sm_clock_mhz_min",
    "sm_clock_mhz_median",
    "mem_clock_mhz_median",
    "temperature_c_max",
    "throttle_reasons",  # sorted list of reason names seen during the run
    "ecc_errors",  # {"corrected": int, "uncorrected": int} volatile counts, or None
)


def empty_telemetry() -> dict[str, object]:
    """A telemetry summary with every key present and nothing measured."""
    return dict.fromkeys(TELEMETRY_KEYS)


class ComputeBackend(Protocol):
    """A compute backend. Constructing one probes the device and raises
    :class:`gcx.errors.BackendUnavailable` (with the reason) when it cannot be used."""

    @property
    def name(self) -> Literal["cupy", "numpy"]: ...

    def device(self) -> DeviceInfo: ...

    def kernels(self, plan: BenchPlan) -> Iterator[Kernel]:
        """Yield kernels one at a time; the runner closes each before asking for the next."""
        ...

    def telemetry(self) -> TelemetrySampler:
        """A sampler for this device (one that measures nothing when telemetry is unavailable)."""
        ...


# Every benchmark a backend may offer, with its unit. Backends use exactly these names.
BENCHMARK_UNITS: dict[str, str] = {
    "gemm_fp64": "TFLOP/s",
    "gemm_fp32": "TFLOP/s",
    "gemm_tf32": "TFLOP/s",
    "gemm_fp16": "TFLOP/s",
    "gemm_bf16": "TFLOP/s",
    "gemm_int8": "TOP/s",
    "mem_copy": "GB/s",
    "mem_triad": "GB/s",
    "launch_latency": "us",
    "h2d_bandwidth": "GB/s",
    "d2h_bandwidth": "GB/s",
    "h2d_latency": "us",
}

# Short names accepted on the command line: "fp16" means "gemm_fp16", "triad" means "mem_triad".
ALIASES: dict[str, str] = {
    **{n.removeprefix("gemm_"): n for n in BENCHMARK_UNITS if n.startswith("gemm_")},
    **{n.removeprefix("mem_"): n for n in BENCHMARK_UNITS if n.startswith("mem_")},
}
