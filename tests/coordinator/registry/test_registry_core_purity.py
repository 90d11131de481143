"""The registry core is given its clock, its store and its observer (issue 10.4): it imports no
SQLite, no Prometheus, no logging and reads no clock, directly or through what it imports.

Like ``tests/coordinator/exchange/test_exchange_core_purity.py``: a source check (every import
anywhere in the module, and every use of a clock-reading name) and a fresh-interpreter check of
what importing the core brings, each with a positive control.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import coordinator.registry as registry_package

REGISTRY_DIR = Path(registry_package.__file__).parent
PURE = (
    "core.py",
    "base.py",
    "errors.py",
    "adverts.py",
    "uptime.py",
    "audits.py",
)  # the core and the pure modules it uses
PURE_MODULES = [f"coordinator.registry.{name.removesuffix('.py')}" for name in PURE]

IO_LIBRARIES = frozenset(
    {
        "sqlite3", "_sqlite3", "prometheus_client", "trio", "anyio", "asyncio", "libp2p", "web3",
        "fastapi", "starlette", "hypercorn", "httpx",
    }
)  # fmt: skip
DIRECT_FORBIDDEN = IO_LIBRARIES | {
    "time", "datetime", "logging", "os", "socket", "threading", "subprocess", "pathlib", "io",
}  # fmt: skip
CLOCK_NAMES = frozenset({"time", "time_ns", "perf_counter", "monotonic", "now", "utcnow", "today"})
ALLOWED_FIRST_PARTY = tuple(m for m in PURE_MODULES if m != "coordinator.registry.core")


def _violations(source: str, package: str = "coordinator.registry") -> list[str]:
    """Forbidden imports (anywhere, functions included) and calls of clock-reading names."""
    bad: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in CLOCK_NAMES:
                bad.append(f"call {name}()")
        for name in names:
            top = name.split(".")[0]
            if top in DIRECT_FORBIDDEN:
                bad.append(name)
            elif top == "coordinator" and not name.startswith(ALLOWED_FIRST_PARTY):
                bad.append(name)  # an adapter (store, metrics, daemon, …)
    return bad


def test_the_checker_flags_what_it_should() -> None:
    """Positive controls: the source checker is not vacuous."""
    assert _violations("import sqlite3\n") == ["sqlite3"]
    assert _violations("from prometheus_client import Counter\n") == ["prometheus_client"]
    assert _violations("def f():\n    import time\n") == ["time"]
    assert _violations("from .store import RegistryStore\n") == ["coordinator.registry.store"]
    assert _violations("from .metrics import Metrics\n") == ["coordinator.registry.metrics"]
    assert _violations("def f(clock):\n    return clock.time()\n") == ["call time()"]
    assert _violations("def f(dt):\n    return dt.now()\n") == ["call now()"]
    assert _violations("from .base import ProviderStore\nfrom gcx import wire\n") == []
    # and the module as it was before the clock and the store were injected:
    assert set(_violations("import logging\nimport time\nfrom .store import RegistryStore\n")) == {
        "logging",
        "time",
        "coordinator.registry.store",
    }


@pytest.mark.parametrize("name", PURE)
def test_registry_core_sources_read_no_clock_and_import_no_io(name: str) -> None:
    assert _violations((REGISTRY_DIR / name).read_text(encoding="utf-8")) == []


def test_the_registry_core_brings_no_io_library_with_it() -> None:
    """Import the core in a fresh interpreter; list what came with it."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {PURE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(out.stdout)
    assert "coordinator.registry.core" in loaded  # positive control: the imports happened
    brought = sorted({m for m in loaded if m.split(".")[0] in IO_LIBRARIES})
    adapters = sorted(
        m
        for m in loaded
        if m.startswith("coordinator.")
        and m != "coordinator.registry"
        and not m.startswith(("coordinator.registry.core", *ALLOWED_FIRST_PARTY))
    )
    assert brought == [] and adapters == [], f"I/O libraries {brought}, adapters {adapters}"


def test_the_fresh_interpreter_check_can_fail() -> None:
    """Positive control of the transitive check: the store and the metrics do bring them."""
    script = (
        "import coordinator.registry.store, coordinator.registry.metrics, sys\n"
        "print('sqlite3' in sys.modules, 'prometheus_client' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["True", "True"]
