"""Signed capacity reports (schema ``gcx.bench/1``) and their independent verification.

A report is a JSON-like document: the benchmark results with every raw sample, the telemetry,
the CH rate and grades derived from them, the reference profile used, the node's address and
its signature (:mod:`gcx.signing`). :func:`verify_report` trusts none of the derived figures: it
checks the signature, that the report was normalized against the verifier's profile, that every
summary follows from its samples, and recomputes the CH rates, J/CH and grades.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import compute_hours as chm
from . import grading, signing, wire
from .errors import ReportError
from .reference import ReferenceProfile
from .stats import summarize

SCHEMA = "gcx.bench/1"
MAX_RESULTS = 64
MAX_SAMPLES = 10_000
REL_TOL = 1e-9

Fin = Annotated[float, Field(allow_inf_nan=False)]
# Measurements and rates are bounded far above any real figure, so sums and integer conversions
# of adversarial reports stay finite.
MAX_FIGURE = 1e30
PosFloat = Annotated[float, Field(gt=0, le=MAX_FIGURE, allow_inf_nan=False)]
Rate = Annotated[float, Field(gt=0, le=chm.MAX_RATE, allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, le=MAX_FIGURE, allow_inf_nan=False)]
ShortStr = Annotated[str, Field(max_length=256)]
Scalar = bool | int | Fin | ShortStr | None


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ResultEntry(_Doc):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    unit: Annotated[str, Field(max_length=16)]
    median: PosFloat
    p10: PosFloat
    p90: PosFloat
    cv: NonNeg
    repeats: Annotated[int, Field(ge=1, le=MAX_SAMPLES)]
    samples: Annotated[list[PosFloat], Field(min_length=1, max_length=MAX_SAMPLES)]
    shape: Annotated[str, Field(max_length=64)]
    check: Annotated[str, Field(max_length=32)]
    iters_per_sample: Annotated[int, Field(ge=1)]


class DeviceEntry(_Doc):
    kind: Literal["gpu", "cpu"]
    name: Annotated[str, Field(max_length=128)]
    vendor: Annotated[str, Field(max_length=64)]
    memory_bytes: Annotated[int, Field(ge=0)] | None
    details: Annotated[dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=64)]


class ReferenceEntry(_Doc):
    name: Annotated[str, Field(max_length=64)]
    version: Annotated[int, Field(ge=1)]
    digest: Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]


class GradesEntry(_Doc):
    performance: Literal["A", "B", "C", "D"]
    reliability: Literal["1", "2", "3", "4", "?"]
    energy: Literal["X", "Y", "Z", "?"]


class TelemetryEntry(_Doc):
    source: Literal["nvml", "rapl"] | None
    samples: Annotated[int, Field(ge=0)] | None
    duration_s: NonNeg | None
    energy_j: NonNeg | None
    power_w_avg: NonNeg | None
    power_w_max: NonNeg | None
    power_limit_w: NonNeg | None
    sm_clock_mhz_min: NonNeg | None
    sm_clock_mhz_median: NonNeg | None
    mem_clock_mhz_median: NonNeg | None
    temperature_c_max: Fin | None
    throttle_reasons: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=32)] | None
    ecc_errors: dict[Literal["corrected", "uncorrected"], Annotated[int, Field(ge=0)] | None] | None


class BenchReport(_Doc):
    """Validated shape of a report (the signed document itself stays a plain map)."""

    schema_: Literal["gcx.bench/1"] = Field(alias="schema")
    created_at: Annotated[int, Field(ge=0)]
    mode: Literal["quick", "full"]
    backend: Literal["cupy", "numpy"]
    fallback_reason: Annotated[str, Field(max_length=512)] | None
    device: DeviceEntry
    reference: ReferenceEntry
    market_class: Annotated[str, Field(max_length=64)]
    results: Annotated[list[ResultEntry], Field(min_length=1, max_length=MAX_RESULTS)]
    ch_per_hour: Rate
    ch_per_hour_by_class: Annotated[dict[Annotated[str, Field(max_length=64)], Rate], Field(max_length=16)]
    grade: Annotated[str, Field(pattern=r"^[ABCD][1234?][XYZ?]$")]
    grades: GradesEntry
    joules_per_ch: PosFloat | None
    telemetry: TelemetryEntry
    duration_s: NonNeg
    node: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
    signature: Annotated[str, Field(pattern=r"^0x[0-9a-f]{130}$")]


@dataclass(frozen=True, slots=True)
class Rating:
    """Figures derived from results and telemetry under one profile."""

    market_class: str
    rate_micro: int
    rate_micro_by_class: dict[str, int]
    joules_per_ch: float | None
    grade: grading.Grade


def measurements(results: Sequence[Mapping[str, Any]]) -> dict[str, chm.Measurement]:
    out: dict[str, chm.Measurement] = {}
    for r in results:
        if r["name"] in out:
            raise ReportError(f"result {r['name']} appears twice")
        out[r["name"]] = chm.Measurement(float(r["median"]), str(r["unit"]))
    return out


def rate(
    profile: ReferenceProfile,
    results: Sequence[Mapping[str, Any]],
    telemetry: Mapping[str, Any],
    market_class: str,
) -> Rating:
    """CH rates for every class, J/CH and grades (reliability unrated: a node cannot self-declare it)."""
    measured = measurements(results)
    by_class = {}
    for cls in profile.classes:
        try:
            by_class[cls] = chm.to_micro(chm.ch_rate(profile, measured, cls))
        except ReportError:
            if cls == market_class:
                raise
    if market_class not in by_class:
        raise ReportError(f"unknown market class {market_class!r} (profile has {', '.join(profile.classes)})")
    micro = by_class[market_class]
    energy, duration = telemetry.get("energy_j"), telemetry.get("duration_s")
    jpc = None
    if energy and duration:  # a counter that did not advance measured nothing
        jpc = chm.joules_per_ch(float(energy), float(duration), chm.from_micro(micro))
    return Rating(market_class, micro, by_class, jpc, grading.grade(profile, micro, None, jpc))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-300)


def check_summaries(results: list[ResultEntry]) -> None:
    """Every result's median/p10/p90/cv/repeats must follow from its samples."""
    for r in results:
        if r.repeats != len(r.samples):
            raise ReportError(f"result {r.name}: repeats={r.repeats} but {len(r.samples)} samples")
        s = summarize(r.samples)
        for field in ("median", "p10", "p90", "cv"):
            claimed, actual = getattr(r, field), getattr(s, field)
            if not _close(claimed, actual):
                raise ReportError(
                    f"result {r.name}: {field} {claimed!r} does not follow from its samples ({actual!r})"
                )


@dataclass(frozen=True, slots=True)
class VerifiedReport:
    node: str
    report: BenchReport
    rating: Rating


def verify_report(document: Mapping[str, Any], profile: ReferenceProfile) -> VerifiedReport:
    """Check a report completely; raise ReportError, SignatureError or SchemaError on any mismatch."""
    if not isinstance(document, Mapping):
        raise ReportError("a report must be a JSON object")
    if document.get("schema") != SCHEMA:
        raise ReportError(f"not a {SCHEMA} report (schema={document.get('schema')!r})")
    report = wire.validate(BenchReport, dict(document))
    signing.verify(document, report.node)
    ident = profile.ident()
    if report.reference.model_dump() != ident:
        r = report.reference
        raise ReportError(
            f"report was normalized against reference {r.name} v{r.version} ({r.digest[:10]}…), "
            f"but this verifier uses {ident['name']} v{ident['version']} ({ident['digest'][:10]}…); "
            "pass the matching profile with --reference"
        )
    check_summaries(report.results)
    results = [r.model_dump() for r in report.results]
    rating = rate(profile, results, report.telemetry.model_dump(), report.market_class)
    claimed_micro = chm.to_micro(report.ch_per_hour)
    if abs(claimed_micro - rating.rate_micro) > 1:
        raise ReportError(
            f"ch_per_hour {report.ch_per_hour} does not follow from the results "
            f"(recomputed {chm.from_micro(rating.rate_micro)})"
        )
    for cls, value in report.ch_per_hour_by_class.items():
        if (
            cls not in rating.rate_micro_by_class
            or abs(chm.to_micro(value) - rating.rate_micro_by_class[cls]) > 1
        ):
            raise ReportError(f"ch_per_hour_by_class.{cls} = {value} does not follow from the results")
    if set(report.ch_per_hour_by_class) != set(rating.rate_micro_by_class):
        raise ReportError(
            "ch_per_hour_by_class does not list exactly the classes the results can be rated in"
        )
    # Grades follow from the *claimed* (signed) rate, exactly, so that ±1 micro-CH of float noise
    # between machines can never flip a grade.
    jpc = None
    if rating.joules_per_ch is not None:
        jpc = chm.joules_per_ch(
            float(report.telemetry.energy_j or 0),
            float(report.telemetry.duration_s or 0),
            chm.from_micro(claimed_micro),
        )
    if (jpc is None) != (report.joules_per_ch is None) or (
        jpc is not None and not _close(jpc, report.joules_per_ch or 0)
    ):
        raise ReportError(f"joules_per_ch {report.joules_per_ch} does not follow from the telemetry ({jpc})")
    expected = grading.grade(profile, claimed_micro, None, jpc)
    if report.grades.model_dump() != expected.as_dict() or report.grade != str(expected):
        raise ReportError(f"grade {report.grade} does not follow from the figures (expected {expected})")
    return VerifiedReport(report.node, report, rating)
