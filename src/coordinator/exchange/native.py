"""The matching engine's compiled build: build it, say which build runs, load the pure one.

:mod:`.core.engine` is plain Python, and stays the reference. ``engine.pxd`` beside it gives Cython
the C types of the engine's attributes and of its hot-path locals (an *augmenting* ``.pxd``:
the ``.py`` file itself does not change), so the very same source compiles into an extension
module ``engine.cpython-311-<platform>.so`` next to it. Python's import prefers an extension
module to a source file, so once built, every ``from .core.engine import Engine`` gets the compiled
class; delete the ``.so`` (or never build it) and the same import gets the Python one.

``make`` builds it (``python -m coordinator.exchange.native build``; Cython and a C compiler
are needed only for that step) and records the SHA-256 of the two source files in
``engine.build.json`` beside it: :func:`status` compares that digest with the sources, so an
edited ``engine.py`` with an old ``.so`` in front of it is reported as *stale* (the coordinator
logs a warning, ``tests/exchange/test_exchange_native.py`` fails) instead of silently running
old code. The tests run the property suites on both builds and compare them event for event.

Domain: the compiled engine keeps prices, quantities and counters in signed 64-bit integers;
:class:`~.core.engine_config.EngineConfig` bounds every limit at ``MAX_VALUE`` (2**62) and
:class:`~.core.state.ExchangeState` refuses a price or quantity above it before the engine sees it.
A caller passing a larger integer straight to a compiled engine gets ``OverflowError`` before
the command changes anything; per-level totals and the traded volume stay Python integers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

from gcx.paths import source_checkout

from .core import engine
from .native_build import INFO_NAME, compile_engine, source_digest

__all__ = ["NativeStatus", "build", "load_python_engine", "status"]

_DIR = Path(__file__).resolve().parent / "core"
_INFO = _DIR / INFO_NAME
_PURE_NAME = "coordinator.exchange.core._engine_python"
# A source checkout builds it with make; an installed wheel either has it or never will.
_NO_BUILD_HINT = (
    "build the compiled one with `make native`"
    if source_checkout() is not None
    else "this installation has no compiled engine for this platform; install the platform wheel "
    "built by `make dist`"
)


@dataclass(frozen=True, slots=True)
class NativeStatus:
    """Which engine build an ``import`` gets, and whether a compiled one matches its source."""

    build: Literal["compiled", "python"]
    state: Literal["current", "stale", "absent"]
    path: str  # the file the engine was imported from

    def describe(self) -> str:
        """One line for logs and ``status``."""
        if self.build == "python":
            return f"matching engine: pure Python ({_NO_BUILD_HINT})"
        if self.state == "stale":
            return (
                f"matching engine: compiled but STALE ({self.path} was built from other sources; "
                "rebuild with `make native`)"
            )
        return f"matching engine: compiled ({self.path})"


def _extension_path() -> Path:
    return _DIR / f"engine{sysconfig.get_config_var('EXT_SUFFIX')}"


def status() -> NativeStatus:
    """The build behind :mod:`.core.engine` in this process, and whether it is current."""
    path = str(engine.__file__)
    if not path.endswith(".py"):
        try:
            recorded = json.loads(_INFO.read_text())["source_sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            recorded = None
        state: Literal["current", "stale"] = "current" if recorded == source_digest(_DIR) else "stale"
        return NativeStatus("compiled", state, path)
    return NativeStatus("python", "absent", path)


def load_python_engine() -> ModuleType:
    """The pure-Python :mod:`.core.engine` as its own module, whichever build ``import`` prefers
    (the tests run every engine suite on both and compare them)."""
    if engine.__file__ is not None and engine.__file__.endswith(".py"):
        return engine
    module = sys.modules.get(_PURE_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(_PURE_NAME, _DIR / "engine.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_PURE_NAME] = module
        spec.loader.exec_module(module)
    return module


def build(*, quiet: bool = True) -> Path:
    """Compile ``engine.py`` + ``engine.pxd`` into the extension module beside them and record
    the source digest; returns the module's path. Needs Cython, setuptools and a C compiler
    (``ImportError`` / the compiler's error otherwise; nothing beside the sources changes)."""
    target = _extension_path()
    compile_engine(_DIR, target, quiet=quiet)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coordinator.exchange.native", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="compile the engine (needs Cython and a C compiler)")
    sub.add_parser("status", help="which engine build an import gets; exit 1 if a compiled one is stale")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            path = build()
        except ImportError as exc:
            sys.exit(f"error: cannot build the compiled engine: {exc} (pip install -e '.[dev]')")
        print(f"built {path}")
        return
    st = status()
    print(st.describe())
    if st.state == "stale":
        sys.exit(1)


if __name__ == "__main__":
    main()
