// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IStakingRegistry (the slashing and stake-lock surface)
/// @notice The part of the GCX StakingRegistry that other GCX contracts call. The registry grants the calling
///         contract a slasher role; `slash` removes up to `amount` of `account`'s stake in `role` and splits it
///         between a burn, a reward (`rewardTo`, e.g. the successful challenger) and a compensation
///         (`compensateTo`, e.g. the wronged buyer) according to the registry's own split parameters.
interface IStakingRegistry {
    /// @notice Slash `amount` of `account`'s stake held for `role`.
    /// @param account The staker being slashed.
    /// @param role The stake role (provider / guarantor / verifier, as numbered by the registry).
    /// @param amount The amount of stake to slash, in the stake token's smallest unit.
    /// @param rewardTo Recipient of the reward share (e.g. the challenger); the registry decides the share.
    /// @param compensateTo Recipient of the compensation share (e.g. the buyer).
    /// @return slashed The amount actually slashed (≤ `amount`; less if the stake is smaller).
    /// @dev `role` is `uint8` here; the registry may declare it as an enum (ABI-encoded as `uint8`), the selector
    ///      is the same: `slash(address,uint8,uint256,address,address)`.
    function slash(address account, uint8 role, uint256 amount, address rewardTo, address compensateTo)
        external
        returns (uint256 slashed);

    /// @notice Whether `account` is active in `role` (bonded stake, not unbonding, at least the role's minimum).
    function isActive(address account, uint8 role) external view returns (bool);

    /// @notice Lock `amount` of `account`'s unlocked bonded stake for `role` (the caller holds the registry's
    ///         locker role); reverts if the unlocked bonded stake is smaller. Locked stake cannot be unbonded.
    function lock(address account, uint8 role, uint256 amount) external;

    /// @notice Release `amount` of `account`'s locked stake for `role` (locker role).
    function unlock(address account, uint8 role, uint256 amount) external;

    /// @notice Slash exactly `amount` of `account`'s locked stake for `role` (locker role), split like {slash}.
    function slashLocked(address account, uint8 role, uint256 amount, address rewardTo, address compensateTo)
        external
        returns (uint256 slashed);

    /// @notice Raise the registry's unbonding-delay floor to `newMin` (locker role); reverts if the current delay
    ///         is shorter.
    function raiseMinUnbondingDelay(uint64 newMin) external;

    /// @notice `account`'s stake for `role`: bonded (includes locked), unbonding, and when unbonding is released.
    function stakeOf(address account, uint8 role)
        external
        view
        returns (uint256 bonded, uint256 unbonding, uint64 releaseAt);

    /// @notice The locked part of `account`'s bonded stake for `role`.
    function lockedOf(address account, uint8 role) external view returns (uint256);
}
