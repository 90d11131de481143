"""Fixtures shared by every test package: an isolated home, real keys and real signed reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gcx.keys import ParticipantKey, new_key
from gcx.reference import load_profile
from gcx.stats import summarize
from node_agent.backends.base import DeviceInfo, empty_telemetry
from node_agent.capacity import build_report
from node_agent.runner import BenchResult, BenchRun

PROFILE = load_profile()
MEASURED = ("gemm_fp64", "gemm_fp32", "gemm_int8", "mem_triad")


def reference_run(factor: float = 1.0) -> BenchRun:
    """A CPU-like run measuring ``factor`` × the reference figures (no benchmark executed)."""
    results = []
    for name in MEASURED:
        value = PROFILE.benchmarks[name].value * factor
        samples = (value * 0.99, value, value * 1.01)
        results.append(
            BenchResult(name, PROFILE.benchmarks[name].unit, samples, summarize(samples), "n", "t", 1)
        )
    return BenchRun(
        backend="numpy",
        device=DeviceInfo("cpu", "Test CPU", "TestVendor", 2**34, {}),
        quick=True,
        results=tuple(results),
        telemetry=empty_telemetry(),
        duration_s=1.0,
    )


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "gcx-home"
    monkeypatch.setenv("GCX_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("GCX_") and name != "GCX_HOME":
            monkeypatch.delenv(name)
    return home


@pytest.fixture
def make_key(isolated_home: Path) -> Callable[[str], ParticipantKey]:
    return new_key


@pytest.fixture
def make_report() -> Callable[..., dict[str, Any]]:
    """``make_report(key, factor=1.0, now=1_700_000_000)``: a real report signed by ``key``, rated
    in class hpc (``now=None``: created now)."""

    def make(key: ParticipantKey, factor: float = 1.0, now: int | None = 1_700_000_000) -> dict[str, Any]:
        return build_report(reference_run(factor), PROFILE, key, market_class="hpc", now=now)

    return make
