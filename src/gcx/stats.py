"""Summary statistics of benchmark samples, defined exactly so a verifier can recompute them.

Percentiles use linear interpolation between closest ranks (NumPy's default ``linear`` method);
the coefficient of variation is the sample standard deviation (n - 1) over the mean, 0 for one
sample.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError("q must be within [0, 100]")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    median: float
    p10: float
    p90: float
    cv: float
    repeats: int


def summarize(samples: Sequence[float]) -> Summary:
    """Median, p10, p90 and coefficient of variation of positive samples."""
    if not samples:
        raise ValueError("no samples")
    mean = math.fsum(samples) / len(samples)
    cv = statistics.stdev(samples) / mean if len(samples) > 1 and mean else 0.0
    return Summary(
        median=percentile(samples, 50),
        p10=percentile(samples, 10),
        p90=percentile(samples, 90),
        cv=cv,
        repeats=len(samples),
    )
