"""``gcx node jobs`` through the real CLI (a subprocess) on a real job table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_job_state import offer

from node_agent.jobs.state import JobTable


def gcx(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env["GCX_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "gcx", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_node_jobs_lists_the_table_with_state_root_and_payment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    empty = gcx(home, "node", "jobs", "--json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {"jobs": []}
    assert not (home / "node" / "jobs.sqlite").exists()  # listing creates nothing

    table = JobTable(home / "node" / "jobs.sqlite")
    paid = table.add(offer(1), "peer", 3).job_id
    for state in ("fetching", "running"):
        table.move(paid, state)
    table.move(
        paid, "submitted", result_root=b"\xab" * 32, leaves=None, tx=b"\x01" * 32, challenge_deadline=5
    )
    table.move(paid, "finalized")
    failed = table.add(offer(2), "peer", 3).job_id
    table.move(failed, "failed", error="cannot fetch input 'a'")
    table.close()

    got = json.loads(gcx(home, "node", "jobs", "--json").stdout)["jobs"]
    assert [(j["job_id"], j["state"], j["paid"]) for j in got] == [
        ("0x" + paid.hex(), "finalized", True),
        ("0x" + failed.hex(), "failed", False),
    ]
    assert got[0]["result_root"] == "0x" + "ab" * 32 and got[1]["error"] == "cannot fetch input 'a'"
    text = gcx(home, "node", "jobs")
    assert text.returncode == 0 and "finalized" in text.stdout and "0x" + "ab" * 32 in text.stdout
