// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IStakingRegistry} from "../../src/interfaces/IStakingRegistry.sol";

/// @notice Records `slash` calls; can be told to fail or to re-enter a target.
contract MockStakingRegistry is IStakingRegistry {
    error InsufficientStake();

    uint256 public calls;
    address public lastAccount;
    uint8 public lastRole;
    uint256 public lastAmount;
    address public lastRewardTo;
    address public lastCompensateTo;
    bool public fail;
    address public reenterTarget;
    bytes public reenterData;

    mapping(address => bool) public inactive;

    function setInactive(address account, bool i) external {
        inactive[account] = i;
    }

    function isActive(address account, uint8) external view returns (bool) {
        return !inactive[account];
    }

    function setFail(bool f) external {
        fail = f;
    }

    function setReenter(address target, bytes calldata data) external {
        reenterTarget = target;
        reenterData = data;
    }

    function slash(address account, uint8 role, uint256 amount, address rewardTo, address compensateTo)
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
        calls++;
        lastAccount = account;
        lastRole = role;
        lastAmount = amount;
        lastRewardTo = rewardTo;
        lastCompensateTo = compensateTo;
        return amount;
    }
}
