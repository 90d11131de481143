"""The chain client (DESIGN §7): a local anvil, deployment from Foundry artifacts, the deployment
file, typed calls and transactions, staking.

* :func:`run_anvil` — the embedded local chain on a free loopback port;
* :func:`deploy_all`, :func:`faucet` — deploy every contract, fund devnet participants;
* :class:`Deployment`, :func:`read_deployment`, :func:`write_deployment` — the deployment file;
* :class:`Chain` — calls, transactions (reverts named by their custom error), events;
  :class:`EventWatcher` follows an event block by block;
* :func:`ensure_provider_stake`, :func:`ensure_verifier_stake`, :func:`active_providers` — staking as the programs use it.

web3.py is blocking: from trio, call through ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

from .anvil import AnvilNode, anvil_binary, run_anvil
from .client import Chain, EventWatcher
from .deploy import (
    DEVNET_GAME,
    GUARANTOR,
    PROVIDER,
    VERIFIER,
    DeployParams,
    GameParams,
    deploy_all,
    faucet,
)
from .deployment import Deployment, default_deployment_path, read_deployment, write_deployment
from .errors import ChainError, RpcUnreachable, TransactionFailed
from .staking import active_providers, connect, ensure_provider_stake, ensure_verifier_stake

__all__ = [
    "DEVNET_GAME",
    "GUARANTOR",
    "PROVIDER",
    "VERIFIER",
    "AnvilNode",
    "Chain",
    "ChainError",
    "DeployParams",
    "Deployment",
    "EventWatcher",
    "GameParams",
    "RpcUnreachable",
    "TransactionFailed",
    "active_providers",
    "anvil_binary",
    "connect",
    "default_deployment_path",
    "deploy_all",
    "ensure_provider_stake",
    "ensure_verifier_stake",
    "faucet",
    "read_deployment",
    "run_anvil",
    "write_deployment",
]
