"""The verification-game vectors (tests/gcx/game/vectors/game-vectors-v1.json) against the code.

The committed file is exactly what tests/gcx/game/game_vectors_gen.py builds (the Foundry test
contracts/test/gcxtp/GcxTpGameStep.t.sol replays it against the real contracts), so neither the
builders nor the file can drift from the other.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).parent
VECTORS = HERE / "vectors" / "game-vectors-v1.json"


def generator() -> ModuleType:
    """The generator module, loaded by path (tests are not a package)."""
    name = "gcx_game_vectors_gen"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "game_vectors_gen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_vectors_are_what_the_generator_builds() -> None:
    gen = generator()
    assert VECTORS.read_text() == gen.render(gen.build()), f"stale vectors: run {gen.REGENERATE}"


def test_every_scenario_ends_as_expected_in_the_python_mirror() -> None:
    data = json.loads(VECTORS.read_text())
    names = [s["name"] for s in data["scenarios"]]
    assert len(names) == len(set(names)) >= 10
    for s in data["scenarios"]:
        fns = [m["fn"] for m in s["moves"]]
        assert s["n_moves"] == len(fns) and fns[0] == "revealRoot"
        if s["name"] in ("other_op_relu_for_add", "other_header_fewer_rows"):
            assert fns[-1] == "revealRow"  # the skeleton ends it before any step
        elif s["name"] == "honest_vs_honest":
            assert fns[-1] == "choose"  # the bisection ends in the op tree's padding
        else:
            assert fns[-2:] == ["revealRow", "step"]
