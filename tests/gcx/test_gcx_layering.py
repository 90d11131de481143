"""The shared core depends on nothing above it (issue 10.1).

``gcx`` is what every program (coordinator, node agent, verifier) shares, so no module of it may
import one of them; the one exception is the command-line shell, ``gcx/cli/__init__.py``, which
mounts every program's commands. The check reads each module's source (so an import inside a
function counts too), resolves relative imports, and also catches ``importlib.import_module`` /
``__import__`` calls with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gcx

GCX_DIR = Path(gcx.__file__).parent
PROGRAMS = frozenset({"coordinator", "node_agent", "verifier"})
SHELL = "gcx.cli"  # gcx/cli/__init__.py


def _module_name(path: Path) -> tuple[str, str]:
    """``(module, package)`` of a file under ``src/gcx``: a package's ``__init__`` is its package."""
    parts = list(path.relative_to(GCX_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _imports(source: str, package: str) -> list[str]:
    """Every module ``source`` imports, anywhere in it, as absolute dotted names."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: max(len(base) - node.level + 1, 0)]
                names.append(".".join([*base, node.module] if node.module else base))
            else:
                names.append(node.module or "")
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            names.append(node.args[0].value)
    return names


def violations(source: str, module: str, package: str) -> list[str]:
    """The imports of ``source`` (module ``module`` of ``package``) that reach a program."""
    if module == SHELL:
        return []
    return [name for name in _imports(source, package) if name.split(".")[0] in PROGRAMS]


def test_the_checker_flags_what_it_should() -> None:
    """Positive controls: each form of import of a program is caught; gcx's own are not."""
    flagged = {
        "import coordinator\n": ["coordinator"],
        "import node_agent.cli as cli\n": ["node_agent.cli"],
        "from coordinator.exchange.core.commands import Side\n": ["coordinator.exchange.core.commands"],
        "from verifier import x\n": ["verifier"],
        "def f():\n    from coordinator import exchange\n": ["coordinator"],
        "from ...coordinator import exchange\n": ["coordinator"],  # relative, out of gcx.sdk
        "import importlib\nimportlib.import_module('node_agent.cli')\n": ["node_agent.cli"],
        "__import__('coordinator.daemon')\n": ["coordinator.daemon"],
    }
    for source, expected in flagged.items():
        assert violations(source, "gcx.sdk.client", "gcx.sdk") == expected, source
    for fine in (
        "from gcx.orders import Domain\n",
        "from ..feed import FeedSequence\n",
        "import coordinates\n",
    ):
        assert violations(fine, "gcx.sdk.client", "gcx.sdk") == [], fine
    assert _imports("from . import errors\n", "gcx.sdk") == ["gcx.sdk"]
    assert _imports("from .. import feed\n", "gcx.sdk") == ["gcx"]
    # the shell is the one module allowed to mount the programs
    assert violations("from coordinator.cli import app\n", "gcx.cli", "gcx.cli") == []
    assert violations("from coordinator.cli import app\n", "gcx.cli.trade", "gcx.cli") == ["coordinator.cli"]


def test_the_module_names_are_resolved_from_the_paths() -> None:
    assert _module_name(GCX_DIR / "cli" / "__init__.py") == ("gcx.cli", "gcx.cli")
    assert _module_name(GCX_DIR / "sdk" / "client.py") == ("gcx.sdk.client", "gcx.sdk")
    assert _module_name(GCX_DIR / "__init__.py") == ("gcx", "gcx")


def test_no_gcx_module_but_the_cli_shell_imports_a_program() -> None:
    files = sorted(GCX_DIR.rglob("*.py"))
    assert len(files) > 30 and GCX_DIR / "orders.py" in files and GCX_DIR / "sdk" / "client.py" in files
    found = {}
    for path in files:
        module, package = _module_name(path)
        bad = violations(path.read_text(encoding="utf-8"), module, package)
        if bad:
            found[module] = bad
    assert found == {}, f"gcx modules importing a program (only gcx/cli/__init__.py may): {found}"
    mounted = _imports((GCX_DIR / "cli" / "__init__.py").read_text(encoding="utf-8"), SHELL)
    assert {"coordinator.cli", "node_agent.cli"} <= set(mounted)  # the exception is still needed
