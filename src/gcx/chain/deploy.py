"""Deploying the GCX contracts from Foundry's artifacts, and the devnet faucet.

Order and wiring: MockUSD (local networks only) → GCXToken → StakingRegistry (per-role minimum
stakes) → InsuranceFund → CollateralVault (the deployer is its operator) → JobEscrow (fees to the
insurance fund, slashing through the staking registry), then roles: JobEscrow gets SLASHER_ROLE on
the staking registry, and the deployer MINTER_ROLE on the token for the devnet faucet. The result is written as the deployment file (:mod:`gcx.chain.deployment`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from web3 import HTTPProvider, Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder

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
        p.min_challenge_window_s,
    )
    _send(w3, me, escrow, "setSlashParams", staking.address, PROVIDER, p.min_stake[PROVIDER])
    _send(w3, me, staking, "grantRole", keccak(b"SLASHER_ROLE"), escrow.address)
    _send(w3, me, token, "grantRole", keccak(b"MINTER_ROLE"), me)
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
