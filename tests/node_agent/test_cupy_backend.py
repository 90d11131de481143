"""The CuPy backend and the NVML sampler.

Tests marked ``gpu`` run every kernel on a real GPU and are skipped unless ``CupyBackend()``
opens. The others run anywhere: detection without a GPU, the NVML sampler without a driver (and
with a fake NVML), and the Freivalds tolerance of the GEMM check, exercised on the CPU by
running :meth:`GemmKernel.check` with NumPy standing in for CuPy on products rounded the way
the GPU rounds them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from gcx.errors import BackendUnavailable, BenchmarkError
from node_agent.backends.base import BENCHMARK_UNITS, TELEMETRY_KEYS, BenchPlan
from node_agent.backends.cupy_backend import CupyBackend
from node_agent.backends.cupy_common import ALL_NAMES, GEMM_NAMES
from node_agent.backends.cupy_gemm import GEMM_SPECS, GemmKernel
from node_agent.telemetry_nvml import NvmlSampler, nvml_device_facts, reason_names

EXPECTED_UNITS = BENCHMARK_UNITS  # the one table of names and units every backend uses


def _plan(only: set[str] | None = None) -> BenchPlan:
    return BenchPlan(
        quick=True, repeats=1, target_sample_s=0.01, only=None if only is None else frozenset(only)
    )


# ---------------------------------------------------------------------------------------------
# Without a GPU
# ---------------------------------------------------------------------------------------------
def test_names_and_units_are_canonical() -> None:
    assert set(ALL_NAMES) == set(EXPECTED_UNITS)
    for name in GEMM_NAMES:
        assert GEMM_SPECS[name].unit == EXPECTED_UNITS[name]


def test_cupy_backend_without_gpu_raises_backend_unavailable() -> None:
    """In a fresh process (a crash or hang would show), opening CuPy fails with a reason or works."""
    code = (
        "import json\n"
        "from gcx.errors import BackendUnavailable\n"
        "from node_agent.backends.cupy_backend import CupyBackend\n"
        "try:\n"
        "    CupyBackend()\n"
        "    print(json.dumps({'usable': True}))\n"
        "except BackendUnavailable as exc:\n"
        "    print(json.dumps({'usable': False, 'reason': exc.reason}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if answer["usable"]:
        pytest.skip("a usable GPU is present here")
    reason = answer["reason"]
    assert isinstance(reason, str) and len(reason) > 10
    assert "CuPy" in reason


def test_nvml_sampler_without_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    pynvml = pytest.importorskip("pynvml")

    def no_library() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    sampler = NvmlSampler(0)
    sampler.start()
    summary = sampler.stop()
    assert tuple(summary) == TELEMETRY_KEYS
    assert all(value is None for value in summary.values())
    facts = nvml_device_facts(0)
    assert "nvml_error" in facts and "Library Not Found" in str(facts["nvml_error"])


def test_nvml_sampler_stop_without_start() -> None:
    summary = NvmlSampler(0).stop()
    assert tuple(summary) == TELEMETRY_KEYS and summary["source"] is None


class _NotSupportedError(Exception):
    pass


def _fake_nvml() -> types.ModuleType:
    """A consumer card: no energy counter, no ECC, no power-limit query; the rest works."""
    nvml = types.ModuleType("pynvml")
    calls = {"init": 0, "shutdown": 0}

    def unsupported(*_args: object) -> Any:
        raise _NotSupportedError("Not Supported")

    def init() -> None:
        calls["init"] += 1

    def shutdown() -> None:
        calls["shutdown"] += 1

    fields: dict[str, Any] = {
        "calls": calls,
        "nvmlInit": init,
        "nvmlShutdown": shutdown,
        "nvmlDeviceGetHandleByIndex": lambda index: ("handle", index),
        "nvmlDeviceGetHandleByPciBusId": unsupported,
        "nvmlDeviceGetPowerUsage": lambda h: 250_000,  # mW
        "nvmlDeviceGetTotalEnergyConsumption": unsupported,
        "nvmlDeviceGetEnforcedPowerLimit": unsupported,
        "nvmlDeviceGetClockInfo": lambda h, kind: 1800 if kind == 1 else 9501,
        "nvmlDeviceGetTemperatureV": unsupported,
        "nvmlDeviceGetTemperature": lambda h, sensor: 71,
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: 0x4 | 0x20,
        "nvmlDeviceGetTotalEccErrors": unsupported,
        "nvmlSystemGetDriverVersion": lambda: "575.51.03",
        "nvmlDeviceGetName": lambda h: "NVIDIA GeForce RTX 3080",
        "nvmlDeviceGetUUID": lambda h: "GPU-1234",
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(total=10 << 30),
        "nvmlDeviceGetPciInfo": lambda h: types.SimpleNamespace(busId=b"00000000:01:00.0"),
        "nvmlDeviceGetMigMode": unsupported,
    }
    for key, value in fields.items():
        setattr(nvml, key, value)
    return nvml


def test_nvml_sampler_with_partial_support(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    sampler = NvmlSampler(0, pci_bus_id="0000:01:00.0", interval_s=0.01)
    sampler.start()
    time.sleep(0.1)
    summary = sampler.stop()
    assert tuple(summary) == TELEMETRY_KEYS
    assert summary["source"] == "nvml"
    samples = summary["samples"]
    assert isinstance(samples, int) and samples >= 3
    assert summary["power_w_max"] == 250.0
    energy = summary["energy_j"]  # integrated from power: no energy counter on this card
    duration = summary["duration_s"]
    assert isinstance(energy, float) and isinstance(duration, float)
    assert energy == pytest.approx(250.0 * duration, rel=0.3)
    assert summary["power_limit_w"] is None
    assert summary["sm_clock_mhz_min"] == 1800 and summary["mem_clock_mhz_median"] == 9501
    assert summary["temperature_c_max"] == 71
    assert summary["throttle_reasons"] == ["sw_power_cap", "sw_thermal_slowdown"]
    assert summary["ecc_errors"] is None
    assert fake.calls["init"] == fake.calls["shutdown"] == 1
    facts = nvml_device_facts(0)
    assert facts["nvml_name"] == "NVIDIA GeForce RTX 3080"
    assert facts["nvml_pci_bus_id"] == "00000000:01:00.0"
    assert facts["nvml_mig_mode"] is None and facts["nvml_power_limit_w"] is None


def test_reason_names() -> None:
    assert reason_names(0) == []
    assert reason_names(0x1 | 0x8) == ["gpu_idle", "hw_slowdown"]
    assert reason_names(0x4000) == ["0x4000"]


# --- the Freivalds tolerance, with NumPy standing in for CuPy -------------------------------
def _bf16_bits(x: NDArray[np.float32]) -> NDArray[np.uint16]:
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _bf16_value(bits: NDArray[np.uint16]) -> NDArray[np.float32]:
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _tf32(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Truncate to TF32's 10 mantissa bits (the lossier of truncation and rounding)."""
    return (x.view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)


def _simulated(name: str, n: int, rng: np.random.Generator) -> tuple[Any, Any, Any]:
    """(A, Bt, C) stored as the GPU stores them, C rounded as the GPU rounds it."""
    a32 = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b32 = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    if name == "gemm_int8":
        a8 = rng.integers(-128, 128, (n, n), dtype=np.int8)
        b8 = rng.integers(-128, 128, (n, n), dtype=np.int8)
        return a8, b8, (a8.astype(np.int64) @ b8.astype(np.int64).T).astype(np.int32)
    if name == "gemm_fp64":
        a64, b64 = a32.astype(np.float64), b32.astype(np.float64)
        return a64, b64, a64 @ b64.T
    if name == "gemm_fp32":
        return a32, b32, a32 @ b32.T
    if name == "gemm_tf32":
        return a32, b32, _tf32(a32) @ _tf32(b32).T
    if name == "gemm_fp16":
        a16, b16 = a32.astype(np.float16), b32.astype(np.float16)
        return a16, b16, (a16.astype(np.float32) @ b16.astype(np.float32).T).astype(np.float16)
    abits, bbits = _bf16_bits(a32), _bf16_bits(b32)
    c = _bf16_value(abits) @ _bf16_value(bbits).T
    return abits, bbits, _bf16_bits(c.astype(np.float32))


def _numpy_kernel(name: str, a: Any, bt: Any, c: Any, rng: np.random.Generator) -> GemmKernel:
    kernel = GemmKernel.__new__(GemmKernel)
    kernel.cp, kernel.spec, kernel.name = np, GEMM_SPECS[name], name
    kernel.m, kernel.k = a.shape
    kernel.n = bt.shape[0]
    kernel.shape = f"{kernel.m}x{kernel.n}x{kernel.k}"
    kernel.a, kernel.bt, kernel.output = a, bt, c
    kernel._module = types.SimpleNamespace(  # type: ignore[assignment]
        signs=lambda n, seed: rng.choice(np.array([-1.0, 1.0]), n)
    )
    return kernel


@pytest.mark.parametrize("name", GEMM_NAMES)
def test_freivalds_accepts_correctly_rounded_products(name: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(3):
        _numpy_kernel(name, *_simulated(name, 256, rng), rng).check()


@pytest.mark.parametrize("name", GEMM_NAMES)
def test_freivalds_rejects_wrong_products(name: str) -> None:
    rng = np.random.default_rng(11)
    a, bt, c = _simulated(name, 256, rng)
    transposed = np.ascontiguousarray(c.T)  # a plausible layout bug: every element wrong
    with pytest.raises(BenchmarkError, match=f"{name} computed wrong results"):
        _numpy_kernel(name, a, bt, transposed, rng).check()
    one_row = c.copy()
    one_row[3, :] = 0
    with pytest.raises(BenchmarkError, match="exceeds bound"):
        _numpy_kernel(name, a, bt, one_row, rng).check()


# ---------------------------------------------------------------------------------------------
# On a GPU
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def backend() -> Iterator[CupyBackend]:
    try:
        opened = CupyBackend()
    except BackendUnavailable as exc:
        pytest.skip(f"no usable GPU: {exc.reason}")
    yield opened


@pytest.mark.gpu
def test_device_info(backend: CupyBackend) -> None:
    info = backend.device()
    assert info.kind == "gpu" and info.vendor == "NVIDIA" and info.name
    assert info.memory_bytes is not None and info.memory_bytes > 0
    for key in ("driver_version", "cuda_runtime_version", "compute_capability", "cupy_version", "sm_count"):
        assert info.details.get(key) is not None, key


@pytest.mark.gpu
def test_every_kernel_runs_and_checks(backend: CupyBackend) -> None:
    seen = {}
    for kernel in backend.kernels(_plan()):
        try:
            assert kernel.unit == EXPECTED_UNITS[kernel.name]
            assert kernel.work_per_iter > 0 and kernel.shape and kernel.check_method
            kernel.run(1)
            seconds = kernel.run(3)
            assert seconds > 0
            kernel.check()
            seen[kernel.name] = seconds
        finally:
            kernel.close()
    expected = set(ALL_NAMES)
    major = int(str(backend.device().details.get("compute_capability") or "0.0").split(".")[0])
    if major < 8:
        expected.discard("gemm_bf16")
    assert set(seen) == expected


@pytest.mark.gpu
@pytest.mark.parametrize("name", [*GEMM_NAMES, "mem_copy", "mem_triad", "h2d_bandwidth", "d2h_bandwidth"])
def test_corrupted_output_fails_check(backend: CupyBackend, name: str) -> None:
    kernels = list(backend.kernels(_plan({name})))
    if not kernels:
        pytest.skip(f"{name} is not offered on this GPU")
    (kernel,) = kernels
    try:
        kernel.run(2)
        kernel.check()
        out: Any = kernel.output  # type: ignore[attr-defined]
        if name.startswith("gemm"):
            out[0, :] = 0
        elif name.startswith("mem"):
            out[12345] = out[12345] + 1.0
        else:
            out[:8] = out[:8] ^ 0x5A
        with pytest.raises(BenchmarkError, match=name):
            kernel.check()
    finally:
        kernel.close()


@pytest.mark.gpu
def test_plan_only_selects_kernels(backend: CupyBackend) -> None:
    names = []
    for kernel in backend.kernels(_plan({"launch_latency", "h2d_latency"})):
        names.append(kernel.name)
        kernel.close()
    assert names == ["launch_latency", "h2d_latency"]


@pytest.mark.gpu
def test_nvml_telemetry_on_gpu(backend: CupyBackend) -> None:
    sampler = backend.telemetry()
    sampler.start()
    time.sleep(0.3)
    summary = sampler.stop()
    assert tuple(summary) == TELEMETRY_KEYS
    assert summary["source"] == "nvml"
    samples = summary["samples"]
    assert isinstance(samples, int) and samples >= 2
