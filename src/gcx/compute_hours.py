"""Compute Hour arithmetic (DESIGN §2, seed Eq. 1). Pure functions, no I/O.

* A machine's **CH rate** (CH per wall hour) for a market class is the weighted geometric mean
  of its speedups over the reference, one per benchmark the class weights.
* A benchmark the machine did not run directly may be *served* by a more capable one that it
  did run (``substitutes`` in the profile: an fp32 GEMM computes any fp16 GEMM exactly as well),
  so each benchmark's speedup is the best over itself and its substitutes. Omitting a result
  can therefore never raise a rate: the rate is monotonic in every measurement.
* A weighted benchmark that is neither measured nor served by a substitute is an error: a
  report cannot be rated on part of the standard.
* Rates are carried as integer micro-CH per hour (:data:`MICRO`) wherever they are signed or
  graded, so grading is exact and independent of float formatting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from . import units
from .errors import ConfigError, ReportError
from .reference import ReferenceProfile

MICRO = 1_000_000
# No machine rates a billion reference systems per hour; above this a figure is garbage, and
# rejecting it keeps every integer conversion finite.
MAX_RATE = 1e9


@dataclass(frozen=True, slots=True)
class Measurement:
    """A benchmark's representative figure (its median) in its unit."""

    value: float
    unit: str


def speedups(profile: ReferenceProfile, measured: Mapping[str, Measurement]) -> dict[str, float]:
    """Speedup over the reference of every profile benchmark that is measured or substituted."""
    out: dict[str, float] = {}
    for name, ref in profile.benchmarks.items():
        candidates = [name, *profile.substitutes.get(name, [])]
        values = []
        for cand in candidates:
            m = measured.get(cand)
            if m is None:
                continue
            try:
                values.append(units.speedup(m.value, m.unit, ref.value, ref.unit))
            except ConfigError as exc:
                raise ReportError(f"result {cand}: {exc}") from None
        if values:
            out[name] = max(values)
    return out


def ch_rate(profile: ReferenceProfile, measured: Mapping[str, Measurement], market_class: str) -> float:
    """CH per wall hour in ``market_class``: the weighted geometric mean of the speedups."""
    cls = profile.classes.get(market_class)
    if cls is None:
        raise ReportError(f"unknown market class {market_class!r} (profile has {', '.join(profile.classes)})")
    for name, m in measured.items():
        if not (math.isfinite(m.value) and m.value > 0):
            raise ReportError(f"result {name} has a non-positive or non-finite value {m.value!r}")
    got = speedups(profile, measured)
    weights = {b: w for b, w in cls.weights.items() if w > 0}
    missing = sorted(b for b in weights if b not in got)
    if missing:
        raise ReportError(f"class {market_class!r} needs results for {', '.join(missing)}")
    total = math.fsum(weights.values())
    return math.exp(math.fsum(w * math.log(got[b]) for b, w in weights.items()) / total)


def to_micro(rate: float) -> int:
    """A CH rate as integer micro-CH per hour (at least 1 for any positive rate)."""
    if not (math.isfinite(rate) and 0 < rate <= MAX_RATE):
        raise ReportError(f"CH rate must be positive and at most {MAX_RATE:g}, got {rate!r}")
    return max(1, round(rate * MICRO))


def from_micro(micro: int) -> float:
    return micro / MICRO


def compute_hours_micro(rate_micro: int, wall_seconds: int) -> int:
    """Eq. 1: micro-CH delivered by a machine of rate ``rate_micro`` over ``wall_seconds`` (floor)."""
    if rate_micro < 0 or wall_seconds < 0:
        raise ValueError("rate and duration must be non-negative")
    return rate_micro * wall_seconds // 3600


def joules_per_ch(energy_j: float, duration_s: float, rate: float) -> float:
    """Energy per CH: average power over the run times one hour, divided by CH per hour."""
    if duration_s <= 0 or rate <= 0 or energy_j < 0:
        raise ReportError("energy per CH needs positive duration and rate and non-negative energy")
    return energy_j / duration_s * 3600.0 / rate
