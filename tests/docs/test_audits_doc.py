"""docs/audits.md's figures are what the code computes, not typed by hand."""

from __future__ import annotations

import re
from pathlib import Path

from gcx.audit import AuditConfig, cost_ratio, pass_probability, recompute_cost, size_challenge, verifier_cost
from gcx.audit.core import deadline_s

DOC = (Path(__file__).resolve().parents[2] / "docs" / "audits.md").read_text(encoding="utf-8")
RATES = {
    "10 GOP/s": 1e10,
    "100 GOP/s (a CPU)": 1e11,
    "175 TOP/s (the reference GPU)": 175e12,
    "1 POP/s": 1e15,
}


def _sci(text: str) -> float:
    """``4.5·10⁹`` → 4.5e9."""
    sup = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
    mantissa, _, exponent = text.partition("·10")
    return float(mantissa) * 10 ** int(exponent.translate(sup)) if exponent else float(mantissa)


def test_cost_table_is_computed() -> None:
    cfg = AuditConfig()
    rows = {}
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] in RATES:
            rows[cells[0]] = cells
    assert set(rows) == set(RATES)
    for label, rate in RATES.items():
        shape = size_challenge(rate, cfg.target_s)
        cells = rows[label]
        blocks, m, d = map(int, re.findall(r"\d+", cells[1].replace(" ", ""))[:3])
        assert (blocks, m, d) == (shape.blocks, shape.m, shape.n) and shape.n == shape.k, label
        for cell, value in ((cells[2], verifier_cost(shape, 66)), (cells[3], recompute_cost(shape))):
            assert abs(_sci(cell) - value) / value < 0.05, (label, cell, value)
        assert int(cells[4].replace(" ", "")) == round(cost_ratio(shape, 66)), label
    assert "the deadline is 9.5 s" in DOC
    assert abs(deadline_s(size_challenge(1e11, 5), 1e11, cfg) - 9.5) < 0.01


def test_detection_row_is_computed() -> None:
    row = next(line for line in DOC.splitlines() if line.startswith("| 66 (default)"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    for cell, f in zip(cells, (0.5, 0.9, 0.95, 0.99), strict=True):
        p = pass_probability(f, 66)
        assert abs(_sci(cell) - p) / p < 0.05, (cell, f, p)
