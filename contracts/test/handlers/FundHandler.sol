// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {InsuranceFund} from "../../src/InsuranceFund.sol";
import {TestToken} from "./TestToken.sol";

/// @notice Drives an InsuranceFund with random deposits, redemptions, fees and shortfalls.
contract FundHandler is Test {
    InsuranceFund public immutable fund;
    TestToken public immutable usd;
    address public immutable payer;
    address[] internal lps;

    uint256 public ghostIn;
    uint256 public ghostOut;
    uint256 public ghostUnauthorizedSuccess;

    constructor(InsuranceFund fund_, TestToken usd_, address payer_) {
        fund = fund_;
        usd = usd_;
        payer = payer_;
        for (uint256 i; i < 4; ++i) {
            address a = address(uint160(0xF000 + i));
            lps.push(a);
            usd.mint(a, 1e30);
            vm.prank(a);
            usd.approve(address(fund), type(uint256).max);
        }
    }

    function deposit(uint256 who, uint256 amount) external {
        address a = lps[who % lps.length];
        amount = bound(amount, 1, 1e15);
        vm.prank(a);
        fund.deposit(amount, a);
        ghostIn += amount;
    }

    function redeem(uint256 who, uint256 shares) external {
        address a = lps[who % lps.length];
        uint256 bal = fund.balanceOf(a);
        if (bal == 0) return;
        shares = bound(shares, 1, bal);
        vm.prank(a);
        ghostOut += fund.redeem(shares, a, a);
    }

    function receiveFees(uint256 who, uint256 amount) external {
        address a = lps[who % lps.length];
        amount = bound(amount, 1, 1e12);
        vm.prank(a);
        fund.receiveFees(amount);
        ghostIn += amount;
    }

    function payShortfall(uint256 amount) external {
        uint256 assets = fund.totalAssets();
        if (assets == 0) return;
        amount = bound(amount, 1, assets);
        vm.prank(payer);
        fund.payShortfall(address(0xBEEF), amount, "inv");
        ghostOut += amount;
    }

    function payShortfallAsStranger(uint256 who, uint256 amount) external {
        address a = lps[who % lps.length];
        vm.prank(a);
        try fund.payShortfall(a, bound(amount, 1, 1e12), "steal") {
            ghostUnauthorizedSuccess++;
        } catch {}
    }

    function sumShares() external view returns (uint256 s) {
        for (uint256 i; i < lps.length; ++i) {
            s += fund.balanceOf(lps[i]);
        }
    }
}
