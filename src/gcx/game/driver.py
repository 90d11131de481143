"""Play one verification-game dispute to its end, as either side (the I/O around a strategy).

Theory of operation: the chain holds the whole state of a dispute (its phase, whose turn and
until when, the nodes both sides revealed), so a player keeps no game state of its own besides its
:class:`~gcx.game.journal.DisputeJournal` (moves sent, outcome, credit withdrawn). Every
``poll_s`` the driver reads the dispute:

* ended (``ProviderWon``/``ChallengerWon``/``Cancelled``): the outcome is journaled and the
  player's credit (a returned or won bond) withdrawn; the driver returns;
* this side's turn: the strategy names the move from the chain's view and the player's own data;
  it is sent and journaled with its gas. A move refused because the state moved on meanwhile (a
  restart that finds its own earlier transaction mined, ``WrongPhase``/``NotPlayer``) is not an
  error: the next read decides;
* the other side's turn, past its deadline on chain: ``timeout`` ends the dispute in this side's
  favour (a silent or withholding opponent loses).

So a player killed at any point and started again continues from the chain: nothing is replayed
twice on chain except, at worst, one move whose transaction was in flight (it then reverts and
costs its gas only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final, Protocol

import trio

from gcx.errors import GCXError

from .journal import DisputeJournal
from .play import Move

log = logging.getLogger("gcx.game")

TERMINAL: Final = frozenset({"ProviderWon", "ChallengerWon", "Cancelled"})
STALE_MOVE_ERRORS: Final = frozenset({"WrongPhase", "NotPlayer", "NotLive", "DeadlinePassed"})
"""Reverts that mean the dispute moved on (or ended) before this move was mined."""


class Strategy(Protocol):
    """Names a side's next move from the dispute as the chain shows it."""

    def next_move(self, dispute_id: int) -> Move:
        """The move to send now (called only on this side's turn)."""
        ...


class GameChain(Protocol):
    """The few reads and writes a driver needs (implemented over ``gcx.chain.game``)."""

    def phase(self, dispute_id: int) -> str:
        """The dispute's phase name (``VerificationGame.Phase``)."""
        ...

    def turn_of(self, dispute_id: int) -> tuple[str, int]:
        """(``provider``/``challenger``, deadline unix seconds) of the side to move."""
        ...

    def now(self) -> int:
        """The latest block's timestamp."""
        ...

    def send(self, fn: str, dispute_id: int, *args: Any) -> tuple[str, int]:
        """Send ``VerificationGame.fn(dispute_id, *args)``; (tx hash, gas used). Raises a
        ``GCXError`` with ``.reason`` = the custom error's name on a revert."""
        ...

    def credit(self) -> int:
        """This player's withdrawable credit in the game (wei)."""
        ...

    def withdraw(self) -> tuple[str, int]:
        """Withdraw this player's credit; (tx hash, gas)."""
        ...


async def play(
    chain: GameChain,
    journal: DisputeJournal,
    dispute_id: int,
    side: str,
    strategy: Strategy,
    *,
    poll_s: float = 1.0,
    on_move: Callable[[str, int], None] | None = None,
    tx_lock: trio.Lock | None = None,
) -> str:
    """Play dispute ``dispute_id`` as ``side`` until it ends; its outcome (a phase name).

    ``tx_lock`` serializes this player's transactions with its others (one account, sequential
    nonces): the node passes its executor's lock, a verifier one lock for all its disputes."""
    lock = tx_lock or trio.Lock()
    row = journal.dispute(dispute_id)
    if row is None:
        raise ValueError(f"dispute {dispute_id} is not in the journal: track it first")

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    async def run_tx(fn: Callable[..., Any], *args: Any) -> Any:
        async with lock:
            return await trio.to_thread.run_sync(fn, *args)

    while True:
        try:
            phase = await run(chain.phase, dispute_id)
            if phase in TERMINAL:
                if journal.end(dispute_id, phase):
                    log.info(
                        "dispute %d on job %s ended: %s (we are the %s)", dispute_id, row.job_id, phase, side
                    )
                await _withdraw(chain, journal, dispute_id, run, run_tx)
                return str(phase)
            turn, deadline = await run(chain.turn_of, dispute_id)
            if turn == side:
                move = await run(strategy.next_move, dispute_id)
                await _send(chain, journal, dispute_id, move, run_tx, on_move)
            elif await run(chain.now) > deadline:
                log.info(
                    "dispute %d: the %s missed its deadline %d: claiming the win", dispute_id, turn, deadline
                )
                await _send(chain, journal, dispute_id, Move("timeout", ()), run_tx, on_move)
        except GCXError as exc:
            log.warning("dispute %d: %s (retrying)", dispute_id, exc)
        await trio.sleep(poll_s)


async def _send(
    chain: GameChain,
    journal: DisputeJournal,
    dispute_id: int,
    move: Move,
    run: Callable[..., Any],
    on_move: Callable[[str, int], None] | None,
) -> None:
    try:
        tx, gas = await run(chain.send, move.fn, dispute_id, *move.args)
    except GCXError as exc:
        if getattr(exc, "reason", None) in STALE_MOVE_ERRORS:
            log.info("dispute %d: %s not needed any more (%s)", dispute_id, move.fn, exc)
            return
        raise
    journal.record_move(dispute_id, move.fn, tx, gas)
    log.info("dispute %d: %s sent, %d gas (tx %s)", dispute_id, move.fn, gas, tx)
    if on_move is not None:
        on_move(move.fn, gas)


async def _withdraw(
    chain: GameChain,
    journal: DisputeJournal,
    dispute_id: int,
    run: Callable[..., Any],
    run_tx: Callable[..., Any],
) -> None:
    row = journal.dispute(dispute_id)
    if row is None or row.credit_withdrawn:
        return
    if await run(chain.credit) > 0:
        try:
            tx, gas = await run_tx(chain.withdraw)
            log.info("withdrew the game credit, %d gas (tx %s)", gas, tx)
        except GCXError as exc:
            if getattr(exc, "reason", None) != "NothingToWithdraw":  # another dispute's end took it
                raise
    for d in journal.disputes():  # one withdrawal takes the credit of every ended dispute
        if d.outcome is not None:
            journal.withdrawn(d.id)
