"""gcx.game.proofs and gcx.game.play: every built move verifies with gcx.tp.commit's verifiers, and
the honest challenger pins the first wrong op wherever the wrong ops are."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcx.game.play import SIGNATURES, DisputeState, Move, Phase, Seen, calldata, challenger_move, observe
from gcx.game.proofs import (
    STEP_TYPES,
    GameProofError,
    Side,
    children,
    choose_right,
    decode_reveal_row,
    op_move,
    provider_op_proof,
    reveal_row_proof,
    root_move,
    step_proof,
    word_proof,
    word_root,
)
from gcx.jobs.spec import verify_skeleton
from gcx.tp import commit as c

HERE = Path(__file__).parent


def _generator() -> ModuleType:
    name = "gcx_game_vectors_gen"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "game_vectors_gen.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


GEN = _generator()
MLP = GEN.honest(*GEN.mlp())
CHAIN = GEN.honest(*GEN.chain(37))


def _wrong(side: Side, spots: list[tuple[int, int, int]]) -> Side:
    for k, r, col in spots:
        side = GEN.wrong_element(side, k, r, col)
    return side


def test_root_move_and_children_open_the_result_root() -> None:
    for side in (MLP, CHAIN):
        r = root_move(side)
        assert c.result_root_of(r.program_digest, r.n_ops, r.op_tree_root) == side.run.root
        assert c._h(c.TAG_OP_NODE, r.left, r.right) == r.op_tree_root
        result = side.run.result
        depth = len(result.levels) - 1
        for h in range(1, depth + 1):
            for i in range(1 << (depth - h)):
                left, right = children(result, h, i)
                parent = result.levels[h][i] if i < len(result.levels[h]) else None
                if parent is not None:
                    assert c._h(c.TAG_OP_NODE, left, right) == parent
    with pytest.raises(GameProofError):
        children(MLP.run.result, 0, 0)
    with pytest.raises(GameProofError):
        children(MLP.run.result, 1, 4)  # the op tree of 7 ops has 4 nodes at height 1


def test_op_move_opens_the_op_leaf_and_its_row_tree() -> None:
    for k in range(len(MLP.program.ops)):
        m = op_move(MLP, k)
        leaf = MLP.run.result.leaves[k]
        assert c._h(c.TAG_OP_LEAF, m.body) == leaf.digest()
        tid, dt, rank, rows, cols = c._HEADER.unpack(m.body[20:34])
        header = c.TensorHeader(tid, c.DType(dt), rank, rows, cols)
        assert c.tensor_root_of(header, m.tree_root) == m.body[34:66]
        if header.rows > 1:
            assert c._h(c.TAG_ROW_NODE, m.left, m.right) == m.tree_root
        else:
            assert (m.left, m.right) == (bytes(32), bytes(32))


def test_reveal_row_proof_verifies_and_binds_the_row_index() -> None:
    for k in range(len(MLP.program.ops)):
        out = MLP.output(k)
        for row in range(out.header.rows):
            r = decode_reveal_row(reveal_row_proof(MLP, k, row))
            op = c.decode_op_proof(r.op_proof)
            assert c.verify_op(MLP.run.root, op, MLP.program.digest) and op.leaf.op_index == k
            assert verify_skeleton(MLP.spec.skeleton_root, k, op.leaf.body()[:34], r.skeleton)
            assert r.row_proof.index == row and c.verify_row(out.root, r.row_proof)
    with pytest.raises(GameProofError):
        reveal_row_proof(MLP, 0, 4)
    with pytest.raises(GameProofError):
        decode_reveal_row(b"\x00" * 40)


@given(st.binary(min_size=1, max_size=300), st.data())
def test_word_proof_climbs_to_the_word_root(row: bytes, data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from([1, 2])) if len(row) % 4 == 0 else 1
    w = 1 if dtype == 1 else 4
    cols = len(row) // w
    col = data.draw(st.integers(0, cols - 1))
    word, sibs = word_proof(row, dtype, col)
    from eth_hash.auto import keccak

    index, h = col * w // 32, word
    for s in sibs:
        h = bytes(keccak(s + h)) if index & 1 else bytes(keccak(h + s))
        index >>= 1
    assert bytes(keccak(bytes([dtype]) + cols.to_bytes(4, "big") + h)) == word_root(row, dtype, cols)
    off = col * w % 32
    assert word[off : off + w] == row[col * w : col * w + w]


def test_choose_right_disputes_the_first_differing_child() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert choose_right((a, b), a, b) is True  # left agrees: dispute the right
    assert choose_right((a, b), b, b) is False  # left differs: dispute it, whatever the right
    assert choose_right((a, b), b, a) is False


def _play(provider: Side, challenger: Side) -> tuple[list[tuple[str, Move]], Any]:
    moves, sim = GEN.play(provider, challenger)
    return moves, sim


def _check_step(provider: Side, challenger: Side, moves: list[tuple[str, Move]], sim: Any) -> None:
    """The step's proofs verify: op proofs under the provider's root, operand rows under their roots."""
    (col, proof) = moves[-1][1].args
    word, sibs, op_k, operands = abi_decode(STEP_TYPES, proof)
    revealed = decode_reveal_row(next(m.args[0] for _, m in moves if m.fn == "revealRow")).row_proof
    assert (bytes(word), tuple(bytes(x) for x in sibs)) == word_proof(
        revealed.row, revealed.header.dtype, col
    )
    k = sim.state.op
    pk = c.decode_op_proof(bytes(op_k))
    assert c.verify_op(provider.run.root, pk) and pk.leaf.op_index == k
    assert pk.leaf == provider.run.result.leaves[k]
    n_in = challenger.n_inputs
    for (opp, rowp), t in zip(operands, challenger.program.ops[k].inputs, strict=True):
        rp = c.decode_row_proof(bytes(rowp))
        if t < n_in:
            assert opp == b"" and rp.header.tensor_id == t
            assert c.verify_row(provider.spec.input_roots[t], rp)
        else:
            j = c.decode_op_proof(bytes(opp))
            assert j.leaf.op_index == t - n_in < k and c.verify_op(provider.run.root, j)
            assert c.verify_row(j.leaf.output_root, rp)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_challenger_pins_the_first_wrong_op_and_its_proofs_verify(data: st.DataObject) -> None:
    side = data.draw(st.sampled_from([MLP, CHAIN]))
    n = len(side.program.ops)
    ks = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3)))
    spots = []
    for k in ks:
        h = side.output(k).header
        spots.append((k, data.draw(st.integers(0, h.rows - 1)), data.draw(st.integers(0, h.cols - 1))))
    liar = _wrong(side, spots)
    moves, sim = _play(liar, side)
    assert sim.decided and sim.state.phase == Phase.AWAIT_STEP
    assert sim.state.op == ks[0], "the first wrong op"
    assert sim.state.row == spots[0][1], "its wrong row"
    assert moves[-1][1].args[0] == spots[0][2], "its wrong column"
    _check_step(liar, side, moves, sim)
    # every op proof j <= k under the provider's root, from its revealed nodes and one's own leaves
    nodes = _seen(liar, moves).op_nodes
    body = liar.run.result.leaves[ks[0]].body()
    for j in range(ks[0] + 1):
        p = provider_op_proof(side, nodes, j, body if j == ks[0] else None)
        assert c.verify_op(liar.run.root, c.decode_op_proof(p))


def _seen(provider: Side, moves: list[tuple[str, Move]]) -> Seen:
    """What the challenger saw of the provider's op-tree nodes during ``moves``."""
    seen = Seen()
    state = GEN.Sim(provider.spec, provider.run.root, DisputeState(Phase.AWAIT_ROOT))
    for _, m in moves[:-1]:
        state = state.apply(m)
        seen = observe(seen, state.state)
    return seen


def test_provider_op_proof_needs_the_providers_nodes_above_the_divergence() -> None:
    liar = _wrong(MLP, [(5, 1, 1)])
    moves, sim = _play(liar, MLP)
    assert sim.state.op == 5
    seen = _seen(liar, moves)
    for j in (0, 3, 4):  # own leaves below the divergence, the provider's nodes above
        p = c.decode_op_proof(provider_op_proof(MLP, seen.op_nodes, j))
        assert c.verify_op(liar.run.root, p)
        # without the provider's nodes, one's own siblings climb to one's own root, not the provider's
        own = c.decode_op_proof(provider_op_proof(MLP, {}, j))
        assert c.verify_op(MLP.run.root, own) and not c.verify_op(liar.run.root, own)


def test_step_against_an_honest_provider_names_the_challengers_own_wrong_column() -> None:
    mistaken = _wrong(MLP, [(2, 1, 3)])
    moves, sim = _play(MLP, mistaken)
    assert (sim.state.op, sim.state.row, moves[-1][1].args[0]) == (2, 1, 3)
    _check_step(MLP, mistaken, moves, sim)


def test_step_needs_the_providers_reveals() -> None:
    with pytest.raises(GameProofError):
        challenger_move(MLP, DisputeState(Phase.AWAIT_STEP), Seen())
    with pytest.raises(GameProofError):
        step_proof(MLP, 0, 0, b"garbage", {}, MLP.run.result.leaves[0].body())


def test_calldata_selectors_are_the_games() -> None:
    # From contracts/out/VerificationGame.sol/VerificationGame.json's methodIdentifiers.
    want = {
        "bisect": "156ee58f",
        "choose": "4cde9b3f",
        "revealOp": "250a65d4",
        "revealRoot": "66921b04",
        "revealRow": "1020c5cc",
        "step": "88c0b0a5",
    }
    assert set(want) == set(SIGNATURES)
    args = {
        "bisect": (b"\x01" * 32, b"\x02" * 32),
        "choose": (True,),
        "revealOp": (b"\x03" * 66, b"\x04" * 32, b"\x05" * 32, b"\x06" * 32),
        "revealRoot": (b"\x07" * 32, 7, b"\x08" * 32, b"\x09" * 32, b"\x0a" * 32),
        "revealRow": (b"\x0b" * 9,),
        "step": (3, b"\x0c" * 5),
    }
    for fn, sel in want.items():
        data = calldata(Move(fn, args[fn]), 42)
        assert data[:4].hex() == sel
        assert abi_decode(list(SIGNATURES[fn]), data[4:])[0] == 42
    with pytest.raises(GameProofError):
        calldata(Move("steal", ()), 1)


def test_a_provider_header_other_than_the_programs_is_bisected_leftwards_to_the_skeleton() -> None:
    from gcx.tp import MatmulNT

    short = GEN.other_op(MLP, 0, MatmulNT(0, 1), MLP.tensors[4][:2].copy())  # 2 rows, not 4
    moves, sim = _play(short, MLP)
    fns = [m.fn for _, m in moves]
    row_choices = [m.args[0] for _, m in moves[fns.index("revealOp") :] if m.fn == "choose"]
    assert row_choices == [False]  # left: never into the provider's row padding
    assert moves[-1][1].fn == "revealRow" and sim.state.phase == Phase.CHALLENGER_WON
