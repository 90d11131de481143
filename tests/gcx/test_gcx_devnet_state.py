"""``gcx devnet status`` on a missing or damaged ``state.json``: one ``error:`` line, no traceback
(the real CLI, in a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _status(home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env["GCX_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "gcx", "devnet", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no devnet state"),
        (b"", "is unreadable"),
        (b'{"api": "http://127.0.0.1:1", "pi', "is unreadable"),
        (b"\xff\xfe\x00garbage", "is unreadable"),
        (b"[1, 2, 3]", "not a JSON object"),
    ],
)
def test_a_missing_or_damaged_state_file_is_one_error_line(
    tmp_path: Path, content: bytes | None, needle: str
) -> None:
    if content is not None:
        (tmp_path / "devnet").mkdir(parents=True)
        (tmp_path / "devnet" / "state.json").write_bytes(content)
    proc = _status(tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    assert str(tmp_path / "devnet" / "state.json") in lines[0]
