"""``python -m bench.data --quick --json`` end to end (a server subprocess, real libp2p on
loopback): one JSON object with every figure of the right type (no timing assertions: the
machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gcx.jobs.data import DEFAULT_DEPTH, MAX_DATA

ROOT = Path(__file__).resolve().parents[2]


def _positive(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def test_bench_data_quick_prints_every_figure() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.data", "--json", "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    d = json.loads(proc.stdout)
    assert d["bench"] == "gcx.data/1" and d["quick"] is True
    assert {"platform", "python", "cpus", "numpy"} <= set(d["machine"])
    assert d["chunk_bytes"] == MAX_DATA and d["depth"] == DEFAULT_DEPTH
    t = d["transfer"]
    assert t["bytes"] == 2048 * 4096 and t["dtype"] == "int8" and t["runs"] == 2
    for key in ("transfer_mb_s", "transfer_mb_s_best", "fetch_mb_s", "fetch_mb_s_best", "upload_mb_s"):
        assert _positive(t[key]), key
    assert t["target_mb_s"] == 100.0 and t["met"] is None
    assert all(len(v) == 2 for v in t["seconds_runs"].values())
    p = d["proofs"]
    assert _positive(p["row_proof_ms"]) and _positive(p["element_proof_ms"])
    assert p["row_proof_bytes"] == 20 + 4096 + 32 * 11  # 2048 rows: depth 11
