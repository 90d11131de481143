// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IStakingRegistry} from "../../src/interfaces/IStakingRegistry.sol";

/// @notice Records `slashLocked` calls and keeps lock books like the real registry (every account has a large
///         bonded stake unless told otherwise); can be told to fail a slash, re-enter a target, or refuse locks.
contract MockStakingRegistry is IStakingRegistry {
    error InsufficientStake();
    error LockRefused();

    uint256 public calls;
    address public lastAccount;
    uint8 public lastRole;
    uint256 public lastAmount;
    address public lastRewardTo;
    address public lastCompensateTo;
    bool public fail;
    bool public refuseLocks;
    address public reenterTarget;
    bytes public reenterData;
    uint64 public minUnbondingDelay;
    uint64 public unbondingDelay = 365 days;

    mapping(address => bool) public inactive;
    mapping(address => uint256) internal _locked;
    mapping(address => bool) internal _bondedSet;
    mapping(address => uint256) internal _bonded;

    function setInactive(address account, bool i) external {
        inactive[account] = i;
    }

    function isActive(address account, uint8) external view returns (bool) {
        return !inactive[account];
    }

    function setFail(bool f) external {
        fail = f;
    }

    function setRefuseLocks(bool r) external {
        refuseLocks = r;
    }

    function setBonded(address account, uint256 bonded) external {
        _bondedSet[account] = true;
        _bonded[account] = bonded;
    }

    function setUnbondingDelay(uint64 d) external {
        unbondingDelay = d;
    }

    function setReenter(address target, bytes calldata data) external {
        reenterTarget = target;
        reenterData = data;
    }

    function stakeOf(address account, uint8) public view returns (uint256 bonded, uint256, uint64) {
        return (_bondedSet[account] ? _bonded[account] : 1e40, 0, 0);
    }

    function lockedOf(address account, uint8) external view returns (uint256) {
        return _locked[account];
    }

    function lock(address account, uint8 role, uint256 amount) external {
        if (refuseLocks) revert LockRefused();
        (uint256 bonded,,) = stakeOf(account, role);
        if (_locked[account] + amount > bonded) revert InsufficientStake();
        _locked[account] += amount;
    }

    function unlock(address account, uint8, uint256 amount) external {
        _locked[account] -= amount;
    }

    function raiseMinUnbondingDelay(uint64 newMin) external {
        if (unbondingDelay < newMin) revert InsufficientStake();
        if (newMin > minUnbondingDelay) minUnbondingDelay = newMin;
    }

    function slash(address, uint8, uint256 amount, address, address) external pure returns (uint256) {
        return amount;
    }

    function slashLocked(address account, uint8 role, uint256 amount, address rewardTo, address compensateTo)
        external
        returns (uint256)
    {
        if (fail) revert InsufficientStake();
        if (reenterTarget != address(0)) {
            (bool ok, bytes memory ret) = reenterTarget.call(reenterData);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
        _locked[account] -= amount;
        calls++;
        lastAccount = account;
        lastRole = role;
        lastAmount = amount;
        lastRewardTo = rewardTo;
        lastCompensateTo = compensateTo;
        return amount;
    }
}
