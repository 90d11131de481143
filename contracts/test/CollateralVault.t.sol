// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test, console} from "forge-std/Test.sol";
import {stdError} from "forge-std/StdError.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {CollateralVault} from "../src/CollateralVault.sol";
import {TestToken} from "./handlers/TestToken.sol";
import {VaultHandler} from "./handlers/VaultHandler.sol";

contract CollateralVaultTest is Test {
    TestToken internal usd;
    CollateralVault internal vault;

    address internal admin = makeAddr("admin");
    address internal operator = makeAddr("operator");
    address internal g1 = makeAddr("guarantor1");
    address internal g2 = makeAddr("guarantor2");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal stranger = makeAddr("stranger");

    uint256 internal constant DELAY = 1 days;
    bytes32 internal constant ROOT = keccak256("batch");

    function setUp() public {
        usd = new TestToken();
        vault = new CollateralVault(IERC20(address(usd)), admin, operator, DELAY);
        vm.startPrank(admin);
        vault.setGuarantor(g1, true);
        vault.setGuarantor(g2, true);
        vm.stopPrank();
        address[4] memory users = [g1, g2, alice, bob];
        for (uint256 i; i < users.length; ++i) {
            usd.mint(users[i], 1_000_000e6);
            vm.prank(users[i]);
            usd.approve(address(vault), type(uint256).max);
        }
    }

    // ------------------------------------------------------------ helpers

    function _entry(address g, address a, int256 d) internal pure returns (CollateralVault.Entry memory) {
        return CollateralVault.Entry({guarantor: g, account: a, delta: d});
    }

    function _two(CollateralVault.Entry memory a, CollateralVault.Entry memory b)
        internal
        pure
        returns (CollateralVault.Entry[] memory es)
    {
        es = new CollateralVault.Entry[](2);
        es[0] = a;
        es[1] = b;
    }

    function _unauth(address who, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, role);
    }

    function _fund() internal {
        vm.prank(alice);
        vault.deposit(g1, 1_000e6);
        vm.prank(bob);
        vault.deposit(g1, 500e6);
        vm.prank(g1);
        vault.depositPool(2_000e6);
    }

    // ------------------------------------------------------------ constructor / admin

    function test_constructor() public view {
        assertEq(address(vault.token()), address(usd));
        assertEq(vault.withdrawalDelay(), DELAY);
        assertEq(vault.nextBatchId(), 1);
        assertEq(vault.nextRequestId(), 1);
        assertTrue(vault.hasRole(vault.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(vault.hasRole(vault.OPERATOR_ROLE(), operator));
        assertEq(uint8(vault.guarantorStatus(g1)), uint8(CollateralVault.GuarantorStatus.Active));
        assertEq(uint8(vault.guarantorStatus(alice)), uint8(CollateralVault.GuarantorStatus.None));
    }

    function test_constructor_noOperator() public {
        CollateralVault v = new CollateralVault(IERC20(address(usd)), admin, address(0), 0);
        assertFalse(v.hasRole(v.OPERATOR_ROLE(), address(0)));
    }

    function test_constructor_revertsZeroToken() public {
        vm.expectRevert(CollateralVault.ZeroAddress.selector);
        new CollateralVault(IERC20(address(0)), admin, operator, DELAY);
    }

    function test_constructor_revertsZeroAdmin() public {
        vm.expectRevert(CollateralVault.ZeroAddress.selector);
        new CollateralVault(IERC20(address(usd)), address(0), operator, DELAY);
    }

    function test_constructor_revertsDelayTooLong() public {
        uint256 d = vault.MAX_WITHDRAWAL_DELAY() + 1;
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.DelayTooLong.selector, d));
        new CollateralVault(IERC20(address(usd)), admin, operator, d);
    }

    function test_setGuarantor_activateSuspend() public {
        vm.expectEmit(address(vault));
        emit CollateralVault.GuarantorStatusSet(alice, CollateralVault.GuarantorStatus.Active);
        vm.prank(admin);
        vault.setGuarantor(alice, true);
        assertEq(uint8(vault.guarantorStatus(alice)), 1);
        vm.prank(admin);
        vault.setGuarantor(alice, false);
        assertEq(uint8(vault.guarantorStatus(alice)), 2);
    }

    function test_setGuarantor_revertsNotAdmin() public {
        vm.expectRevert(_unauth(operator, bytes32(0)));
        vm.prank(operator);
        vault.setGuarantor(alice, true);
    }

    function test_setGuarantor_revertsZero() public {
        vm.expectRevert(CollateralVault.ZeroAddress.selector);
        vm.prank(admin);
        vault.setGuarantor(address(0), true);
    }

    function test_setWithdrawalDelay() public {
        vm.expectEmit(address(vault));
        emit CollateralVault.WithdrawalDelaySet(2 days);
        vm.prank(admin);
        vault.setWithdrawalDelay(2 days);
        assertEq(vault.withdrawalDelay(), 2 days);
    }

    function test_setWithdrawalDelay_revertsNotAdmin() public {
        vm.expectRevert(_unauth(stranger, bytes32(0)));
        vm.prank(stranger);
        vault.setWithdrawalDelay(2 days);
    }

    function test_setWithdrawalDelay_revertsTooLong() public {
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.DelayTooLong.selector, 31 days));
        vm.prank(admin);
        vault.setWithdrawalDelay(31 days);
    }

    // ------------------------------------------------------------ deposits

    function test_deposit_customer() public {
        vm.expectEmit(address(vault));
        emit CollateralVault.Deposited(g1, alice, 100e6);
        vm.prank(alice);
        vault.deposit(g1, 100e6);
        assertEq(vault.customerBalance(g1, alice), 100e6);
        assertEq(vault.poolBalance(g1), 0);
        assertEq(vault.totalLiabilities(), 100e6);
        assertEq(usd.balanceOf(address(vault)), 100e6);
    }

    function test_deposit_segregatedPerGuarantor() public {
        vm.startPrank(alice);
        vault.deposit(g1, 100e6);
        vault.deposit(g2, 30e6);
        vm.stopPrank();
        assertEq(vault.customerBalance(g1, alice), 100e6);
        assertEq(vault.customerBalance(g2, alice), 30e6);
        assertEq(vault.poolBalance(g1), 0);
        assertEq(vault.poolBalance(g2), 0);
    }

    function test_deposit_byGuarantorGoesToPool() public {
        vm.prank(g1);
        vault.deposit(g1, 7e6);
        assertEq(vault.poolBalance(g1), 7e6);
    }

    function test_deposit_revertsZero() public {
        vm.expectRevert(CollateralVault.ZeroAmount.selector);
        vm.prank(alice);
        vault.deposit(g1, 0);
    }

    function test_deposit_revertsUnknownGuarantor() public {
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.UnknownGuarantor.selector, bob));
        vm.prank(alice);
        vault.deposit(bob, 1);
    }

    function test_deposit_revertsSuspendedGuarantor() public {
        vm.prank(admin);
        vault.setGuarantor(g1, false);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.GuarantorNotActive.selector, g1));
        vm.prank(alice);
        vault.deposit(g1, 1);
    }

    function test_deposit_revertsWithoutAllowance() public {
        usd.mint(stranger, 10);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(vault), 0, 10)
        );
        vm.prank(stranger);
        vault.deposit(g1, 10);
    }

    function test_depositPool() public {
        vm.expectEmit(address(vault));
        emit CollateralVault.Deposited(g1, g1, 5e6);
        vm.prank(g1);
        vault.depositPool(5e6);
        assertEq(vault.poolBalance(g1), 5e6);
        assertEq(vault.totalLiabilities(), 5e6);
    }

    function test_depositPool_revertsNotGuarantor() public {
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.NotGuarantor.selector, alice));
        vm.prank(alice);
        vault.depositPool(5e6);
    }

    function test_depositPool_revertsSuspended() public {
        vm.prank(admin);
        vault.setGuarantor(g1, false);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.GuarantorNotActive.selector, g1));
        vm.prank(g1);
        vault.depositPool(5e6);
    }

    function test_depositPool_revertsZero() public {
        vm.expectRevert(CollateralVault.ZeroAmount.selector);
        vm.prank(g1);
        vault.depositPool(0);
    }

    // ------------------------------------------------------------ settlement

    function test_settle_movesBalances() public {
        _fund();
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](3);
        es[0] = _entry(g1, alice, -100e6); // alice loses 100
        es[1] = _entry(g1, bob, 60e6); // bob wins 60
        es[2] = _entry(g1, g1, 40e6); // pool gets 40
        vm.expectEmit(address(vault));
        emit CollateralVault.BatchSettled(1, ROOT, 3);
        vm.prank(operator);
        vault.settle(1, ROOT, es);
        assertEq(vault.customerBalance(g1, alice), 900e6);
        assertEq(vault.customerBalance(g1, bob), 560e6);
        assertEq(vault.poolBalance(g1), 2_040e6);
        assertEq(vault.totalLiabilities(), 3_500e6);
        assertEq(vault.nextBatchId(), 2);
        assertEq(vault.batchRoot(1), ROOT);
    }

    function test_settle_crossGuarantorAndRepeatedAccount() public {
        _fund();
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](4);
        es[0] = _entry(g1, alice, 50e6);
        es[1] = _entry(g1, alice, -1_050e6); // applied in order: 1050 available after the credit
        es[2] = _entry(g2, alice, 1_000e6); // into a fresh sub-account under g2
        es[3] = _entry(g1, g1, 0); // zero deltas are allowed and do nothing
        vm.prank(operator);
        vault.settle(1, ROOT, es);
        assertEq(vault.customerBalance(g1, alice), 0);
        assertEq(vault.customerBalance(g2, alice), 1_000e6);
    }

    function test_settle_sequentialIds() public {
        _fund();
        CollateralVault.Entry[] memory es = _two(_entry(g1, alice, -1), _entry(g1, bob, 1));
        vm.startPrank(operator);
        vault.settle(1, ROOT, es);
        vault.settle(2, bytes32(uint256(2)), es);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.BadBatchId.selector, uint64(3), uint64(2)));
        vault.settle(2, ROOT, es);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.BadBatchId.selector, uint64(3), uint64(4)));
        vault.settle(4, ROOT, es);
        vm.stopPrank();
        assertEq(vault.batchRoot(2), bytes32(uint256(2)));
    }

    function test_settle_revertsNotOperator() public {
        _fund();
        CollateralVault.Entry[] memory es = _two(_entry(g1, alice, -1), _entry(g1, bob, 1));
        bytes32 role = vault.OPERATOR_ROLE();
        vm.expectRevert(_unauth(admin, role));
        vm.prank(admin);
        vault.settle(1, ROOT, es);
        vm.expectRevert(_unauth(g1, role));
        vm.prank(g1);
        vault.settle(1, ROOT, es);
    }

    function test_settle_revertsEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.BadBatchLength.selector, 0));
        vm.prank(operator);
        vault.settle(1, ROOT, new CollateralVault.Entry[](0));
    }

    function test_settle_revertsTooLong() public {
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](257);
        for (uint256 i; i < es.length; ++i) {
            es[i] = _entry(g1, alice, 0);
        }
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.BadBatchLength.selector, 257));
        vm.prank(operator);
        vault.settle(1, ROOT, es);
    }

    function test_settle_maxLengthOk() public {
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](256);
        for (uint256 i; i < es.length; ++i) {
            es[i] = _entry(g1, alice, 0);
        }
        vm.prank(operator);
        vault.settle(1, ROOT, es);
        assertEq(vault.nextBatchId(), 2);
    }

    function test_settle_revertsNotZeroSum() public {
        _fund();
        CollateralVault.Entry[] memory es = _two(_entry(g1, alice, -10), _entry(g1, bob, 11));
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.BatchNotZeroSum.selector, int256(1)));
        vm.prank(operator);
        vault.settle(1, ROOT, es);
    }

    function test_settle_revertsNegativeBalance() public {
        _fund();
        CollateralVault.Entry[] memory es = _two(_entry(g1, bob, 1), _entry(g1, alice, -1_000e6 - 1));
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.NegativeBalance.selector, 1, 1_000e6, 1_000e6 + 1));
        vm.prank(operator);
        vault.settle(1, ROOT, es);
    }

    function test_settle_revertsNegativeBalanceBeforeLaterCredit() public {
        _fund();
        // the debit comes first: order matters, no temporary overdraft
        CollateralVault.Entry[] memory es = _two(_entry(g1, alice, -1_001e6), _entry(g1, alice, 1_001e6));
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.NegativeBalance.selector, 0, 1_000e6, 1_001e6));
        vm.prank(operator);
        vault.settle(1, ROOT, es);
    }

    function test_settle_revertsMinDelta() public {
        CollateralVault.Entry[] memory es = _two(_entry(g1, alice, type(int256).min), _entry(g1, bob, 0));
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.BadDelta.selector, 0));
        vm.prank(operator);
        vault.settle(1, ROOT, es);
    }

    function test_settle_revertsUnknownGuarantor() public {
        _fund();
        CollateralVault.Entry[] memory es = _two(_entry(g1, alice, -1), _entry(stranger, bob, 1));
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.UnknownGuarantor.selector, stranger));
        vm.prank(operator);
        vault.settle(1, ROOT, es);
    }

    function test_settle_revertsOverflowingCredits() public {
        CollateralVault.Entry[] memory es = _two(_entry(g1, alice, type(int256).max), _entry(g1, bob, 1));
        vm.expectRevert(stdError.arithmeticError);
        vm.prank(operator);
        vault.settle(1, ROOT, es);
    }

    function test_settle_suspendedGuarantorStillSettles() public {
        _fund();
        vm.prank(admin);
        vault.setGuarantor(g1, false);
        vm.prank(operator);
        vault.settle(1, ROOT, _two(_entry(g1, alice, -5), _entry(g1, g1, 5)));
        assertEq(vault.poolBalance(g1), 2_000e6 + 5);
    }

    // ------------------------------------------------------------ holds

    function test_hold_and_release() public {
        _fund();
        vm.expectEmit(address(vault));
        emit CollateralVault.HoldPlaced(g1, alice, 300e6, 300e6, "IM call #7");
        vm.prank(operator);
        vault.hold(g1, alice, 300e6, "IM call #7");
        assertEq(vault.held(g1, alice), 300e6);
        assertEq(vault.available(g1, alice), 700e6);

        vm.expectEmit(address(vault));
        emit CollateralVault.HoldReleased(g1, alice, 100e6, 200e6, "IM reduced");
        vm.prank(operator);
        vault.release(g1, alice, 100e6, "IM reduced");
        assertEq(vault.held(g1, alice), 200e6);
        assertEq(vault.available(g1, alice), 800e6);
    }

    function test_hold_revertsNotOperator() public {
        _fund();
        vm.expectRevert(_unauth(admin, vault.OPERATOR_ROLE()));
        vm.prank(admin);
        vault.hold(g1, alice, 1, "x");
    }

    function test_hold_revertsZero() public {
        vm.expectRevert(CollateralVault.ZeroAmount.selector);
        vm.prank(operator);
        vault.hold(g1, alice, 0, "x");
    }

    function test_hold_revertsExceedsBalance() public {
        _fund();
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.HoldExceedsBalance.selector, 1_000e6, 1_000e6 + 1));
        vm.prank(operator);
        vault.hold(g1, alice, 1_000e6 + 1, "x");
    }

    function test_release_revertsNotOperator() public {
        vm.expectRevert(_unauth(alice, vault.OPERATOR_ROLE()));
        vm.prank(alice);
        vault.release(g1, alice, 1, "x");
    }

    function test_release_revertsZero() public {
        vm.expectRevert(CollateralVault.ZeroAmount.selector);
        vm.prank(operator);
        vault.release(g1, alice, 0, "x");
    }

    function test_release_revertsExceedsHold() public {
        _fund();
        vm.prank(operator);
        vault.hold(g1, alice, 5, "x");
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.ReleaseExceedsHold.selector, 5, 6));
        vm.prank(operator);
        vault.release(g1, alice, 6, "x");
    }

    function test_available_zeroWhenLossBelowHold() public {
        _fund();
        vm.startPrank(operator);
        vault.hold(g1, alice, 900e6, "IM");
        vault.settle(1, ROOT, _two(_entry(g1, alice, -500e6), _entry(g1, bob, 500e6)));
        vm.stopPrank();
        assertEq(vault.customerBalance(g1, alice), 500e6);
        assertEq(vault.available(g1, alice), 0);
    }

    // ------------------------------------------------------------ withdrawals

    function test_withdraw_afterDelay() public {
        _fund();
        vm.expectEmit(address(vault));
        emit CollateralVault.WithdrawalRequested(1, g1, alice, 400e6, block.timestamp + DELAY);
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 400e6);
        assertEq(id, 1);
        assertEq(vault.totalPendingWithdrawals(), 400e6);
        assertEq(vault.customerBalance(g1, alice), 1_000e6); // still in the balance until executed

        vm.warp(block.timestamp + DELAY - 1);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.WithdrawalNotReady.selector, block.timestamp + 1));
        vm.prank(alice);
        vault.withdraw(id);

        vm.warp(block.timestamp + 1);
        uint256 before = usd.balanceOf(alice);
        vm.expectEmit(address(vault));
        emit CollateralVault.Withdrawn(id, g1, alice, 400e6);
        vm.prank(alice);
        vault.withdraw(id);
        assertEq(usd.balanceOf(alice) - before, 400e6);
        assertEq(vault.customerBalance(g1, alice), 600e6);
        assertEq(vault.totalLiabilities(), 3_100e6);
        assertEq(vault.totalPendingWithdrawals(), 0);

        vm.expectRevert(abi.encodeWithSelector(CollateralVault.UnknownRequest.selector, id));
        vm.prank(alice);
        vault.withdraw(id);
    }

    function test_withdraw_pool() public {
        _fund();
        vm.prank(g1);
        uint256 id = vault.requestWithdrawal(g1, 2_000e6);
        vm.warp(block.timestamp + DELAY);
        vm.prank(g1);
        vault.withdraw(id);
        assertEq(vault.poolBalance(g1), 0);
        assertEq(vault.customerBalance(g1, alice), 1_000e6);
    }

    function test_requestWithdrawal_revertsZero() public {
        vm.expectRevert(CollateralVault.ZeroAmount.selector);
        vm.prank(alice);
        vault.requestWithdrawal(g1, 0);
    }

    function test_requestWithdrawal_revertsTooLarge() public {
        uint256 a = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.AmountTooLarge.selector, a));
        vm.prank(alice);
        vault.requestWithdrawal(g1, a);
    }

    function test_requestWithdrawal_revertsInsufficient() public {
        _fund();
        vm.prank(operator);
        vault.hold(g1, alice, 600e6, "IM");
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.InsufficientAvailable.selector, 400e6, 400e6 + 1));
        vm.prank(alice);
        vault.requestWithdrawal(g1, 400e6 + 1);
    }

    function test_withdraw_blockedByLaterHold() public {
        _fund();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 800e6);
        vm.prank(operator);
        vault.hold(g1, alice, 300e6, "margin call during the delay");
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.InsufficientAvailable.selector, 700e6, 800e6));
        vm.prank(alice);
        vault.withdraw(id);
        vm.prank(operator);
        vault.release(g1, alice, 300e6, "margin call met");
        vm.prank(alice);
        vault.withdraw(id);
        assertEq(vault.customerBalance(g1, alice), 200e6);
    }

    function test_withdraw_blockedBySettlementLoss() public {
        _fund();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 1_000e6);
        vm.prank(operator);
        vault.settle(1, ROOT, _two(_entry(g1, alice, -1), _entry(g1, bob, 1)));
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.InsufficientAvailable.selector, 1_000e6 - 1, 1_000e6));
        vm.prank(alice);
        vault.withdraw(id);
    }

    function test_withdraw_revertsNotOwner() public {
        _fund();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 1);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.NotRequestOwner.selector, id, operator));
        vm.prank(operator);
        vault.withdraw(id);
    }

    function test_withdraw_revertsUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.UnknownRequest.selector, 42));
        vm.prank(alice);
        vault.withdraw(42);
    }

    function test_withdraw_delayFixedAtRequest() public {
        _fund();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 1);
        vm.prank(admin);
        vault.setWithdrawalDelay(30 days);
        vm.warp(block.timestamp + DELAY);
        vm.prank(alice);
        vault.withdraw(id);
    }

    function test_cancelWithdrawal() public {
        _fund();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 5);
        vm.expectEmit(address(vault));
        emit CollateralVault.WithdrawalCancelled(id);
        vm.prank(alice);
        vault.cancelWithdrawal(id);
        assertEq(vault.totalPendingWithdrawals(), 0);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.UnknownRequest.selector, id));
        vm.prank(alice);
        vault.withdraw(id);
    }

    function test_cancelWithdrawal_revertsNotOwner() public {
        _fund();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 5);
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.NotRequestOwner.selector, id, bob));
        vm.prank(bob);
        vault.cancelWithdrawal(id);
    }

    function test_cancelWithdrawal_revertsUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(CollateralVault.UnknownRequest.selector, 9));
        vm.prank(alice);
        vault.cancelWithdrawal(9);
    }

    function test_withdraw_reentrancyBlocked() public {
        _fund();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, 10);
        vm.prank(bob);
        uint256 id2 = vault.requestWithdrawal(g1, 10);
        vm.warp(block.timestamp + DELAY);
        usd.armHook(address(vault), abi.encodeCall(CollateralVault.withdraw, (id2)));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(alice);
        vault.withdraw(id);
    }

    function test_deposit_reentrancyBlocked() public {
        usd.armHook(address(vault), abi.encodeCall(CollateralVault.deposit, (g1, 1)));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(alice);
        vault.deposit(g1, 1);
    }

    // ------------------------------------------------------------ gas

    /// @dev Execution gas (cold storage, excluding the 21k intrinsic and calldata gas) of a settlement batch of
    ///      `n` entries over accounts that already hold balances (the steady state), vs 40k + 15k per entry.
    function _gasSettle(uint256 n) internal returns (uint256 used) {
        address[] memory accts = new address[](n);
        for (uint256 i; i < n; ++i) {
            accts[i] = address(uint160(0x1000 + i));
            usd.mint(accts[i], 100e6);
            vm.startPrank(accts[i]);
            usd.approve(address(vault), type(uint256).max);
            vault.deposit(g1, 100e6);
            vm.stopPrank();
        }
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](n);
        for (uint256 i; i < n; ++i) {
            es[i] = _entry(g1, accts[i], i % 2 == 0 ? int256(-1e6) : int256(1e6));
        }
        uint64 id = vault.nextBatchId();
        vm.cool(address(vault)); // measure with cold storage, as in a fresh transaction
        vm.prank(operator);
        uint256 g0 = gasleft();
        vault.settle(id, ROOT, es);
        used = g0 - gasleft();
        console.log("settle entries / gas / target", n, used, 40_000 + 15_000 * n);
        assertLe(used, 40_000 + 15_000 * n);
    }

    function test_gas_settle2() public {
        _gasSettle(2);
    }

    function test_gas_settle16() public {
        _gasSettle(16);
    }

    function test_gas_settle256() public {
        _gasSettle(256);
    }

    // ------------------------------------------------------------ fuzz

    function testFuzz_depositWithdrawRoundTrip(uint96 amount, uint32 delay) public {
        amount = uint96(bound(amount, 1, 1_000_000e6));
        delay = uint32(bound(delay, 0, 30 days));
        vm.prank(admin);
        vault.setWithdrawalDelay(delay);
        uint256 before = usd.balanceOf(alice);
        vm.startPrank(alice);
        vault.deposit(g2, amount);
        uint256 id = vault.requestWithdrawal(g2, amount);
        vm.warp(block.timestamp + delay);
        vault.withdraw(id);
        vm.stopPrank();
        assertEq(usd.balanceOf(alice), before);
        assertEq(vault.totalLiabilities(), 0);
        assertEq(usd.balanceOf(address(vault)), 0);
    }

    function testFuzz_settleTransfer(uint256 amount) public {
        _fund();
        amount = bound(amount, 0, 1_000e6);
        vm.prank(operator);
        vault.settle(1, ROOT, _two(_entry(g1, alice, -int256(amount)), _entry(g1, g1, int256(amount))));
        assertEq(vault.customerBalance(g1, alice), 1_000e6 - amount);
        assertEq(vault.poolBalance(g1), 2_000e6 + amount);
        assertEq(vault.totalLiabilities(), 3_500e6);
    }

    function testFuzz_settleRejectsNonZeroSum(int128 a, int128 b, int128 c) public {
        _fund();
        int256 sum = int256(a) + int256(b) + int256(c);
        vm.assume(sum != 0);
        CollateralVault.Entry[] memory es = new CollateralVault.Entry[](3);
        es[0] = _entry(g1, alice, a);
        es[1] = _entry(g1, bob, b);
        es[2] = _entry(g1, g1, c);
        vm.prank(operator);
        vm.expectRevert(); // NegativeBalance or BatchNotZeroSum: never accepted
        vault.settle(1, ROOT, es);
        assertEq(vault.nextBatchId(), 1);
    }

    function testFuzz_holdBlocksWithdrawal(uint256 held_, uint256 amount) public {
        _fund();
        held_ = bound(held_, 1, 1_000e6);
        amount = bound(amount, 1, 1_000e6);
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(g1, amount);
        vm.prank(operator);
        vault.hold(g1, alice, held_, "IM");
        vm.warp(block.timestamp + DELAY);
        vm.prank(alice);
        if (amount + held_ > 1_000e6) {
            vm.expectRevert(
                abi.encodeWithSelector(CollateralVault.InsufficientAvailable.selector, 1_000e6 - held_, amount)
            );
        }
        vault.withdraw(id);
    }
}

/// @notice Invariants of the vault under random deposits, settlements, holds and withdrawals.
contract CollateralVaultInvariantTest is Test {
    TestToken internal usd;
    CollateralVault internal vault;
    VaultHandler internal handler;

    function setUp() public {
        usd = new TestToken();
        address admin = makeAddr("admin");
        address operator = makeAddr("operator");
        vault = new CollateralVault(IERC20(address(usd)), admin, operator, 1 hours);
        handler = new VaultHandler(vault, usd, admin, operator);
        targetContract(address(handler));
    }

    /// Vault assets cover all liabilities (customer balances + pools).
    function invariant_assetsCoverLiabilities() public view {
        assertGe(usd.balanceOf(address(vault)), vault.totalLiabilities());
        assertEq(usd.balanceOf(address(vault)), vault.totalLiabilities()); // no other inflows in this model
    }

    /// The stored total equals the sum of all balances (computed here by looping over the handler's accounts).
    function invariant_totalsMatchBalances() public view {
        assertEq(handler.sumBalances(), vault.totalLiabilities());
        assertEq(handler.ghostDeposited() - handler.ghostWithdrawn(), vault.totalLiabilities());
        assertEq(handler.ghostPending(), vault.totalPendingWithdrawals());
    }

    /// Every accepted batch summed to zero; only the operator ever settled.
    function invariant_batchesZeroSumAndOperatorOnly() public view {
        assertEq(handler.ghostSettledDeltaSum(), 0);
        assertEq(vault.nextBatchId(), handler.ghostBatches() + 1);
        assertEq(handler.ghostUnauthorizedSuccess(), 0);
    }

    /// No account holds more than it could withdraw through holds.
    function invariant_noNegativeAvailable() public view {
        handler.checkAvailable();
    }
}
