"""``python -m bench.audit`` end to end in a subprocess, on a small claim so it is quick: one
JSON object whose figures are consistent with each other (not a timing assertion)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_audit_prints_consistent_figures() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.audit", "--json", "--target-s", "0.5", "--claimed-tops", "0.002"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    fig = json.loads(out.stdout)
    assert fig["bench"] == "audit" and fig["rows_opened"] == 66
    assert fig["audit"]["verdict"] == "passed", fig["audit"]
    assert fig["recompute_s"] > 0 and fig["verify_s"] > 0
    assert abs(fig["ratio"] - fig["recompute_s"] / fig["verify_s"]) <= 0.05 * fig["ratio"] + 0.1
    assert fig["ratio_model"] >= fig["target_ratio"] == 20.0
    shape = fig["shape"]
    assert shape["n"] == shape["k"] and shape["m"] * shape["blocks"] >= 66
