"""The CuPy backend: GEMMs through cuBLAS ``gemmEx``, STREAM-like memory kernels, launch and PCIe
transfer figures on one NVIDIA GPU, each verified after it runs.

Theory of operation
-------------------
* **Detection.** :class:`CupyBackend` imports CuPy lazily and runs a smoke test (device count,
  device selection, an elementwise kernel, which needs NVRTC, a small matmul, which needs cuBLAS,
  and a synchronize). Any failure becomes :class:`~gcx.errors.BackendUnavailable` with a reason.
* **GEMMs.** Every precision goes through ``cublasGemmEx`` with an explicit compute type
  (``CUBLAS_COMPUTE_32F`` for fp32 with the handle in default math mode so TF32 is not used,
  ``..._FAST_TF32`` for tf32, fp32 compute for fp16/bf16 inputs, ``..._32I`` for int8 and
  ``..._64F`` for fp64). Alpha/beta are host scalars of the compute type and the handle is put
  in host pointer mode for the call, as CuPy itself does (``_routines_linalg.pyx``). The layout
  is row-major ``C[m,n] = A[m,k] @ Bt[n,k].T``, i.e. cuBLAS "TN" (``op(A)=T, op(B)=N``) on the
  column-major views, which is the layout int8 tensor-core kernels want.
* **Check (Freivalds).** With a random ±1 vector ``x`` the kernel compares ``C·x`` against
  ``A·(Bt^T·x)`` evaluated in fp64 from the values actually stored (bf16 bits decoded). For a
  random-sign ``x`` the residual of row ``i`` has standard deviation ``‖E_i‖₂`` (E the error of
  C), so the bound per row is a safety factor times an estimate of ``‖E_i‖₂``: output rounding
  ``u_out·‖C_i‖₂`` plus input rounding and accumulation ``(2·u_in + √k·u_acc)·√(Σ_l A_il²·Σ_j
  Bt_jl²)``. A norm-wise worst-case bound (``u·√k·|A||B||x|``) would be larger than the residual
  of a completely wrong product for random-sign data, so it could not catch one. int8 is exact.
* **Timing.** ``run(iters)`` records a CUDA event, launches ``iters`` operations back to back on
  the current stream, records a second event and returns the event time in seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np

from gcx.errors import BackendUnavailable, BenchmarkError

from ..telemetry_nvml import NvmlSampler, nvml_device_facts
from .base import BenchPlan, DetailValue, DeviceInfo, Kernel, TelemetrySampler
from .cupy_common import (
    ALL_NAMES,
    GiB,
    MiB,
    _describe,
    _elapsed_s,
    _Module,
    _new_seed,
)
from .cupy_gemm import GEMM_SPECS, GemmKernel, gemm_size


# --------------------------------------------------------------------------------------------
# Memory bandwidth
# --------------------------------------------------------------------------------------------
def stream_elements(quick: bool, l2_bytes: int, free_bytes: int, arrays: int) -> int:
    """float32 elements per array: 1 GiB full, max(64 MiB, 8 x L2) quick; halved to fit."""
    nbytes = max(64 * MiB, 8 * l2_bytes) if quick else GiB
    while nbytes > 16 * MiB and arrays * nbytes > 0.7 * free_bytes:
        nbytes //= 2
    return (nbytes // 16) * 4  # a multiple of 4 floats (float4 loads)


class StreamKernel:
    """``mem_copy`` (dst = src) or ``mem_triad`` (a = b + s*c), float4 grid-stride kernels."""

    check_method = "elementwise"
    SCALAR = 3.0

    def __init__(self, cp: Any, module: _Module, name: str, elements: int) -> None:
        self.cp, self.name, self._module = cp, name, module
        self.unit = "GB/s"
        self.elements = elements
        nbytes = 4 * elements
        self.shape = f"{name[4:]} {elements} float32 ({nbytes / MiB:.0f} MiB per array)"
        self.b = cp.empty(elements, dtype=cp.float32)
        module.fill(self.b, _new_seed())
        if name == "mem_copy":
            self.c = None
            self.work_per_iter = 2.0 * nbytes
        else:
            self.c = cp.empty(elements, dtype=cp.float32)
            module.fill(self.c, _new_seed())
            self.work_per_iter = 3.0 * nbytes
        self.output = cp.full(elements, np.nan, dtype=cp.float32)

    def _op(self) -> None:
        n4 = np.uint64(self.elements // 4)
        if self.c is None:
            self._module.launch("copy_f4", self.b, self.output, n4)
        else:
            self._module.launch("triad_f4", self.output, self.b, self.c, np.float32(self.SCALAR), n4)

    def run(self, iters: int) -> float:
        return _elapsed_s(self.cp, self._op, iters)

    def check(self) -> None:
        cp = self.cp
        step = 16 * MiB
        for i0 in range(0, self.elements, step):
            i1 = min(self.elements, i0 + step)
            got, b = self.output[i0:i1], self.b[i0:i1]
            if self.c is None:
                bad = cp.logical_not(got == b)
            else:
                c = self.c[i0:i1]
                want = b + np.float32(self.SCALAR) * c
                tol = 2.0**-22 * (cp.abs(b) + np.float32(self.SCALAR) * cp.abs(c)) + 1e-30
                bad = cp.logical_not(cp.abs(got - want) <= tol)  # NaN counts as wrong
            count = int(bad.sum())
            if count:
                first = i0 + int(cp.argmax(bad))
                raise BenchmarkError(
                    f"{self.name} computed wrong results: {count} wrong elements, first at {first} "
                    f"(got {float(self.output[first])!r})"
                )

    def close(self) -> None:
        self.b = self.c = self.output = None
        self.cp.get_default_memory_pool().free_all_blocks()


# --------------------------------------------------------------------------------------------
# Launch latency and host <-> device transfers
# --------------------------------------------------------------------------------------------
class LaunchKernel:
    """Time of one launch of an empty kernel (<<<1,1>>>), from a batch of back-to-back launches."""

    check_method = "flag"
    unit = "us"
    work_per_iter = 1.0
    name = "launch_latency"
    shape = "empty kernel <<<1,1>>> (RawKernel launch from Python)"
    MAGIC = 0x5A17

    def __init__(self, cp: Any, module: _Module) -> None:
        self.cp, self._module = cp, module
        self.flag = cp.zeros(1, dtype=cp.int32)
        self._fn = module.fn("noop")
        self._args = (self.flag, np.int32(0))

    def _op(self) -> None:
        self._fn((1,), (1,), self._args)

    def run(self, iters: int) -> float:
        return _elapsed_s(self.cp, self._op, iters)

    def check(self) -> None:
        self.flag.fill(0)
        self._fn((1,), (1,), (self.flag, np.int32(self.MAGIC)))
        got = int(self.flag.get()[0])
        if got != self.MAGIC:
            raise BenchmarkError(
                f"launch_latency: the kernel did not run (flag {got:#x}, want {self.MAGIC:#x})"
            )

    def close(self) -> None:
        self.flag = None


def _pinned(cp: Any, nbytes: int) -> tuple[Any, np.ndarray[Any, np.dtype[np.uint8]]]:
    """Page-locked host memory and a numpy view of it (as cupyx.empty_pinned builds it)."""
    mem = cp.cuda.alloc_pinned_memory(nbytes)
    return mem, np.ndarray((nbytes,), dtype=np.uint8, buffer=mem)


class TransferKernel:
    """Pinned host <-> device copies with ``cudaMemcpyAsync``: bandwidth, or latency of 4 bytes."""

    check_method = "checksum"

    def __init__(self, cp: Any, module: _Module, name: str, nbytes: int) -> None:
        self.cp, self.name = cp, name
        self.nbytes = nbytes
        self.h2d = name.startswith("h2d")
        self.latency = name.endswith("latency")
        self.unit = "us" if self.latency else "GB/s"
        self.work_per_iter = 1.0 if self.latency else float(nbytes)
        direction = "host->device" if self.h2d else "device->host"
        self.shape = f"{direction} {nbytes} bytes, pinned"
        self._mem, self.host = _pinned(cp, nbytes)
        self.device = cp.empty(nbytes, dtype=cp.uint8)
        words = nbytes // 4
        source = cp.empty(words, dtype=cp.uint32)
        module.fill(source, _new_seed())
        self.expected_sum = int(source.sum(dtype=cp.uint64))
        if self.h2d:
            self.host.view(np.uint32)[:] = source.get()
            self.device.fill(0)
        else:
            self.device.view(cp.uint32)[:] = source
            self.host.fill(0)
        del source
        cp.cuda.get_current_stream().synchronize()
        self._runtime = cp.cuda.runtime
        kind = self._runtime.memcpyHostToDevice if self.h2d else self._runtime.memcpyDeviceToHost
        dst, src = (
            (self.device.data.ptr, self.host.ctypes.data)
            if self.h2d
            else (self.host.ctypes.data, self.device.data.ptr)
        )
        self._args = (dst, src, nbytes, kind)
        self._stream_ptr = 0

    @property
    def output(self) -> Any:
        """The destination buffer: device array for h2d, pinned host array for d2h."""
        return self.device if self.h2d else self.host

    def _op(self) -> None:
        self._runtime.memcpyAsync(*self._args, self._stream_ptr)

    def run(self, iters: int) -> float:
        self._stream_ptr = self.cp.cuda.get_current_stream().ptr
        return _elapsed_s(self.cp, self._op, iters)

    def check(self) -> None:
        cp = self.cp
        if self.h2d:
            arrived = int(self.device.view(cp.uint32).sum(dtype=cp.uint64))
            sample_dev = self.device[:: max(1, self.nbytes // 4096)].get()
            sample_host = self.host[:: max(1, self.nbytes // 4096)]
        else:
            arrived = int(self.host.view(np.uint32).sum(dtype=np.uint64))
            sample_dev = self.device[:: max(1, self.nbytes // 4096)].get()
            sample_host = self.host[:: max(1, self.nbytes // 4096)]
        if arrived != self.expected_sum or not np.array_equal(sample_dev, sample_host):
            raise BenchmarkError(
                f"{self.name}: the data did not arrive intact "
                f"(checksum {arrived:#x}, want {self.expected_sum:#x})"
            )

    def close(self) -> None:
        self.device = None
        self.host = np.empty(0, dtype=np.uint8)
        self._mem = None
        self.cp.get_default_memory_pool().free_all_blocks()
        self.cp.get_default_pinned_memory_pool().free_all_blocks()


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------
def _smoke_test(cp: Any, device_index: int) -> None:
    """Prove the GPU is usable: raise :class:`BackendUnavailable` with the step that failed."""
    step = "query the device count"
    try:
        count = int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:
        raise BackendUnavailable(
            f"CuPy is installed but no CUDA device is usable ({_describe(exc)})"
        ) from exc
    if count <= 0:
        raise BackendUnavailable("CuPy is installed but no CUDA device is visible (0 devices)")
    if not 0 <= device_index < count:
        raise BackendUnavailable(f"GPU {device_index} does not exist ({count} CUDA device(s) visible)")
    try:
        step = f"select GPU {device_index}"
        with cp.cuda.Device(device_index):
            step = "run an elementwise kernel (needs NVRTC)"
            x = cp.arange(1024, dtype=cp.float32)
            total = float((x * 2 + 1).sum())
            if total != 1024.0 * 1024.0:
                raise RuntimeError(f"wrong sum {total}")
            step = "run a matrix multiply through cuBLAS"
            a = cp.ones((64, 64), dtype=cp.float32)
            c = cp.matmul(a, a)
            if float(c[0, 0]) != 64.0:
                raise RuntimeError(f"wrong product {float(c[0, 0])}")
            step = "synchronize the device"
            cp.cuda.Device(device_index).synchronize()
    except BackendUnavailable:
        raise
    except Exception as exc:
        hint = ""
        if "cublas" in str(exc).lower():
            hint = " (cuBLAS missing? install cupy-cuda13x[ctk] or the CUDA toolkit)"
        elif "nvrtc" in str(exc).lower():
            hint = " (NVRTC missing? install cupy-cuda13x[ctk] or the CUDA toolkit)"
        raise BackendUnavailable(f"CuPy cannot {step} on GPU {device_index}: {_describe(exc)}{hint}") from exc


class CupyBackend:
    """Benchmarks one NVIDIA GPU with CuPy (cuBLAS GEMMs, memory kernels, launches, PCIe)."""

    name: Literal["cupy", "numpy"] = "cupy"

    def __init__(self, device_index: int = 0) -> None:
        try:
            import cupy
        except Exception as exc:  # ImportError, or a broken install raising anything
            raise BackendUnavailable(
                f"CuPy is not installed or cannot be imported ({_describe(exc)})"
            ) from exc
        self._cp: Any = cupy
        self.index = device_index
        _smoke_test(cupy, device_index)
        self._module: _Module | None = None

    # -- device facts -----------------------------------------------------------------------
    def _attr(self, name: str) -> int | None:
        runtime = self._cp.cuda.runtime
        try:
            return int(runtime.deviceGetAttribute(getattr(runtime, name), self.index))
        except Exception:
            return None

    def pci_bus_id(self) -> str | None:
        try:
            return str(self._cp.cuda.Device(self.index).pci_bus_id)
        except Exception:
            return None

    def device(self) -> DeviceInfo:
        cp, runtime = self._cp, self._cp.cuda.runtime
        props: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            props = dict(runtime.getDeviceProperties(self.index))
        raw_name = props.get("name", b"unknown NVIDIA GPU")
        name = raw_name.decode(errors="replace") if isinstance(raw_name, bytes) else str(raw_name)
        sm_count = self._attr("cudaDevAttrMultiProcessorCount")
        l2 = self._attr("cudaDevAttrL2CacheSize")
        bus_bits = self._attr("cudaDevAttrGlobalMemoryBusWidth")
        mem_khz = self._attr("cudaDevAttrMemoryClockRate")
        details: dict[str, DetailValue] = {
            "cuda_device_index": self.index,
            "cupy_version": str(getattr(cp, "__version__", "")),
            "driver_version": _safe_int(runtime.driverGetVersion),
            "cuda_runtime_version": _safe_int(runtime.runtimeGetVersion),
            "compute_capability": _safe(lambda: ".".join(_cc(cp, self.index))),
            "sm_count": sm_count,
            "l2_bytes": l2,
            "max_threads_per_sm": self._attr("cudaDevAttrMaxThreadsPerMultiProcessor"),
            "mem_bus_width_bits": bus_bits,
            "mem_clock_khz": mem_khz,
            "nominal_mem_bandwidth_gbs": (2.0 * mem_khz * 1e3 * bus_bits / 8 / 1e9
                                          if mem_khz and bus_bits else None),
            "ecc_enabled": _safe(lambda: bool(self._attr("cudaDevAttrEccEnabled"))),
            "pci_bus_id": self.pci_bus_id(),
            "uuid": _uuid(props.get("uuid")),
            "cublas_version": _safe_int(lambda: _cublas_version(cp, self.index)),
        }  # fmt: skip
        details.update(nvml_device_facts(self.index, self.pci_bus_id()))
        memory = props.get("totalGlobalMem")
        return DeviceInfo(
            kind="gpu",
            name=name,
            vendor="NVIDIA",
            memory_bytes=int(memory) if memory else None,
            details=details,
        )

    def telemetry(self) -> TelemetrySampler:
        return NvmlSampler(self.index, pci_bus_id=self.pci_bus_id())

    # -- kernels ----------------------------------------------------------------------------
    def _helpers(self) -> _Module:
        if self._module is None:
            sm = self._attr("cudaDevAttrMultiProcessorCount") or 1
            threads = self._attr("cudaDevAttrMaxThreadsPerMultiProcessor") or 1024
            self._module = _Module(self._cp, sm, threads)
        return self._module

    def _free_bytes(self) -> int:
        self._cp.get_default_memory_pool().free_all_blocks()
        free, _total = self._cp.cuda.runtime.memGetInfo()
        return int(free)

    def _factory(self, name: str, quick: bool) -> Callable[[], Kernel] | None:
        cp = self._cp
        if name in GEMM_SPECS:
            if name == "gemm_bf16" and int(_cc(cp, self.index)[0]) < 8:
                return None  # cuBLAS bf16 GEMMs need compute capability 8.0+
            return lambda: GemmKernel(
                cp, self._helpers(), GEMM_SPECS[name], gemm_size(name, quick, self._free_bytes())
            )
        if name in ("mem_copy", "mem_triad"):
            arrays = 2 if name == "mem_copy" else 3
            l2 = self._attr("cudaDevAttrL2CacheSize") or 0
            return lambda: StreamKernel(
                cp, self._helpers(), name, stream_elements(quick, l2, self._free_bytes(), arrays)
            )
        if name == "launch_latency":
            return lambda: LaunchKernel(cp, self._helpers())
        size = 4 if name == "h2d_latency" else (32 if quick else 256) * MiB
        return lambda: TransferKernel(cp, self._helpers(), name, size)

    def kernels(self, plan: BenchPlan) -> Iterator[Kernel]:
        """Yield each wanted kernel, allocated only when the runner asks for it."""
        for name in ALL_NAMES:
            if not plan.wants(name):
                continue
            factory = self._factory(name, plan.quick)
            if factory is None:
                continue
            with self._cp.cuda.Device(self.index):
                try:
                    kernel = factory()
                except BenchmarkError:
                    raise
                except Exception as exc:
                    raise BenchmarkError(f"{name}: cannot set up the kernel ({_describe(exc)})") from exc
            yield _OnDevice(self._cp, self.index, kernel)


class _OnDevice:
    """Wraps a kernel so that each call runs with its GPU current (the runner may switch threads)."""

    def __init__(self, cp: Any, index: int, inner: Kernel) -> None:
        self._cp, self._index, self.inner = cp, index, inner
        self.name, self.unit = inner.name, inner.unit
        self.work_per_iter, self.shape, self.check_method = (
            inner.work_per_iter,
            inner.shape,
            inner.check_method,
        )

    @property
    def output(self) -> Any:
        """The buffer the kernel writes (device array, or pinned host array for d2h)."""
        return getattr(self.inner, "output", None)

    def run(self, iters: int) -> float:
        with self._cp.cuda.Device(self._index):
            try:
                return self.inner.run(iters)
            except BenchmarkError:
                raise
            except Exception as exc:
                raise BenchmarkError(f"{self.name} failed on the GPU: {_describe(exc)}") from exc

    def check(self) -> None:
        with self._cp.cuda.Device(self._index):
            try:
                self.inner.check()
            except BenchmarkError:
                raise
            except Exception as exc:
                raise BenchmarkError(
                    f"{self.name}: the results check failed to run: {_describe(exc)}"
                ) from exc

    def close(self) -> None:
        with self._cp.cuda.Device(self._index):
            self.inner.close()


def _safe(fn: Callable[[], DetailValue]) -> DetailValue:
    try:
        return fn()
    except Exception:
        return None


def _safe_int(fn: Callable[[], Any]) -> int | None:
    try:
        return int(fn())
    except Exception:
        return None


def _cc(cp: Any, index: int) -> tuple[str, str]:
    """(major, minor) compute capability: attributes 75 and 76, as ``cupy.cuda.Device`` reads them."""
    runtime = cp.cuda.runtime
    return str(int(runtime.deviceGetAttribute(75, index))), str(int(runtime.deviceGetAttribute(76, index)))


def _cublas_version(cp: Any, index: int) -> int:
    with cp.cuda.Device(index):
        return int(cp.cuda.cublas.getVersion(cp.cuda.device.get_cublas_handle()))


def _uuid(raw: Any) -> str | None:
    """CUDA's 16-byte UUID as NVML prints it (``GPU-xxxxxxxx-xxxx-...``)."""
    if isinstance(raw, bytes | bytearray) and len(raw) == 16:
        h = raw.hex()
        return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return raw if isinstance(raw, str) and raw else None
