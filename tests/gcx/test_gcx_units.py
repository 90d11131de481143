"""gcx.units: parsing units and comparing measurements across prefixes and dimensions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.errors import ConfigError
from gcx.units import parse_unit, speedup, to_base


@pytest.mark.parametrize(
    ("text", "base", "scale", "kind"),
    [
        ("TFLOP/s", "FLOP/s", 1e12, "rate"),
        ("GFLOP/s", "FLOP/s", 1e9, "rate"),
        ("FLOP/s", "FLOP/s", 1.0, "rate"),
        ("TOP/s", "OP/s", 1e12, "rate"),
        ("GB/s", "B/s", 1e9, "rate"),
        ("TB/s", "B/s", 1e12, "rate"),
        ("KB/s", "B/s", 1e3, "rate"),
        ("PFLOP/s", "FLOP/s", 1e15, "rate"),
        ("s", "s", 1.0, "time"),
        ("ms", "s", 1e-3, "time"),
        ("us", "s", 1e-6, "time"),
        ("ns", "s", 1e-9, "time"),
    ],
)
def test_parse_known_units(text: str, base: str, scale: float, kind: str) -> None:
    u = parse_unit(text)
    assert (u.text, u.base, u.scale, u.kind) == (text, base, scale, kind)
    assert u.higher_is_better is (kind == "rate")


@pytest.mark.parametrize(
    "text", ["", "TFLOPS", "tflop/s", "GiB/s", "XB/s", "TFLOP", "sec", "µs", "TFLOP/s ", " us", "GGB/s", "B"]
)
def test_unknown_unit_is_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="unknown unit"):
        parse_unit(text)


def test_to_base() -> None:
    assert to_base(670.0, "GB/s") == 670e9
    assert to_base(2.0, "TFLOP/s") == 2e12
    assert to_base(5.0, "us") == pytest.approx(5e-6, rel=1e-15)


def test_speedup_across_prefixes_is_exact() -> None:
    assert speedup(1000.0, "GB/s", 1.0, "TB/s") == 1.0
    assert speedup(1.0, "TB/s", 1000.0, "GB/s") == 1.0
    assert speedup(2000.0, "GFLOP/s", 1.0, "TFLOP/s") == 2.0
    assert speedup(175.0, "TOP/s", 175.0, "TOP/s") == 1.0


def test_speedup_rate_higher_is_better() -> None:
    assert speedup(20.0, "TFLOP/s", 10.0, "TFLOP/s") == 2.0
    assert speedup(5.0, "TFLOP/s", 10.0, "TFLOP/s") == 0.5


def test_speedup_time_lower_is_better() -> None:
    assert speedup(10.0, "us", 20.0, "us") == 2.0
    assert speedup(40.0, "us", 20.0, "us") == 0.5
    # across prefixes: 1 ms measured vs a 2000 us reference is twice as fast
    assert speedup(1.0, "ms", 2000.0, "us") == pytest.approx(2.0, rel=1e-12)
    assert speedup(2.0, "s", 1.0, "s") == 0.5


@pytest.mark.parametrize(
    ("a", "b"),
    [("GB/s", "TFLOP/s"), ("TFLOP/s", "TOP/s"), ("us", "GB/s"), ("TOP/s", "ms"), ("s", "B/s")],
)
def test_speedup_across_dimensions_is_config_error(a: str, b: str) -> None:
    with pytest.raises(ConfigError, match="different dimensions"):
        speedup(1.0, a, 1.0, b)


def test_speedup_unknown_unit_is_config_error() -> None:
    with pytest.raises(ConfigError):
        speedup(1.0, "GB/s", 1.0, "furlong/s")


_PREFIXES = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


@settings(max_examples=60, deadline=None)
@given(
    value=st.floats(min_value=1e-6, max_value=1e6),
    p1=st.sampled_from(sorted(_PREFIXES)),
    p2=st.sampled_from(sorted(_PREFIXES)),
    base=st.sampled_from(["FLOP/s", "OP/s", "B/s"]),
)
def test_same_quantity_in_any_prefix_has_speedup_one(value: float, p1: str, p2: str, base: str) -> None:
    """The same physical rate written with two prefixes compares as equal."""
    other = value * _PREFIXES[p1] / _PREFIXES[p2]
    assert math.isclose(speedup(value, p1 + base, other, p2 + base), 1.0, rel_tol=1e-12)
