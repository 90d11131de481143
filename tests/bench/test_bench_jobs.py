"""``python -m bench.jobs --quick --json`` end to end in a subprocess (a real devnet: anvil, a
coordinator, two nodes): one JSON object whose figures are consistent with each other (not a
timing assertion)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(660)]

FIGURES = ("submit_s", "to_result_s", "download_s", "to_finalizable_s", "to_finalized_s")


def test_bench_jobs_quick_prints_consistent_round_trips() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.jobs", "--quick", "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    fig = json.loads(out.stdout)
    assert fig["bench"] == "jobs" and fig["machine"]["cpus"] >= 1
    window = fig["devnet"]["challenge_window_s"]
    assert window == 10
    assert [j["name"] for j in fig["jobs"]] == ["digits", "gemm1024"]
    for job in fig["jobs"]:
        assert job["runs"] == 1 and job["micro_ch"] > 0 and job["amount"] > 0, job
        for key in FIGURES:
            assert job[key] > 0, (job["name"], key, job[key])
            assert job["per_run"][key] == [job[key]], job
        assert job["submit_s"] <= job["to_result_s"] <= job["to_finalizable_s"] <= job["to_finalized_s"], job
        # the result was posted on chain after submit was called, so the job cannot be finalizable
        # before a whole challenge window has passed (anvil's whole-second clock: 2 s of slack);
        # a lower bound, which load only makes easier to meet
        assert job["to_finalizable_s"] >= window - 2, job
    assert "challenge window" in fig["notes"]
