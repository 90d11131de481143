"""GPU power, energy, clocks and temperature from NVML (``pynvml``, package ``nvidia-ml-py``).

Theory of operation: :class:`NvmlSampler` opens NVML in :meth:`~NvmlSampler.start`, reads the
total-energy counter, and samples power, SM/memory clocks, temperature and clock-event
(throttle) reasons every ``interval_s`` on a background thread until :meth:`~NvmlSampler.stop`,
which summarises the samples under :data:`~node_agent.backends.base.TELEMETRY_KEYS`.

Every NVML call is wrapped on its own: consumer cards answer ``NVMLError_NotSupported`` for
some figures (energy counter, ECC), and that figure is then ``None`` while the others are kept.
Without NVML at all (no driver, ``NVMLError_LibraryNotFound``) the sampler measures nothing and
``stop()`` returns :func:`~node_agent.backends.base.empty_telemetry`.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .backends.base import DetailValue, empty_telemetry

# Clock-event (formerly "throttle") reason bits, as in pynvml's nvmlClocksEventReason* constants.
CLOCK_EVENT_REASONS: dict[int, str] = {
    0x001: "gpu_idle",
    0x002: "applications_clocks_setting",
    0x004: "sw_power_cap",
    0x008: "hw_slowdown",
    0x010: "sync_boost",
    0x020: "sw_thermal_slowdown",
    0x040: "hw_thermal_slowdown",
    0x080: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}

# pynvml enum values (see pynvml.py: NVML_CLOCK_SM, NVML_TEMPERATURE_GPU, ...).
_NVML_CLOCK_SM = 1
_NVML_CLOCK_MEM = 2
_NVML_TEMPERATURE_GPU = 0
_NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
_NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
_NVML_VOLATILE_ECC = 0


def reason_names(mask: int) -> list[str]:
    """Readable names of the bits set in a clock-event reason bitmask (unknown bits in hex)."""
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    rest = mask & ~sum(CLOCK_EVENT_REASONS)
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"0x{bit:x}")
            rest &= ~bit
        bit <<= 1
    return sorted(names)


def _load_nvml() -> Any | None:
    try:
        import pynvml
    except Exception:
        return None
    return pynvml


def _call(fn: Callable[..., Any] | None, *args: Any) -> Any | None:
    """Call one NVML function; ``None`` when it is missing or raises (NotSupported, NoPermission...)."""
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception:  # pynvml.NVMLError and its subclasses, or ctypes errors from old drivers
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def _handle(nvml: Any, index: int, pci_bus_id: str | None) -> Any:
    """The NVML device handle: by PCI bus id when known (CUDA and NVML orders can differ)."""
    if pci_bus_id:
        try:
            return nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
        except Exception:
            pass
    return nvml.nvmlDeviceGetHandleByIndex(index)


def _temperature(nvml: Any, handle: Any) -> int | None:
    value = _call(getattr(nvml, "nvmlDeviceGetTemperatureV", None), handle, _NVML_TEMPERATURE_GPU)
    if value is None:
        value = _call(getattr(nvml, "nvmlDeviceGetTemperature", None), handle, _NVML_TEMPERATURE_GPU)
    return None if value is None else int(value)


def _clock_event_mask(nvml: Any, handle: Any) -> int | None:
    value = _call(getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None), handle)
    if value is None:
        value = _call(getattr(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None), handle)
    return None if value is None else int(value)


def _ecc_counts(nvml: Any, handle: Any) -> dict[str, int] | None:
    fn = getattr(nvml, "nvmlDeviceGetTotalEccErrors", None)
    corrected = _call(fn, handle, _NVML_MEMORY_ERROR_TYPE_CORRECTED, _NVML_VOLATILE_ECC)
    uncorrected = _call(fn, handle, _NVML_MEMORY_ERROR_TYPE_UNCORRECTED, _NVML_VOLATILE_ECC)
    if corrected is None or uncorrected is None:
        return None
    return {"corrected": int(corrected), "uncorrected": int(uncorrected)}


@dataclass(slots=True)
class _Samples:
    times: list[float] = field(default_factory=list)
    power_w: list[tuple[float, float]] = field(default_factory=list)  # (time, watts)
    sm_mhz: list[int] = field(default_factory=list)
    mem_mhz: list[int] = field(default_factory=list)
    temp_c: list[int] = field(default_factory=list)
    reasons: int = 0
    reasons_read: bool = False


class NvmlSampler:
    """Samples one NVIDIA GPU through NVML on a background thread between ``start`` and ``stop``.

    ``index`` is the NVML device index; ``pci_bus_id`` (as CUDA reports it), when given, is
    preferred, because CUDA's device order (fastest first) may differ from NVML's (PCI order).
    """

    def __init__(self, index: int = 0, *, pci_bus_id: str | None = None, interval_s: float = 0.05) -> None:
        self._index = index
        self._pci_bus_id = pci_bus_id
        self._interval_s = interval_s
        self._nvml: Any | None = None
        self._handle: Any | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._samples = _Samples()
        self._t0 = 0.0
        self._energy0_mj: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Open NVML and begin sampling; without NVML, do nothing (``stop`` reports nothing)."""
        self._close_nvml()
        self._samples = _Samples()
        self._stopping.clear()
        nvml = _load_nvml()
        if nvml is None:
            return
        try:
            nvml.nvmlInit()
        except Exception:  # NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded...
            return
        try:
            handle = _handle(nvml, self._index, self._pci_bus_id)
        except Exception:
            _call(nvml.nvmlShutdown)
            return
        self._nvml, self._handle = nvml, handle
        self._t0 = time.monotonic()
        energy = _call(getattr(nvml, "nvmlDeviceGetTotalEnergyConsumption", None), handle)
        self._energy0_mj = None if energy is None else int(energy)
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, object]:
        """Stop sampling and return the summary; every :data:`TELEMETRY_KEYS` key is present."""
        nvml, handle = self._nvml, self._handle
        if nvml is None or handle is None:
            return empty_telemetry()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._sample()
        t1 = time.monotonic()
        energy1 = _call(getattr(nvml, "nvmlDeviceGetTotalEnergyConsumption", None), handle)
        limit_mw = _call(getattr(nvml, "nvmlDeviceGetEnforcedPowerLimit", None), handle)
        ecc = _ecc_counts(nvml, handle)
        self._close_nvml()
        with self._lock:
            samples = self._samples
        return _summarise(
            samples,
            duration_s=t1 - self._t0,
            energy0_mj=self._energy0_mj,
            energy1_mj=None if energy1 is None else int(energy1),
            limit_mw=None if limit_mw is None else int(limit_mw),
            ecc=ecc,
        )

    # -- internals -----------------------------------------------------------------------------
    def _close_nvml(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._nvml is not None:
            _call(self._nvml.nvmlShutdown)
        self._nvml = None
        self._handle = None

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        nvml, handle = self._nvml, self._handle
        if nvml is None or handle is None:
            return
        now = time.monotonic()
        power = _call(getattr(nvml, "nvmlDeviceGetPowerUsage", None), handle)
        clock = getattr(nvml, "nvmlDeviceGetClockInfo", None)
        sm = _call(clock, handle, _NVML_CLOCK_SM)
        mem = _call(clock, handle, _NVML_CLOCK_MEM)
        temp = _temperature(nvml, handle)
        mask = _clock_event_mask(nvml, handle)
        with self._lock:
            s = self._samples
            s.times.append(now)
            if power is not None:
                s.power_w.append((now, int(power) / 1000.0))
            if sm is not None:
                s.sm_mhz.append(int(sm))
            if mem is not None:
                s.mem_mhz.append(int(mem))
            if temp is not None:
                s.temp_c.append(temp)
            if mask is not None:
                s.reasons |= mask
                s.reasons_read = True


def _integrate(power: list[tuple[float, float]]) -> float | None:
    """Energy (J) from power samples by the trapezoidal rule; ``None`` with fewer than two."""
    if len(power) < 2:
        return None
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in itertools.pairwise(power))


def _summarise(
    s: _Samples,
    *,
    duration_s: float,
    energy0_mj: int | None,
    energy1_mj: int | None,
    limit_mw: int | None,
    ecc: dict[str, int] | None,
) -> dict[str, object]:
    summary = empty_telemetry()
    watts = [w for _, w in s.power_w]
    energy_j: float | None = None
    power_avg: float | None = statistics.fmean(watts) if watts else None
    if energy0_mj is not None and energy1_mj is not None and energy1_mj >= energy0_mj:
        energy_j = (energy1_mj - energy0_mj) / 1000.0
        if duration_s > 0:
            power_avg = energy_j / duration_s
    else:
        energy_j = _integrate(s.power_w)
    summary.update(
        source="nvml",
        samples=len(s.times),
        duration_s=duration_s,
        energy_j=energy_j,
        power_w_avg=power_avg,
        power_w_max=max(watts) if watts else None,
        power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
        sm_clock_mhz_min=min(s.sm_mhz) if s.sm_mhz else None,
        sm_clock_mhz_median=statistics.median(s.sm_mhz) if s.sm_mhz else None,
        mem_clock_mhz_median=statistics.median(s.mem_mhz) if s.mem_mhz else None,
        temperature_c_max=max(s.temp_c) if s.temp_c else None,
        throttle_reasons=reason_names(s.reasons) if s.reasons_read else None,
        ecc_errors=ecc,
    )
    return summary


def nvml_device_facts(index: int = 0, pci_bus_id: str | None = None) -> dict[str, DetailValue]:
    """Static facts about one GPU from NVML (driver, name, UUID, PCI, power limit, memory, MIG).

    Never raises: without NVML the answer is ``{"nvml_error": <why>}``; a figure the card does
    not report is ``None``.
    """
    nvml = _load_nvml()
    if nvml is None:
        return {"nvml_error": "pynvml is not importable"}
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return {"nvml_error": f"{type(exc).__name__}: {exc}"}
    try:
        try:
            handle = _handle(nvml, index, pci_bus_id)
        except Exception as exc:
            return {"nvml_error": f"{type(exc).__name__}: {exc}"}
        g = getattr
        memory = _call(g(nvml, "nvmlDeviceGetMemoryInfo", None), handle)
        pci = _call(g(nvml, "nvmlDeviceGetPciInfo", None), handle)
        limit_mw = _call(g(nvml, "nvmlDeviceGetEnforcedPowerLimit", None), handle)
        default_mw = _call(g(nvml, "nvmlDeviceGetPowerManagementDefaultLimit", None), handle)
        mig = _call(g(nvml, "nvmlDeviceGetMigMode", None), handle)
        gen = _call(g(nvml, "nvmlDeviceGetCurrPcieLinkGeneration", None), handle)
        width = _call(g(nvml, "nvmlDeviceGetCurrPcieLinkWidth", None), handle)
        facts: dict[str, DetailValue] = {
            "nvml_driver_version": _text(_call(g(nvml, "nvmlSystemGetDriverVersion", None))),
            "nvml_name": _text(_call(g(nvml, "nvmlDeviceGetName", None), handle)),
            "nvml_uuid": _text(_call(g(nvml, "nvmlDeviceGetUUID", None), handle)),
            "nvml_pci_bus_id": _text(getattr(pci, "busId", None)) if pci is not None else None,
            "nvml_power_limit_w": None if limit_mw is None else int(limit_mw) / 1000.0,
            "nvml_power_default_limit_w": None if default_mw is None else int(default_mw) / 1000.0,
            "nvml_memory_total_bytes": None if memory is None else int(getattr(memory, "total", 0)) or None,
            "nvml_mig_mode": None if not mig else ("enabled" if int(mig[0]) == 1 else "disabled"),
            "nvml_pcie_link_gen": None if gen is None else int(gen),
            "nvml_pcie_link_width": None if width is None else int(width),
        }
        return facts
    except Exception as exc:  # a malformed answer from an unusual driver: report, never raise
        return {"nvml_error": f"{type(exc).__name__}: {exc}"}
    finally:
        _call(nvml.nvmlShutdown)
