"""The chain client against a real anvil with the real contracts: deployment, staking, reverts
named by their custom errors, events, and every misconfiguration as a clear ChainError."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from gcx.chain import (
    PROVIDER,
    AnvilNode,
    Chain,
    ChainError,
    Deployment,
    DeployParams,
    RpcUnreachable,
    TransactionFailed,
    active_providers,
    deploy_all,
    ensure_provider_stake,
    faucet,
    read_deployment,
    run_anvil,
    write_deployment,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with run_anvil() as node:
        yield node


@pytest.fixture(scope="module")
def deployer() -> bytes:
    return bytes(Account.create().key)


@pytest.fixture(scope="module")
def deployment(anvil: AnvilNode, deployer: bytes) -> Deployment:
    return deploy_all(anvil.rpc_url, deployer)


@pytest.fixture(autouse=True)
def isolated(anvil: AnvilNode, deployment: Deployment) -> Iterator[None]:
    """Each test runs on the deployed chain and leaves no trace: evm_snapshot before, evm_revert after."""
    rpc = Chain(deployment).w3.provider
    snapshot = rpc.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield
    assert rpc.make_request("evm_revert", [snapshot])["result"] is True  # type: ignore[arg-type]


def funded(anvil: AnvilNode, deployment: Deployment, deployer: bytes) -> Chain:
    account = Account.create()
    faucet(anvil.rpc_url, deployment, deployer, account.address)
    return Chain(deployment, bytes(account.key))


def test_deployment_file_round_trip(deployment: Deployment, tmp_path: Path) -> None:
    path = write_deployment(deployment, tmp_path / "d.json")
    assert read_deployment(path) == deployment
    assert set(deployment.contracts) >= {
        "MockUSD",
        "GCXToken",
        "StakingRegistry",
        "InsuranceFund",
        "CollateralVault",
    }
    for c in deployment.contracts.values():
        assert c.address.startswith("0x") and c.code_hash.startswith("0x") and c.artifact.startswith("0x")


def test_a_provider_stakes_the_minimum_once_and_is_active(
    anvil: AnvilNode, deployment: Deployment, deployer: bytes
) -> None:
    chain = funded(anvil, deployment, deployer)
    minimum = chain.call("StakingRegistry", "minStake", PROVIDER)
    assert chain.address is not None
    assert active_providers(chain, [chain.address]) == set()
    assert ensure_provider_stake(chain) == minimum
    assert ensure_provider_stake(chain) == minimum  # idempotent: nothing more is bonded
    assert active_providers(chain, [chain.address]) == {chain.address.lower()}
    staked = chain.events("StakingRegistry", "Staked")
    assert any(e["args"]["amount"] == minimum and e["args"]["account"] == chain.address for e in staked)
    chain.transact("StakingRegistry", "requestUnbond", PROVIDER, minimum)
    assert active_providers(chain, [chain.address]) == set()  # unbonding stake does not count


def test_a_revert_is_named_by_its_custom_error(
    anvil: AnvilNode, deployment: Deployment, deployer: bytes
) -> None:
    chain = funded(anvil, deployment, deployer)
    with pytest.raises(TransactionFailed) as err:
        chain.transact("StakingRegistry", "stake", PROVIDER, 0)
    assert err.value.reason == "ZeroAmount"
    outsider = Account.create()
    with pytest.raises(TransactionFailed, match="AccessControlUnauthorizedAccount"):
        chain.transact("GCXToken", "mint", outsider.address, 1)


def test_too_little_gcx_to_stake_says_so(anvil: AnvilNode, deployment: Deployment) -> None:
    from gcx.chain.deploy import set_eth_balance

    poor = Account.create()
    chain = Chain(deployment, bytes(poor.key))
    set_eth_balance(chain.w3, poor.address, 10**18)
    with pytest.raises(ChainError, match="fund it with GCX"):
        ensure_provider_stake(chain)


def test_no_eth_for_gas_is_a_clear_error(anvil: AnvilNode, deployment: Deployment) -> None:
    chain = Chain(deployment, bytes(Account.create().key))
    with pytest.raises(TransactionFailed) as err:
        chain.transact("GCXToken", "approve", chain.address, 1)
    assert err.value.reason == "insufficient_funds"


def test_wrong_chain_id(deployment: Deployment) -> None:
    with pytest.raises(ChainError, match="is chain 31337, but the deployment file is for chain 5"):
        Chain(dataclasses.replace(deployment, chain_id=5))


def test_stale_deployment_after_a_chain_reset(deployment: Deployment) -> None:
    with run_anvil() as fresh, pytest.raises(ChainError, match="stale deployment file"):
        Chain(deployment, rpc_url=fresh.rpc_url)


def test_rpc_down_missing_and_corrupt_deployment_files(deployment: Deployment, tmp_path: Path) -> None:
    with pytest.raises(RpcUnreachable, match=r"unreachable: \[Errno 111\] Connection refused$"):
        Chain(deployment, rpc_url="http://127.0.0.1:1")  # the one error worth waiting out
    with pytest.raises(ChainError, match="no deployment file"):
        read_deployment(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "chain_id": "x"}))
    with pytest.raises(ChainError, match="corrupt"):
        read_deployment(bad)


def test_a_job_payment_is_escrowed_finalized_and_its_fee_reaches_the_insurance_fund(
    anvil: AnvilNode, deployment: Deployment, deployer: bytes
) -> None:
    buyer, provider = funded(anvil, deployment, deployer), funded(anvil, deployment, deployer)
    assert buyer.address is not None and provider.address is not None
    escrow, fund = deployment.address("JobEscrow"), deployment.address("InsuranceFund")
    ensure_provider_stake(provider)  # only providers active in the StakingRegistry may take jobs
    amount, window = 1_000 * 10**6, 600
    job = bytes.fromhex(buyer.address[2:]) + (1).to_bytes(12, "big")  # ids start with the buyer's address
    now = buyer.w3.eth.get_block("latest")["timestamp"]
    buyer.transact("MockUSD", "approve", escrow, amount)
    buyer.transact("JobEscrow", "open", job, provider.address, amount, window, now + 3600)
    provider.transact("JobEscrow", "submitResult", job, b"\x02" * 32)
    with pytest.raises(TransactionFailed):  # the challenge window is still open
        provider.transact("JobEscrow", "finalize", job)
    buyer.w3.provider.make_request("evm_increaseTime", [window + 1])  # type: ignore[arg-type]
    buyer.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    before = provider.call("MockUSD", "balanceOf", provider.address)
    provider.transact("JobEscrow", "finalize", job)
    fee = amount * 100 // 10_000
    assert provider.call("MockUSD", "balanceOf", provider.address) - before == amount - fee
    fund_before = provider.call("MockUSD", "balanceOf", fund)
    provider.transact("JobEscrow", "distributeFees")
    burned = fee * 2_000 // 10_000
    assert provider.call("MockUSD", "balanceOf", fund) - fund_before == fee - burned


def test_an_unstaked_provider_cannot_take_a_job(
    anvil: AnvilNode, deployment: Deployment, deployer: bytes
) -> None:
    buyer, provider = funded(anvil, deployment, deployer), funded(anvil, deployment, deployer)
    assert provider.address is not None
    now = buyer.w3.eth.get_block("latest")["timestamp"]
    buyer.transact("MockUSD", "approve", deployment.address("JobEscrow"), 10**6)
    assert buyer.address is not None
    job = bytes.fromhex(buyer.address[2:]) + (3).to_bytes(12, "big")
    with pytest.raises(TransactionFailed, match="JobIdNotBuyers"):  # an id that is not the buyer's
        buyer.transact("JobEscrow", "open", b"\x03" * 32, provider.address, 10**6, 600, now + 3600)
    with pytest.raises(TransactionFailed, match="ProviderNotActive"):
        buyer.transact("JobEscrow", "open", job, provider.address, 10**6, 600, now + 3600)


def test_event_watcher_sees_each_new_event_once(
    anvil: AnvilNode, deployment: Deployment, deployer: bytes
) -> None:
    from gcx.chain import EventWatcher

    chain = funded(anvil, deployment, deployer)
    watcher = EventWatcher(chain, "StakingRegistry", "Staked", from_block=chain.w3.eth.block_number + 1)
    assert watcher.poll() == []
    ensure_provider_stake(chain)
    (event,) = watcher.poll()
    assert event["args"]["account"] == chain.address
    assert watcher.poll() == []


def test_run_anvil_reports_anvils_own_pid_and_leaves_no_process_behind() -> None:
    """npm's ``.bin/anvil`` is a node script running anvil as its child: killing the pid it
    reported would leave anvil holding the port (and saving its state)."""
    import os
    import signal
    import socket

    with run_anvil() as node:
        exe = Path(os.readlink(f"/proc/{node.process.pid}/exe")).name
        assert exe == "anvil"
        port = int(node.rpc_url.rsplit(":", 1)[1])
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait()
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))  # free: nothing of that anvil is left


def test_the_deployment_locks_provider_stake_per_job_and_floors_the_unbonding_delay(
    anvil: AnvilNode, deployment: Deployment, deployer: bytes
) -> None:
    """Issue 13, attack 2, as deployed: JobEscrow holds LOCKER_ROLE (and no SLASHER_ROLE), each job
    locks max(10 GCX, 1 GCX per USD) of its provider's stake, so the provider minimum (1,000 GCX)
    backs 1,000 USD of open jobs and none of it can be unbonded meanwhile; the unbonding delay
    cannot go below the longest challenge window plus the longest dispute."""
    from eth_hash.auto import keccak

    escrow = deployment.address("JobEscrow")
    admin = Chain(deployment, deployer)
    assert admin.call("StakingRegistry", "hasRole", keccak(b"LOCKER_ROLE"), escrow)
    assert not admin.call("StakingRegistry", "hasRole", keccak(b"SLASHER_ROLE"), escrow)
    assert admin.call("JobEscrow", "maxChallengeWindow") == 2 * 86_400
    assert admin.call("JobEscrow", "maxDisputeDuration") == 3 * 86_400
    assert admin.call("StakingRegistry", "minUnbondingDelay") == 5 * 86_400
    assert admin.call("JobEscrow", "lockAmountFor", 1) == 10 * 10**18
    assert admin.call("JobEscrow", "lockAmountFor", 1_000 * 10**6) == 1_000 * 10**18
    with pytest.raises(TransactionFailed, match="UnbondingDelayTooShort"):
        admin.transact("StakingRegistry", "setUnbondingDelay", 5 * 86_400 - 1)
    with pytest.raises(TransactionFailed, match="UnbondingDelayTooShort"):
        admin.transact("StakingRegistry", "setUnbondingDelay", 0)

    buyer, provider = funded(anvil, deployment, deployer), funded(anvil, deployment, deployer)
    assert buyer.address is not None and provider.address is not None
    ensure_provider_stake(provider)  # the provider minimum, 1,000 GCX
    now = buyer.w3.eth.get_block("latest")["timestamp"]
    buyer.transact("MockUSD", "approve", escrow, 2_000 * 10**6)
    first = bytes.fromhex(buyer.address[2:]) + (1).to_bytes(12, "big")
    second = bytes.fromhex(buyer.address[2:]) + (2).to_bytes(12, "big")
    buyer.transact("JobEscrow", "open", first, provider.address, 1_000 * 10**6, 600, now + 3600)
    assert buyer.call("StakingRegistry", "lockedOf", provider.address, PROVIDER) == 1_000 * 10**18
    with pytest.raises(TransactionFailed, match="InsufficientFreeStake"):
        buyer.transact("JobEscrow", "open", second, provider.address, 1, 600, now + 3600)
    with pytest.raises(TransactionFailed, match="InsufficientBondedStake"):
        provider.transact("StakingRegistry", "requestUnbond", PROVIDER, 1)
    buyer.w3.provider.make_request("evm_increaseTime", [3601])  # type: ignore[arg-type]
    buyer.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    buyer.transact("JobEscrow", "refund", first)  # the job ends: its lock is released
    assert buyer.call("StakingRegistry", "lockedOf", provider.address, PROVIDER) == 0
    provider.transact("StakingRegistry", "requestUnbond", PROVIDER, 1)


def test_the_devnet_parameters_deploy_and_a_delay_below_the_floor_is_refused(
    anvil: AnvilNode, deployer: bytes
) -> None:
    from gcx.devnet import devnet_deploy_params

    devnet = deploy_all(anvil.rpc_url, deployer, devnet_deploy_params())
    chain = Chain(devnet)
    assert chain.call("JobEscrow", "minChallengeWindow") == 5
    assert chain.call("JobEscrow", "maxChallengeWindow") == 120
    assert (
        chain.call("StakingRegistry", "minUnbondingDelay") == 120 + 400
    )  # the floor: longest window + longest dispute
    # The game's devnet clock fits the escrow's backstop after the longest window.
    game_length = chain.call("VerificationGame", "maxDisputeLength")
    assert (chain.call("VerificationGame", "moveTimeout"), chain.call("VerificationGame", "clockBudget")) == (
        15,
        120,
    )
    assert 120 + game_length <= chain.call("JobEscrow", "maxDisputeDuration") == 400
    assert chain.call("VerificationGame", "bond") == 67 * 150_000 * 10**9
    with pytest.raises(ChainError, match="shorter than max_challenge_window_s"):
        DeployParams(unbonding_delay_s=60)  # what the devnet deployed before the floor
    with pytest.raises(ChainError, match="min_challenge_window_s"):
        DeployParams(min_challenge_window_s=3 * 86_400)
    with pytest.raises(ChainError, match="outlive the escrow's dispute deadline"):
        DeployParams(max_challenge_window_s=2 * 86_400, max_dispute_s=2 * 86_400 + 3_600)
