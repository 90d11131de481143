"""Fixtures of the node's job tests: a real anvil chain with the contracts deployed for short
challenge windows, and libp2p's logs routed into logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from eth_account import Account
from node_jobs_helpers import ChainEnv

from gcx.chain import DeployParams, deploy_all, run_anvil
from gcx.p2p import configure_libp2p_logging


@pytest.fixture(autouse=True, scope="session")
def _libp2p_logs_into_logging() -> None:
    configure_libp2p_logging(logging.WARNING)


@pytest.fixture(scope="module")
def env() -> Iterator[ChainEnv]:
    with run_anvil() as node:
        deployer = bytes(Account.create().key)
        deployment = deploy_all(node.rpc_url, deployer, DeployParams(min_challenge_window_s=1))
        yield ChainEnv(node, deployment, deployer)
