"""Fixtures of the SDK tests: one real anvil chain with the real contracts and two staked
providers, shared by the job tests (each test runs inside an evm snapshot, reverted after)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from buyer_fakes import JobsChain, funded_key
from eth_account import Account

from gcx.chain import Chain, deploy_all, ensure_provider_stake, run_anvil
from gcx.p2p import configure_libp2p_logging


@pytest.fixture(scope="session")
def jobs_chain_session() -> Iterator[JobsChain]:
    configure_libp2p_logging(logging.WARNING)
    with run_anvil() as node:
        deployer = bytes(Account.create().key)
        deployment = deploy_all(node.rpc_url, deployer)
        providers = []
        for _ in range(2):
            raw = funded_key(node.rpc_url, deployment, deployer)
            ensure_provider_stake(Chain(deployment, raw))
            providers.append(raw)
        unstaked = funded_key(node.rpc_url, deployment, deployer)
        yield JobsChain(node, deployment, deployer, tuple(providers), unstaked)


@pytest.fixture
def jobs_chain(jobs_chain_session: JobsChain) -> Iterator[JobsChain]:
    """The shared chain, reverted to its state before the test afterwards (a revert also turns
    anvil's clock back, so the chain is first brought to the wall clock: deadlines in the tests
    are wall-clock times, as the coordinator's are)."""
    rpc = Chain(jobs_chain_session.deployment).w3.provider
    rpc.make_request("evm_setNextBlockTimestamp", [int(time.time()) + 1])  # type: ignore[arg-type]
    rpc.make_request("evm_mine", [])  # type: ignore[arg-type]
    snapshot = rpc.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield jobs_chain_session
    assert rpc.make_request("evm_revert", [snapshot])["result"] is True  # type: ignore[arg-type]
