"""The two sides of a dispute over a real chain: the driver's chain view and the strategies.

* :class:`ChainView` — :class:`gcx.game.driver.GameChain` over a
  :class:`gcx.chain.game.GameClient` (phase, whose turn, the chain's clock, sends with their
  gas, the player's credit);
* :class:`ProviderStrategy` — the honest provider: opens its own commitments
  (:func:`gcx.game.play.provider_move`);
* :class:`ChallengerStrategy` — the honest challenger: disputes the first child that differs
  from its own, and at the end builds the one-step evidence from the provider's reveals, which it
  reads back from the dispute's calldata (:func:`moves_of`, :func:`gcx.game.history.replay`), so
  it needs no memory of its own across a restart.

Both strategies hold the side's own data (:class:`gcx.game.proofs.Side`: the program, its spec,
the run's commitments and tensors).
"""

from __future__ import annotations

from typing import Any

from gcx.chain.game import GAME, GameClient

from .history import replay
from .play import SIGNATURES, DisputeState, Move, Phase, challenger_move, provider_move
from .proofs import Side

__all__ = ["ChainView", "ChallengerStrategy", "ProviderStrategy", "moves_of", "state_of"]


def state_of(client: GameClient, dispute_id: int) -> DisputeState:
    """The fields of ``getDispute`` the strategies read."""
    d = client.get_dispute(dispute_id)
    return DisputeState(Phase(int(d.phase)), d.height, d.index, d.left, d.right, d.op, d.row)


def moves_of(client: GameClient, dispute_id: int) -> list[tuple[str, tuple[Any, ...]]]:
    """Every mined move of dispute ``dispute_id``, oldest first: ``(function, arguments after the
    dispute id)``, decoded from the calldata of the transactions that emitted its ``Moved``
    events (searched from the deployment's block)."""
    chain = client.chain
    contract = chain.contract(GAME)
    first = int(chain.deployment.block)
    logs = chain._read(
        lambda: list(contract.events.Moved.get_logs(from_block=first, argument_filters={"id": dispute_id}))
    )
    out: list[tuple[str, tuple[Any, ...]]] = []
    seen: set[bytes] = set()
    for log in sorted(logs, key=lambda g: (int(g["blockNumber"]), int(g["logIndex"]))):
        tx_hash = bytes(log["transactionHash"])
        if tx_hash in seen:
            continue
        seen.add(tx_hash)
        tx = chain._read(lambda h=tx_hash: chain.w3.eth.get_transaction(h))  # type: ignore[misc]
        fn, args = contract.decode_function_input(tx["input"])
        name = fn.fn_name
        if name not in SIGNATURES:
            continue
        values = list(args.values())
        out.append((name, tuple(bytes(v) if isinstance(v, bytes | bytearray) else v for v in values[1:])))
    return out


class ChainView:
    """:class:`gcx.game.driver.GameChain` over ``client`` (whose chain holds the player's key)."""

    def __init__(self, client: GameClient) -> None:
        if client.chain.address is None:
            raise ValueError("a player's game client needs a key")
        self.client = client
        self.address: str = client.chain.address

    def phase(self, dispute_id: int) -> str:
        """The dispute's phase, by ``VerificationGame.Phase`` name."""
        return Phase(int(self.client.get_dispute(dispute_id).phase)).solidity_name

    def turn_of(self, dispute_id: int) -> tuple[str, int]:
        """(``provider``/``challenger``, deadline) of the side to move."""
        turn = self.client.turn_of(dispute_id)
        return ("provider" if int(turn.side) == 0 else "challenger"), int(turn.deadline)

    def now(self) -> int:
        """The latest block's timestamp."""
        chain = self.client.chain
        return int(chain._read(lambda: chain.w3.eth.get_block("latest"))["timestamp"])

    def send(self, fn: str, dispute_id: int, *args: Any) -> tuple[str, int]:
        """``VerificationGame.fn(dispute_id, *args)``; (tx hash, gas used)."""
        sent = self.client._send(GAME, fn, dispute_id, *args)
        return sent.tx_hash, sent.gas_used

    def credit(self) -> int:
        """This player's withdrawable credit (wei)."""
        return self.client.credit(self.address)

    def withdraw(self) -> tuple[str, int]:
        """Withdraw this player's credit."""
        sent = self.client.withdraw()
        return sent.tx_hash, sent.gas_used


class ProviderStrategy:
    """The honest provider's moves on its own ``side``."""

    def __init__(self, client: GameClient, side: Side) -> None:
        self.client, self.side = client, side

    def next_move(self, dispute_id: int) -> Move:
        """Open the own commitment at the dispute's position."""
        return provider_move(self.side, state_of(self.client, dispute_id))


class ChallengerStrategy:
    """The honest challenger's moves with its own ``side`` (its re-execution)."""

    def __init__(self, client: GameClient, side: Side) -> None:
        self.client, self.side = client, side

    def next_move(self, dispute_id: int) -> Move:
        """Dispute the first differing child; at the end, the first differing column."""
        state = state_of(self.client, dispute_id)
        seen = replay(moves_of(self.client, dispute_id)) if state.phase == Phase.AWAIT_STEP else None
        return challenger_move(self.side, state, seen if seen is not None else replay(()))
