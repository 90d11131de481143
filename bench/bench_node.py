"""``make bench``: the node agent's benchmark figures, as one JSON object.

Runs the real ``gcx node bench`` (a fresh process each time, so start-up counts) ``--runs``
times in quick mode and once in full mode, on whatever backend this machine has, and prints:
the machine, the wall time of each run against its target (quick ≤ 20 s on the CPU machine,
full ≤ 90 s on a GPU), the CH rate and grade, and the run-to-run coefficient of variation of
every benchmark's median (target ≤ 2 % on a GPU). No assertion: the figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

QUICK_TARGET_S = 20.0
FULL_GPU_TARGET_S = 90.0


def _bench(home: str, *args: str) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "GCX_HOME": home}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "gcx", "node", "bench", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"gcx node bench failed: {proc.stderr.strip()}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return wall, report


def _summary(runs: list[tuple[float, dict[str, Any]]], target: float | None) -> dict[str, Any]:
    walls = [w for w, _ in runs]
    medians: dict[str, list[float]] = {}
    for _, report in runs:
        for r in report["results"]:
            medians.setdefault(r["name"], []).append(r["median"])
    last = runs[-1][1]
    return {
        "runs": len(runs),
        "wall_s": [round(w, 2) for w in walls],
        "target_wall_s": target,
        "within_target": None if target is None else max(walls) <= target,
        "ch_per_hour": [r["ch_per_hour"] for _, r in runs],
        "grade": last["grade"],
        "backend": last["backend"],
        "device": last["device"]["name"],
        "benchmarks": {
            name: {
                "unit": next(r["unit"] for r in last["results"] if r["name"] == name),
                "median_of_medians": statistics.median(vals),
                "within_run_cv": next(r["cv"] for r in last["results"] if r["name"] == name),
                "run_to_run_cv": statistics.stdev(vals) / statistics.fmean(vals) if len(vals) > 1 else None,
            }
            for name, vals in medians.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="quick runs (default 3)")
    parser.add_argument("--full-runs", type=int, default=1, help="full runs (default 1; 5 for CV on a GPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        subprocess.run(
            [sys.executable, "-m", "gcx", "keys", "new"],
            env={**os.environ, "GCX_HOME": home},
            capture_output=True,
            check=True,
        )
        quick = [_bench(home, "--quick") for _ in range(args.runs)]
        full = [_bench(home) for _ in range(args.full_runs)]
    gpu = quick[-1][1]["backend"] == "cupy"
    print(
        json.dumps(
            {
                "bench": "gcx.node.bench/1",
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "device": quick[-1][1]["device"],
                },
                "quick": _summary(quick, None if gpu else QUICK_TARGET_S),
                "full": _summary(full, FULL_GPU_TARGET_S if gpu else None) if full else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
