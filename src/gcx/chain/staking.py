"""Staking as the programs use it: a node keeps its provider stake at the minimum, a verifier its
verifier stake; the coordinator asks who is staked."""

from __future__ import annotations

import logging
from pathlib import Path

from gcx.keys import ParticipantKey

from .client import Chain
from .deploy import PROVIDER, VERIFIER
from .deployment import read_deployment
from .errors import ChainError

log = logging.getLogger("gcx.chain.staking")


def connect(rpc_url: str, deployment: Path | None, key: ParticipantKey | None = None) -> Chain:
    """A :class:`Chain` for the configured RPC and deployment file."""
    return Chain(read_deployment(deployment), key.private_key if key else None, rpc_url=rpc_url)


def ensure_provider_stake(chain: Chain) -> int:
    """Bond whatever is missing to reach the provider minimum; return the bonded stake."""
    return _ensure_stake(chain, PROVIDER, "provider")


def ensure_verifier_stake(chain: Chain) -> int:
    """Bond whatever is missing to reach the verifier minimum (role ``VERIFIER`` = 2, the minimum
    read from the StakingRegistry); return the bonded stake. Idempotent: a verifier whose stake
    already covers the minimum bonds nothing."""
    return _ensure_stake(chain, VERIFIER, "verifier")


def _ensure_stake(chain: Chain, role: int, what: str) -> int:
    assert chain.address is not None
    minimum = int(chain.call("StakingRegistry", "minStake", role))
    bonded = int(chain.call("StakingRegistry", "stakeOf", chain.address, role)[0])
    if bonded >= minimum and bonded > 0:
        log.info("%s stake %d already covers the minimum %d", what, bonded, minimum)
        return bonded
    shortfall = max(minimum - bonded, 1)
    balance = int(chain.call("GCXToken", "balanceOf", chain.address))
    if balance < shortfall:
        raise ChainError(
            f"{chain.address} holds {balance} GCX (wei) but must bond {shortfall} more to reach the {what} "
            f"minimum of {minimum}: fund it with GCX first"
        )
    chain.transact("GCXToken", "approve", chain.deployment.address("StakingRegistry"), shortfall)
    chain.transact("StakingRegistry", "stake", role, shortfall)
    log.info("bonded %d GCX (wei) as %s stake", shortfall, what)
    return bonded + shortfall


def active_providers(chain: Chain, addresses: list[str]) -> set[str]:
    """The lower-cased addresses among ``addresses`` whose provider stake covers the minimum."""
    return {a.lower() for a in addresses if chain.call("StakingRegistry", "isActive", a, PROVIDER)}
