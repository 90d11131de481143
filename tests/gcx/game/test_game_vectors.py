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


GAS_VECTORS = HERE / "vectors" / "game-gas-v1.json"


def test_committed_gas_vectors_are_what_the_generator_builds() -> None:
    """The large-row disputes GcxTpGameGas.t.sol replays: regenerated (about 30 s), byte for byte."""
    gen = generator()
    assert GAS_VECTORS.read_text() == gen.render(gen.build_gas()), f"stale gas vectors: run {gen.REGENERATE}"


def test_gas_vectors_dispute_the_last_ops_last_row_through_16_kib_rows() -> None:
    data = json.loads(GAS_VECTORS.read_text())
    shapes = [(s["spec"]["n_ops"], s["name"]) for s in data["scenarios"]]
    assert [n for n, _ in shapes] == [1, 1, 16, 16, 256, 256]
    for s in data["scenarios"]:
        fns = [m["fn"] for m in s["moves"]]
        assert s["expect"] == "ChallengerWon" and fns[0] == "revealRoot" and fns[-2:] == ["revealRow", "step"]
        row_bytes = (len(s["moves"][-2]["data"]) - 2) // 2
        step_bytes = (len(s["moves"][-1]["data"]) - 2) // 2
        assert row_bytes > 16_384 and step_bytes > 2 * 16_384  # one 16 KiB row; two operand rows
