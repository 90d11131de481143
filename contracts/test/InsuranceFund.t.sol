// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {InsuranceFund} from "../src/InsuranceFund.sol";
import {TestToken} from "./handlers/TestToken.sol";
import {FundHandler} from "./handlers/FundHandler.sol";

contract InsuranceFundTest is Test {
    TestToken internal usd;
    InsuranceFund internal fund;

    address internal admin = makeAddr("admin");
    address internal payer = makeAddr("payer");
    address internal pool = makeAddr("guarantorPool");
    address internal exchange = makeAddr("exchange");
    address internal lp = makeAddr("outsideLP");
    address internal victim = makeAddr("victim");

    function setUp() public {
        usd = new TestToken();
        fund = new InsuranceFund(IERC20(address(usd)), admin, "GCX Insurance Fund Share", "gcxIF");
        bytes32 role = fund.PAYER_ROLE();
        vm.prank(admin);
        fund.grantRole(role, payer);
        address[4] memory users = [pool, exchange, lp, victim];
        for (uint256 i; i < users.length; ++i) {
            usd.mint(users[i], 1_000_000e6);
            vm.prank(users[i]);
            usd.approve(address(fund), type(uint256).max);
        }
    }

    function _unauth(address who, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, role);
    }

    // ------------------------------------------------------------ construction

    function test_constructor() public view {
        assertEq(fund.asset(), address(usd));
        assertEq(fund.decimals(), 12); // 6 + DECIMALS_OFFSET
        assertEq(fund.name(), "GCX Insurance Fund Share");
        assertEq(fund.symbol(), "gcxIF");
        assertTrue(fund.hasRole(fund.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(fund.hasRole(fund.PAYER_ROLE(), payer));
        assertEq(fund.totalAssets(), 0);
    }

    function test_constructor_revertsZeroAsset() public {
        vm.expectRevert(InsuranceFund.ZeroAddress.selector);
        new InsuranceFund(IERC20(address(0)), admin, "n", "s");
    }

    function test_constructor_revertsZeroAdmin() public {
        vm.expectRevert(InsuranceFund.ZeroAddress.selector);
        new InsuranceFund(IERC20(address(usd)), address(0), "n", "s");
    }

    // ------------------------------------------------------------ shares

    function test_depositRedeem_threeKindsOfLP() public {
        vm.prank(pool);
        uint256 s1 = fund.deposit(100e6, pool);
        vm.prank(exchange);
        uint256 s2 = fund.deposit(50e6, exchange);
        vm.prank(lp);
        uint256 a3 = fund.mint(25e12, lp);
        assertEq(s1, 100e12);
        assertEq(s2, 50e12);
        assertEq(a3, 25e6); // mint returns the assets pulled
        assertEq(fund.totalAssets(), 175e6);

        vm.prank(exchange);
        uint256 assets = fund.redeem(s2, exchange, exchange);
        assertEq(assets, 50e6);
        vm.prank(lp);
        fund.withdraw(25e6, lp, lp);
        assertEq(fund.balanceOf(lp), 0);
        assertEq(fund.totalAssets(), 100e6);
    }

    // ------------------------------------------------------------ fees

    function test_receiveFees_raisesSharePrice() public {
        vm.prank(pool);
        fund.deposit(100e6, pool);
        uint256 supply = fund.totalSupply();
        vm.expectEmit(address(fund));
        emit InsuranceFund.FeesReceived(exchange, 10e6);
        vm.prank(exchange);
        fund.receiveFees(10e6);
        assertEq(fund.totalSupply(), supply);
        assertEq(fund.totalAssets(), 110e6);
        assertApproxEqAbs(fund.previewRedeem(fund.balanceOf(pool)), 110e6, 1);
    }

    function test_receiveFees_revertsZero() public {
        vm.expectRevert(InsuranceFund.ZeroAmount.selector);
        vm.prank(exchange);
        fund.receiveFees(0);
    }

    function test_receiveFees_reentrancyBlocked() public {
        usd.armHook(address(fund), abi.encodeCall(InsuranceFund.receiveFees, (1)));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(exchange);
        fund.receiveFees(1);
    }

    // ------------------------------------------------------------ shortfalls

    function test_payShortfall_lowersSharePriceProRata() public {
        vm.prank(pool);
        fund.deposit(300e6, pool);
        vm.prank(lp);
        fund.deposit(100e6, lp);
        vm.expectEmit(address(fund));
        emit InsuranceFund.ShortfallPaid(payer, victim, 40e6, "default #3");
        vm.prank(payer);
        fund.payShortfall(victim, 40e6, "default #3");
        assertEq(usd.balanceOf(victim), 1_000_040e6);
        assertEq(fund.totalAssets(), 360e6);
        assertApproxEqAbs(fund.previewRedeem(fund.balanceOf(pool)), 270e6, 1);
        assertApproxEqAbs(fund.previewRedeem(fund.balanceOf(lp)), 90e6, 1);
    }

    function test_payShortfall_allAssets() public {
        vm.prank(pool);
        fund.deposit(10e6, pool);
        vm.prank(payer);
        fund.payShortfall(victim, 10e6, "all");
        assertEq(fund.totalAssets(), 0);
        // new deposits after a wipe-out still get a fair share count
        vm.prank(lp);
        fund.deposit(5e6, lp);
        assertApproxEqAbs(fund.previewRedeem(fund.balanceOf(lp)), 5e6, 1);
    }

    function test_payShortfall_revertsNotPayer() public {
        vm.prank(pool);
        fund.deposit(10e6, pool);
        bytes32 role = fund.PAYER_ROLE();
        vm.expectRevert(_unauth(admin, role));
        vm.prank(admin);
        fund.payShortfall(victim, 1, "x");
        vm.expectRevert(_unauth(pool, role));
        vm.prank(pool);
        fund.payShortfall(pool, 1, "x");
    }

    function test_payShortfall_revertsZeroTo() public {
        vm.expectRevert(InsuranceFund.ZeroAddress.selector);
        vm.prank(payer);
        fund.payShortfall(address(0), 1, "x");
    }

    function test_payShortfall_revertsZeroAmount() public {
        vm.expectRevert(InsuranceFund.ZeroAmount.selector);
        vm.prank(payer);
        fund.payShortfall(victim, 0, "x");
    }

    function test_payShortfall_revertsAboveAssets() public {
        vm.prank(pool);
        fund.deposit(10e6, pool);
        vm.expectRevert(abi.encodeWithSelector(InsuranceFund.InsufficientAssets.selector, 10e6, 10e6 + 1));
        vm.prank(payer);
        fund.payShortfall(victim, 10e6 + 1, "x");
    }

    function test_payShortfall_reentrancyBlocked() public {
        vm.prank(pool);
        fund.deposit(10e6, pool);
        usd.armHook(address(fund), abi.encodeCall(InsuranceFund.payShortfall, (victim, 1, "re")));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(payer);
        fund.payShortfall(victim, 1, "x");
    }

    function test_deposit_reentrancyBlocked() public {
        usd.armHook(address(fund), abi.encodeWithSignature("deposit(uint256,address)", 1, pool));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(pool);
        fund.deposit(1e6, pool);
    }

    // ------------------------------------------------------------ inflation attack

    /// The classic attack: deposit 1 wei, donate a lot, let the victim's deposit round to ~0 shares. With the
    /// decimals offset the victim keeps (almost) everything and the attacker loses most of its donation.
    function test_inflationAttack_unprofitable() public {
        address attacker = makeAddr("attacker");
        usd.mint(attacker, 1_000_001e6);
        vm.startPrank(attacker);
        usd.approve(address(fund), type(uint256).max);
        fund.deposit(1, attacker);
        usd.transfer(address(fund), 1_000_000e6); // donation
        vm.stopPrank();

        vm.prank(victim);
        fund.deposit(100_000e6, victim);
        assertGt(fund.balanceOf(victim), 0);
        uint256 victimAssets = fund.previewRedeem(fund.balanceOf(victim));
        assertApproxEqRel(victimAssets, 100_000e6, 1e13); // ≤ 1e-5 relative loss (here ~0.45 USD of 100k)

        uint256 attackerShares = fund.balanceOf(attacker);
        vm.prank(attacker);
        uint256 back = fund.redeem(attackerShares, attacker, attacker);
        // the attacker loses far more of its donation than the victim lost
        assertGt(1_000_000e6 + 1 - back, 1_000 * (100_000e6 - victimAssets));
    }

    // ------------------------------------------------------------ fuzz

    function testFuzz_depositRedeemNoProfit(uint256 a, uint256 b, uint256 fees) public {
        a = bound(a, 1, 1_000_000e6);
        b = bound(b, 1, 1_000_000e6);
        fees = bound(fees, 0, 1_000_000e6);
        vm.prank(pool);
        fund.deposit(a, pool);
        if (fees > 0) {
            vm.prank(exchange);
            fund.receiveFees(fees);
        }
        vm.startPrank(lp);
        fund.deposit(b, lp);
        uint256 back = fund.redeem(fund.balanceOf(lp), lp, lp);
        vm.stopPrank();
        assertLe(back, b); // a round trip never profits from rounding
        // and loses at most the rounding of one share on the way in plus one unit on the way out
        assertGe(back + fund.convertToAssets(1) + 2, b);
    }

    function testFuzz_shortfallCappedByAssets(uint256 dep, uint256 amount) public {
        dep = bound(dep, 1, 1_000_000e6);
        amount = bound(amount, 1, 2_000_000e6);
        vm.prank(pool);
        fund.deposit(dep, pool);
        vm.prank(payer);
        if (amount > dep) {
            vm.expectRevert(abi.encodeWithSelector(InsuranceFund.InsufficientAssets.selector, dep, amount));
        }
        fund.payShortfall(victim, amount, "fuzz");
        assertEq(fund.totalAssets(), amount > dep ? dep : dep - amount);
    }
}

/// @notice Invariants: the fund can always honour every redemption; share accounting stays consistent; only
///         the payer pays out.
contract InsuranceFundInvariantTest is Test {
    TestToken internal usd;
    InsuranceFund internal fund;
    FundHandler internal handler;

    function setUp() public {
        usd = new TestToken();
        address admin = makeAddr("admin");
        address payer = makeAddr("payer");
        fund = new InsuranceFund(IERC20(address(usd)), admin, "GCX IF", "gcxIF");
        bytes32 role = fund.PAYER_ROLE();
        vm.prank(admin);
        fund.grantRole(role, payer);
        handler = new FundHandler(fund, usd, payer);
        targetContract(address(handler));
    }

    function invariant_redeemableCoveredByAssets() public view {
        assertLe(fund.convertToAssets(fund.totalSupply()), fund.totalAssets());
        assertEq(fund.totalAssets(), usd.balanceOf(address(fund)));
    }

    function invariant_sharesSumToSupply() public view {
        assertEq(handler.sumShares(), fund.totalSupply());
    }

    function invariant_assetFlowsBalance() public view {
        assertEq(
            handler.ghostIn() - handler.ghostOut(), usd.balanceOf(address(fund)), "deposits + fees - redemptions - shortfalls"
        );
        assertEq(handler.ghostUnauthorizedSuccess(), 0);
    }
}
