"""Whole disputes on a real anvil with the real contracts (prover, adapter, JobSpecs, game, escrow,
registry), both sides played by their real players: :func:`gcx.game.driver.play` over
:class:`gcx.game.sides.ChainView` with the honest strategies, each side its own key and account.

* a cheating provider (one wrong element) against an honest challenger: the challenger wins, the
  buyer is refunded, the provider's lock slashed, the bond returned and withdrawn;
* an honest provider against a challenger whose own run is wrong: the provider wins, takes the
  bond net of the burn, the job is paid after its window (``settle``);
* the challenger killed mid-dispute and started again with nothing but the journal file: it
  rebuilds what it saw from the chain and still wins.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import game_vectors_gen as gen  # the vectors' generator: real runs, wrong ones
import pytest
import trio
from eth_account import Account

from gcx.chain import AnvilNode, Chain, Deployment, deploy_all, ensure_provider_stake, faucet, run_anvil
from gcx.chain.game import GameClient, Phase
from gcx.devnet import devnet_deploy_params
from gcx.game.driver import play
from gcx.game.journal import DisputeJournal
from gcx.game.proofs import Side
from gcx.game.sides import ChainView, ChallengerStrategy, ProviderStrategy

pytestmark = pytest.mark.timeout(300)
AMOUNT = 5 * 10**6
WINDOW = 60
REFUNDED, FINALIZED = 5, 4


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with run_anvil() as node:
        yield node


@pytest.fixture(scope="module")
def net(anvil: AnvilNode) -> tuple[AnvilNode, Deployment, bytes]:
    deployer = bytes(Account.create().key)
    return anvil, deploy_all(anvil.rpc_url, deployer, devnet_deploy_params()), deployer


def _funded(net: tuple[AnvilNode, Deployment, bytes]) -> Chain:
    anvil, deployment, deployer = net
    account = Account.create()
    faucet(anvil.rpc_url, deployment, deployer, account.address)
    chain = Chain(deployment, bytes(account.key))
    chain.key = bytes(account.key)  # type: ignore[attr-defined]  # for a restarted player's new client
    return chain


def _now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _travel(chain: Chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _job(net: tuple[AnvilNode, Deployment, bytes], provider_side: Side) -> tuple[bytes, Chain, Chain]:
    """A job of ``provider_side``'s program, opened by a fresh buyer (spec committed first) on a
    fresh staked provider, which submits ``provider_side``'s result root."""
    buyer, provider = _funded(net), _funded(net)
    ensure_provider_stake(provider)
    assert buyer.address is not None and provider.address is not None
    buyer.transact("MockUSD", "approve", buyer.deployment.address("JobEscrow"), 2**255)
    job = bytes(buyer.call("JobEscrow", "jobIdFor", buyer.address, secrets.randbelow(2**96)))
    GameClient(buyer).commit_spec(job, provider_side.spec.hash)
    buyer.transact("JobEscrow", "open", job, provider.address, AMOUNT, WINDOW, _now(buyer) + 600)
    provider.transact("JobEscrow", "submitResult", job, provider_side.run.root)
    return job, buyer, provider


async def _play_both(
    tmp: Path, dispute_id: int, job: bytes, provider: Chain, provider_side: Side, challenger: Chain, own: Side
) -> tuple[str, str]:
    out: dict[str, str] = {}

    async def side(name: str, chain: Chain, data: Side, strategy_cls: Any) -> None:
        game = GameClient(chain)
        with DisputeJournal(tmp / f"{name}.sqlite") as journal:
            journal.track(dispute_id, "0x" + job.hex(), name)
            out[name] = await play(
                ChainView(game), journal, dispute_id, name, strategy_cls(game, data), poll_s=0.05
            )

    with trio.fail_after(120):
        async with trio.open_nursery() as n:
            n.start_soon(side, "provider", provider, provider_side, ProviderStrategy)
            n.start_soon(side, "challenger", challenger, own, ChallengerStrategy)
    return out["provider"], out["challenger"]


def _slashes(chain: Chain, account: str, since: int) -> list[Any]:
    return [e for e in chain.events("StakingRegistry", "Slashed", since) if e["args"]["account"] == account]


@pytest.mark.parametrize(
    ("k", "row", "col"), [(0, 0, 0), (3, 3, 5), (6, 0, 0)], ids=["first", "middle", "last"]
)
def test_a_cheating_provider_loses_is_slashed_and_the_buyer_refunded(
    net: tuple[AnvilNode, Deployment, bytes], tmp_path: Path, k: int, row: int, col: int
) -> None:
    honest = gen.honest(*gen.mlp())
    cheat = gen.wrong_element(honest, k, row, col)
    job, buyer, provider = _job(net, cheat)
    challenger = _funded(net)
    start = int(buyer.w3.eth.block_number)
    game = GameClient(challenger)
    game.publish_spec(job, honest.spec)
    opened = game.open(job)
    outcomes = trio.run(_play_both, tmp_path, opened.dispute_id, job, provider, cheat, challenger, honest)
    assert outcomes == ("ChallengerWon", "ChallengerWon")
    assert buyer.call("JobEscrow", "stateOf", job) == REFUNDED
    assert provider.address is not None and len(_slashes(buyer, provider.address, start)) == 1
    d = game.get_dispute(opened.dispute_id)
    assert d.phase is Phase.CHALLENGER_WON and d.op == k and d.row == row
    assert d.moves <= 2 * (3 + 2 + 2)  # ⌈log₂ 7⌉ + ⌈log₂ 4⌉ + 2 rounds of two moves
    assert game.credit(str(challenger.address)) == 0  # the bond came back and was withdrawn
    assert int(challenger.w3.eth.get_balance(game.chain.contract("VerificationGame").address)) == 0


def test_an_honest_provider_wins_against_a_wrong_challenger_and_is_paid(
    net: tuple[AnvilNode, Deployment, bytes], tmp_path: Path
) -> None:
    honest = gen.honest(*gen.mlp())
    wrong = gen.wrong_element(honest, 2, 1, 1)
    job, buyer, provider = _job(net, honest)
    challenger = _funded(net)
    game = GameClient(challenger)
    game.publish_spec(job, honest.spec)
    opened = game.open(job)
    before = int(provider.w3.eth.get_balance(provider.address))  # type: ignore[arg-type]
    outcomes = trio.run(_play_both, tmp_path, opened.dispute_id, job, provider, honest, challenger, wrong)
    assert outcomes == ("ProviderWon", "ProviderWon")
    burn = (opened.bond * 1000 + 9999) // 10_000
    assert int(provider.w3.eth.get_balance(provider.address)) > before + opened.bond - burn - 10**16  # type: ignore[arg-type]
    assert buyer.call("JobEscrow", "stateOf", job) == 3  # still Challenged: the window is open
    _travel(buyer, WINDOW + 1)
    GameClient(provider).settle(job)
    assert buyer.call("JobEscrow", "stateOf", job) == FINALIZED


def test_a_challenger_restarted_mid_dispute_rebuilds_what_it_saw_and_wins(
    net: tuple[AnvilNode, Deployment, bytes], tmp_path: Path
) -> None:
    honest = gen.honest(*gen.chain(37))
    cheat = gen.wrong_element(honest, 29, 2, 3)
    job, buyer, provider = _job(net, cheat)
    challenger = _funded(net)
    game = GameClient(challenger)
    game.publish_spec(job, honest.spec)
    dispute_id = game.open(job).dispute_id
    key = "0x" + job.hex()

    async def run() -> str:
        with trio.fail_after(150):
            return await _run()

    async def _run() -> str:
        async def defend() -> None:
            pgame = GameClient(provider)
            with DisputeJournal(tmp_path / "provider.sqlite") as j:
                j.track(dispute_id, key, "provider")
                await play(
                    ChainView(pgame), j, dispute_id, "provider", ProviderStrategy(pgame, cheat), poll_s=0.05
                )

        async with trio.open_nursery() as n:
            n.start_soon(defend)
            with DisputeJournal(tmp_path / "challenger.sqlite") as j:  # the first life: killed after 4 moves
                j.track(dispute_id, key, "challenger")
                with trio.move_on_after(60):
                    async with trio.open_nursery() as inner:
                        inner.start_soon(
                            partial(
                                play,
                                ChainView(game),
                                j,
                                dispute_id,
                                "challenger",
                                ChallengerStrategy(game, honest),
                                poll_s=0.05,
                            )
                        )
                        while len(j.moves(dispute_id)) < 4:
                            await trio.sleep(0.05)
                        inner.cancel_scope.cancel()
            # The second life: a new client, strategy and journal object; only the file is kept.
            fresh = GameClient(Chain(challenger.deployment, challenger.key))  # type: ignore[attr-defined]
            with DisputeJournal(tmp_path / "challenger.sqlite") as j:
                assert len(j.moves(dispute_id)) >= 4 and j.dispute(dispute_id) is not None
                outcome = await play(
                    ChainView(fresh),
                    j,
                    dispute_id,
                    "challenger",
                    ChallengerStrategy(fresh, honest),
                    poll_s=0.05,
                )
            return outcome

    assert trio.run(run) == "ChallengerWon"
    assert buyer.call("JobEscrow", "stateOf", job) == REFUNDED
    assert game.get_dispute(dispute_id).op == 29
