"""The job book's core does no I/O and reads no clock (like the registry's and the exchange's
cores): no forbidden import anywhere in its source, and importing it in a fresh interpreter
loads none of the I/O libraries; each check with a positive control."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import coordinator.jobs as jobs_package

CORE = Path(jobs_package.__file__).parent / "core.py"
IO_LIBRARIES = frozenset(
    {"sqlite3", "_sqlite3", "trio", "anyio", "asyncio", "libp2p", "web3", "fastapi", "starlette", "httpx"}
)
DIRECT_FORBIDDEN = IO_LIBRARIES | {"time", "datetime", "logging", "os", "socket", "threading", "pathlib"}


def _imports(source: str) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_the_core_source_imports_no_io_and_no_clock() -> None:
    assert not _imports(CORE.read_text(encoding="utf-8")) & DIRECT_FORBIDDEN
    assert _imports("def f():\n    import time\n") & DIRECT_FORBIDDEN  # positive control


def _loaded_by(module: str) -> set[str]:
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return {name.split(".")[0] for name in json.loads(out.stdout)}


def test_importing_the_core_loads_no_io_library() -> None:
    assert not _loaded_by("coordinator.jobs.core") & IO_LIBRARIES
    assert _loaded_by("coordinator.jobs.store") & {"sqlite3"}  # positive control
