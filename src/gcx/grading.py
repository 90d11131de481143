"""Grades (seed §7.3): performance A–D, reliability 1–4, energy X–Z; ``?`` means unrated.

Pure functions of integer or float inputs and the thresholds of a reference profile. A grade is
written performance + reliability + energy, e.g. ``A1X`` or ``C?Y``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .compute_hours import MICRO
from .reference import ReferenceProfile

UNRATED = "?"


@dataclass(frozen=True, slots=True)
class Grade:
    performance: str
    reliability: str
    energy: str

    def __str__(self) -> str:
        return f"{self.performance}{self.reliability}{self.energy}"

    def as_dict(self) -> dict[str, str]:
        return {"performance": self.performance, "reliability": self.reliability, "energy": self.energy}


def performance_grade(profile: ReferenceProfile, rate_micro: int) -> str:
    """A/B/C/D from the CH rate (integer micro-CH per hour) against the thresholds."""
    t = profile.grades.performance
    for letter, threshold in (("A", t.A), ("B", t.B), ("C", t.C)):
        if rate_micro >= round(threshold * MICRO):
            return letter
    return "D"


def reliability_grade(profile: ReferenceProfile, uptime_percent: float | None) -> str:
    """1/2/3/4 from measured uptime in percent; ``?`` until the coordinator has measured it."""
    if uptime_percent is None:
        return UNRATED
    t = profile.grades.reliability
    if uptime_percent > t.g1:
        return "1"
    if uptime_percent >= t.g2:
        return "2"
    if uptime_percent >= t.g3:
        return "3"
    return "4"


def energy_grade(profile: ReferenceProfile, j_per_ch: float | None) -> str:
    """X/Y/Z from joules per CH relative to the reference system's; ``?`` without an energy figure."""
    if j_per_ch is None:
        return UNRATED
    relative = j_per_ch / profile.reference_j_per_ch
    t = profile.grades.energy
    if relative <= t.X:
        return "X"
    if relative <= t.Y:
        return "Y"
    return "Z"


def grade(
    profile: ReferenceProfile, rate_micro: int, uptime_percent: float | None, j_per_ch: float | None
) -> Grade:
    return Grade(
        performance_grade(profile, rate_micro),
        reliability_grade(profile, uptime_percent),
        energy_grade(profile, j_per_ch),
    )
