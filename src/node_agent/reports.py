"""The node's current capacity report: reuse a fresh cached one, or benchmark and cache anew.

A cached report (``$GCX_HOME/reports/latest.json``) is reused only when it still verifies
against the reference profile, was signed by this node's key, ran in the configured mode, and
is younger than ``node.report_max_age_s``. Anything else triggers a new benchmark.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gcx.errors import GCXError
from gcx.files import write_atomic
from gcx.keys import ParticipantKey
from gcx.paths import ensure_home
from gcx.reference import ReferenceProfile
from gcx.report import verify_report
from gcx.settings import Settings

from .backends import select_backend
from .backends.base import BenchPlan
from .capacity import build_report
from .runner import Progress, run_benchmarks

log = logging.getLogger("gcx.node.reports")


def latest_report_path() -> Path:
    return ensure_home() / "reports" / "latest.json"


def save_report(path: Path, report: dict[str, Any]) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    write_atomic(path, (json.dumps(report, indent=2) + "\n").encode("utf-8"))


def reusable(
    report: Any, key: ParticipantKey, profile: ReferenceProfile, settings: Settings, now: float
) -> str | None:
    """None if the cached report can be reused, else why not."""
    try:
        verified = verify_report(report, profile)
    except GCXError as exc:
        return f"it does not verify ({exc})"
    r = verified.report
    if r.node.lower() != key.address.lower():
        return "it was signed by another key"
    if r.mode != settings.node.bench_mode:
        return f"it is a {r.mode} run and node.bench_mode is {settings.node.bench_mode}"
    if settings.node.backend not in ("auto", r.backend):
        return f"it ran on {r.backend} and node.backend is {settings.node.backend}"
    market_class = settings.node.market_class or profile.profile.default_class
    if r.market_class != market_class:
        return f"it is rated in class {r.market_class}, not {market_class}"
    age = now - r.created_at
    if age > settings.node.report_max_age_s:
        return f"it is {age / 3600:.1f} h old (node.report_max_age_s = {settings.node.report_max_age_s})"
    return None


def bench_plan(settings: Settings) -> BenchPlan:
    b, quick = settings.bench, settings.node.bench_mode == "quick"
    return BenchPlan(
        quick=quick,
        repeats=b.quick_repeats if quick else b.repeats,
        target_sample_s=(b.quick_target_sample_ms if quick else b.target_sample_ms) / 1000,
    )


def benchmark(
    key: ParticipantKey, profile: ReferenceProfile, settings: Settings, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the benchmark now and return the signed report (also cached as the latest)."""
    engine, reason = select_backend(settings.node.backend, settings.node.device_index)
    if reason:
        log.warning("no usable GPU: %s; benchmarking the CPU with NumPy", reason)
    run = run_benchmarks(engine, bench_plan(settings), progress)
    report = build_report(run, profile, key, settings.node.market_class, reason)
    save_report(latest_report_path(), report)
    return report


def current_report(
    key: ParticipantKey,
    profile: ReferenceProfile,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The cached report if reusable, else a fresh benchmark."""
    path = latest_report_path()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        cached, why = None, "there is none"
    except (OSError, ValueError) as exc:
        cached, why = None, f"it is unreadable ({exc})"
    else:
        why = reusable(cached, key, profile, settings, clock()) or ""
    if cached is not None and not why:
        log.info("reusing the cached report %s", path)
        return dict(cached)
    log.info("benchmarking: the cached report cannot be reused because %s", why)
    return benchmark(key, profile, settings)
