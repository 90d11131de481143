// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IStakingRegistry (minimal slashing surface)
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
}
