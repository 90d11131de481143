"""Units of benchmark measurements and how to compare them.

A unit is either a *rate* (more is better: FLOP/s, OP/s, B/s with SI prefixes) or a *time*
(less is better: s, ms, us, ns). :func:`to_base` converts a value to the base unit of its
dimension (FLOP/s, OP/s, B/s or s); :func:`speedup` compares a measurement with a reference in
any pair of units of the same dimension and returns how many times better the measurement is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError

_PREFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_RATE_BASES = ("FLOP/s", "OP/s", "B/s")
_TIMES = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


@dataclass(frozen=True, slots=True)
class Unit:
    """A parsed unit: its dimension's base unit, the scale to it, and the direction of merit."""

    text: str
    base: str
    scale: float
    higher_is_better: bool
    kind: Literal["rate", "time"]


def parse_unit(text: str) -> Unit:
    """Parse ``"TFLOP/s"``, ``"TOP/s"``, ``"GB/s"``, ``"us"``...; raise :class:`ConfigError` otherwise."""
    if text in _TIMES:
        return Unit(text, "s", _TIMES[text], higher_is_better=False, kind="time")
    for base in _RATE_BASES:
        if text.endswith(base) and text[: -len(base)] in _PREFIX:
            return Unit(text, base, _PREFIX[text[: -len(base)]], higher_is_better=True, kind="rate")
    known = ", ".join([f"{p}{b}" for b in _RATE_BASES for p in ("", "G", "T")] + list(_TIMES))
    raise ConfigError(f"unknown unit {text!r} (known: {known}, with prefixes K M G T P)")


def to_base(value: float, unit: str) -> float:
    """``value`` expressed in the base unit of ``unit``'s dimension."""
    return value * parse_unit(unit).scale


def speedup(measured: float, measured_unit: str, reference: float, reference_unit: str) -> float:
    """How many times better ``measured`` is than ``reference`` (> 1 means faster).

    Raises :class:`ConfigError` when the two units measure different things (GB/s vs TFLOP/s).
    """
    mu, ru = parse_unit(measured_unit), parse_unit(reference_unit)
    if mu.base != ru.base:
        raise ConfigError(f"cannot compare {measured_unit} with {reference_unit}: different dimensions")
    m, r = measured * mu.scale, reference * ru.scale
    return m / r if mu.higher_is_better else r / m
