"""Turn a benchmark run into a signed, graded capacity report (schema ``gcx.bench/1``)."""

from __future__ import annotations

import time
from typing import Any

from gcx import compute_hours as chm
from gcx import signing
from gcx.keys import ParticipantKey
from gcx.reference import ReferenceProfile
from gcx.report import SCHEMA, rate

from .runner import BenchRun


def _results(run: BenchRun) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "unit": r.unit,
            "median": r.summary.median,
            "p10": r.summary.p10,
            "p90": r.summary.p90,
            "cv": r.summary.cv,
            "repeats": r.summary.repeats,
            "samples": list(r.samples),
            "shape": r.shape,
            "check": r.check,
            "iters_per_sample": r.iters_per_sample,
        }
        for r in run.results
    ]


def build_report(
    run: BenchRun,
    profile: ReferenceProfile,
    key: ParticipantKey,
    market_class: str | None = None,
    fallback_reason: str | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """Rate ``run`` against ``profile`` and return the report signed by ``key``."""
    market_class = market_class or profile.profile.default_class
    results = _results(run)
    rating = rate(profile, results, run.telemetry, market_class)
    telemetry = dict(run.telemetry)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "created_at": int(time.time()) if now is None else now,
        "mode": "quick" if run.quick else "full",
        "backend": run.backend,
        "fallback_reason": fallback_reason,
        "device": {
            "kind": run.device.kind,
            "name": run.device.name,
            "vendor": run.device.vendor,
            "memory_bytes": run.device.memory_bytes,
            "details": dict(run.device.details),
        },
        "reference": profile.ident(),
        "market_class": market_class,
        "results": results,
        "ch_per_hour": chm.from_micro(rating.rate_micro),
        "ch_per_hour_by_class": {c: chm.from_micro(m) for c, m in rating.rate_micro_by_class.items()},
        "grade": str(rating.grade),
        "grades": rating.grade.as_dict(),
        "joules_per_ch": rating.joules_per_ch,
        "telemetry": telemetry,
        "duration_s": run.duration_s,
        "node": key.address,
    }
    report["signature"] = signing.sign(report, key.private_key)
    return report
