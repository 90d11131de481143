"""Deploying the GCX contracts from Foundry's artifacts, and the devnet faucet.

Order and wiring: MockUSD (local networks only) → GCXToken → StakingRegistry (per-role minimum
stakes) → InsuranceFund → CollateralVault (the deployer is its operator) → JobEscrow (fees to the
insurance fund, provider stake locked per job in the staking registry), then roles and bounds:
JobEscrow gets LOCKER_ROLE on the staking registry (lock, unlock and slash the stake behind each open
job; raise the unbonding-delay floor), its per-job lock, maximum challenge window and maximum dispute
duration are set (each raise of the last two raises the registry's floor to their sum, so the
unbonding delay must cover it), and the deployer gets MINTER_ROLE on the token for the devnet faucet.
AuditSlasher (capacity-audit failures on-chain, :mod:`gcx.chain.audit_slasher`) gets SLASHER_ROLE.
Then the verification game (docs/verification.md, "The game"): JobSpecs (the buyers' per-job spec
commitments, gated by the escrow's job states) → GcxTpOneStep (the one-step prover) →
GcxTpGameStep (the game's one-step adapter over the prover and JobSpecs) → VerificationGame
(escrow, adapter; its bond and clock parameters set), which gets the escrow's CHALLENGER_GAME_ROLE.
The result is written as the deployment file (:mod:`gcx.chain.deployment`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import Wei

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

GAME_STEP = "GcxTpGameStep"
"""The verification game's one-step adapter (IOneStep over the prover and JobSpecs)."""
MAX_PROVIDER_MOVES = 67
"""VerificationGame.MAX_PROVIDER_MOVES: root, 31 + 31 bisections, op body, row (2·32 + 3)."""


@dataclass(frozen=True, slots=True)
class GameParams:
    """The VerificationGame's parameters (docs/verification.md, "Deadlines and bonds").

    Clock: each move may take at most ``move_timeout_s`` and all of one side's moves in one dispute
    at most ``clock_budget_s``; a dispute lasts at most ``2 · clock_budget_s + move_timeout_s``
    (:attr:`max_dispute_length_s`). Bond (wei of ETH, sent with ``open``):
    ``moves_bound · gas_per_move · gas_price_wei``; ``bond_burn_bps`` of a lost bond is burned.
    The defaults are the contract's own, for a real chain: 1 h per move, 11 h per side (a dispute
    ends within 23 h, inside the escrow's default 3-day dispute deadline after a 2-day window), a
    bond of 67 × 150 000 gas × 20 gwei = 0.201 ETH, 10 % burned.
    """

    move_timeout_s: int = 3_600
    clock_budget_s: int = 11 * 3_600
    moves_bound: int = MAX_PROVIDER_MOVES
    gas_per_move: int = 150_000
    gas_price_wei: int = 20 * 10**9
    bond_burn_bps: int = 1_000

    def __post_init__(self) -> None:
        if not 1 <= self.move_timeout_s <= self.clock_budget_s < 2**32:
            raise ChainError(
                f"game clock: need 1 <= move_timeout_s ({self.move_timeout_s}) <= clock_budget_s "
                f"({self.clock_budget_s}) < 2^32"
            )
        if not 1 <= self.moves_bound <= 2 * MAX_PROVIDER_MOVES:
            raise ChainError(f"game moves_bound ({self.moves_bound}) must be 1..{2 * MAX_PROVIDER_MOVES}")
        if not 21_000 <= self.gas_per_move <= 30_000_000 or self.gas_price_wei < 1:
            raise ChainError("game gas_per_move must be 21 000..30 000 000 and gas_price_wei positive")
        if not 1 <= self.bond_burn_bps <= 10_000:
            raise ChainError(f"game bond_burn_bps ({self.bond_burn_bps}) must be 1..10 000")
        if self.bond_wei >= 2**96:
            raise ChainError(f"game bond {self.bond_wei} wei does not fit uint96: lower gas_price_wei")

    @property
    def bond_wei(self) -> int:
        """The bond a dispute needs (``VerificationGame.bond()``)."""
        return self.moves_bound * self.gas_per_move * self.gas_price_wei

    @property
    def max_dispute_length_s(self) -> int:
        """The longest one dispute can last (``VerificationGame.maxDisputeLength()``)."""
        return 2 * self.clock_budget_s + self.move_timeout_s


DEVNET_GAME = GameParams(
    move_timeout_s=15, clock_budget_s=120, gas_per_move=150_000, gas_price_wei=10**9, bond_burn_bps=1_000
)
"""The devnet's game (anvil mines a block a second): 15 s per move, 120 s per side (a dispute ends
within 255 s; a node defending several disputes from one account, on a loaded 2-core machine,
needs that room), a bond of 67 × 150 000 gas × 1 gwei = 0.01005 ETH, 10 % of a lost bond burned."""


@dataclass(frozen=True, slots=True)
class DeployParams:
    """What :func:`deploy_all` deploys with; every money amount is an integer in the token's wei.

    ``unbonding_delay_s`` must be at least ``max_challenge_window_s + max_dispute_s`` (the
    registry's floor, raised by JobEscrow; deployment fails otherwise), and
    ``min_challenge_window_s ≤ max_challenge_window_s``, and ``max_challenge_window_s`` plus the
    game's longest dispute (:attr:`GameParams.max_dispute_length_s`) at most ``max_dispute_s`` (the
    game refuses a dispute that could outlive the escrow's backstop). A job paying ``amount`` micro-USD locks
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
    game: GameParams = GameParams()

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
        # A dispute opened at the very end of a challenge window must end before the escrow's
        # backstop, which runs from the first dispute (at the earliest, the window's start).
        if self.max_challenge_window_s + self.game.max_dispute_length_s > self.max_dispute_s:
            raise ChainError(
                f"max_challenge_window_s + the game's longest dispute ({self.max_challenge_window_s} + "
                f"{self.game.max_dispute_length_s}) exceeds max_dispute_s ({self.max_dispute_s}): a late "
                "dispute could outlive the escrow's dispute deadline"
            )


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
    try:
        tx = getattr(contract.functions, fn)(*args).transact({"from": sender})
    except ContractLogicError as exc:  # refused at gas estimation: a role or argument is wrong
        raise ChainError(f"{fn} from {sender} reverted: {exc}") from None
    if w3.eth.wait_for_transaction_receipt(tx)["status"] != 1:
        raise ChainError(f"{fn} from {sender} failed")


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
    _deploy_game(w3, me, p.game, escrow, deploy)
    block = w3.eth.block_number
    return Deployment(chain_id=chain_id, rpc_url=rpc_url, block=block, contracts=contracts)


def _deploy_game(w3: Web3, me: str, g: GameParams, escrow: Any, deploy: Any) -> None:
    """JobSpecs, the prover, the adapter and the VerificationGame; the game gets the escrow's
    CHALLENGER_GAME_ROLE."""
    specs = deploy("JobSpecs", escrow.address)
    prover = deploy("GcxTpOneStep")
    one_step = deploy(GAME_STEP, prover.address, specs.address)
    game = deploy("VerificationGame", escrow.address, one_step.address, me, BURN_SINK)
    _send(w3, me, game, "setClockParams", g.move_timeout_s, g.clock_budget_s)
    _send(w3, me, game, "setBondParams", g.moves_bound, g.gas_per_move, g.gas_price_wei, g.bond_burn_bps)
    _send(w3, me, escrow, "grantRole", keccak(b"CHALLENGER_GAME_ROLE"), game.address)


def faucet(
    rpc_url: str,
    deployment: Deployment,
    minter_key: bytes,
    to: str,
    *,
    eth: int = 10 * TOKEN,
    gcx: int = 10_000 * TOKEN,
    usd: int = 100_000 * USD,
    send_eth: bool = False,
) -> None:
    """Fund a test-chain participant: ETH for gas, GCX to stake, mock USD for collateral (the
    minter holds MINTER_ROLE on the token, as the deployer does). ``send_eth`` sends the ETH from
    the minter's balance (any chain); otherwise it is set with ``anvil_setBalance`` (anvil only)."""
    w3, me = _signer(rpc_url, minter_key)
    if send_eth:
        if eth:
            tx = w3.eth.send_transaction({"from": me, "to": Web3.to_checksum_address(to), "value": Wei(eth)})
            if w3.eth.wait_for_transaction_receipt(tx)["status"] != 1:
                raise ChainError(f"sending {eth} wei to {to} failed")
    else:
        set_eth_balance(w3, to, eth)
    token = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("GCXToken")), abi=load_artifact("GCXToken").abi
    )
    if gcx:
        _send(w3, me, token, "mint", to, gcx)
    mock = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("MockUSD")), abi=load_artifact("MockUSD").abi
    )
    if usd:
        _send(w3, me, mock, "mint", to, usd)
