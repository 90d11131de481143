"""gcx.stats: percentiles equal NumPy's linear method; summaries."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.stats import percentile, summarize

samples = st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=50)
positive = st.lists(st.floats(min_value=1e-6, max_value=1e9), min_size=1, max_size=50)


@settings(max_examples=150, deadline=None)
@given(samples, st.floats(min_value=0, max_value=100))
def test_percentile_matches_numpy_linear(xs: list[float], q: float) -> None:
    expected = float(np.percentile(np.array(xs), q, method="linear"))
    scale = max(abs(x) for x in xs)
    assert percentile(xs, q) == pytest.approx(expected, rel=1e-12, abs=1e-12 * scale)


@settings(max_examples=60, deadline=None)
@given(samples)
def test_percentile_endpoints_and_order(xs: list[float]) -> None:
    assert percentile(xs, 0) == min(xs)
    assert percentile(xs, 100) == max(xs)
    assert percentile(xs, 10) <= percentile(xs, 50) <= percentile(xs, 90)


def test_percentile_examples() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 10) == pytest.approx(1.3)
    assert percentile([5.0], 90) == 5.0


@pytest.mark.parametrize("q", [-0.1, 100.1])
def test_percentile_rejects_q(q: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0], q)


def test_percentile_and_summarize_reject_empty() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        summarize([])


def test_single_sample() -> None:
    s = summarize([7.5])
    assert (s.median, s.p10, s.p90, s.cv, s.repeats) == (7.5, 7.5, 7.5, 0.0, 1)


@settings(max_examples=80, deadline=None)
@given(positive)
def test_summarize(xs: list[float]) -> None:
    s = summarize(xs)
    arr = np.array(xs)
    assert s.repeats == len(xs)
    assert s.median == pytest.approx(float(np.median(arr)), rel=1e-12)
    assert s.p10 == pytest.approx(float(np.percentile(arr, 10)), rel=1e-12)
    assert s.p90 == pytest.approx(float(np.percentile(arr, 90)), rel=1e-12)
    expected_cv = statistics.stdev(xs) / statistics.fmean(xs) if len(xs) > 1 else 0.0
    assert s.cv == pytest.approx(expected_cv, rel=1e-9, abs=1e-15)
    assert s.cv >= 0


def test_summarize_cv_example() -> None:
    s = summarize([9.0, 10.0, 11.0])
    assert s.cv == pytest.approx(0.1)  # stdev (n-1) = 1, mean = 10
