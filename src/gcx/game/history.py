"""What a challenger has seen of its provider, replayed from the dispute's moves on chain.

The step's evidence needs the provider's op-tree nodes along the bisection path, its op body and
its revealed row (:class:`gcx.game.play.Seen`). They are all in the calldata of the dispute's
transactions, so a challenger restarted mid-dispute rebuilds them from the chain instead of
trusting a file: :func:`replay` folds the dispute's moves (in order, both sides') into a ``Seen``.
Pure: the caller reads the transactions (``gcx.chain.game.GameClient.moves``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from gcx.tp.commit import tree_depth

from .play import Seen

__all__ = ["replay"]


def replay(moves: Iterable[tuple[str, Sequence[Any]]]) -> Seen:
    """Fold a dispute's moves ``(function, arguments after the dispute id)``, oldest first, into
    what the challenger has seen: the provider's op-tree splits (by ``(height, index)`` of each
    child), its ``revealOp`` body and its ``revealRow`` proof. Moves of the row bisection do not
    change the op nodes; ``timeout``/``settle``-like calls are ignored."""
    seen = Seen()
    nodes: dict[tuple[int, int], bytes] = {}
    height, index, in_ops = 0, 0, True
    for fn, args in moves:
        if fn == "revealRoot":
            _digest, n_ops, _root, left, right = args
            height, index = tree_depth(int(n_ops)), 0
            if height > 0:
                nodes[(height - 1, 0)], nodes[(height - 1, 1)] = bytes(left), bytes(right)
        elif fn == "choose" and in_ops:
            index, height = 2 * index + (1 if args[0] else 0), height - 1
        elif fn == "bisect" and in_ops:
            nodes[(height - 1, 2 * index)], nodes[(height - 1, 2 * index + 1)] = (
                bytes(args[0]),
                bytes(args[1]),
            )
        elif fn == "revealOp":
            seen, in_ops = replace(seen, body=bytes(args[0])), False
        elif fn == "revealRow":
            seen = replace(seen, reveal_row=bytes(args[0]))
    return replace(seen, op_nodes=nodes)
