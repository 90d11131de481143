// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title GCXToken
/// @notice The GCX utility token: ERC-20 with EIP-2612 permit and burning. Issuance is capped: the sum of
///         everything ever minted can never exceed `cap` (burned tokens are not re-issuable), and only holders of
///         `MINTER_ROLE` can mint. Part of every protocol fee is burned: a contract that collected a fee in GCX
///         calls {burnFee} with the fee amount and `feeBurnBps` basis points of it are burned from its balance.
/// @dev Accounting: `totalSupply() == totalMinted - totalBurned` holds at all times; both counters are packed in
///      one storage slot and updated in {_update}. The admin (`DEFAULT_ADMIN_ROLE`) can grant/revoke minters and
///      set the fee-burn share up to `MAX_FEE_BURN_BPS`; it cannot move or burn anyone's tokens.
contract GCXToken is ERC20, ERC20Burnable, ERC20Permit, AccessControl {
    /// @notice Role allowed to mint new tokens (within the cap).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Upper bound for `feeBurnBps` (50 %).
    uint16 public constant MAX_FEE_BURN_BPS = 5_000;

    /// @notice Maximum cumulative issuance (sum of all mints, burned tokens included).
    uint256 public immutable cap;

    /// @notice Sum of all tokens ever minted.
    uint128 public totalMinted;
    /// @notice Sum of all tokens ever burned.
    uint128 public totalBurned;
    /// @notice Share of a protocol fee that {burnFee} burns, in basis points.
    uint16 public feeBurnBps;

    /// @notice `account` is the zero address where an address is required.
    error ZeroAddress();
    /// @notice The cap given to the constructor is zero or does not fit the 128-bit counters.
    error InvalidCap(uint256 cap);
    /// @notice Minting `requested` would take cumulative issuance past the cap; `remaining` can still be minted.
    error IssuanceCapExceeded(uint256 requested, uint256 remaining);
    /// @notice `bps` is above `MAX_FEE_BURN_BPS`.
    error FeeBurnBpsTooHigh(uint256 bps, uint256 max);

    /// @notice The fee-burn share changed.
    event FeeBurnBpsUpdated(uint16 oldBps, uint16 newBps);
    /// @notice `payer` burned `burned` tokens as the burn share of a `fee`.
    event FeeBurned(address indexed payer, uint256 fee, uint256 burned);

    /// @notice Deploy the token.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE` (manages minters and the fee-burn share).
    /// @param cap_ Maximum cumulative issuance, in wei (18 decimals).
    /// @param feeBurnBps_ Initial fee-burn share in basis points (≤ `MAX_FEE_BURN_BPS`).
    constructor(address admin, uint256 cap_, uint16 feeBurnBps_)
        ERC20("GCX Token", "GCX")
        ERC20Permit("GCX Token")
    {
        if (admin == address(0)) revert ZeroAddress();
        if (cap_ == 0 || cap_ > type(uint128).max) revert InvalidCap(cap_);
        if (feeBurnBps_ > MAX_FEE_BURN_BPS) revert FeeBurnBpsTooHigh(feeBurnBps_, MAX_FEE_BURN_BPS);
        cap = cap_;
        feeBurnBps = feeBurnBps_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        emit FeeBurnBpsUpdated(0, feeBurnBps_);
    }

    /// @notice Mint `amount` new tokens to `to`. Only `MINTER_ROLE`; cumulative issuance stays ≤ `cap`.
    /// @param to Recipient (not the zero address).
    /// @param amount Amount to mint, in wei.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount); // cap check and counters in _update; zero `to` reverts with ERC20InvalidReceiver
    }

    /// @notice Set the share of protocol fees that {burnFee} burns. Only `DEFAULT_ADMIN_ROLE`.
    /// @param newBps New share in basis points (≤ `MAX_FEE_BURN_BPS`).
    function setFeeBurnBps(uint16 newBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newBps > MAX_FEE_BURN_BPS) revert FeeBurnBpsTooHigh(newBps, MAX_FEE_BURN_BPS);
        uint16 old = feeBurnBps;
        feeBurnBps = newBps;
        emit FeeBurnBpsUpdated(old, newBps);
    }

    /// @notice The part of `fee` that {burnFee} would burn at the current `feeBurnBps` (rounded down).
    /// @param fee A fee amount in wei.
    /// @return The burn share of `fee`.
    function feeBurnShare(uint256 fee) public view returns (uint256) {
        return (fee * feeBurnBps) / BPS;
    }

    /// @notice Burn the fee-burn share of `fee` from the caller's own balance. This is how fee-collecting
    ///         contracts (e.g. an escrow) apply the protocol fee burn: collect `fee` in GCX, call `burnFee(fee)`,
    ///         keep or forward the remaining `fee - burned`.
    /// @param fee The fee amount the caller collected, in wei.
    /// @return burned The amount burned (`feeBurnShare(fee)`).
    function burnFee(uint256 fee) external returns (uint256 burned) {
        burned = feeBurnShare(fee);
        if (burned != 0) _burn(_msgSender(), burned);
        emit FeeBurned(_msgSender(), fee, burned);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override(AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    /// @dev Enforces the issuance cap and maintains `totalMinted` / `totalBurned`.
    function _update(address from, address to, uint256 value) internal override(ERC20) {
        if (from == address(0)) {
            uint256 minted = totalMinted;
            uint256 remaining = cap - minted;
            if (value > remaining) revert IssuanceCapExceeded(value, remaining);
            totalMinted = uint128(minted + value); // ≤ cap ≤ type(uint128).max
        } else if (to == address(0)) {
            // value ≤ balance of `from` ≤ totalSupply ≤ totalMinted, so the counter cannot overflow.
            totalBurned += uint128(value);
        }
        super._update(from, to, value);
    }
}
