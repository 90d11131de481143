"""gcx.report: signed capacity reports built from a hand-made run, verified and tampered with."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx import compute_hours as chm
from gcx import signing, wire
from gcx.errors import ReportError, SchemaError, SignatureError
from gcx.keys import ParticipantKey, new_key
from gcx.reference import load_profile, parse_profile
from gcx.report import SCHEMA, BenchReport, verify_report
from gcx.stats import summarize
from node_agent.backends.base import DeviceInfo, empty_telemetry
from node_agent.capacity import build_report
from node_agent.runner import BenchResult, BenchRun

PROFILE = load_profile()
MEASURED = ("gemm_fp64", "gemm_fp32", "gemm_int8", "mem_triad")
REF_J = 320.0 * 3600


def result(name: str, median: float, unit: str | None = None) -> BenchResult:
    samples = (median * 0.99, median, median * 1.01)  # the median is exactly ``median``
    return BenchResult(
        name=name,
        unit=unit or PROFILE.benchmarks[name].unit,
        samples=samples,
        summary=summarize(samples),
        shape="4096x4096x4096",
        check="freivalds",
        iters_per_sample=3,
    )


def make_run(factors: dict[str, float] | None = None, telemetry: dict[str, Any] | None = None) -> BenchRun:
    factors = factors if factors is not None else dict.fromkeys(MEASURED, 1.0)
    tel: dict[str, object] = empty_telemetry()
    tel.update(telemetry or {})
    return BenchRun(
        backend="numpy",
        device=DeviceInfo("cpu", "Test CPU", "TestVendor", 16 * 2**30, {"threads": 8, "blas": "openblas"}),
        quick=True,
        results=tuple(result(n, PROFILE.benchmarks[n].value * f) for n, f in factors.items()),
        telemetry=tel,
        duration_s=12.5,
    )


def energy(avg_power_w: float, duration_s: float = 10.0) -> dict[str, Any]:
    return {"source": "rapl", "samples": 2, "energy_j": avg_power_w * duration_s, "duration_s": duration_s}


def resign(doc: dict[str, Any], key: ParticipantKey) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "signature"}
    out["signature"] = signing.sign(out, key.private_key)
    return out


@pytest.fixture
def key(gcx_home: Path) -> ParticipantKey:
    return new_key("node")


@pytest.fixture
def hpc_report(key: ParticipantKey) -> dict[str, Any]:
    """Reference figures measured, rated in class hpc: exactly 1 CH/h, grade C??."""
    return build_report(make_run(), PROFILE, key, market_class="hpc", now=1_700_000_000)


# --- honest reports verify ------------------------------------------------------------------


def test_reference_figures_report(hpc_report: dict[str, Any], key: ParticipantKey) -> None:
    assert hpc_report["schema"] == SCHEMA
    assert hpc_report["ch_per_hour"] == 1.0
    assert hpc_report["ch_per_hour_by_class"]["hpc"] == 1.0
    assert hpc_report["grade"] == "C??"
    assert hpc_report["joules_per_ch"] is None
    assert hpc_report["reference"] == PROFILE.ident()
    v = verify_report(hpc_report, PROFILE)
    assert v.node == key.address
    assert v.rating.rate_micro == 1_000_000
    assert v.rating.rate_micro_by_class["hpc"] == 1_000_000
    assert str(v.rating.grade) == "C??"


def test_default_class_report_rate(key: ParticipantKey) -> None:
    report = build_report(make_run(), PROFILE, key)
    assert report["market_class"] == "ai"
    # fp16/bf16/tf32 are served by the fp32 GEMM (18.5 TFLOP/s), int8, fp32 and triad score 1
    expected = math.exp(2 * 0.25 * math.log(18.5 / 47.0) + 0.10 * math.log(18.5 / 22.0))
    assert report["ch_per_hour"] == pytest.approx(expected, abs=1e-6)
    assert report["grade"] == "D??"  # below C = 0.67
    assert set(report["ch_per_hour_by_class"]) == {"ai", "hpc"}
    verify_report(report, PROFILE)


def test_json_round_trip_still_verifies(hpc_report: dict[str, Any]) -> None:
    again = json.loads(json.dumps(hpc_report))
    assert verify_report(again, PROFILE).rating.rate_micro == 1_000_000


def test_wire_round_trip_still_verifies(hpc_report: dict[str, Any]) -> None:
    data = wire.canonical_bytes(hpc_report)
    assert isinstance(wire.decode_as(BenchReport, data), BenchReport)
    verify_report(wire.unpack(data), PROFILE)


def test_report_is_valid_bench_report(hpc_report: dict[str, Any]) -> None:
    parsed = BenchReport.model_validate(hpc_report)
    assert [r.name for r in parsed.results] == list(MEASURED)
    assert parsed.results[0].samples == [0.45 * 0.99, 0.45, 0.45 * 1.01]


def test_a_class_that_cannot_be_rated_is_left_out(key: ParticipantKey) -> None:
    report = build_report(
        make_run({"gemm_fp64": 1.0, "gemm_fp32": 1.0, "mem_triad": 1.0}), PROFILE, key, "hpc"
    )
    assert set(report["ch_per_hour_by_class"]) == {"hpc"}  # no int8: ai cannot be rated
    verify_report(report, PROFILE)


def test_another_node_signing_its_own_report_verifies(hpc_report: dict[str, Any]) -> None:
    other = Account.from_key(b"\x07" * 32)
    doc = {**hpc_report, "node": other.address}
    doc = {**doc, "signature": signing.sign(doc, bytes(other.key))}
    assert verify_report(doc, PROFILE).node == other.address


# --- tampering without re-signing: SignatureError -------------------------------------------

Mutator = Callable[[dict[str, Any]], None]


def _set_sample(d: dict[str, Any]) -> None:
    d["results"][0]["samples"][0] *= 1.5


def _set_ch(d: dict[str, Any]) -> None:
    d["ch_per_hour"] = 4.0


def _set_grade(d: dict[str, Any]) -> None:
    d["grade"] = "A??"
    d["grades"]["performance"] = "A"


def _set_digest(d: dict[str, Any]) -> None:
    d["reference"]["digest"] = "0x" + "00" * 32


def _drop_result(d: dict[str, Any]) -> None:
    """Drop gemm_int8: the hpc rate is unchanged, but class ai can no longer be rated."""
    assert d["results"][2]["name"] == "gemm_int8"
    del d["results"][2]


def _drop_fp32(d: dict[str, Any]) -> None:
    """Drop gemm_fp32: fp64 serves it, at a much lower speedup."""
    assert d["results"][1]["name"] == "gemm_fp32"
    del d["results"][1]


def _set_node(d: dict[str, Any]) -> None:
    d["node"] = Account.from_key(b"\x07" * 32).address


def _set_created(d: dict[str, Any]) -> None:
    d["created_at"] += 1


def _set_median_and_samples(d: dict[str, Any]) -> None:
    r = d["results"][0]
    r["samples"] = [s * 2 for s in r["samples"]]
    for f in ("median", "p10", "p90"):
        r[f] *= 2


def _set_class_rate(d: dict[str, Any]) -> None:
    d["ch_per_hour_by_class"]["ai"] *= 2


def _drop_class_rate(d: dict[str, Any]) -> None:
    del d["ch_per_hour_by_class"]["ai"]


def _set_repeats(d: dict[str, Any]) -> None:
    d["results"][0]["repeats"] = 4


def _dup_result(d: dict[str, Any]) -> None:
    d["results"].append(copy.deepcopy(d["results"][0]))


def _set_class(d: dict[str, Any]) -> None:
    d["market_class"] = "gaming"


def _set_mode(d: dict[str, Any]) -> None:
    d["mode"] = "full"


TAMPERS: dict[str, Mutator] = {
    "sample": _set_sample,
    "ch_per_hour": _set_ch,
    "grade": _set_grade,
    "reference_digest": _set_digest,
    "drop_result": _drop_result,
    "node": _set_node,
    "created_at": _set_created,
    "median_and_samples": _set_median_and_samples,
    "class_rate": _set_class_rate,
    "drop_class_rate": _drop_class_rate,
    "mode": _set_mode,
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampering_breaks_the_signature(hpc_report: dict[str, Any], name: str) -> None:
    doc = copy.deepcopy(hpc_report)
    TAMPERS[name](doc)
    with pytest.raises(SignatureError):
        verify_report(doc, PROFILE)


def test_resigning_with_another_key_breaks_the_signature(hpc_report: dict[str, Any]) -> None:
    other = Account.from_key(b"\x07" * 32)
    doc = {k: v for k, v in hpc_report.items() if k != "signature"}
    doc["signature"] = signing.sign(doc, bytes(other.key))
    with pytest.raises(SignatureError):
        verify_report(doc, PROFILE)


# --- tampering re-signed by the node's own key: ReportError ---------------------------------


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("sample", "does not follow from its samples"),
        ("median_and_samples", "ch_per_hour .* does not follow from the results"),
        ("ch_per_hour", "ch_per_hour"),
        ("grade", "grade"),
        ("reference_digest", "--reference"),
        ("drop_result", "ch_per_hour_by_class"),
        ("drop_fp32", "ch_per_hour 1.0 does not follow from the results"),
        ("class_rate", "ch_per_hour_by_class.ai"),
        ("drop_class_rate", "exactly the classes"),
        ("repeats", "repeats=4 but 3 samples"),
        ("dup_result", "appears twice"),
        ("market_class", "unknown market class 'gaming'"),
    ],
)
def test_resigned_tampering_is_report_error(
    hpc_report: dict[str, Any], key: ParticipantKey, name: str, match: str
) -> None:
    mutators = {
        **TAMPERS,
        "drop_fp32": _drop_fp32,
        "repeats": _set_repeats,
        "dup_result": _dup_result,
        "market_class": _set_class,
    }
    doc = copy.deepcopy(hpc_report)
    mutators[name](doc)
    with pytest.raises(ReportError, match=match):
        verify_report(resign(doc, key), PROFILE)


def test_ch_rate_off_by_one_micro_is_tolerated_two_is_not(
    hpc_report: dict[str, Any], key: ParticipantKey
) -> None:
    doc = copy.deepcopy(hpc_report)
    doc["ch_per_hour"] = 1.000001
    doc["ch_per_hour_by_class"]["hpc"] = 1.000001
    verify_report(resign(doc, key), PROFILE)
    doc["ch_per_hour"] = 1.000002
    with pytest.raises(ReportError, match="ch_per_hour"):
        verify_report(resign(doc, key), PROFILE)


def test_other_profile_is_report_error(hpc_report: dict[str, Any], ref_data: dict[str, Any]) -> None:
    ref_data["benchmarks"]["gemm_fp64"]["value"] = 0.5
    other = parse_profile(ref_data, "other")
    with pytest.raises(ReportError, match="normalized against reference"):
        verify_report(hpc_report, other)


# --- shape errors ---------------------------------------------------------------------------


def test_not_a_mapping() -> None:
    with pytest.raises(ReportError):
        verify_report([1, 2], PROFILE)  # type: ignore[arg-type]


def test_wrong_schema(hpc_report: dict[str, Any]) -> None:
    with pytest.raises(ReportError, match=r"not a gcx\.bench/1 report"):
        verify_report({**hpc_report, "schema": "gcx.bench/2"}, PROFILE)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra=1),
        lambda d: d.pop("signature"),
        lambda d: d.update(signature="0x1234"),
        lambda d: d.update(node="not-an-address"),
        lambda d: d.update(ch_per_hour=-1.0),
        lambda d: d.update(ch_per_hour="1.0"),
        lambda d: d.update(grade="E1X"),
        lambda d: d["results"][0].update(samples=[]),
        lambda d: d["results"][0].update(samples=[1.0, float("nan"), 2.0]),
        lambda d: d["results"][0].update(median=0.0),
        lambda d: d["telemetry"].pop("energy_j"),
        lambda d: d.update(results=[]),
    ],
)
def test_malformed_report_is_schema_error(hpc_report: dict[str, Any], mutate: Callable[[Any], Any]) -> None:
    doc = copy.deepcopy(hpc_report)
    mutate(doc)
    with pytest.raises(SchemaError):
        verify_report(doc, PROFILE)


# --- energy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("power", "letter"), [(80.0, "X"), (160.0, "X"), (320.0, "Y"), (400.0, "Z")])
def test_energy_grade(key: ParticipantKey, power: float, letter: str) -> None:
    report = build_report(make_run(telemetry=energy(power)), PROFILE, key, market_class="hpc")
    # rate 1 CH/h: J/CH is the average power over one hour
    assert report["joules_per_ch"] == pytest.approx(power * 3600)
    assert report["grades"]["energy"] == letter
    assert report["grade"] == f"C?{letter}"
    v = verify_report(json.loads(json.dumps(report)), PROFILE)
    assert v.rating.joules_per_ch == pytest.approx(power * 3600)


def test_energy_scales_with_rate(key: ParticipantKey) -> None:
    fast = dict.fromkeys(MEASURED, 2.0)
    report = build_report(make_run(fast, telemetry=energy(320.0)), PROFILE, key, market_class="hpc")
    assert report["ch_per_hour"] == 2.0
    assert report["joules_per_ch"] == pytest.approx(REF_J / 2)
    assert report["grade"] == "B?X"
    verify_report(report, PROFILE)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(joules_per_ch=d["joules_per_ch"] * 0.9),
        lambda d: d.update(joules_per_ch=None),
        lambda d: d["telemetry"].update(energy_j=d["telemetry"]["energy_j"] / 2),
        lambda d: d["telemetry"].update(duration_s=d["telemetry"]["duration_s"] * 2),
    ],
)
def test_tampered_energy_is_report_error(key: ParticipantKey, mutate: Callable[[Any], Any]) -> None:
    report = build_report(make_run(telemetry=energy(320.0)), PROFILE, key, market_class="hpc")
    doc = copy.deepcopy(report)
    mutate(doc)
    with pytest.raises(SignatureError):
        verify_report(doc, PROFILE)
    with pytest.raises(ReportError, match="joules_per_ch"):
        verify_report(resign(doc, key), PROFILE)


def test_claimed_energy_without_telemetry_is_report_error(
    hpc_report: dict[str, Any], key: ParticipantKey
) -> None:
    doc = copy.deepcopy(hpc_report)
    doc["joules_per_ch"] = 1000.0
    with pytest.raises(ReportError, match="joules_per_ch"):
        verify_report(resign(doc, key), PROFILE)


def test_tampered_energy_grade_is_report_error(key: ParticipantKey) -> None:
    report = build_report(make_run(telemetry=energy(320.0)), PROFILE, key, market_class="hpc")
    doc = copy.deepcopy(report)
    doc["grade"], doc["grades"]["energy"] = "C?X", "X"
    with pytest.raises(ReportError, match="grade"):
        verify_report(resign(doc, key), PROFILE)


def test_report_with_zero_energy_verifies(key: ParticipantKey) -> None:
    report = build_report(make_run(telemetry={"energy_j": 0.0, "duration_s": 10.0}), PROFILE, key, "hpc")
    verify_report(report, PROFILE)


# --- adversarial numbers: a verifier must answer with a GCX error, never crash --------------


def test_huge_claimed_rate_is_report_error(hpc_report: dict[str, Any], key: ParticipantKey) -> None:
    doc = copy.deepcopy(hpc_report)
    doc["ch_per_hour"] = 1e303
    with pytest.raises((ReportError, SchemaError)):  # rejected by the schema's bounds
        verify_report(resign(doc, key), PROFILE)


def test_huge_samples_are_report_error(hpc_report: dict[str, Any], key: ParticipantKey) -> None:
    doc = copy.deepcopy(hpc_report)
    r = doc["results"][0]
    r["samples"] = [1.7e308] * 3
    r["median"] = r["p10"] = r["p90"] = 1.7e308
    r["cv"] = 0.0
    with pytest.raises((ReportError, SchemaError)):  # rejected by the schema's bounds
        verify_report(resign(doc, key), PROFILE)


@pytest.mark.parametrize("unit", ["GB/s", "furlong/s"])
def test_result_in_wrong_unit_is_report_error(
    hpc_report: dict[str, Any], key: ParticipantKey, unit: str
) -> None:
    doc = copy.deepcopy(hpc_report)
    doc["results"][0]["unit"] = unit
    with pytest.raises(ReportError):
        verify_report(resign(doc, key), PROFILE)


def test_result_in_other_prefix_verifies(key: ParticipantKey) -> None:
    run = make_run()
    triad = next(r for r in run.results if r.name == "mem_triad")
    samples = tuple(s / 1000 for s in triad.samples)
    tb = BenchResult("mem_triad", "TB/s", samples, summarize(samples), "n", "elementwise", 1)
    run = BenchRun(run.backend, run.device, run.quick, (*run.results[:3], tb), run.telemetry, 1.0)
    report = build_report(run, PROFILE, key, market_class="hpc")
    assert report["ch_per_hour"] == 1.0
    verify_report(report, PROFILE)


# --- property: every honest report verifies -------------------------------------------------

_ACCT = Account.from_key(bytes(range(1, 33)))
_KEY = ParticipantKey("prop", _ACCT.address, Path("/nonexistent"), False, bytes(_ACCT.key))


@settings(max_examples=25, deadline=None)
@given(
    st.fixed_dictionaries({n: st.floats(min_value=0.05, max_value=20.0) for n in MEASURED}),
    st.sampled_from(["ai", "hpc"]),
    st.one_of(st.none(), st.floats(min_value=1.0, max_value=2000.0)),
)
def test_every_honest_report_verifies(factors: dict[str, float], cls: str, power: float | None) -> None:
    run = make_run(factors, telemetry=energy(power) if power is not None else None)
    report = build_report(run, PROFILE, _KEY, market_class=cls)
    v = verify_report(json.loads(json.dumps(report)), PROFILE)
    assert v.rating.rate_micro == chm.to_micro(report["ch_per_hour"])
