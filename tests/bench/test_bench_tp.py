"""``python -m bench.tp --quick --json`` end to end in a subprocess: one JSON object with every
figure the issue asks for, of the right types (no timing assertions: the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.tp import gemm_program, seeded_inputs
from gcx.tp import execute
from gcx.tp.attest import commit_inputs, commit_run
from gcx.tp.backends import NumpyBackend

ROOT = Path(__file__).resolve().parents[2]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v >= 0


def _bench(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.tp", "--json", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_bench_tp_quick_prints_every_figure_with_its_type() -> None:
    d = _bench("--quick")
    assert d["bench"] == "gcx.tp/1" and d["quick"] is True and d["backend"] == "numpy"
    assert {"platform", "python", "cpus", "numpy", "blas", "device"} <= set(d["machine"])
    (gemm,) = [t for t in d["throughput"] if t["backend"] == "numpy"]
    assert (gemm["m"], gemm["n"], gemm["k"]) == (1024, 1024, 1024)
    assert all(_number(gemm[key]) for key in ("seconds", "tops", "tops_best", "runs"))
    assert len(gemm["seconds_runs"]) == gemm["runs"]

    c = d["commitment"]
    assert c["size"] == [1024, 1024, 1024] and c["target_pct"] == 15.0 and c["met"] is None
    assert all(_number(c[key]) for key in ("exec_seconds", "commit_seconds", "overhead_pct"))
    assert c["hashed_bytes"] == 2 * 1024 * 1024 + 4 * 1024 * 1024  # A, B and C
    # the root the bench reports is the one an independent run of the same seeded job gives
    program = gemm_program(1024, 1024, 1024)
    inputs = seeded_inputs(program)
    run = commit_run(program, execute(program, inputs, NumpyBackend()), commit_inputs(program, inputs))
    assert c["result_root"] == run.root.hex()

    p = d["proof"]
    depth = 10  # 1024 rows
    assert p["element_proof_bytes"] == 24 + 4 * 1024 + 32 * depth
    assert p["row_proof_bytes"] == 20 + 4 * 1024 + 32 * depth
    assert p["op_proof_bytes"] == 104  # one op: 01 03, n_ops, program digest, 66-byte body, no siblings
    assert _number(p["element_proof_seconds"]) and _number(p["verify_seconds"])

    m = d["memory"]
    assert m["tensor_bytes"] == 6 * 1024 * 1024 and m["input_bytes"] == 2 * 1024 * 1024
    assert m["target"] == 2.0 and m["met"] is None and m["method"] in ("rss+tracemalloc", "tracemalloc")
    assert m["peak_bytes"] >= m["input_bytes"] + m["traced_peak_bytes"]
    assert m["traced_peak_bytes"] >= 4 * 1024 * 1024  # C itself is allocated during the job
    assert m["ratio"] == round(m["peak_bytes"] / m["tensor_bytes"], 4)

    for s in d["skipped"]:
        assert isinstance(s["reason"], str) and s["reason"]


def test_bench_tp_cupy_without_a_gpu_is_skipped_with_a_reason() -> None:
    d = _bench("--backend", "cupy", "--quick")
    if d["machine"]["device"] != "cpu":  # a usable GPU: the figures are there instead
        assert d["commitment"]["backend"] == "cupy"
        return
    assert d["throughput"] == [] and d["commitment"] is None and d["memory"] is None
    assert {s["what"] for s in d["skipped"]} == {"throughput", "commitment", "proof", "memory"}
    assert all(s["backend"] == "cupy" and s["reason"] for s in d["skipped"])
