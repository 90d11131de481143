"""gcx.game.history.replay: what a challenger has seen of its provider, rebuilt from the
dispute's moves alone (a challenger restarted mid-dispute), equals what it observed live."""

from __future__ import annotations

import game_vectors_gen as gen  # the vectors' generator: real runs and a Python mirror of the game
import pytest

from gcx.game.history import replay
from gcx.game.play import Phase, challenger_move


@pytest.mark.parametrize(
    ("make", "k", "row", "col"),
    [
        (gen.mlp, 0, 0, 0),
        (gen.mlp, 3, 3, 1),
        (lambda: gen.chain(37), 20, 0, 2),
        (lambda: gen.chain(37), 36, 0, 0),
    ],
    ids=["mlp-op0", "mlp-op3", "chain37-op20", "chain37-last"],
)
def test_replayed_history_gives_the_challenger_the_same_step(make, k, row, col) -> None:  # type: ignore[no-untyped-def]
    program, values = make()
    honest = gen.honest(program, values)
    cheat = gen.wrong_element(honest, k, row, col)
    moves, sim = gen.play(cheat, honest)
    assert sim.state.phase == Phase.AWAIT_STEP and moves[-1][1].fn == "step"
    history = [(m.fn, m.args) for _, m in moves[:-1]]  # everything before the step
    seen = replay(history)
    step = challenger_move(honest, sim.state, seen)
    assert step == moves[-1][1]  # the step built from the replay is the one played live
    assert seen.body is not None and seen.reveal_row is not None


def test_replay_ignores_row_bisection_and_other_calls() -> None:
    seen = replay([("timeout", ()), ("bisect", (b"\x01" * 32, b"\x02" * 32))])
    assert seen.body is None and seen.reveal_row is None
