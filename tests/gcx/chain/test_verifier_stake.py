"""A verifier bonds the verifier minimum (role VERIFIER = 2, read from the StakingRegistry) once,
against a real anvil with the real contracts, and is then active as a verifier, not a provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account

from gcx.chain import (
    PROVIDER,
    VERIFIER,
    AnvilNode,
    Chain,
    ChainError,
    Deployment,
    deploy_all,
    ensure_verifier_stake,
    faucet,
    run_anvil,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def chain_parts() -> Iterator[tuple[AnvilNode, Deployment, bytes]]:
    deployer = bytes(Account.create().key)
    with run_anvil() as node:
        yield node, deploy_all(node.rpc_url, deployer), deployer


def test_a_verifier_bonds_the_verifier_minimum_once(chain_parts: tuple[AnvilNode, Deployment, bytes]) -> None:
    node, deployment, deployer = chain_parts
    account = Account.create()
    faucet(node.rpc_url, deployment, deployer, account.address)
    chain = Chain(deployment, bytes(account.key))
    minimum = int(chain.call("StakingRegistry", "minStake", VERIFIER))
    assert minimum > 0 and minimum != int(chain.call("StakingRegistry", "minStake", PROVIDER))
    assert not chain.call("StakingRegistry", "isActive", account.address, VERIFIER)
    assert ensure_verifier_stake(chain) == minimum
    assert ensure_verifier_stake(chain) == minimum  # idempotent: nothing more is bonded
    assert chain.call("StakingRegistry", "isActive", account.address, VERIFIER)
    assert not chain.call("StakingRegistry", "isActive", account.address, PROVIDER)
    staked = [e for e in chain.events("StakingRegistry", "Staked") if e["args"]["account"] == account.address]
    assert [e["args"]["amount"] for e in staked] == [minimum]


def test_a_verifier_without_gcx_is_told_to_fund_it(chain_parts: tuple[AnvilNode, Deployment, bytes]) -> None:
    from gcx.chain.deploy import set_eth_balance

    _, deployment, _ = chain_parts
    poor = Account.create()
    chain = Chain(deployment, bytes(poor.key))
    set_eth_balance(chain.w3, poor.address, 10**18)
    with pytest.raises(ChainError, match=r"verifier minimum .* fund it with GCX"):
        ensure_verifier_stake(chain)
