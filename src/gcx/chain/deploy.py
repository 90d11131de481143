"""Deploying the GCX contracts from Foundry's artifacts, and the devnet faucet.

Order and wiring: MockUSD (local networks only) → GCXToken → StakingRegistry (per-role minimum
stakes) → InsuranceFund → CollateralVault (the deployer is its operator) → JobEscrow (fees to the
insurance fund, provider stake locked per job in the staking registry), then roles and bounds:
JobEscrow gets LOCKER_ROLE on the staking registry (lock, unlock and slash the stake behind each open
job; raise the unbonding-delay floor), its per-job lock, maximum challenge window and maximum dispute
duration are set (each raise of the last two raises the registry's floor to their sum, so the
unbonding delay must cover it), and the deployer gets MINTER_ROLE on the token for the devnet faucet.
AuditSlasher (capacity-audit failures on-chain, :mod:`gcx.chain.audit_slasher`) gets SLASHER_ROLE.
The result is written as the deployment file (:mod:`gcx.chain.deployment`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from web3 import HTTPProvider, Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder

from .audit_slasher import deploy_audit_slasher
from .deployment import Deployed, Deployment, load_artifact
from .errors import ChainError

log = logging.getLogger("gcx.chain.deploy")
TOKEN = 10**18
USD = 10**6

# Stablecoin fees cannot be burned by the token; the burn share goes to this unspendable address.
BURN_SINK = "0x000000000000000000000000000000000000dEaD"

# StakingRegistry.Role
PROVIDER, GUARANTOR, VERIFIER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class DeployParams:
    """What :func:`deploy_all` deploys with; every money amount is an integer in the token's wei.

    ``unbonding_delay_s`` must be at least ``max_challenge_window_s + max_dispute_s`` (the
    registry's floor, raised by JobEscrow; deployment fails otherwise), and
    ``min_challenge_window_s ≤ max_challenge_window_s``. A job paying ``amount`` micro-USD locks
    ``max(min_job_lock, amount * lock_per_unit)`` GCX wei of its provider's bonded stake until it
    ends (defaults: at least 10 GCX, 1 GCX per USD), so a provider's stake bounds its open jobs.
    """

    gcx_cap: int = 1_000_000_000 * TOKEN
    fee_burn_bps: int = 2_000
    unbonding_delay_s: int = 7 * 86_400
    min_stake: tuple[int, int, int] = (
        1_000 * TOKEN,
        10_000 * TOKEN,
        500 * TOKEN,
    )  # provider, guarantor, verifier
    withdrawal_delay_s: int = 86_400
    escrow_fee_bps: int = 100  # 1 % exchange fee on job payments, to the insurance fund
    escrow_fee_burn_bps: int = 2_000  # of which 20 % is burned
    min_challenge_window_s: int = 600
    max_challenge_window_s: int = 2 * 86_400  # longest challenge window a job may ask for
    max_dispute_s: int = 3 * 86_400  # a challenged job times out (buyer refunded) after this
    min_job_lock: int = 10 * TOKEN  # least provider stake a job locks
    lock_per_unit: int = 10**12  # GCX wei locked per micro-USD of payment: 1 GCX per USD

    def __post_init__(self) -> None:
        if self.unbonding_delay_s < self.max_challenge_window_s + self.max_dispute_s:
            raise ChainError(
                f"unbonding_delay_s ({self.unbonding_delay_s}) is shorter than max_challenge_window_s "
                f"+ max_dispute_s ({self.max_challenge_window_s} + {self.max_dispute_s}): stake could "
                "leave before a challenge is decided"
            )
        if not 0 <= self.min_challenge_window_s <= self.max_challenge_window_s:
            raise ChainError(
                f"min_challenge_window_s ({self.min_challenge_window_s}) must be between 0 and "
                f"max_challenge_window_s ({self.max_challenge_window_s})"
            )
        if self.min_job_lock <= 0 or self.lock_per_unit < 0:
            raise ChainError("min_job_lock must be positive and lock_per_unit not negative")


def _signer(rpc_url: str, private_key: bytes) -> tuple[Web3, str]:
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    account = Account.from_key(private_key)
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
    return w3, account.address


def set_eth_balance(w3: Web3, address: str, wei: int) -> None:
    """anvil (and hardhat) only: give ``address`` ``wei`` of ETH for gas."""
    response = w3.provider.make_request("anvil_setBalance", [address, hex(wei)])  # type: ignore[arg-type]
    if "error" in response:
        raise ChainError(f"cannot fund {address} (not a local anvil chain?): {response['error']}")


def _deploy(w3: Web3, sender: str, name: str, *args: Any) -> tuple[str, Deployed]:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise ChainError(f"deploying {name} failed")
    code = bytes(w3.eth.get_code(address))
    log.info("deployed %s at %s (%d gas)", name, address, receipt["gasUsed"])
    return address, Deployed(address, artifact.digest, "0x" + keccak(code).hex())


def _send(w3: Web3, sender: str, contract: Any, fn: str, *args: Any) -> None:
    tx = getattr(contract.functions, fn)(*args).transact({"from": sender})
    if w3.eth.wait_for_transaction_receipt(tx)["status"] != 1:
        raise ChainError(f"{fn} failed during deployment")


def deploy_all(
    rpc_url: str, deployer_key: bytes, params: DeployParams | None = None, fund_deployer: bool = True
) -> Deployment:
    """Deploy every contract from the deployer's key and wire their roles."""
    p = params or DeployParams()
    w3, me = _signer(rpc_url, deployer_key)
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:  # requests' connection errors, or a non-JSON-RPC endpoint
        raise ChainError(f"no Ethereum JSON-RPC node answers at {rpc_url}: {exc}") from None
    if fund_deployer:
        set_eth_balance(w3, me, 1_000 * TOKEN)
    contracts: dict[str, Deployed] = {}

    def deploy(name: str, *args: Any) -> Any:
        address, deployed = _deploy(w3, me, name, *args)
        contracts[name] = deployed
        return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)

    usd = deploy("MockUSD")
    token = deploy("GCXToken", me, p.gcx_cap, p.fee_burn_bps)
    staking = deploy("StakingRegistry", token.address, me, p.unbonding_delay_s)
    for role, minimum in enumerate(p.min_stake):
        _send(w3, me, staking, "setMinStake", role, minimum)
    fund = deploy("InsuranceFund", usd.address, me, "GCX Insurance Fund Share", "GCX-IF")
    deploy("CollateralVault", usd.address, me, me, p.withdrawal_delay_s)
    escrow = deploy(
        "JobEscrow",
        usd.address,
        me,
        fund.address,
        BURN_SINK,
        p.escrow_fee_bps,
        p.escrow_fee_burn_bps,
        0,  # the minimum window is set below, once the maximum allows it
    )
    # The escrow locks, unlocks and slashes the stake behind each open job and raises the
    # registry's unbonding-delay floor: it needs LOCKER_ROLE before any of the calls below.
    _send(w3, me, staking, "grantRole", keccak(b"LOCKER_ROLE"), escrow.address)
    # The bounds go in before the registry, so its floor is raised once, to window + dispute, when
    # setSlashParams connects it (the contract defaults, 2 + 3 days, could exceed a short delay).
    _send(w3, me, escrow, "setMaxChallengeWindow", p.max_challenge_window_s)
    _send(w3, me, escrow, "setMinChallengeWindow", p.min_challenge_window_s)
    _send(w3, me, escrow, "setMaxDisputeDuration", p.max_dispute_s)
    _send(w3, me, escrow, "setSlashParams", staking.address, PROVIDER)
    _send(w3, me, escrow, "setLockParams", p.min_job_lock, p.lock_per_unit)
    _send(w3, me, token, "grantRole", keccak(b"MINTER_ROLE"), me)
    deploy_audit_slasher(deploy, lambda c, fn, *a: _send(w3, me, c, fn, *a), staking, me, p.unbonding_delay_s)
    block = w3.eth.block_number
    return Deployment(chain_id=chain_id, rpc_url=rpc_url, block=block, contracts=contracts)


def faucet(
    rpc_url: str,
    deployment: Deployment,
    minter_key: bytes,
    to: str,
    *,
    eth: int = 10 * TOKEN,
    gcx: int = 10_000 * TOKEN,
    usd: int = 100_000 * USD,
) -> None:
    """Fund a devnet participant: ETH for gas, GCX to stake, mock USD for collateral."""
    w3, me = _signer(rpc_url, minter_key)
    set_eth_balance(w3, to, eth)
    token = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("GCXToken")), abi=load_artifact("GCXToken").abi
    )
    _send(w3, me, token, "mint", to, gcx)
    mock = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("MockUSD")), abi=load_artifact("MockUSD").abi
    )
    _send(w3, me, mock, "mint", to, usd)
