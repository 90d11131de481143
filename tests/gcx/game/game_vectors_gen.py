"""Generator of the verification-game vectors (tests/gcx/game/vectors/game-vectors-v1.json).

Theory of operation: each scenario is a program (built with :func:`gcx.tp.make_program`, inputs
seeded and committed by the buyer), its job spec (:func:`gcx.jobs.spec.job_spec`), an honest run
(:func:`gcx.tp.execute` on the Python oracle, :func:`gcx.tp.attest.commit_run`) and a provider's
and a challenger's data (honest, or with a wrong element injected into one op's output tensor, or
with another op's leaf committed in place of the program's). :func:`play` then plays the
dispute with the strategies of :mod:`gcx.game.play` on a Python mirror of the game's state
machine (:class:`Sim`: the preimage checks, the padding decisions and the skeleton check of the
adapter; the one-step verdict is left to the chain), and records every move's calldata for
dispute id 1. contracts/test/gcxtp/GcxTpGameStep.t.sol replays the moves against the real
VerificationGame + GcxTpGameStep + GcxTpOneStep and checks the outcome; tests/gcx/game/
test_game_vectors.py checks that the committed file is ``render(build())``.

The gas vectors (tests/gcx/game/vectors/game-gas-v1.json, :func:`build_gas`) are whole disputes
whose disputed op has 16 KiB output rows (:func:`wide`: ops ∈ {1, 16, 256} × rows ∈ {64, 4096},
the last op wrong in its last row's last element); contracts/test/gcxtp/GcxTpGameGas.t.sol replays
them and asserts the per-transaction and whole-dispute gas targets.

Regenerate (both files): ``PYTHONPATH=src python tests/gcx/game/game_vectors_gen.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gcx.game.play import (
    DisputeState,
    Move,
    Phase,
    Seen,
    calldata,
    challenger_move,
    observe,
    provider_move,
)
from gcx.game.proofs import Side, decode_reveal_row, reveal_row_proof
from gcx.jobs.spec import JobSpec, job_spec, verify_skeleton
from gcx.tp import (
    Add,
    Argmax,
    InputDecl,
    MatmulNT,
    OutputDecl,
    Relu,
    Requant,
    TensorType,
    execute,
    make_program,
)
from gcx.tp import commit as c
from gcx.tp.attest import RunCommitment, commit_run
from gcx.tp.backends import PythonBackend
from gcx.tp.execute import ExecutionResult
from gcx.tp.program import Program
from gcx.tp.seeded import seeded_tensor

VECTORS_PATH = Path(__file__).with_name("vectors") / "game-vectors-v1.json"
GAS_VECTORS_PATH = Path(__file__).with_name("vectors") / "game-gas-v1.json"
GAS_FORMAT = "gcx-game/gas-vectors"
WIDE_COLS = 4_096
GAS_SHAPES = ((1, 64), (1, 4_096), (16, 64), (16, 4_096), (256, 64), (256, 4_096))
FORMAT = "gcx-game/vectors"
VERSION = 1
SEED = 0x6763782D67616D65  # "gcx-game"
REGENERATE = "PYTHONPATH=src python tests/gcx/game/game_vectors_gen.py"


def hx(data: bytes) -> str:
    """``0x``-prefixed lowercase hex."""
    return "0x" + data.hex()


# -- programs ---------------------------------------------------------------------------------------


Decl = tuple[str, Literal["int8", "int32"], tuple[int, ...]]


def _program(inputs: Sequence[Decl], ops: list[Any], out: int) -> tuple[Program, dict[str, np.ndarray]]:
    values = {
        name: seeded_tensor(SEED, t, TensorType(dt, shape)) for t, (name, dt, shape) in enumerate(inputs)
    }
    decls = [
        InputDecl(name, TensorType(dt, shape), c.tensor_root(t, values[name]))
        for t, (name, dt, shape) in enumerate(inputs)
    ]
    return make_program(decls, ops, [OutputDecl("out", out)]), values


def mlp() -> tuple[Program, dict[str, np.ndarray]]:
    """Seven ops, every opcode: matmul, add of a row-vector bias, relu, requant, matmul, relu,
    argmax (op tree of depth 3 with one padding leaf)."""
    inputs: list[Decl] = [
        ("x", "int8", (4, 8)),
        ("w1", "int8", (6, 8)),
        ("b1", "int32", (6,)),
        ("w2", "int8", (3, 6)),
    ]
    ops = [MatmulNT(0, 1), Add(4, 2), Relu(5), Requant(6, 3, 12, -1), MatmulNT(7, 3), Relu(8), Argmax(9)]
    return _program(inputs, ops, 10)


def chain(n_ops: int) -> tuple[Program, dict[str, np.ndarray]]:
    """``n_ops`` ops alternating ``add(prev, y)`` and ``relu(prev)`` on an int32[4, 16] tensor."""
    inputs: list[Decl] = [("x", "int32", (4, 16)), ("y", "int32", (4, 16))]
    ops: list[Any] = []
    for k in range(n_ops):
        prev = 0 if k == 0 else 2 + k - 1
        ops.append(Add(prev, 1) if k % 2 == 0 else Relu(prev))
    return _program(inputs, ops, 2 + n_ops - 1)


def wide(n_ops: int, rows: int) -> tuple[Program, dict[str, np.ndarray]]:
    """``n_ops`` ops: the first ``n_ops - 1`` the :func:`chain` of ``add``/``relu`` on int32[4, 16],
    the last ``add(a, b)`` of two more program inputs of int32[rows, 4096] (16 KiB rows), whose
    output is the program's: the one-step of its rows reads two 16 KiB operand rows."""
    inputs: list[Decl] = [
        ("x", "int32", (4, 16)),
        ("y", "int32", (4, 16)),
        ("a", "int32", (rows, WIDE_COLS)),
        ("b", "int32", (rows, WIDE_COLS)),
    ]
    ops: list[Any] = []
    for k in range(n_ops - 1):
        prev = 0 if k == 0 else 4 + k - 1
        ops.append(Add(prev, 1) if k % 2 == 0 else Relu(prev))
    ops.append(Add(2, 3))
    return _program(inputs, ops, 4 + n_ops - 1)


def honest(program: Program, values: dict[str, np.ndarray]) -> Side:
    """An honest run's side."""
    result = execute(program, values, PythonBackend())
    return Side(program, job_spec(program), commit_run(program, result), tuple(result.tensors))


def wrong_element(side: Side, k: int, row: int, col: int) -> Side:
    """``side`` with element ``(row, col)`` of op ``k``'s output changed (the later ops unchanged:
    only the first wrong op matters to the game)."""
    tensors = [t.copy() for t in side.tensors]
    t = tensors[side.n_inputs + k]
    view = t.reshape(1, -1) if t.ndim == 1 else t
    view[row, col] = view[row, col] + 1 if view[row, col] < 100 else view[row, col] - 1
    result = ExecutionResult("tampered", tuple(tensors), {})
    return Side(side.program, side.spec, commit_run(side.program, result), tuple(tensors))


def other_op(side: Side, k: int, op: Any, value: np.ndarray) -> Side:
    """``side`` with op ``k``'s leaf committed as ``op`` (computing ``value``) instead of the
    program's op: a well-formed, correctly computed leaf of another program."""
    tensors = list(side.tensors)
    tid = side.n_inputs + k
    tensors[tid] = value
    tcs = list(side.run.tensors)
    tcs[tid] = c.commit_tensor(tid, value)
    leaves = list(side.run.result.leaves)
    leaves[k] = c.op_leaf(k, op, tcs[tid])
    run = RunCommitment(tuple(tcs), c.commit_result(side.program.digest, leaves))
    return Side(side.program, side.spec, run, tuple(tensors))


# -- the game's state machine -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sim:
    """A Python mirror of one VerificationGame dispute (no clocks, no bonds, no one-step verdict:
    ``AWAIT_STEP`` is followed by ``decided``)."""

    spec: JobSpec
    result_root: bytes
    state: DisputeState
    node: bytes = b""
    n_ops: int = 0
    rows: int = 0
    body: bytes = b""
    decided: bool = False

    def _end(self, provider_won: bool) -> Sim:
        return replace(self, state=DisputeState(Phase.PROVIDER_WON if provider_won else Phase.CHALLENGER_WON))

    def _split(self, tag: bytes, left: bytes, right: bytes) -> None:
        assert hashlib.sha256(tag + left + right).digest() == self.node, "not the node's preimage"

    def apply(self, move: Move) -> Sim:
        """The dispute after ``move`` (assertions where the chain would revert)."""
        s, a = self.state, move.args
        if move.fn == "revealRoot":
            digest, n, tree, left, right = a
            assert c.result_root_of(digest, n, tree) == self.result_root
            if (digest, n) != (self.spec.program_digest, self.spec.n_ops):
                return self._end(False)
            depth = c.tree_depth(n)
            sim = replace(self, node=tree, n_ops=n)
            if depth == 0:
                return replace(sim, state=DisputeState(Phase.AWAIT_OP))
            sim._split(c.TAG_OP_NODE, left, right)
            return replace(sim, state=DisputeState(Phase.OP_CHOOSE, depth, 0, left, right))
        if move.fn == "bisect":
            left, right = a
            ops = s.phase == Phase.OP_BISECT
            self._split(c.TAG_OP_NODE if ops else c.TAG_ROW_NODE, left, right)
            phase = Phase.OP_CHOOSE if ops else Phase.ROW_CHOOSE
            return replace(self, state=replace(s, phase=phase, left=left, right=right))
        if move.fn == "choose":
            (right,) = a
            ops = s.phase == Phase.OP_CHOOSE
            node = s.right if right else s.left
            index, height = 2 * s.index + int(right), s.height - 1
            count = self.n_ops if ops else self.rows
            if index << height >= count:
                pad = c._pads(
                    c.OP_PAD if ops else c.ROW_PAD, c.TAG_OP_NODE if ops else c.TAG_ROW_NODE, height
                )
                return self._end(node == pad[height])
            if height == 0:
                phase = Phase.AWAIT_OP if ops else Phase.AWAIT_ROW
            else:
                phase = Phase.OP_BISECT if ops else Phase.ROW_BISECT
            return replace(self, node=node, state=replace(s, phase=phase, height=height, index=index))
        if move.fn == "revealOp":
            body, tree, left, right = a
            assert c._h(c.TAG_OP_LEAF, body) == self.node and int.from_bytes(body[:4], "big") == s.index
            rows = int.from_bytes(body[26:30], "big")
            depth = c.tree_depth(rows)
            base = replace(self, node=tree, rows=rows, body=body)
            if depth == 0:
                return replace(base, state=DisputeState(Phase.AWAIT_ROW, 0, 0, op=s.index))
            base._split(c.TAG_ROW_NODE, left, right)
            return replace(base, state=DisputeState(Phase.ROW_CHOOSE, depth, 0, left, right, op=s.index))
        if move.fn == "revealRow":
            r = decode_reveal_row(a[0])
            if not verify_skeleton(self.spec.skeleton_root, s.op, self.body[:34], r.skeleton):
                return self._end(False)
            return replace(self, state=DisputeState(Phase.AWAIT_STEP, op=s.op, row=s.index))
        assert move.fn == "step"
        return replace(self, decided=True)


def play(provider: Side, challenger: Side) -> tuple[list[tuple[str, Move]], Sim]:
    """Play a whole dispute: the honest strategies of both sides on their own data."""
    sim = Sim(provider.spec, provider.run.root, DisputeState(Phase.AWAIT_ROOT))
    seen = Seen()
    moves: list[tuple[str, Move]] = []
    while not sim.decided and sim.state.phase not in (Phase.PROVIDER_WON, Phase.CHALLENGER_WON):
        p = sim.state.phase
        if p in (Phase.OP_CHOOSE, Phase.ROW_CHOOSE, Phase.AWAIT_STEP):
            move, side = challenger_move(challenger, sim.state, seen), "challenger"
        else:
            move, side = provider_move(provider, sim.state), "provider"
            if move.fn == "revealOp":
                seen = replace(seen, body=move.args[0])
            if move.fn == "revealRow":
                seen = replace(seen, reveal_row=move.args[0])
        moves.append((side, move))
        sim = sim.apply(move)
        seen = observe(seen, sim.state)
    return moves, sim


# -- scenarios --------------------------------------------------------------------------------------


def _scenarios() -> list[tuple[str, str, Side, Side, str, dict[str, Any]]]:
    program, values = mlp()
    truth = honest(program, values)
    relu_of_mm = np.maximum(truth.tensors[4], 0).astype(np.int32)
    chained = honest(*chain(256))
    out: list[tuple[str, str, Side, Side, str, dict[str, Any]]] = [
        (
            "wrong_first_op_first_row",
            "op 0 (matmul) element (0, 2) wrong",
            wrong_element(truth, 0, 0, 2),
            truth,
            "ChallengerWon",
            {},
        ),
        (
            "wrong_bias_add_middle_row",
            "op 1 (add of a row-vector bias) element (2, 5) wrong",
            wrong_element(truth, 1, 2, 5),
            truth,
            "ChallengerWon",
            {},
        ),
        (
            "wrong_middle_op_last_row",
            "op 3 (requant) element (3, 4) wrong: the last row",
            wrong_element(truth, 3, 3, 4),
            truth,
            "ChallengerWon",
            {},
        ),
        (
            "wrong_matmul_reads_int8",
            "op 4 (matmul of the requantized tensor) element (1, 2) wrong",
            wrong_element(truth, 4, 1, 2),
            truth,
            "ChallengerWon",
            {},
        ),
        (
            "wrong_last_op",
            "op 6 (argmax, the last op, one row) element (0, 1) wrong",
            wrong_element(truth, 6, 0, 1),
            truth,
            "ChallengerWon",
            {},
        ),
        (
            "honest_vs_mistaken_challenger",
            "an honest provider; the challenger's own op 2 is wrong",
            truth,
            wrong_element(truth, 2, 1, 1),
            "ProviderWon",
            {},
        ),
        (
            "honest_vs_honest",
            "an honest provider and a challenger disputing a correct result (ends in the op padding)",
            truth,
            truth,
            "ProviderWon",
            {},
        ),
        (
            "other_op_relu_for_add",
            "op 1 committed as relu(t4), correctly computed, instead of the program's add",
            other_op(truth, 1, Relu(4), relu_of_mm),
            truth,
            "ChallengerWon",
            {},
        ),
        (
            "chain256_wrong_op_200",
            "256 ops (add/relu chain): op 200 element (3, 15) wrong",
            wrong_element(chained, 200, 3, 15),
            chained,
            "ChallengerWon",
            {},
        ),
        (
            "other_header_fewer_rows",
            "op 0 committed with 2 rows (x's first two rows times w1, correctly computed) instead of 4",
            other_op(truth, 0, MatmulNT(0, 1), truth.tensors[4][:2].copy()),
            truth,
            "ChallengerWon",
            {},
        ),
    ]
    # The provider of wrong_middle_op_last_row also tries to prove another row than the pinned one.
    out[2][5]["bad_reveal_row_row"] = 2
    return out


def _scenario(
    name: str, about: str, provider: Side, challenger: Side, expect: str, extra: dict[str, Any]
) -> dict[str, Any]:
    moves, sim = play(provider, challenger)
    spec = provider.spec
    entry: dict[str, Any] = {
        "name": name,
        "about": about,
        "spec": {
            "program_digest": hx(spec.program_digest),
            "n_ops": spec.n_ops,
            "skeleton_root": hx(spec.skeleton_root),
            "input_roots": [hx(r) for r in spec.input_roots],
            "hash": hx(spec.hash),
        },
        "result_root": hx(provider.run.root),
        "expect": expect,
        "n_moves": len(moves),
        "moves": [{"side": side, "fn": m.fn, "data": hx(calldata(m, 1))} for side, m in moves],
    }
    if "bad_reveal_row_row" in extra:
        reveal = next(i for i, (_, m) in enumerate(moves) if m.fn == "revealRow")
        bad = Move("revealRow", (reveal_row_proof(provider, sim.state.op, extra["bad_reveal_row_row"]),))
        entry["bad_reveal_row"] = {"before_move": reveal, "data": hx(calldata(bad, 1))}
    return entry


def build() -> dict[str, Any]:
    """The whole vector file as a JSON-ready dict."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "regenerate": REGENERATE,
        "scenarios": [_scenario(*s) for s in _scenarios()],
    }


def _gas_scenario(n_ops: int, rows: int) -> dict[str, Any]:
    truth = honest(*wide(n_ops, rows))
    liar = wrong_element(truth, n_ops - 1, rows - 1, WIDE_COLS - 1)
    about = f"{n_ops} ops, the last add(a, b) of int32[{rows}, 4096]: its element ({rows - 1}, 4095) wrong"
    return _scenario(f"wide_ops{n_ops}_rows{rows}", about, liar, truth, "ChallengerWon", {})


def build_gas() -> dict[str, Any]:
    """The gas vector file (the :data:`GAS_SHAPES` disputes) as a JSON-ready dict."""
    return {
        "format": GAS_FORMAT,
        "version": VERSION,
        "regenerate": REGENERATE,
        "scenarios": [_gas_scenario(n, r) for n, r in GAS_SHAPES],
    }


def render(vectors: dict[str, Any]) -> str:
    """The file's exact text."""
    return json.dumps(vectors, indent=1) + "\n"


def main() -> None:
    """Write the vector file."""
    VECTORS_PATH.parent.mkdir(parents=True, exist_ok=True)
    VECTORS_PATH.write_text(render(build()))
    GAS_VECTORS_PATH.write_text(render(build_gas()))


if __name__ == "__main__":
    main()
