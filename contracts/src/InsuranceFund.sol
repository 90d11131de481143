// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title InsuranceFund
/// @notice The last backstop of the GCX default waterfall (seed §8, DESIGN §5): defaulter's collateral → its
///         guarantor's pool → this fund → socialized loss. Guarantor pools, the exchange and outside LPs deposit
///         the stablecoin and receive shares (an OpenZeppelin ERC-4626 vault); fees paid in raise the assets
///         without minting shares (the share price rises: the LPs' yield); shortfalls paid out lower them (the
///         LPs bear the loss pro rata).
///
/// Trust model: only PAYER_ROLE (the clearing/settlement path) can pay assets out other than by share
/// redemption, and never more than the fund holds; every payout carries a reason in its event.
///
/// First-depositor ("inflation") attack: guarded by OpenZeppelin 5's virtual shares/assets with a decimals
/// offset of {DECIMALS_OFFSET} (shares have asset decimals + 6), so a donation attack costs the attacker about
/// 10^6 times what it can steal from a victim.
///
/// Known limitation: shares are redeemable at any time (plain ERC-4626), so an LP that foresees a shortfall can
/// exit before it is paid; a redemption cooldown is a later design decision.
contract InsuranceFund is ERC4626, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to pay shortfalls out of the fund.
    bytes32 public constant PAYER_ROLE = keccak256("PAYER_ROLE");
    /// @notice Decimals offset of the shares over the asset (virtual-shares protection).
    uint8 public constant DECIMALS_OFFSET = 6;

    /// @notice A shortfall of `amount` was paid to `to` by `payer`.
    event ShortfallPaid(address indexed payer, address indexed to, uint256 amount, string reason);
    /// @notice `from` paid `amount` of fees into the fund (no shares minted).
    event FeesReceived(address indexed from, uint256 amount);

    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice An amount argument was zero.
    error ZeroAmount();
    /// @notice The fund holds less than the shortfall asked for.
    error InsufficientAssets(uint256 available, uint256 amount);

    /// @param asset_ The stablecoin.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE (grants PAYER_ROLE).
    /// @param name_ Share token name.
    /// @param symbol_ Share token symbol.
    constructor(IERC20 asset_, address admin, string memory name_, string memory symbol_)
        ERC20(name_, symbol_)
        ERC4626(asset_)
    {
        if (address(asset_) == address(0) || admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Pay a shortfall of `amount` to `to` out of the fund's assets (only PAYER_ROLE). Lowers the share
    ///         price for all shareholders.
    /// @param to Recipient (e.g. the vault account or counterparty being made whole).
    /// @param amount Amount in the stablecoin's smallest unit (≤ {totalAssets}).
    /// @param reason Human-readable reason (e.g. the default case id); emitted.
    function payShortfall(address to, uint256 amount, string calldata reason)
        external
        nonReentrant
        onlyRole(PAYER_ROLE)
    {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 assets = totalAssets();
        if (amount > assets) revert InsufficientAssets(assets, amount);
        emit ShortfallPaid(msg.sender, to, amount, reason);
        IERC20(asset()).safeTransfer(to, amount);
    }

    /// @notice Pay `amount` of fees into the fund (pulls the stablecoin from the caller; approve first). No shares
    ///         are minted, so the share price rises. Anyone may call (a plain transfer has the same effect on the
    ///         share price but emits no {FeesReceived}).
    /// @param amount Amount in the stablecoin's smallest unit.
    function receiveFees(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        emit FeesReceived(msg.sender, amount);
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Virtual shares: 10^DECIMALS_OFFSET (see the contract notice).
    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }

    /// @dev Deposits and mints are non-reentrant.
    function _deposit(address caller, address receiver, uint256 assets, uint256 shares)
        internal
        override
        nonReentrant
    {
        super._deposit(caller, receiver, assets, shares);
    }

    /// @dev Withdrawals and redemptions are non-reentrant.
    function _withdraw(address caller, address receiver, address owner, uint256 assets, uint256 shares)
        internal
        override
        nonReentrant
    {
        super._withdraw(caller, receiver, owner, assets, shares);
    }
}
