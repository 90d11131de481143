"""The next move of a side in a verification-game dispute: a pure strategy over the public state.

A daemon reads the dispute (``VerificationGame.getDispute``) into a :class:`DisputeState`, keeps
the provider's revealed data as a :class:`Seen` (:func:`observe` after each provider move, plus
the ``revealOp`` body and the ``revealRow`` proof from those transactions' calldata), asks
:func:`provider_move` or :func:`challenger_move` for a :class:`Move`, and sends
:func:`calldata` of it. Both strategies are the honest ones of docs/verification.md ("Why an honest
party always wins"): the provider opens its own commitments; the challenger disputes the first
child that differs from its own (:func:`gcx.game.proofs.choose_right`) and, at the end, the first
column that differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from .proofs import (
    GameProofError,
    Side,
    children,
    choose_right,
    op_move,
    reveal_row_proof,
    root_move,
    step_proof,
)

__all__ = [
    "SIGNATURES",
    "DisputeState",
    "Move",
    "Phase",
    "Seen",
    "calldata",
    "challenger_move",
    "observe",
    "provider_move",
]


class Phase(IntEnum):
    """``VerificationGame.Phase``."""

    NONE = 0
    AWAIT_ROOT = 1
    OP_CHOOSE = 2
    OP_BISECT = 3
    AWAIT_OP = 4
    ROW_CHOOSE = 5
    ROW_BISECT = 6
    AWAIT_ROW = 7
    AWAIT_STEP = 8
    PROVIDER_WON = 9
    CHALLENGER_WON = 10
    CANCELLED = 11

    @property
    def ended(self) -> bool:
        """Whether the dispute is over."""
        return self >= Phase.PROVIDER_WON

    @property
    def solidity_name(self) -> str:
        """The name in ``VerificationGame.Phase`` (``AWAIT_ROOT`` → ``AwaitRoot``)."""
        return "".join(w.capitalize() for w in self.name.split("_"))


SIGNATURES: Final = {
    "revealRoot": ("uint256", "bytes32", "uint32", "bytes32", "bytes32", "bytes32"),
    "bisect": ("uint256", "bytes32", "bytes32"),
    "revealOp": ("uint256", "bytes", "bytes32", "bytes32", "bytes32"),
    "revealRow": ("uint256", "bytes"),
    "choose": ("uint256", "bool"),
    "step": ("uint256", "uint32", "bytes"),
}
"""The game's move functions and their argument types (the dispute id first)."""


@dataclass(frozen=True, slots=True)
class DisputeState:
    """The fields of ``getDispute`` a strategy reads."""

    phase: Phase
    height: int = 0
    index: int = 0
    left: bytes = bytes(32)
    right: bytes = bytes(32)
    op: int = 0
    row: int = 0


@dataclass(frozen=True, slots=True)
class Move:
    """A move: the function's name and its arguments after the dispute id."""

    fn: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Seen:
    """What a challenger has seen of the provider: its op-tree nodes by ``(height, index)`` (from
    each split), its op body (``revealOp``) and its row reveal (``revealRow``'s proof)."""

    op_nodes: Mapping[tuple[int, int], bytes] = field(default_factory=dict)
    body: bytes | None = None
    reveal_row: bytes | None = None


def observe(seen: Seen, state: DisputeState) -> Seen:
    """Record the provider's split in ``state`` (an op-tree split: phase OpChoose, children of
    ``(height, index)``); other states change nothing."""
    if state.phase != Phase.OP_CHOOSE:
        return seen
    nodes = dict(seen.op_nodes)
    nodes[(state.height - 1, 2 * state.index)] = state.left
    nodes[(state.height - 1, 2 * state.index + 1)] = state.right
    return replace(seen, op_nodes=nodes)


def provider_move(side: Side, state: DisputeState) -> Move:
    """The honest provider's move: open its own commitment at the dispute's position."""
    p = state.phase
    if p == Phase.AWAIT_ROOT:
        r = root_move(side)
        return Move("revealRoot", (r.program_digest, r.n_ops, r.op_tree_root, r.left, r.right))
    if p == Phase.OP_BISECT:
        return Move("bisect", children(side.run.result, state.height, state.index))
    if p == Phase.AWAIT_OP:
        o = op_move(side, state.index)
        return Move("revealOp", (o.body, o.tree_root, o.left, o.right))
    if p == Phase.ROW_BISECT:
        return Move("bisect", children(side.output(state.op), state.height, state.index))
    if p == Phase.AWAIT_ROW:
        return Move("revealRow", (reveal_row_proof(side, state.op, state.index),))
    raise GameProofError(f"phase {p.name} is not the provider's turn")


def challenger_move(side: Side, state: DisputeState, seen: Seen) -> Move:
    """The honest challenger's move: dispute the first child that differs from its own; at the
    end, the first column that differs, with the one-step evidence."""
    p = state.phase
    if p in (Phase.OP_CHOOSE, Phase.ROW_CHOOSE):
        if p == Phase.ROW_CHOOSE and seen.body is not None and seen.body[:34] != side.spec.prefixes[state.op]:
            # The provider's op header is not the program's (another shape: its row tree is not one's
            # own). Go left: never into its padding, and at the row the skeleton check of revealRow
            # makes the provider lose.
            return Move("choose", (False,))
        tree = side.run.result if p == Phase.OP_CHOOSE else side.output(state.op)
        if state.height > len(tree.levels) - 1:  # cannot happen once the header is the program's
            return Move("choose", (False,))
        own = children(tree, state.height, state.index)
        return Move("choose", (choose_right(own, state.left, state.right),))
    if p == Phase.AWAIT_STEP:
        if seen.body is None or seen.reveal_row is None:
            raise GameProofError("the step needs the provider's revealOp body and revealRow proof")
        s = step_proof(side, state.op, state.row, seen.reveal_row, seen.op_nodes, seen.body)
        return Move("step", (s.col, s.proof))
    raise GameProofError(f"phase {p.name} is not the challenger's turn")


def calldata(move: Move, dispute_id: int) -> bytes:
    """The transaction data of ``move`` in dispute ``dispute_id`` (selector ‖ abi-encoded args)."""
    types = SIGNATURES.get(move.fn)
    if types is None:
        raise GameProofError(f"{move.fn} is not a move of the game")
    selector = bytes(keccak(f"{move.fn}({','.join(types)})".encode()))[:4]
    return selector + abi_encode(list(types), [dispute_id, *move.args])
