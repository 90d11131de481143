"""The exchange's pure core imports no I/O library, even indirectly (issue 10).

Two checks, because each misses what the other sees:

* **Transitively**, in a fresh interpreter: importing a core module must not bring any of the
  libraries our adapters do I/O with (trio, SQLite, process pools, HTTP, libp2p, web3, TOML file
  reading, Prometheus, the Cython build). Standard modules such as ``socket`` or ``threading``
  are not on that list: third-party libraries the core needs (eth-account, pydantic) import them
  for their own reasons without doing I/O on our behalf.
* **Directly**, by reading each core module's source: the core's own code imports neither those
  libraries nor the standard I/O, clock and process modules (``os``, ``time``, ``socket``,
  ``threading``, ``logging``, …), anywhere in the module (functions included).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import coordinator.exchange.core as core_package

CORE_DIR = Path(core_package.__file__).parent
CORE_MODULES = [
    *sorted(f"coordinator.exchange.core.{p.stem}" for p in CORE_DIR.glob("*.py") if p.stem != "__init__"),
    "coordinator.exchange.core",
    "coordinator.exchange.errors",
]

IO_LIBRARIES = frozenset(
    {
        "trio", "anyio", "asyncio", "sqlite3", "_sqlite3", "multiprocessing", "concurrent",
        "tomllib", "httpx", "httpcore", "fastapi", "starlette", "hypercorn", "websockets",
        "libp2p", "web3", "prometheus_client", "Cython", "setuptools",
    }
)  # fmt: skip
DIRECT_FORBIDDEN = IO_LIBRARIES | {
    "os", "time", "socket", "select", "selectors", "subprocess", "threading", "signal",
    "logging", "shutil", "tempfile", "io", "pathlib",
}  # fmt: skip
ALLOWED_FIRST_PARTY = ("coordinator.exchange.core", "coordinator.exchange.errors", "gcx")


def _imports(source: str, package: str) -> list[str]:
    """Every module ``source`` imports, anywhere in it, as absolute dotted names."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                names.append(".".join([*base, node.module] if node.module else base))
            else:
                names.append(node.module or "")
    return names


def _violations(source: str, package: str) -> list[str]:
    bad = []
    for name in _imports(source, package):
        top = name.split(".")[0]
        if top in DIRECT_FORBIDDEN:
            bad.append(name)
        elif top in {"coordinator", "node_agent", "verifier"} and not name.startswith(ALLOWED_FIRST_PARTY):
            bad.append(name)  # an adapter, or another program
    return bad


def test_the_checker_flags_what_it_should() -> None:
    """Positive controls: the source checker is not vacuous."""
    assert _violations("import sqlite3\n", "coordinator.exchange.core") == ["sqlite3"]
    assert _violations("def f():\n    import time\n", "coordinator.exchange.core") == ["time"]
    assert _violations("from ..journal import Journal\n", "coordinator.exchange.core") == [
        "coordinator.exchange.journal"
    ]
    assert _violations("from .engine import Engine\nimport msgpack\n", "coordinator.exchange.core") == []


@pytest.mark.parametrize("path", sorted(CORE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_core_sources_import_no_io_module(path: Path) -> None:
    assert _violations(path.read_text(encoding="utf-8"), "coordinator.exchange.core") == []


def test_the_one_msgpack_decoder_is_pure() -> None:
    """``gcx.wire`` decodes every record of the core (commands, entries, snapshots): its own
    code must be as pure as the core's, and the core must really use it."""
    import gcx.wire

    assert _violations(Path(gcx.wire.__file__).read_text(encoding="utf-8"), "gcx") == []
    for name in ("commands", "entry", "state"):
        source = (CORE_DIR / f"{name}.py").read_text(encoding="utf-8")
        assert "gcx.wire" in _imports(source, "coordinator.exchange.core") or "from gcx import wire" in source


def test_the_core_brings_no_io_library_with_it() -> None:
    """Import every core module in a fresh interpreter; list what came with them."""
    assert len(CORE_MODULES) >= 10, CORE_MODULES  # the scan really saw the core
    script = (
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(out.stdout)
    assert "coordinator.exchange.core.state" in loaded  # positive control: the imports happened
    brought = sorted({m for m in loaded if m.split(".")[0] in IO_LIBRARIES})
    parents = {"coordinator", "coordinator.exchange"}  # their __init__ import nothing
    adapters = sorted(
        m
        for m in loaded
        if m.startswith("coordinator.") and m not in parents and not m.startswith(ALLOWED_FIRST_PARTY)
    )
    assert brought == [] and adapters == [], f"I/O libraries {brought}, adapters {adapters}"


def test_the_fresh_interpreter_check_can_fail() -> None:
    """Positive control of the transitive check: an adapter does bring an I/O library."""
    script = "import coordinator.exchange.journal, sys; print('sqlite3' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "True"
