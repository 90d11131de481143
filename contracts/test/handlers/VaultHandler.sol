// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {CollateralVault} from "../../src/CollateralVault.sol";
import {TestToken} from "./TestToken.sol";

/// @notice Drives a CollateralVault with random deposits, settlements, holds and withdrawals over a fixed set of
///         guarantors and customers, keeping ghost totals for the invariants.
contract VaultHandler is Test {
    CollateralVault public immutable vault;
    TestToken public immutable usd;
    address public immutable admin;
    address public immutable operator;

    address[] internal guarantors;
    address[] internal customers;

    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    uint256 public ghostPending;
    int256 public ghostSettledDeltaSum;
    uint256 public ghostBatches;
    uint256 public ghostUnauthorizedSuccess;

    uint256[] internal openRequests;
    mapping(uint256 => uint256) internal requestAmount;

    constructor(CollateralVault vault_, TestToken usd_, address admin_, address operator_) {
        vault = vault_;
        usd = usd_;
        admin = admin_;
        operator = operator_;
        for (uint256 i; i < 3; ++i) {
            address g = address(uint160(0xA000 + i));
            guarantors.push(g);
            vm.prank(admin);
            vault.setGuarantor(g, true);
            _onboard(g);
        }
        for (uint256 i; i < 5; ++i) {
            address c = address(uint160(0xC000 + i));
            customers.push(c);
            _onboard(c);
        }
    }

    function _onboard(address who) internal {
        usd.mint(who, 1e30);
        vm.prank(who);
        usd.approve(address(vault), type(uint256).max);
    }

    /// Accounts: index < customers → customer under a guarantor; else the guarantor's pool.
    function _acct(uint256 gSeed, uint256 aSeed) internal view returns (address g, address a) {
        g = guarantors[gSeed % guarantors.length];
        uint256 k = aSeed % (customers.length + 1);
        a = k == customers.length ? g : customers[k];
    }

    // ------------------------------------------------------------ actions

    function deposit(uint256 gSeed, uint256 aSeed, uint256 amount) external {
        (address g, address a) = _acct(gSeed, aSeed);
        amount = bound(amount, 1, 1e12);
        vm.prank(a);
        vault.deposit(g, amount);
        ghostDeposited += amount;
    }

    function settle(uint256 gSeed, uint256 fromSeed, uint256 toSeed, uint256 amount, uint256 g2Seed) external {
        (address g, address from) = _acct(gSeed, fromSeed);
        (address g2, address to) = _acct(g2Seed, toSeed);
        uint256 bal = vault.customerBalance(g, from);
        amount = bound(amount, 0, bal);
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](2);
        es[0] = CollateralVault.Entry(g, from, -int256(amount));
        es[1] = CollateralVault.Entry(g2, to, int256(amount));
        uint64 id = vault.nextBatchId();
        vm.prank(operator);
        vault.settle(id, keccak256(abi.encode(id)), es);
        ghostSettledDeltaSum += es[0].delta + es[1].delta;
        ghostBatches++;
    }

    function settleUnbalanced(uint256 gSeed, uint256 aSeed, uint256 amount) external {
        (address g, address a) = _acct(gSeed, aSeed);
        amount = bound(amount, 1, 1e12);
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](1);
        es[0] = CollateralVault.Entry(g, a, int256(amount));
        uint64 id = vault.nextBatchId();
        vm.prank(operator);
        try vault.settle(id, bytes32(0), es) {
            ghostUnauthorizedSuccess++; // a non-zero-sum batch must never pass
        } catch {}
    }

    function settleAsStranger(uint256 who, uint256 gSeed, uint256 aSeed) external {
        (address g, address a) = _acct(gSeed, aSeed);
        address caller = who % 2 == 0 ? admin : customers[who % customers.length];
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](1);
        es[0] = CollateralVault.Entry(g, a, 0);
        uint64 id = vault.nextBatchId();
        vm.prank(caller);
        try vault.settle(id, bytes32(0), es) {
            ghostUnauthorizedSuccess++;
        } catch {}
    }

    function hold(uint256 gSeed, uint256 aSeed, uint256 amount) external {
        (address g, address a) = _acct(gSeed, aSeed);
        uint256 room = vault.customerBalance(g, a) - _min(vault.held(g, a), vault.customerBalance(g, a));
        if (room == 0) return;
        amount = bound(amount, 1, room);
        if (vault.held(g, a) + amount > vault.customerBalance(g, a)) return;
        vm.prank(operator);
        vault.hold(g, a, amount, "risk");
    }

    function release(uint256 gSeed, uint256 aSeed, uint256 amount) external {
        (address g, address a) = _acct(gSeed, aSeed);
        uint256 h = vault.held(g, a);
        if (h == 0) return;
        amount = bound(amount, 1, h);
        vm.prank(operator);
        vault.release(g, a, amount, "risk");
    }

    function requestWithdrawal(uint256 gSeed, uint256 aSeed, uint256 amount) external {
        (address g, address a) = _acct(gSeed, aSeed);
        uint256 avail = vault.available(g, a);
        if (avail == 0) return;
        amount = bound(amount, 1, avail);
        vm.prank(a);
        uint256 id = vault.requestWithdrawal(g, amount);
        openRequests.push(id);
        requestAmount[id] = amount;
        ghostPending += amount;
    }

    function withdraw(uint256 idx, uint256 wait) external {
        if (openRequests.length == 0) return;
        idx = idx % openRequests.length;
        uint256 id = openRequests[idx];
        (address g, uint40 readyAt, address a, uint96 amount) = vault.withdrawalRequests(id);
        vm.warp(block.timestamp + bound(wait, 0, 2 hours));
        if (block.timestamp < readyAt || vault.available(g, a) < amount) return;
        vm.prank(a);
        vault.withdraw(id);
        ghostWithdrawn += amount;
        ghostPending -= amount;
        _drop(idx);
    }

    function cancel(uint256 idx) external {
        if (openRequests.length == 0) return;
        idx = idx % openRequests.length;
        uint256 id = openRequests[idx];
        (,, address a, uint96 amount) = vault.withdrawalRequests(id);
        vm.prank(a);
        vault.cancelWithdrawal(id);
        ghostPending -= amount;
        _drop(idx);
    }

    // ------------------------------------------------------------ views for the invariants

    function sumBalances() external view returns (uint256 s) {
        for (uint256 i; i < guarantors.length; ++i) {
            address g = guarantors[i];
            s += vault.poolBalance(g);
            for (uint256 j; j < customers.length; ++j) {
                s += vault.customerBalance(g, customers[j]);
            }
        }
    }

    function checkAvailable() external view {
        for (uint256 i; i < guarantors.length; ++i) {
            address g = guarantors[i];
            for (uint256 j; j <= customers.length; ++j) {
                address a = j == customers.length ? g : customers[j];
                assertLe(vault.available(g, a), vault.customerBalance(g, a));
            }
        }
    }

    function _drop(uint256 idx) internal {
        openRequests[idx] = openRequests[openRequests.length - 1];
        openRequests.pop();
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }
}
