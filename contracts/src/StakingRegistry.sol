// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title StakingRegistry
/// @notice GCX stakes for the three staked roles of the network: compute providers, guarantors and verifiers.
///         A stake is either *bonded* (counts towards {isActive}, can be slashed) or *unbonding* (requested out,
///         withdrawable after `unbondingDelay`, still slashable until withdrawn). Slashing is reserved to contracts
///         holding `SLASHER_ROLE` (the verification game) or, for stake locked behind open jobs, `LOCKER_ROLE` (the
///         escrow); a slash is split by basis points between a burn, a reward recipient and a compensation
///         recipient.
/// @dev Roles are numbered Provider = 0, Guarantor = 1, Verifier = 2 (ABI type `uint8`). Every (account, role)
///      has one unbonding bucket: a new {requestUnbond} adds to it and restarts its delay. Nothing iterates over
///      user-controlled lists. Trust: the admin (`DEFAULT_ADMIN_ROLE`) sets minimums, the unbonding delay (bounded
///      by `MAX_UNBONDING_DELAY`) and the slash split, and decides which contracts may slash; it cannot move stake
///      itself. A slasher can take at most the stake of the account it slashes.
contract StakingRegistry is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The staked roles.
    enum Role {
        Provider,
        Guarantor,
        Verifier
    }

    /// @dev One (account, role) stake; fits in two slots (bonded+unbonding, releaseAt).
    struct StakeInfo {
        uint128 bonded;
        uint128 unbonding;
        uint64 releaseAt;
        uint128 locked; // part of `bonded` backing open commitments (jobs); never unbonded, withdrawn or slashed by {slash}
    }

    /// @notice Role allowed to call {slash}; granted to authorized slasher contracts only.
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// @notice Role allowed to lock, unlock and slash locked stake ({lock}, {unlock}, {slashLocked}) and to raise
    ///         the unbonding-delay floor; granted to the escrow.
    bytes32 public constant LOCKER_ROLE = keccak256("LOCKER_ROLE");
    /// @notice Basis-point denominator.
    uint16 public constant BPS = 10_000;
    /// @notice Upper bound for `unbondingDelay`.
    uint64 public constant MAX_UNBONDING_DELAY = 365 days;

    /// @notice The staked token (GCX).
    IERC20 public immutable token;

    /// @notice Seconds between {requestUnbond} and the earliest {withdraw}.
    uint64 public unbondingDelay;
    /// @notice Floor for `unbondingDelay`, raised by lockers (never lowered).
    uint64 public minUnbondingDelay;
    /// @notice Slash split in basis points: burned / to `rewardTo` / to `compensateTo` (sum = 10 000).
    uint16 public slashBurnBps;
    uint16 public slashRewardBps;
    uint16 public slashCompensationBps;
    /// @notice Sum of all bonded and unbonding stake held by the registry.
    uint256 public totalStaked;

    /// @notice Minimum bonded stake for {isActive}, per role.
    mapping(Role => uint256) public minStake;
    mapping(address account => mapping(Role => StakeInfo)) private _stakes;

    /// @notice An address argument is the zero address.
    error ZeroAddress();
    /// @notice An amount argument is zero.
    error ZeroAmount();
    /// @notice The amount does not fit the 128-bit stake counters.
    error AmountTooLarge(uint256 amount);
    /// @notice `requested` exceeds the caller's bonded stake `bonded`.
    error InsufficientBondedStake(uint256 bonded, uint256 requested);
    /// @notice There is no unbonding stake to withdraw.
    error NothingToWithdraw();
    /// @notice The unbonding stake is withdrawable only from `releaseAt`.
    error UnbondingNotElapsed(uint64 releaseAt);
    /// @notice The unbonding delay is above `MAX_UNBONDING_DELAY`.
    error UnbondingDelayTooLong(uint64 delay, uint64 max);
    /// @notice The unbonding delay would be below the floor `min`.
    error UnbondingDelayTooShort(uint64 delay, uint64 min);
    /// @notice More would be unlocked than is locked.
    error InsufficientLockedStake(uint256 locked, uint256 requested);
    /// @notice The slash split does not sum to 10 000 basis points.
    error InvalidSlashSplit(uint16 burnBps, uint16 rewardBps, uint16 compensationBps);

    /// @notice `account` bonded `amount` more for `role`; its bonded stake is now `bonded`.
    event Staked(address indexed account, Role indexed role, uint256 amount, uint256 bonded);
    /// @notice `account` moved `amount` from bonded to unbonding for `role`; all its unbonding stake for `role`
    ///         (`unbonding`) is withdrawable from `releaseAt`.
    event UnbondRequested(
        address indexed account, Role indexed role, uint256 amount, uint256 unbonding, uint64 releaseAt
    );
    /// @notice `account` withdrew `amount` of unbonded stake for `role`.
    event Withdrawn(address indexed account, Role indexed role, uint256 amount);
    /// @notice `amount` of `account`'s stake for `role` was slashed: `burned` burned, `rewarded` and
    ///         `compensated` paid out (burned + rewarded + compensated = amount).
    event Slashed(
        address indexed account,
        Role indexed role,
        uint256 amount,
        uint256 burned,
        uint256 rewarded,
        uint256 compensated
    );
    /// @notice `amount` of `account`'s bonded stake for `role` was locked; `locked` is now locked in total.
    event StakeLocked(address indexed account, Role indexed role, uint256 amount, uint256 locked);
    /// @notice `amount` of `account`'s locked stake for `role` was released; `locked` stays locked.
    event StakeUnlocked(address indexed account, Role indexed role, uint256 amount, uint256 locked);
    /// @notice The unbonding-delay floor was raised.
    event MinUnbondingDelayRaised(uint64 oldMin, uint64 newMin);
    /// @notice The minimum bonded stake for `role` changed.
    event MinStakeUpdated(Role indexed role, uint256 oldMin, uint256 newMin);
    /// @notice The unbonding delay changed (requests already made keep their release time).
    event UnbondingDelayUpdated(uint64 oldDelay, uint64 newDelay);
    /// @notice The slash split changed.
    event SlashSplitUpdated(uint16 burnBps, uint16 rewardBps, uint16 compensationBps);

    /// @notice Deploy the registry.
    /// @param token_ The GCX token (must support `burn(uint256)`, as `ERC20Burnable`).
    /// @param admin Receives `DEFAULT_ADMIN_ROLE`.
    /// @param unbondingDelay_ Initial unbonding delay in seconds (≤ `MAX_UNBONDING_DELAY`).
    /// @dev Initial slash split: 50 % burned, 20 % reward, 30 % compensation. Minimums start at zero.
    constructor(IERC20 token_, address admin, uint64 unbondingDelay_) {
        if (address(token_) == address(0) || admin == address(0)) revert ZeroAddress();
        if (unbondingDelay_ > MAX_UNBONDING_DELAY) {
            revert UnbondingDelayTooLong(unbondingDelay_, MAX_UNBONDING_DELAY);
        }
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        unbondingDelay = unbondingDelay_;
        emit UnbondingDelayUpdated(0, unbondingDelay_);
        _setSlashSplit(5_000, 2_000, 3_000);
    }

    // ------------------------------------------------------------------ staking

    /// @notice Bond `amount` GCX for `role` (pulled from the caller; approve or permit first).
    /// @param role The role to stake for.
    /// @param amount Amount in wei (> 0).
    function stake(Role role, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        StakeInfo storage s = _stakes[msg.sender][role];
        uint256 bonded = uint256(s.bonded) + amount;
        if (bonded + s.unbonding > type(uint128).max) revert AmountTooLarge(amount);
        s.bonded = uint128(bonded);
        totalStaked += amount;
        emit Staked(msg.sender, role, amount, bonded);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Move `amount` of the caller's bonded stake for `role` to unbonding. All of the caller's unbonding
    ///         stake for `role` becomes withdrawable `unbondingDelay` seconds from now (the delay restarts).
    /// @param role The role.
    /// @param amount Amount in wei (> 0, ≤ bonded stake).
    function requestUnbond(Role role, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        StakeInfo storage s = _stakes[msg.sender][role];
        uint256 bonded = s.bonded;
        uint256 free = bonded - s.locked;
        if (amount > free) revert InsufficientBondedStake(free, amount);
        uint64 releaseAt = uint64(block.timestamp) + unbondingDelay;
        uint256 unbonding = uint256(s.unbonding) + amount; // bonded + unbonding ≤ type(uint128).max
        s.bonded = uint128(bonded - amount);
        s.unbonding = uint128(unbonding);
        s.releaseAt = releaseAt;
        emit UnbondRequested(msg.sender, role, amount, unbonding, releaseAt);
    }

    /// @notice Withdraw all of the caller's unbonding stake for `role` once its delay has elapsed.
    /// @param role The role.
    /// @return amount The amount transferred to the caller.
    function withdraw(Role role) external nonReentrant returns (uint256 amount) {
        StakeInfo storage s = _stakes[msg.sender][role];
        amount = s.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        uint64 releaseAt = s.releaseAt;
        if (block.timestamp < releaseAt) revert UnbondingNotElapsed(releaseAt);
        s.unbonding = 0;
        s.releaseAt = 0;
        totalStaked -= amount;
        emit Withdrawn(msg.sender, role, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ slashing

    /// @notice Slash up to `amount` of `account`'s stake for `role`: bonded stake first, then unbonding stake.
    ///         The slashed amount is split by the current basis points: burned, paid to `rewardTo`, paid to
    ///         `compensateTo`; a share whose recipient is the zero address is burned instead. Only `SLASHER_ROLE`.
    /// @param account The staker to slash.
    /// @param role The role whose stake is slashed.
    /// @param amount The most to slash (> 0); less is slashed if the stake is smaller.
    /// @param rewardTo Recipient of the reward share (e.g. a successful challenger), or zero to burn it.
    /// @param compensateTo Recipient of the compensation share (e.g. the wronged buyer), or zero to burn it.
    /// @return slashed The amount actually slashed (≤ `amount`).
    function slash(address account, Role role, uint256 amount, address rewardTo, address compensateTo)
        external
        onlyRole(SLASHER_ROLE)
        nonReentrant
        returns (uint256 slashed)
    {
        if (amount == 0) revert ZeroAmount();
        slashed = _deduct(_stakes[account][role], amount);
        totalStaked -= slashed;
        _payOut(account, role, slashed, rewardTo, compensateTo);
    }

    function _payOut(address account, Role role, uint256 slashed, address rewardTo, address compensateTo) private {
        uint256 rewarded = rewardTo == address(0) ? 0 : (slashed * slashRewardBps) / BPS;
        uint256 compensated = compensateTo == address(0) ? 0 : (slashed * slashCompensationBps) / BPS;
        uint256 burned = slashed - rewarded - compensated; // the burn share plus rounding dust
        emit Slashed(account, role, slashed, burned, rewarded, compensated);

        if (burned != 0) ERC20Burnable(address(token)).burn(burned);
        if (rewarded != 0) token.safeTransfer(rewardTo, rewarded);
        if (compensated != 0) token.safeTransfer(compensateTo, compensated);
    }

    // ------------------------------------------------------------------ locks

    /// @notice Lock `amount` of `account`'s unlocked bonded stake for `role` (only `LOCKER_ROLE`): it can no longer
    ///         be unbonded (hence withdrawn) or taken by {slash}, only released by {unlock} or slashed by
    ///         {slashLocked}. The sum of locks never exceeds the bonded stake.
    function lock(address account, Role role, uint256 amount) external onlyRole(LOCKER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        StakeInfo storage s = _stakes[account][role];
        uint256 locked = s.locked;
        uint256 free = uint256(s.bonded) - locked;
        if (amount > free) revert InsufficientBondedStake(free, amount);
        locked += amount;
        s.locked = uint128(locked);
        emit StakeLocked(account, role, amount, locked);
    }

    /// @notice Release `amount` of `account`'s locked stake for `role` back to plain bonded stake (only
    ///         `LOCKER_ROLE`).
    function unlock(address account, Role role, uint256 amount) external onlyRole(LOCKER_ROLE) {
        StakeInfo storage s = _stakes[account][role];
        uint256 locked = s.locked;
        if (amount > locked) revert InsufficientLockedStake(locked, amount);
        locked -= amount;
        s.locked = uint128(locked);
        emit StakeUnlocked(account, role, amount, locked);
    }

    /// @notice Slash exactly `amount` of `account`'s locked stake for `role` (only `LOCKER_ROLE`), split like
    ///         {slash}. Reverts if less is locked.
    /// @return slashed `amount`.
    function slashLocked(address account, Role role, uint256 amount, address rewardTo, address compensateTo)
        external
        onlyRole(LOCKER_ROLE)
        nonReentrant
        returns (uint256 slashed)
    {
        if (amount == 0) revert ZeroAmount();
        StakeInfo storage s = _stakes[account][role];
        uint256 locked = s.locked;
        if (amount > locked) revert InsufficientLockedStake(locked, amount);
        s.locked = uint128(locked - amount);
        s.bonded -= uint128(amount);
        totalStaked -= amount;
        slashed = amount;
        _payOut(account, role, slashed, rewardTo, compensateTo);
    }

    /// @notice Raise the unbonding-delay floor to `newMin` (only `LOCKER_ROLE`; a lower value is a no-op). The
    ///         current delay must already be at least `newMin`: a locker whose challenge window plus dispute
    ///         would outlast the delay is refused.
    function raiseMinUnbondingDelay(uint64 newMin) external onlyRole(LOCKER_ROLE) {
        if (unbondingDelay < newMin) revert UnbondingDelayTooShort(unbondingDelay, newMin);
        uint64 old = minUnbondingDelay;
        if (newMin <= old) return;
        minUnbondingDelay = newMin;
        emit MinUnbondingDelayRaised(old, newMin);
    }

    /// @notice The locked part of `account`'s bonded stake for `role`.
    function lockedOf(address account, Role role) external view returns (uint256) {
        return _stakes[account][role].locked;
    }

    /// @dev Remove up to `amount` from `s`, bonded first, then unbonding; returns the amount removed.
    function _deduct(StakeInfo storage s, uint256 amount) private returns (uint256 removed) {
        uint256 locked = s.locked;
        uint256 bonded = s.bonded - locked; // locked stake is only slashed through {slashLocked}
        if (amount <= bonded) {
            s.bonded = uint128(bonded - amount + locked);
            return amount;
        }
        uint256 unbonding = s.unbonding;
        uint256 rest = amount - bonded;
        uint256 fromUnbonding = rest < unbonding ? rest : unbonding;
        if (bonded != 0) s.bonded = uint128(locked);
        if (fromUnbonding != 0) {
            unchecked {
                unbonding -= fromUnbonding;
            }
            s.unbonding = uint128(unbonding);
            if (unbonding == 0) s.releaseAt = 0;
        }
        return bonded + fromUnbonding;
    }

    // ------------------------------------------------------------------ admin

    /// @notice Set the minimum bonded stake for `role` to count as active. Only `DEFAULT_ADMIN_ROLE`.
    /// @param role The role.
    /// @param newMin The new minimum in wei.
    function setMinStake(Role role, uint256 newMin) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 old = minStake[role];
        minStake[role] = newMin;
        emit MinStakeUpdated(role, old, newMin);
    }

    /// @notice Set the unbonding delay for future {requestUnbond} calls. Only `DEFAULT_ADMIN_ROLE`.
    /// @param newDelay Seconds (≥ 1 and ≥ `minUnbondingDelay`, ≤ `MAX_UNBONDING_DELAY`).
    function setUnbondingDelay(uint64 newDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newDelay > MAX_UNBONDING_DELAY) revert UnbondingDelayTooLong(newDelay, MAX_UNBONDING_DELAY);
        uint64 floor = minUnbondingDelay == 0 ? 1 : minUnbondingDelay; // a zero delay is never allowed
        if (newDelay < floor) revert UnbondingDelayTooShort(newDelay, floor);
        uint64 old = unbondingDelay;
        unbondingDelay = newDelay;
        emit UnbondingDelayUpdated(old, newDelay);
    }

    /// @notice Set the slash split in basis points (must sum to 10 000, with a non-zero burn share). Only
    ///         `DEFAULT_ADMIN_ROLE`.
    /// @param burnBps Share burned.
    /// @param rewardBps Share paid to the `rewardTo` of a slash.
    /// @param compensationBps Share paid to the `compensateTo` of a slash.
    function setSlashSplit(uint16 burnBps, uint16 rewardBps, uint16 compensationBps)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setSlashSplit(burnBps, rewardBps, compensationBps);
    }

    // ------------------------------------------------------------------ views

    /// @notice Whether `account` is active in `role`: bonded stake > 0 and ≥ the role's minimum.
    /// @param account The staker.
    /// @param role The role.
    /// @return True iff the bonded (not unbonding) stake meets the minimum.
    function isActive(address account, Role role) external view returns (bool) {
        uint256 bonded = _stakes[account][role].bonded;
        return bonded != 0 && bonded >= minStake[role];
    }

    /// @notice The stake of `account` for `role`.
    /// @param account The staker.
    /// @param role The role.
    /// @return bonded Bonded stake (counts for {isActive}).
    /// @return unbonding Stake requested out, not yet withdrawn.
    /// @return releaseAt When `unbonding` becomes withdrawable (0 if nothing is unbonding).
    function stakeOf(address account, Role role)
        external
        view
        returns (uint256 bonded, uint256 unbonding, uint64 releaseAt)
    {
        StakeInfo storage s = _stakes[account][role];
        return (s.bonded, s.unbonding, s.releaseAt);
    }

    function _setSlashSplit(uint16 burnBps, uint16 rewardBps, uint16 compensationBps) private {
        // The burn share is never zero: a challenger colluding with the slashed account (or the account itself)
        // must not be able to recycle the whole stake through the reward and compensation shares.
        if (burnBps == 0 || uint256(burnBps) + rewardBps + compensationBps != BPS) {
            revert InvalidSlashSplit(burnBps, rewardBps, compensationBps);
        }
        slashBurnBps = burnBps;
        slashRewardBps = rewardBps;
        slashCompensationBps = compensationBps;
        emit SlashSplitUpdated(burnBps, rewardBps, compensationBps);
    }
}
