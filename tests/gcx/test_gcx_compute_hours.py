"""gcx.compute_hours: CH rates (weighted geometric mean of speedups), Eq. 1, J/CH."""

from __future__ import annotations

import copy
import math
import re
import sys
import tomllib
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gcx import compute_hours as chm
from gcx.compute_hours import MICRO, Measurement, ch_rate, compute_hours_micro, joules_per_ch, to_micro
from gcx.errors import ReportError
from gcx.paths import default_reference_path
from gcx.reference import ReferenceProfile, load_profile, parse_profile

PROFILE = load_profile()
NAMES = sorted(PROFILE.benchmarks)
CLASSES = sorted(PROFILE.classes)
# With these three every class can be rated: the other GEMMs are served by gemm_fp64.
CORE = ("gemm_fp64", "gemm_int8", "mem_triad")
OPTIONAL = sorted(set(NAMES) - set(CORE))

FAST = settings(max_examples=60, deadline=None)
factors = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


def at(factors_by_name: dict[str, float], profile: ReferenceProfile = PROFILE) -> dict[str, Measurement]:
    """Measurements at ``factor`` x the reference figure, in the figure's own unit."""
    return {
        n: Measurement(profile.benchmarks[n].value * f, profile.benchmarks[n].unit)
        for n, f in factors_by_name.items()
    }


@st.composite
def result_sets(draw: Any) -> dict[str, float]:
    """Factors for the core benchmarks plus any subset of the others."""
    names = list(CORE) + draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    return {n: draw(factors) for n in names}


def _with_latency_profile() -> ReferenceProfile:
    data = copy.deepcopy(tomllib.loads(default_reference_path().read_text(encoding="utf-8")))
    data["benchmarks"]["launch_latency"] = {"value": 5.0, "unit": "us", "provenance": "test"}
    data["classes"]["lat"] = {"weights": {"launch_latency": 1.0, "mem_triad": 1.0}}
    return parse_profile(data, "test")


LAT = _with_latency_profile()


# --- the reference scores exactly 1 ---------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_reference_figures_score_exactly_one(cls: str) -> None:
    measured = at(dict.fromkeys(NAMES, 1.0))
    assert ch_rate(PROFILE, measured, cls) == 1.0
    assert to_micro(ch_rate(PROFILE, measured, cls)) == 1_000_000


def test_reference_figures_in_other_prefixes_score_one() -> None:
    measured = at(dict.fromkeys(NAMES, 1.0))
    measured["mem_triad"] = Measurement(0.67, "TB/s")
    measured["gemm_fp64"] = Measurement(450.0, "GFLOP/s")
    measured["gemm_int8"] = Measurement(175_000.0, "GOP/s")
    for cls in CLASSES:
        assert to_micro(ch_rate(PROFILE, measured, cls)) == 1_000_000


def test_hpc_rate_is_the_weighted_geometric_mean() -> None:
    measured = at({"gemm_fp64": 2.0, "gemm_fp32": 4.0, "mem_triad": 0.5})
    expected = math.exp((0.5 * math.log(2.0) + 0.2 * math.log(4.0) + 0.3 * math.log(0.5)) / 1.0)
    assert ch_rate(PROFILE, measured, "hpc") == pytest.approx(expected, rel=1e-12)


def test_substitute_serves_a_missing_benchmark() -> None:
    # no fp16/bf16/tf32/fp32 result: they are served by fp64 at 2x the fp64 reference
    measured = at({"gemm_fp64": 2.0, "gemm_int8": 1.0, "mem_triad": 1.0})
    fp64 = 0.45 * 2.0
    s = chm.speedups(PROFILE, measured)
    assert s["gemm_fp32"] == pytest.approx(fp64 / 18.5)
    assert s["gemm_fp16"] == pytest.approx(fp64 / 47.0)
    assert s["gemm_tf32"] == pytest.approx(fp64 / 22.0)


def test_substitute_is_used_only_when_better() -> None:
    measured = at({"gemm_fp16": 1.0, "gemm_fp32": 1.0, "gemm_fp64": 1.0})
    assert chm.speedups(PROFILE, measured)["gemm_fp16"] == 1.0  # own figure beats fp32's 18.5/47
    measured = at({"gemm_fp16": 0.1, "gemm_fp32": 1.0})
    assert chm.speedups(PROFILE, measured)["gemm_fp16"] == pytest.approx(18.5 / 47.0)


# --- properties -----------------------------------------------------------------------------


@FAST
@given(result_sets(), st.floats(min_value=1e-3, max_value=1e3), st.sampled_from(CLASSES))
def test_scaling_every_measurement_scales_the_rate(f: dict[str, float], s: float, cls: str) -> None:
    base = ch_rate(PROFILE, at(f), cls)
    scaled = ch_rate(PROFILE, at({n: v * s for n, v in f.items()}), cls)
    assert scaled == pytest.approx(base * s, rel=1e-9)


@FAST
@given(result_sets(), st.data(), st.floats(min_value=1.0, max_value=1e3), st.sampled_from(CLASSES))
def test_rate_is_monotonic_in_every_measurement(
    f: dict[str, float], data: st.DataObject, k: float, cls: str
) -> None:
    name = data.draw(st.sampled_from(sorted(f)))
    before = ch_rate(PROFILE, at(f), cls)
    after = ch_rate(PROFILE, at({**f, name: f[name] * k}), cls)
    assert after >= before
    assert to_micro(after) >= to_micro(before)


@FAST
@given(st.floats(min_value=1e-3, max_value=1e3), st.floats(min_value=1.0, max_value=1e3))
def test_rate_is_monotonic_through_substitutes(f: float, k: float) -> None:
    """Only gemm_fp64 measured among GEMMs: it serves fp32/tf32/fp16/bf16 in the ai class."""
    base = {"gemm_int8": 1.0, "mem_triad": 1.0}
    before = ch_rate(PROFILE, at({**base, "gemm_fp64": f}), "ai")
    after = ch_rate(PROFILE, at({**base, "gemm_fp64": f * k}), "ai")
    assert after >= before
    if k > 1.001:
        assert after > before  # fp64 really counts: it is the only GEMM


@FAST
@given(result_sets(), st.data(), st.sampled_from(CLASSES))
def test_removing_a_result_never_increases_the_rate(
    f: dict[str, float], data: st.DataObject, cls: str
) -> None:
    name = data.draw(st.sampled_from(sorted(f)))
    full = ch_rate(PROFILE, at(f), cls)
    rest = {n: v for n, v in f.items() if n != name}
    try:
        partial = ch_rate(PROFILE, at(rest), cls)
    except ReportError as err:
        assert "needs results for" in str(err)
    else:
        assert partial <= full


@FAST
@given(st.floats(min_value=1.0, max_value=1e5), st.sampled_from(CLASSES))
def test_same_bandwidth_in_gb_and_tb_gives_same_rate(gbs: float, cls: str) -> None:
    f = {"gemm_fp64": 1.0, "gemm_int8": 1.0}
    a = at(f) | {"mem_triad": Measurement(gbs, "GB/s")}
    b = at(f) | {"mem_triad": Measurement(gbs / 1000.0, "TB/s")}
    assert ch_rate(PROFILE, a, cls) == pytest.approx(ch_rate(PROFILE, b, cls), rel=1e-12)


@FAST
@given(
    st.floats(min_value=0.01, max_value=1000.0),
    st.floats(min_value=0.01, max_value=1000.0),
)
def test_latency_benchmark_lower_time_is_better(t1: float, t2: float) -> None:
    assume(t1 < t2)
    triad = at({"mem_triad": 1.0}, LAT)
    fast = ch_rate(LAT, triad | {"launch_latency": Measurement(t1, "us")}, "lat")
    slow = ch_rate(LAT, triad | {"launch_latency": Measurement(t2, "us")}, "lat")
    assert fast >= slow
    assert fast == pytest.approx(math.sqrt(5.0 / t1), rel=1e-12)


def test_latency_benchmark_units() -> None:
    triad = at({"mem_triad": 1.0}, LAT)
    assert ch_rate(LAT, triad | {"launch_latency": Measurement(5.0, "us")}, "lat") == 1.0
    assert ch_rate(LAT, triad | {"launch_latency": Measurement(0.005, "ms")}, "lat") == pytest.approx(1.0)
    halved = ch_rate(LAT, triad | {"launch_latency": Measurement(2.5, "us")}, "lat")
    assert halved == pytest.approx(math.sqrt(2.0), rel=1e-12)


def test_latency_measured_as_rate_is_rejected() -> None:
    # A result's unit comes from the report, not from the verifier's configuration: ReportError.
    triad = at({"mem_triad": 1.0}, LAT)
    with pytest.raises(ReportError, match="launch_latency: cannot compare GB/s with us"):
        ch_rate(LAT, triad | {"launch_latency": Measurement(5.0, "GB/s")}, "lat")


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "present", "missing"),
    [
        ("hpc", {"gemm_fp32": 1.0, "mem_triad": 1.0}, "gemm_fp64"),  # fp64 has no substitute
        ("hpc", {"gemm_fp64": 1.0, "gemm_fp32": 1.0}, "mem_triad"),
        ("ai", {"gemm_fp64": 1.0, "mem_triad": 1.0}, "gemm_int8"),
    ],
)
def test_missing_weighted_benchmark_is_named(cls: str, present: dict[str, float], missing: str) -> None:
    with pytest.raises(ReportError, match=missing):
        ch_rate(PROFILE, at(present), cls)


def test_zero_weight_benchmark_is_not_required(ref_data: dict[str, Any]) -> None:
    ref_data["classes"]["hpc"]["weights"]["gemm_fp32"] = 0.0
    p = parse_profile(ref_data, "test")
    assert ch_rate(p, at({"gemm_fp64": 1.0, "mem_triad": 1.0}, p), "hpc") == 1.0


def test_unknown_class() -> None:
    with pytest.raises(ReportError, match="unknown market class 'gaming'"):
        ch_rate(PROFILE, at(dict.fromkeys(NAMES, 1.0)), "gaming")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("name", ["gemm_fp64", "mem_triad", "not_in_profile"])
def test_non_positive_or_non_finite_value(bad: float, name: str) -> None:
    measured = at(dict.fromkeys(NAMES, 1.0)) | {name: Measurement(bad, "TFLOP/s")}
    with pytest.raises(ReportError, match=name):
        ch_rate(PROFILE, measured, "hpc")


# --- micro-CH, Eq. 1, J/CH ------------------------------------------------------------------


def test_to_micro() -> None:
    assert to_micro(1.0) == MICRO
    assert to_micro(4.0) == 4_000_000
    assert to_micro(0.616612) == 616_612
    assert to_micro(1e-12) == 1  # any positive rate is at least one micro-CH
    assert chm.from_micro(1_500_000) == 1.5


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_to_micro_rejects(bad: float) -> None:
    with pytest.raises(ReportError):
        to_micro(bad)


def test_to_micro_huge_finite_rate() -> None:
    """A finite rate above MAX_RATE is refused with the typed error (not turned into a 300-digit
    integer); MAX_RATE itself still converts exactly."""
    assert to_micro(chm.MAX_RATE) == 10**15
    for huge in (1e200, 1e303, chm.MAX_RATE * (1 + 2**-40), sys.float_info.max):
        with pytest.raises(ReportError, match=re.escape(f"at most 1e+09, got {huge!r}")):
            to_micro(huge)

    # Mutated-implementation check: the same assertion fails on to_micro without its range check.
    def unchecked(rate: float) -> int:  # to_micro without its range check
        return max(1, round(rate * MICRO))

    assert unchecked(1e200) > 10**200
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"), pytest.raises(ReportError):
        unchecked(1e200)
    with pytest.raises(OverflowError):  # and 1e303 overflows, an untyped error
        unchecked(1e303)


@FAST
@given(st.floats(min_value=1e-6, max_value=1e9))
def test_micro_round_trip(rate: float) -> None:
    assert abs(chm.from_micro(to_micro(rate)) - rate) <= 0.5 / MICRO + 1e-15 * rate


@FAST
@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**9))
def test_compute_hours_micro_is_eq1_floored(rate_micro: int, wall_seconds: int) -> None:
    got = compute_hours_micro(rate_micro, wall_seconds)
    exact = Fraction(rate_micro, MICRO) * Fraction(wall_seconds, 3600)  # CH = rate x hours
    assert got == math.floor(exact * MICRO)
    assert isinstance(got, int)


def test_compute_hours_micro_examples() -> None:
    assert compute_hours_micro(1_000_000, 3600) == 1_000_000  # 1 CH/h for 1 h
    assert compute_hours_micro(1_500_000, 7200) == 3_000_000
    assert compute_hours_micro(1_000_000, 1) == 277  # 277.7... floored
    assert compute_hours_micro(0, 3600) == 0


@pytest.mark.parametrize(("rate", "secs"), [(-1, 10), (10, -1)])
def test_compute_hours_micro_rejects_negative(rate: int, secs: int) -> None:
    with pytest.raises(ValueError):
        compute_hours_micro(rate, secs)


def test_joules_per_ch() -> None:
    # the reference draws 320 W and does 1 CH per hour: 320 W x 3600 s per CH
    assert joules_per_ch(320.0 * 10, 10.0, 1.0) == pytest.approx(PROFILE.reference_j_per_ch)
    assert joules_per_ch(320.0 * 10, 10.0, 2.0) == pytest.approx(PROFILE.reference_j_per_ch / 2)
    assert joules_per_ch(0.0, 10.0, 1.0) == 0.0


@FAST
@given(
    st.floats(min_value=0.0, max_value=1e9),
    st.floats(min_value=1e-3, max_value=1e6),
    st.floats(min_value=1e-6, max_value=1e6),
)
def test_joules_per_ch_formula(energy: float, duration: float, rate: float) -> None:
    assert joules_per_ch(energy, duration, rate) == pytest.approx(energy / duration * 3600 / rate, rel=1e-12)


@pytest.mark.parametrize(
    ("e", "d", "r"), [(1.0, 0.0, 1.0), (1.0, -1.0, 1.0), (1.0, 1.0, 0.0), (-1.0, 1.0, 1.0)]
)
def test_joules_per_ch_rejects(e: float, d: float, r: float) -> None:
    with pytest.raises(ReportError):
        joules_per_ch(e, d, r)
