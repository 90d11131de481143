"""The verification-game client (gcx.chain.game) on a real anvil with the real deployment (devnet
parameters): a buyer commits a job's spec, a challenger publishes it and disputes the submitted
job, the provider never answers and loses by timeout, the challenger withdraws its bond; every
refusal arrives as the typed error named like the contract's, with its decoded arguments."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account

from gcx.chain import (
    AnvilNode,
    Chain,
    Deployment,
    deploy_all,
    ensure_provider_stake,
    faucet,
    run_anvil,
)
from gcx.chain.game import (
    AlreadyCommitted,
    DeadlineNotPassed,
    DisputeEnded,
    DisputeOpened,
    GameClient,
    JobAlreadyOpened,
    Moved,
    NotBuyer,
    NothingToWithdraw,
    NotLive,
    NotPublished,
    Phase,
    Side,
    SpecConflict,
    SpecNotReady,
    WrongBond,
    WrongPreimage,
)
from gcx.devnet import devnet_deploy_params
from gcx.jobs.spec import job_spec
from gcx.tp.examples.matmul import matmul_job

pytestmark = pytest.mark.timeout(180)
AMOUNT = 5 * 10**6
WINDOW = 60


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with run_anvil() as node:
        yield node


@pytest.fixture(scope="module")
def deployer() -> bytes:
    return bytes(Account.create().key)


@pytest.fixture(scope="module")
def deployment(anvil: AnvilNode, deployer: bytes) -> Deployment:
    return deploy_all(anvil.rpc_url, deployer, devnet_deploy_params())


@dataclass
class Players:
    buyer: GameClient
    provider: GameClient
    challenger: GameClient


def _funded(anvil: AnvilNode, deployment: Deployment, deployer: bytes) -> Chain:
    account = Account.create()
    faucet(anvil.rpc_url, deployment, deployer, account.address)
    return Chain(deployment, bytes(account.key))


@pytest.fixture
def players(anvil: AnvilNode, deployment: Deployment, deployer: bytes) -> Players:
    buyer = _funded(anvil, deployment, deployer)
    provider = _funded(anvil, deployment, deployer)
    ensure_provider_stake(provider)
    buyer.transact("MockUSD", "approve", deployment.address("JobEscrow"), 2**255)
    return Players(GameClient(buyer), GameClient(provider), GameClient(_funded(anvil, deployment, deployer)))


def _now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def _travel(chain: Chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _job_id(buyer: Chain) -> bytes:
    assert buyer.address is not None
    return bytes(buyer.call("JobEscrow", "jobIdFor", buyer.address, secrets.randbelow(2**96)))


def test_deployment_has_the_game_wired(deployment: Deployment) -> None:
    chain = Chain(deployment)
    for name in ("JobSpecs", "GcxTpOneStep", "VerificationGame"):
        assert deployment.has(name)
    game = deployment.address("VerificationGame")
    role = chain.call("JobEscrow", "CHALLENGER_GAME_ROLE")
    assert chain.call("JobEscrow", "hasRole", role, game)
    assert chain.call("JobSpecs", "escrow") == deployment.address("JobEscrow")
    assert chain.call("VerificationGame", "escrow") == deployment.address("JobEscrow")
    expected = "GcxTpGameStep" if deployment.has("GcxTpGameStep") else "GcxTpOneStep"
    assert chain.call("VerificationGame", "oneStep") == deployment.address(expected)
    assert GameClient(chain).clock() == (15, 120)


def test_spec_commit_is_buyer_only_once_and_before_open(players: Players) -> None:
    buyer, challenger = players.buyer, players.challenger
    spec = job_spec(matmul_job(8).program)
    job = _job_id(buyer.chain)
    with pytest.raises(NotBuyer) as refused:
        challenger.commit_spec(job, spec.hash)
    assert refused.value.fields == {"jobId": job, "caller": challenger.chain.address}
    assert refused.value.error == "NotBuyer" and "NotBuyer(" in str(refused.value)
    with pytest.raises(NotPublished):
        buyer.spec_for(job)
    sent = buyer.ensure_spec_committed(job, spec.hash)
    assert sent is not None and 21_000 < sent.gas_used < 100_000
    assert buyer.spec_of(job) == spec.hash
    # Resuming after a crash between commit and open: the same spec again sends nothing...
    assert buyer.ensure_spec_committed(job, spec.hash) is None
    # ...another one is a conflict, and the contract refuses a second commit.
    with pytest.raises(SpecConflict):
        buyer.ensure_spec_committed(job, b"\x01" * 32)
    with pytest.raises(AlreadyCommitted):
        buyer.commit_spec(job, b"\x01" * 32)
    # Wrong preimage refused, the right one published by anyone, idempotently.
    wrong = job_spec(matmul_job(16).program)
    with pytest.raises(WrongPreimage) as bad:
        challenger.publish_spec(job, wrong)
    assert bad.value.fields["committed"] == spec.hash and bad.value.fields["got"] == wrong.hash
    published = challenger.publish_spec(job, spec)
    assert published.gas_used > 21_000 and challenger.is_published(job)
    assert challenger.spec_for(job) == (spec.program_digest, spec.n_ops, spec.skeleton_root, spec.input_roots)
    assert challenger.publish_spec(job, spec).gas_used < published.gas_used
    # Once the escrow knows a job, nobody can commit for it.
    other = _job_id(buyer.chain)
    provider = players.provider.chain.address
    buyer.chain.transact("JobEscrow", "open", other, provider, AMOUNT, WINDOW, _now(buyer.chain) + 600)
    with pytest.raises(JobAlreadyOpened) as late:
        buyer.commit_spec(other, spec.hash)
    assert late.value.fields["state"] == 1


def test_a_silent_provider_loses_by_timeout_and_the_challenger_withdraws(players: Players) -> None:
    buyer, provider, challenger = players.buyer, players.provider, players.challenger
    spec = job_spec(matmul_job(8).program)
    job = _job_id(buyer.chain)
    buyer.ensure_spec_committed(job, spec.hash)
    buyer.chain.transact(
        "JobEscrow", "open", job, provider.chain.address, AMOUNT, WINDOW, _now(buyer.chain) + 600
    )
    provider.chain.transact("JobEscrow", "submitResult", job, secrets.token_bytes(32))
    start = int(buyer.chain.w3.eth.block_number)

    bond = challenger.bond()
    assert bond == 67 * 150_000 * 10**9
    if challenger.chain.deployment.has("GcxTpGameStep"):
        with pytest.raises(SpecNotReady):
            challenger.open(job)
    challenger.publish_spec(job, spec)
    with pytest.raises(WrongBond) as wrong:
        challenger.open(job, bond - 1)
    assert wrong.value.fields == {"sent": bond - 1, "needed": bond}

    opened = challenger.open(job)
    assert opened.bond == bond and opened.sent.gas_used > 21_000
    d = challenger.get_dispute(opened.dispute_id)
    assert d.phase is Phase.AWAIT_ROOT and d.job_id == job and d.bond == bond
    assert (d.challenger, d.provider) == (challenger.chain.address, provider.chain.address)
    assert d.move_timeout == 15 and d.clock_provider == d.clock_challenger == 120
    assert challenger.dispute_of(job, str(challenger.chain.address)) == opened.dispute_id
    assert challenger.job_game(job).live == 1
    turn = challenger.turn_of(opened.dispute_id)
    assert turn.side is Side.PROVIDER and turn.deadline == d.turn_start + 15

    with pytest.raises(DeadlineNotPassed) as early:
        challenger.timeout(opened.dispute_id)
    assert early.value.fields == {"deadline": turn.deadline}
    _travel(challenger.chain, 16)
    ended = challenger.timeout(opened.dispute_id)
    assert ended.gas_used > 21_000
    assert challenger.get_dispute(opened.dispute_id).phase is Phase.CHALLENGER_WON
    assert buyer.chain.call("JobEscrow", "stateOf", job) == 5  # Refunded, the provider slashed
    with pytest.raises(NotLive):
        challenger.turn_of(opened.dispute_id)

    events = challenger.events(start)
    assert [type(e) for e in events] == [DisputeOpened, DisputeEnded]
    assert isinstance(events[1], DisputeEnded) and events[1].outcome is Phase.CHALLENGER_WON
    assert not any(isinstance(e, Moved) for e in events)
    assert challenger.events(start, start) == []

    assert challenger.credit(str(challenger.chain.address)) == bond
    before = challenger.chain.w3.eth.get_balance(challenger.chain.address)  # type: ignore[arg-type]
    paid = challenger.withdraw()
    after = challenger.chain.w3.eth.get_balance(challenger.chain.address)  # type: ignore[arg-type]
    assert paid.gas_used > 21_000 and after > before
    with pytest.raises(NothingToWithdraw):
        challenger.withdraw()
