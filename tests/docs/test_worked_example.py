"""The worked example of docs/compute-hours.md is computed by the real code, not typed by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gcx import compute_hours as chm
from gcx.grading import grade
from gcx.reference import load_profile

DOC = Path(__file__).resolve().parents[2] / "docs" / "compute-hours.md"
UNITS = {"gemm_int8": "TOP/s", "mem_triad": "GB/s"}
ORDER = ("gemm_fp64", "gemm_fp32", "gemm_tf32", "gemm_fp16", "gemm_bf16", "gemm_int8", "mem_triad")


def _rows(header: str) -> dict[str, list[str]]:
    """Rows of the markdown table whose header line starts with ``header``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("card", ["RTX 3080", "A100 SXM 80 GB", "H100 SXM"])
def test_documented_rates_and_grades_follow_from_the_documented_figures(card: str) -> None:
    profile = load_profile()
    figures = _rows("| | fp64")[card]
    measured = {
        name: chm.Measurement(float(value), UNITS.get(name, "TFLOP/s"))
        for name, value in zip(ORDER, figures[:-1], strict=True)
    }
    power_w = float(figures[-1].removesuffix(" W"))
    ai, hpc, jpc, graded = _rows("| | CH/h")[card]
    ai_micro = chm.to_micro(chm.ch_rate(profile, measured, "ai"))
    assert f"{chm.from_micro(ai_micro):.6f}" == ai
    assert f"{chm.from_micro(chm.to_micro(chm.ch_rate(profile, measured, 'hpc'))):.6f}" == hpc
    joules = chm.joules_per_ch(power_w * 3600, 3600, chm.from_micro(ai_micro))
    assert f"{round(joules):,}" == jpc
    assert f"`{grade(profile, ai_micro, None, joules)}`" == graded


def test_documented_thresholds_match_the_profile() -> None:
    profile = load_profile()
    text = DOC.read_text(encoding="utf-8")
    p = profile.grades.performance
    assert re.search(rf"A ≥ {p.A:g} CH/h, B ≥ {p.B:g}, C ≥ {p.C:g}", text)
    assert f"{profile.profile.power_w:g} W × 1 h" in text
