"""gcx.grading: performance (exact in micro-CH), reliability and energy grades."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.grading import Grade, energy_grade, grade, performance_grade, reliability_grade
from gcx.reference import load_profile

PROFILE = load_profile()
A, B, C = 4_000_000, 1_500_000, 670_000  # the shipped thresholds in micro-CH per hour
REF_J = 320.0 * 3600  # the reference's J/CH


@pytest.mark.parametrize(
    ("micro", "letter"),
    [
        (A, "A"),
        (A - 1, "B"),
        (10**12, "A"),
        (B, "B"),
        (B - 1, "C"),
        (C, "C"),
        (C - 1, "D"),
        (1_000_000, "C"),  # the reference itself
        (1, "D"),
        (0, "D"),
    ],
)
def test_performance_boundaries_exact(micro: int, letter: str) -> None:
    assert performance_grade(PROFILE, micro) == letter


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**10))
def test_performance_grade_oracle(micro: int) -> None:
    expected = "A" if micro >= A else "B" if micro >= B else "C" if micro >= C else "D"
    assert performance_grade(PROFILE, micro) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=0, max_value=10**10))
def test_performance_grade_is_monotonic(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert performance_grade(PROFILE, hi) <= performance_grade(PROFILE, lo)  # "A" < "B" < ...


@pytest.mark.parametrize(
    ("uptime", "g"),
    [
        (100.0, "1"),
        (99.95, "1"),
        (99.9, "2"),  # "> 99.9" is strict
        (99.0, "2"),
        (98.99, "3"),
        (95.0, "3"),
        (94.9, "4"),
        (0.0, "4"),
        (None, "?"),
    ],
)
def test_reliability_bands(uptime: float | None, g: str) -> None:
    assert reliability_grade(PROFILE, uptime) == g


@pytest.mark.parametrize(
    ("relative", "g"),
    [
        (0.0, "X"),
        (0.25, "X"),
        (0.5, "X"),
        (0.5000001, "Y"),
        (1.0, "Y"),
        (1.0000001, "Z"),
        (3.0, "Z"),
    ],
)
def test_energy_relative_to_reference(relative: float, g: str) -> None:
    assert PROFILE.reference_j_per_ch == REF_J
    assert energy_grade(PROFILE, relative * REF_J) == g


def test_energy_unrated() -> None:
    assert energy_grade(PROFILE, None) == "?"


def test_grade_string_and_dict() -> None:
    g = grade(PROFILE, A, 99.95, 0.25 * REF_J)
    assert g == Grade("A", "1", "X")
    assert str(g) == "A1X"
    assert g.as_dict() == {"performance": "A", "reliability": "1", "energy": "X"}
    assert str(grade(PROFILE, C, None, None)) == "C??"
    assert str(grade(PROFILE, C - 1, 94.0, 2 * REF_J)) == "D4Z"
