// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test, console} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {JobEscrow} from "../src/JobEscrow.sol";
import {InsuranceFund} from "../src/InsuranceFund.sol";
import {IStakingRegistry} from "../src/interfaces/IStakingRegistry.sol";
import {TestToken} from "./handlers/TestToken.sol";
import {EscrowHandler} from "./handlers/EscrowHandler.sol";
import {MockStakingRegistry} from "./handlers/MockStakingRegistry.sol";
import {GCXFixtures} from "./utils/GCXFixtures.sol";
import {StakingRegistry} from "../src/StakingRegistry.sol";

contract JobEscrowTest is Test {
    TestToken internal usd;
    JobEscrow internal escrow;
    MockStakingRegistry internal registry;

    address internal admin = makeAddr("admin");
    address internal game = makeAddr("verificationGame");
    address internal buyer = makeAddr("buyer");
    address internal provider = makeAddr("provider");
    address internal challenger = makeAddr("challenger");
    address internal treasury = makeAddr("treasury");
    address internal sink = makeAddr("burnSink");
    address internal stranger = makeAddr("stranger");

    bytes32 internal JOB;
    bytes32 internal constant ROOT = keccak256("result");
    uint16 internal constant FEE_BPS = 250; // 2.5 %
    uint16 internal constant BURN_BPS = 2_000; // 20 % of the fee
    uint32 internal constant WINDOW = 1 hours;
    uint8 internal constant PROVIDER_ROLE = 0;
    uint256 internal constant AMOUNT = 1_000e6;

    function setUp() public {
        vm.warp(1_700_000_000);
        usd = new TestToken();
        escrow = new JobEscrow(IERC20(address(usd)), admin, treasury, sink, FEE_BPS, BURN_BPS, 10 minutes);
        registry = new MockStakingRegistry();
        bytes32 gameRole = escrow.CHALLENGER_GAME_ROLE();
        vm.startPrank(admin);
        escrow.grantRole(gameRole, game);
        escrow.setSlashParams(IStakingRegistry(address(registry)), PROVIDER_ROLE);
        vm.stopPrank();
        usd.mint(buyer, 1_000_000e6);
        vm.prank(buyer);
        usd.approve(address(escrow), type(uint256).max);
        JOB = escrow.jobIdFor(buyer, 1);
    }

    // ------------------------------------------------------------ helpers

    function _unauth(address who, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, role);
    }

    function _open() internal returns (uint40 submitBy) {
        submitBy = uint40(block.timestamp + 1 days);
        vm.prank(buyer);
        escrow.open(JOB, provider, AMOUNT, WINDOW, submitBy);
    }

    function _submitted() internal {
        _open();
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
    }

    function _challenged() internal {
        _submitted();
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
    }

    function _wrongState(JobEscrow.State s) internal view returns (bytes memory) {
        return abi.encodeWithSelector(JobEscrow.WrongState.selector, JOB, s);
    }

    // ------------------------------------------------------------ constructor / admin

    function test_constructor() public view {
        assertEq(address(escrow.token()), address(usd));
        assertEq(escrow.feeBps(), FEE_BPS);
        assertEq(escrow.feeBurnBps(), BURN_BPS);
        assertEq(escrow.feeRecipient(), treasury);
        assertEq(escrow.burnSink(), sink);
        assertEq(escrow.minChallengeWindow(), 10 minutes);
        assertTrue(escrow.hasRole(escrow.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(escrow.hasRole(escrow.CHALLENGER_GAME_ROLE(), game));
        assertEq(address(escrow.stakingRegistry()), address(registry));
        assertEq(escrow.minJobLock(), 10 ether);
        assertEq(escrow.lockPerUnit(), 1e12);
        assertEq(escrow.maxChallengeWindow(), 2 days);
        assertEq(escrow.lockedJobs(), 0);
    }

    function test_constructor_reverts() public {
        IERC20 t = IERC20(address(usd));
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        new JobEscrow(IERC20(address(0)), admin, treasury, sink, 0, 0, 0);
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        new JobEscrow(t, address(0), treasury, sink, 0, 0, 0);
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        new JobEscrow(t, admin, address(0), sink, 0, 0, 0);
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        new JobEscrow(t, admin, treasury, address(0), 0, 0, 0);
        vm.expectRevert(JobEscrow.BadFeeParams.selector);
        new JobEscrow(t, admin, treasury, sink, 1_001, 0, 0);
        vm.expectRevert(JobEscrow.BadFeeParams.selector);
        new JobEscrow(t, admin, treasury, sink, 0, 10_001, 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 30 days + 1));
        new JobEscrow(t, admin, treasury, sink, 0, 0, 30 days + 1);
    }

    function test_setFeeParams() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.FeeParamsSet(100, 10_000, stranger, treasury);
        vm.prank(admin);
        escrow.setFeeParams(100, 10_000, stranger, treasury);
        assertEq(escrow.feeBps(), 100);
        assertEq(escrow.feeRecipient(), stranger);
    }

    function test_setFeeParams_reverts() public {
        vm.expectRevert(_unauth(game, bytes32(0)));
        vm.prank(game);
        escrow.setFeeParams(1, 1, treasury, sink);
        vm.startPrank(admin);
        vm.expectRevert(JobEscrow.BadFeeParams.selector);
        escrow.setFeeParams(1_001, 0, treasury, sink);
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        escrow.setFeeParams(1, 0, address(0), sink);
        vm.stopPrank();
    }

    function test_setSlashParams() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.SlashParamsSet(address(0), 3);
        vm.prank(admin);
        escrow.setSlashParams(IStakingRegistry(address(0)), 3);
        assertEq(escrow.providerRole(), 3);
    }

    function test_setSlashParams_reverts() public {
        vm.expectRevert(_unauth(stranger, bytes32(0)));
        vm.prank(stranger);
        escrow.setSlashParams(IStakingRegistry(address(registry)), 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotAContract.selector, stranger));
        vm.prank(admin);
        escrow.setSlashParams(IStakingRegistry(stranger), 0);
    }

    function test_setMinChallengeWindow() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.MinChallengeWindowSet(2 hours);
        vm.prank(admin);
        escrow.setMinChallengeWindow(2 hours);
        assertEq(escrow.minChallengeWindow(), 2 hours);
        vm.expectRevert(_unauth(stranger, bytes32(0)));
        vm.prank(stranger);
        escrow.setMinChallengeWindow(1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 31 days));
        vm.prank(admin);
        escrow.setMinChallengeWindow(31 days);
    }

    function test_setLockParams() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.LockParamsSet(5 ether, 0);
        vm.prank(admin);
        escrow.setLockParams(5 ether, 0);
        assertEq(escrow.lockAmountFor(type(uint96).max), 5 ether); // no per-unit part: the floor only
        vm.prank(admin);
        escrow.setLockParams(1, 2e12);
        assertEq(escrow.lockAmountFor(3e6), 6 ether);
        assertEq(escrow.lockAmountFor(0), 1);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadLockParams.selector, 0, 1));
        escrow.setLockParams(0, 1); // a zero lock would make a lost challenge slash nothing
        uint256 big = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadLockParams.selector, big, 1));
        escrow.setLockParams(big, 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadLockParams.selector, 1, big));
        escrow.setLockParams(1, big);
        vm.stopPrank();
        vm.expectRevert(_unauth(stranger, bytes32(0)));
        vm.prank(stranger);
        escrow.setLockParams(1, 1);
    }

    function test_setMaxChallengeWindow() public {
        vm.expectEmit(address(escrow));
        emit JobEscrow.MaxChallengeWindowSet(30 days);
        vm.prank(admin);
        escrow.setMaxChallengeWindow(30 days);
        assertEq(escrow.maxChallengeWindow(), 30 days);
        assertEq(registry.minUnbondingDelay(), 30 days + 3 days);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 30 days + 1));
        escrow.setMaxChallengeWindow(30 days + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 10 minutes - 1));
        escrow.setMaxChallengeWindow(10 minutes - 1); // below the minimum window
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 30 days + 1));
        escrow.setMinChallengeWindow(30 days + 1); // the minimum stays below the maximum
        registry.setUnbondingDelay(1 days);
        vm.expectRevert(MockStakingRegistry.InsufficientStake.selector); // the registry refuses the floor
        escrow.setMaxChallengeWindow(2 days);
        vm.stopPrank();
        vm.expectRevert(_unauth(stranger, bytes32(0)));
        vm.prank(stranger);
        escrow.setMaxChallengeWindow(1 days);
    }

    /// The escrow's own error names the provider, its free stake and the lock when the stake cannot cover it;
    /// any other refusal of the lock is passed on as the registry raised it.
    function test_open_lockRefusals() public {
        registry.setBonded(provider, 999 ether); // AMOUNT (1,000 USD) locks 1,000 GCX
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.InsufficientFreeStake.selector, provider, 999 ether, 1_000 ether));
        _open();
        registry.setBonded(provider, 1_000 ether);
        registry.setRefuseLocks(true);
        vm.expectRevert(MockStakingRegistry.LockRefused.selector);
        _open();
        registry.setRefuseLocks(false);
        _open();
        assertEq(escrow.stakeLockOf(JOB), 1_000 ether);
        assertEq(registry.lockedOf(provider, PROVIDER_ROLE), 1_000 ether);
        assertEq(escrow.lockedJobs(), 1);
    }

    // ------------------------------------------------------------ open

    function test_open() public {
        uint40 by = uint40(block.timestamp + 1 days);
        vm.expectEmit(address(escrow));
        emit JobEscrow.JobOpened(JOB, buyer, provider, AMOUNT, FEE_BPS, WINDOW, by);
        vm.prank(buyer);
        escrow.open(JOB, provider, AMOUNT, WINDOW, by);
        JobEscrow.Job memory j = escrow.getJob(JOB);
        assertEq(j.buyer, buyer);
        assertEq(j.provider, provider);
        assertEq(j.amount, AMOUNT);
        assertEq(uint8(j.state), uint8(JobEscrow.State.Open));
        assertEq(j.deadline, by);
        assertEq(j.challengeWindow, WINDOW);
        assertEq(j.feeBps, FEE_BPS);
        assertEq(usd.balanceOf(address(escrow)), AMOUNT);
        (address p, address b, bytes32 r, uint64 cd, uint8 st) = escrow.challengeInfo(JOB);
        assertEq(p, provider);
        assertEq(b, buyer);
        assertEq(r, bytes32(0));
        assertEq(cd, 0);
        assertEq(st, 1);
    }

    function test_open_reverts() public {
        uint40 by = uint40(block.timestamp + 1 days);
        vm.startPrank(buyer);
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        escrow.open(JOB, address(0), AMOUNT, WINDOW, by);
        vm.expectRevert(JobEscrow.ZeroAmount.selector);
        escrow.open(JOB, provider, 0, WINDOW, by);
        uint256 big = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.AmountTooLarge.selector, big));
        escrow.open(JOB, provider, big, WINDOW, by);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 10 minutes - 1));
        escrow.open(JOB, provider, AMOUNT, 10 minutes - 1, by);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 30 days + 1));
        escrow.open(JOB, provider, AMOUNT, 30 days + 1, by);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadSubmitDeadline.selector, block.timestamp - 1));
        escrow.open(JOB, provider, AMOUNT, WINDOW, uint40(block.timestamp - 1));
        uint256 far = block.timestamp + 365 days + 1;
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadSubmitDeadline.selector, far));
        escrow.open(JOB, provider, AMOUNT, WINDOW, uint40(far));
        escrow.open(JOB, provider, AMOUNT, WINDOW, by);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.JobExists.selector, JOB));
        escrow.open(JOB, provider, AMOUNT, WINDOW, by);
        vm.stopPrank();
    }

    /// Attack 4: a front-runner copied a buyer's job id from the mempool and opened a 1-unit job with it,
    /// blocking the buyer. The id is bound to the buyer now: the copy reverts and the buyer's open goes through.
    function test_attack4_frontRunnerCannotOccupyBuyersJobId() public {
        usd.mint(stranger, 10e6);
        vm.startPrank(stranger);
        usd.approve(address(escrow), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.JobIdNotBuyers.selector, JOB, stranger));
        escrow.open(JOB, provider, 1, WINDOW, uint40(block.timestamp + 1 days));
        vm.stopPrank();
        _open();
        assertEq(escrow.getJob(JOB).buyer, buyer);
        assertEq(escrow.getJob(JOB).amount, AMOUNT);
        // the front-runner's own ids cannot collide with the buyer's
        assertTrue(escrow.jobIdFor(stranger, 1) != JOB);
    }

    function test_open_idNeverReused() public {
        _open();
        vm.warp(block.timestamp + 1 days + 1);
        escrow.refund(JOB);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.JobExists.selector, JOB));
        vm.prank(buyer);
        escrow.open(JOB, provider, AMOUNT, WINDOW, uint40(block.timestamp + 1));
    }

    function test_open_feeRateFixedAtOpen() public {
        _submitted();
        vm.prank(admin);
        escrow.setFeeParams(1_000, BURN_BPS, treasury, sink);
        vm.warp(block.timestamp + WINDOW);
        escrow.finalize(JOB);
        assertEq(usd.balanceOf(provider), AMOUNT - AMOUNT * FEE_BPS / 10_000);
    }

    function test_open_reentrancyBlocked() public {
        usd.armHook(
            address(escrow),
            abi.encodeCall(JobEscrow.open, (keccak256("j2"), provider, 1, WINDOW, uint40(block.timestamp + 1)))
        );
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        _open();
    }

    // ------------------------------------------------------------ submitResult

    function test_submitResult() public {
        _open();
        vm.expectEmit(address(escrow));
        emit JobEscrow.ResultSubmitted(JOB, ROOT, block.timestamp + WINDOW);
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
        JobEscrow.Job memory j = escrow.getJob(JOB);
        assertEq(uint8(j.state), uint8(JobEscrow.State.Submitted));
        assertEq(j.resultRoot, ROOT);
        assertEq(j.deadline, block.timestamp + WINDOW);
        (,, bytes32 r, uint64 cd, uint8 st) = escrow.challengeInfo(JOB);
        assertEq(r, ROOT);
        assertEq(cd, block.timestamp + WINDOW);
        assertEq(st, uint8(JobEscrow.State.Submitted));
    }

    function test_submitResult_atDeadlineOk() public {
        uint40 by = _open();
        vm.warp(by);
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
    }

    function test_submitResult_reverts() public {
        vm.expectRevert(_wrongState(JobEscrow.State.None));
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
        uint40 by = _open();
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.NotProvider.selector, buyer));
        vm.prank(buyer);
        escrow.submitResult(JOB, ROOT);
        vm.expectRevert(JobEscrow.ZeroResultRoot.selector);
        vm.prank(provider);
        escrow.submitResult(JOB, bytes32(0));
        vm.warp(uint256(by) + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SubmitDeadlinePassed.selector, by));
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
    }

    function test_submitResult_revertsForInactiveProvider() public {
        _open();
        registry.setInactive(provider, true);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ProviderNotActive.selector, provider));
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
    }

    function test_open_revertsWithoutRegistry() public {
        vm.prank(admin);
        escrow.setSlashParams(IStakingRegistry(address(0)), 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ProviderNotActive.selector, provider));
        _open();
    }

    function test_submitResult_revertsTwice() public {
        _submitted();
        vm.expectRevert(_wrongState(JobEscrow.State.Submitted));
        vm.prank(provider);
        escrow.submitResult(JOB, keccak256("other"));
    }

    // ------------------------------------------------------------ finalize

    function test_finalize() public {
        _submitted();
        uint256 fee = AMOUNT * FEE_BPS / 10_000; // 25e6
        uint256 burn = fee * BURN_BPS / 10_000; // 5e6
        vm.warp(block.timestamp + WINDOW);
        vm.expectEmit(address(escrow));
        emit JobEscrow.JobFinalized(JOB, provider, AMOUNT - fee, fee, burn);
        vm.prank(stranger); // anyone
        escrow.finalize(JOB);
        assertEq(usd.balanceOf(provider), AMOUNT - fee);
        assertEq(escrow.pendingFees(), fee - burn);
        assertEq(escrow.pendingBurn(), burn);
        assertEq(usd.balanceOf(address(escrow)), fee);
        assertEq(uint8(escrow.stateOf(JOB)), uint8(JobEscrow.State.Finalized));

        vm.expectRevert(_wrongState(JobEscrow.State.Finalized));
        escrow.finalize(JOB);
    }

    function test_finalize_revertsWindowOpen() public {
        _submitted();
        uint256 d = block.timestamp + WINDOW;
        vm.warp(d - 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ChallengeWindowOpen.selector, d));
        escrow.finalize(JOB);
    }

    function test_finalize_revertsWrongState() public {
        vm.expectRevert(_wrongState(JobEscrow.State.None));
        escrow.finalize(JOB);
        _open();
        vm.expectRevert(_wrongState(JobEscrow.State.Open));
        escrow.finalize(JOB);
    }

    function test_finalize_zeroFee() public {
        vm.prank(admin);
        escrow.setFeeParams(0, BURN_BPS, treasury, sink);
        _submitted();
        vm.warp(block.timestamp + WINDOW);
        escrow.finalize(JOB);
        assertEq(usd.balanceOf(provider), AMOUNT);
        assertEq(usd.balanceOf(address(escrow)), 0);
    }

    function test_finalize_reentrancyBlocked() public {
        _submitted();
        vm.warp(block.timestamp + WINDOW);
        usd.armHook(address(escrow), abi.encodeCall(JobEscrow.distributeFees, ()));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        escrow.finalize(JOB);
    }

    // ------------------------------------------------------------ refund

    function test_refund_afterDeadline() public {
        uint40 by = _open();
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SubmitDeadlineNotPassed.selector, by));
        escrow.refund(JOB);
        vm.warp(by);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.SubmitDeadlineNotPassed.selector, by));
        escrow.refund(JOB);
        vm.warp(uint256(by) + 1);
        uint256 before = usd.balanceOf(buyer);
        vm.expectEmit(address(escrow));
        emit JobEscrow.JobRefunded(JOB, buyer, AMOUNT);
        vm.prank(stranger); // anyone; the tokens go to the buyer
        escrow.refund(JOB);
        assertEq(usd.balanceOf(buyer) - before, AMOUNT);
        assertEq(uint8(escrow.stateOf(JOB)), uint8(JobEscrow.State.Refunded));
        vm.expectRevert(_wrongState(JobEscrow.State.Refunded));
        escrow.refund(JOB);
    }

    function test_refund_revertsAfterSubmit() public {
        _submitted();
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(_wrongState(JobEscrow.State.Submitted));
        escrow.refund(JOB);
    }

    // ------------------------------------------------------------ challenge hook

    function test_markChallenged_freezesFinalize() public {
        _submitted();
        vm.expectEmit(address(escrow));
        emit JobEscrow.JobChallenged(JOB, challenger);
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
        assertEq(escrow.challengerOf(JOB), challenger);
        vm.warp(block.timestamp + WINDOW + 1 days);
        vm.expectRevert(_wrongState(JobEscrow.State.Challenged));
        escrow.finalize(JOB);
    }

    function test_markChallenged_onlyGame() public {
        _submitted();
        bytes32 role = escrow.CHALLENGER_GAME_ROLE();
        address[4] memory notGame = [admin, buyer, provider, challenger];
        for (uint256 i; i < notGame.length; ++i) {
            vm.expectRevert(_unauth(notGame[i], role));
            vm.prank(notGame[i]);
            escrow.markChallenged(JOB, challenger);
        }
    }

    function test_markChallenged_reverts() public {
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        vm.prank(game);
        escrow.markChallenged(JOB, address(0));
        vm.expectRevert(_wrongState(JobEscrow.State.None));
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
        _open();
        vm.expectRevert(_wrongState(JobEscrow.State.Open));
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
        uint256 d = block.timestamp + WINDOW;
        vm.warp(d);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ChallengeWindowClosed.selector, d));
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
    }

    function test_markChallenged_revertsTwice() public {
        _challenged();
        vm.expectRevert(_wrongState(JobEscrow.State.Challenged));
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
    }

    function test_resolve_providerWins() public {
        _challenged();
        vm.expectEmit(address(escrow));
        emit JobEscrow.JobResolved(JOB, true);
        vm.prank(game);
        escrow.resolve(JOB, true);
        assertEq(uint8(escrow.stateOf(JOB)), uint8(JobEscrow.State.Finalized));
        assertEq(usd.balanceOf(provider), AMOUNT - AMOUNT * FEE_BPS / 10_000);
        assertEq(registry.calls(), 0);
    }

    function test_resolve_providerLoses_refundAndSlash() public {
        _challenged();
        uint256 before = usd.balanceOf(buyer);
        vm.expectEmit(address(escrow));
        emit JobEscrow.ProviderSlashed(JOB, provider, 1_000e18, challenger); // the job's lock: 1 GCX per USD
        vm.prank(game);
        escrow.resolve(JOB, false);
        assertEq(uint8(escrow.stateOf(JOB)), uint8(JobEscrow.State.Refunded));
        assertEq(usd.balanceOf(buyer) - before, AMOUNT);
        assertEq(usd.balanceOf(provider), 0);
        assertEq(usd.balanceOf(address(escrow)), 0);
        assertEq(registry.calls(), 1);
        assertEq(registry.lastAccount(), provider);
        assertEq(registry.lastRole(), PROVIDER_ROLE);
        assertEq(registry.lastAmount(), 1_000e18);
        assertEq(registry.lockedOf(provider, PROVIDER_ROLE), 0);
        assertEq(escrow.stakeLockOf(JOB), 0);
        assertEq(registry.lastRewardTo(), challenger);
        assertEq(registry.lastCompensateTo(), buyer);
    }

    /// Attack 3: a slash that fails (e.g. the stake is gone) was swallowed and the buyer refunded while the
    /// cheater kept its stake. Now the whole resolve reverts: the job stays Challenged, its payment escrowed.
    function test_attack3_failedSlashRevertsResolve() public {
        registry.setFail(true);
        _challenged();
        vm.expectRevert(MockStakingRegistry.InsufficientStake.selector);
        vm.prank(game);
        escrow.resolve(JOB, false);
        assertEq(uint8(escrow.stateOf(JOB)), uint8(JobEscrow.State.Challenged));
        assertEq(usd.balanceOf(address(escrow)), AMOUNT);
        registry.setFail(false); // once the slash can succeed, the game resolves and the slash happens
        vm.prank(game);
        escrow.resolve(JOB, false);
        assertEq(registry.calls(), 1);
        assertEq(uint8(escrow.stateOf(JOB)), uint8(JobEscrow.State.Refunded));
    }

    /// Attack 5: a game that never resolves kept a challenged job's payment frozen forever. Now anyone can end
    /// the dispute after challengedAt + maxDisputeDuration: the buyer is refunded, nobody slashed or paid.
    function test_attack5_stalledDisputeTimesOutToBuyerRefund() public {
        _challenged();
        uint256 deadline = block.timestamp + escrow.maxDisputeDuration();
        assertEq(escrow.disputeDeadlineOf(JOB), deadline);
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.DisputeNotTimedOut.selector, deadline));
        vm.prank(provider);
        escrow.timeoutDispute(JOB);
        vm.warp(deadline);
        uint256 before = usd.balanceOf(buyer);
        vm.expectEmit(address(escrow));
        emit JobEscrow.DisputeTimedOut(JOB);
        vm.prank(stranger);
        escrow.timeoutDispute(JOB);
        assertEq(usd.balanceOf(buyer) - before, AMOUNT);
        assertEq(usd.balanceOf(provider), 0);
        assertEq(registry.calls(), 0);
        assertEq(uint8(escrow.stateOf(JOB)), uint8(JobEscrow.State.Refunded));
        vm.expectRevert(_wrongState(JobEscrow.State.Refunded));
        vm.prank(game);
        escrow.resolve(JOB, true);
    }

    function test_timeoutDispute_revertsUnlessChallenged() public {
        _submitted();
        vm.warp(block.timestamp + 365 days);
        vm.expectRevert(_wrongState(JobEscrow.State.Submitted));
        escrow.timeoutDispute(JOB);
    }

    function test_setMaxDisputeDuration() public {
        vm.prank(admin);
        escrow.setMaxDisputeDuration(1 days);
        assertEq(escrow.maxDisputeDuration(), 1 days);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadDisputeDuration.selector, 0));
        escrow.setMaxDisputeDuration(0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadDisputeDuration.selector, 30 days + 1));
        escrow.setMaxDisputeDuration(30 days + 1);
        vm.stopPrank();
        vm.expectRevert(_unauth(stranger, bytes32(0)));
        vm.prank(stranger);
        escrow.setMaxDisputeDuration(1 days);
    }

    /// The registry (or role) holding live jobs' locks cannot be swapped out: their unlock or slash would then go
    /// to a registry that holds no such lock, and the jobs could never end.
    function test_setSlashParams_refusedWhileLocksOutstanding() public {
        _challenged();
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.LocksOutstanding.selector, 1));
        vm.prank(admin);
        escrow.setSlashParams(IStakingRegistry(address(0)), 0);
        vm.prank(game);
        escrow.resolve(JOB, false);
        assertEq(registry.calls(), 1);
        vm.prank(admin); // no job holds a lock any more
        escrow.setSlashParams(IStakingRegistry(address(0)), 0);
    }

    function test_resolve_reverts() public {
        vm.expectRevert(_wrongState(JobEscrow.State.None));
        vm.prank(game);
        escrow.resolve(JOB, true);
        _submitted();
        vm.expectRevert(_wrongState(JobEscrow.State.Submitted));
        vm.prank(game);
        escrow.resolve(JOB, false);
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
        bytes32 role = escrow.CHALLENGER_GAME_ROLE();
        vm.expectRevert(_unauth(admin, role));
        vm.prank(admin);
        escrow.resolve(JOB, false);
        vm.prank(game);
        escrow.resolve(JOB, false);
        vm.expectRevert(_wrongState(JobEscrow.State.Refunded));
        vm.prank(game);
        escrow.resolve(JOB, true);
    }

    /// A registry that tries to re-enter during the slash cannot pull funds twice: the resolve reverts.
    function test_resolve_reentrantRegistryBlocked() public {
        registry.setReenter(address(escrow), abi.encodeCall(JobEscrow.distributeFees, ()));
        _challenged();
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(game);
        escrow.resolve(JOB, false);
        assertEq(usd.balanceOf(address(escrow)), AMOUNT);
    }

    // ------------------------------------------------------------ fees

    function test_distributeFees() public {
        _submitted();
        vm.warp(block.timestamp + WINDOW);
        escrow.finalize(JOB);
        vm.expectEmit(address(escrow));
        emit JobEscrow.FeesDistributed(treasury, 20e6, sink, 5e6);
        vm.prank(stranger);
        escrow.distributeFees();
        assertEq(usd.balanceOf(treasury), 20e6);
        assertEq(usd.balanceOf(sink), 5e6);
        assertEq(escrow.pendingFees(), 0);
        assertEq(escrow.pendingBurn(), 0);
        assertEq(usd.balanceOf(address(escrow)), 0);
        escrow.distributeFees(); // nothing pending: a no-op
    }

    function test_distributeFees_intoInsuranceFund() public {
        InsuranceFund fund = new InsuranceFund(IERC20(address(usd)), admin, "IF", "IF");
        usd.mint(stranger, 100e6);
        vm.startPrank(stranger);
        usd.approve(address(fund), type(uint256).max);
        fund.deposit(100e6, stranger);
        vm.stopPrank();
        vm.prank(admin);
        escrow.setFeeParams(FEE_BPS, BURN_BPS, address(fund), sink);
        _submitted();
        vm.warp(block.timestamp + WINDOW);
        escrow.finalize(JOB);
        escrow.distributeFees();
        assertEq(fund.totalAssets(), 120e6); // share price up 20 %
        assertApproxEqAbs(fund.previewRedeem(fund.balanceOf(stranger)), 120e6, 1);
    }

    // ------------------------------------------------------------ gas

    /// open + finalize, cold storage, steady state (escrow, provider and fee accumulators already non-zero, the
    /// provider holds another live job's stake lock).
    function test_gas_openPlusFinalize() public {
        // warm-up job so balances and accumulators are non-zero, as in steady state
        _submitted();
        vm.warp(block.timestamp + WINDOW);
        escrow.finalize(JOB);
        bytes32 other = escrow.jobIdFor(buyer, 3);
        vm.prank(buyer);
        escrow.open(other, provider, AMOUNT, WINDOW, uint40(block.timestamp + 2 days));

        bytes32 id = escrow.jobIdFor(buyer, 2);
        uint40 by = uint40(block.timestamp + 1 days);
        vm.cool(address(escrow));
        vm.cool(address(usd));
        vm.prank(buyer);
        uint256 g0 = gasleft();
        escrow.open(id, provider, AMOUNT, WINDOW, by);
        uint256 gOpen = g0 - gasleft();

        vm.prank(provider);
        escrow.submitResult(id, ROOT);
        vm.warp(block.timestamp + WINDOW);
        vm.cool(address(escrow));
        vm.cool(address(usd));
        g0 = gasleft();
        escrow.finalize(id);
        uint256 gFin = g0 - gasleft();
        console.log("open / finalize / sum", gOpen, gFin, gOpen + gFin);
        // The 150k target held (105k) before jobs locked stake; a per-job lock costs a fresh storage slot (22k)
        // and a registry call at open and at the end (see docs/contracts.md, Gas).
        assertLe(gOpen + gFin, 160_000);
    }

    /// Worst case: first job ever (escrow balance, provider balance and fee accumulators all start at zero).
    function test_gas_openPlusFinalize_firstJob() public {
        uint40 by = uint40(block.timestamp + 1 days);
        vm.cool(address(escrow));
        vm.cool(address(usd));
        vm.prank(buyer);
        uint256 g0 = gasleft();
        escrow.open(JOB, provider, AMOUNT, WINDOW, by);
        uint256 gOpen = g0 - gasleft();
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
        vm.warp(block.timestamp + WINDOW);
        vm.cool(address(escrow));
        vm.cool(address(usd));
        g0 = gasleft();
        escrow.finalize(JOB);
        uint256 gFin = g0 - gasleft();
        console.log("first job: open / finalize / sum", gOpen, gFin, gOpen + gFin);
        // Three zero -> non-zero stores (escrow's and provider's token balances, the fee accumulator) cost ~60k
        // here once, plus the first (cold) isActive call to the staking registry, plus the stake lock's fresh
        // slots (the job's lock and the provider's lock counter).
        assertLe(gOpen + gFin, 250_000);
    }

    // ------------------------------------------------------------ fuzz

    function testFuzz_finalizeSplitsExactly(uint96 amount, uint16 feeBps_, uint16 burnBps_) public {
        amount = uint96(bound(amount, 1, 1_000_000e6));
        feeBps_ = uint16(bound(feeBps_, 0, 1_000));
        burnBps_ = uint16(bound(burnBps_, 0, 10_000));
        vm.prank(admin);
        escrow.setFeeParams(feeBps_, burnBps_, treasury, sink);
        vm.prank(buyer);
        escrow.open(JOB, provider, amount, WINDOW, uint40(block.timestamp + 1));
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
        vm.warp(block.timestamp + WINDOW);
        escrow.finalize(JOB);
        escrow.distributeFees();
        uint256 fee = uint256(amount) * feeBps_ / 10_000;
        assertEq(usd.balanceOf(provider), amount - fee);
        assertEq(usd.balanceOf(treasury) + usd.balanceOf(sink), fee);
        assertEq(usd.balanceOf(sink), fee * burnBps_ / 10_000);
        assertEq(usd.balanceOf(address(escrow)), 0);
    }

    function testFuzz_timeline(uint32 window, uint32 submitAfter, uint32 actAfter, bool challenge, bool won)
        public
    {
        vm.prank(admin);
        escrow.setMaxChallengeWindow(30 days);
        window = uint32(bound(window, 10 minutes, 30 days));
        uint40 by = uint40(block.timestamp + 7 days);
        vm.prank(buyer);
        escrow.open(JOB, provider, AMOUNT, window, by);
        submitAfter = uint32(bound(submitAfter, 0, 8 days));
        vm.warp(block.timestamp + submitAfter);
        if (block.timestamp > by) {
            vm.expectRevert(abi.encodeWithSelector(JobEscrow.SubmitDeadlinePassed.selector, by));
            vm.prank(provider);
            escrow.submitResult(JOB, ROOT);
            escrow.refund(JOB);
            assertEq(usd.balanceOf(buyer), 1_000_000e6);
            return;
        }
        vm.prank(provider);
        escrow.submitResult(JOB, ROOT);
        uint256 deadline = block.timestamp + window;
        actAfter = uint32(bound(actAfter, 0, 31 days));
        vm.warp(block.timestamp + actAfter);
        if (challenge && block.timestamp < deadline) {
            vm.prank(game);
            escrow.markChallenged(JOB, challenger);
            vm.prank(game);
            escrow.resolve(JOB, won);
            assertEq(usd.balanceOf(buyer), won ? 1_000_000e6 - AMOUNT : 1_000_000e6);
        } else if (block.timestamp < deadline) {
            vm.expectRevert(abi.encodeWithSelector(JobEscrow.ChallengeWindowOpen.selector, deadline));
            escrow.finalize(JOB);
        } else {
            escrow.finalize(JOB);
            assertEq(usd.balanceOf(provider), AMOUNT - AMOUNT * FEE_BPS / 10_000);
        }
    }
}

/// @notice Invariants of the escrow under random job lifecycles.
contract JobEscrowInvariantTest is Test {
    TestToken internal usd;
    JobEscrow internal escrow;
    EscrowHandler internal handler;

    function setUp() public {
        usd = new TestToken();
        address admin = makeAddr("admin");
        address game = makeAddr("game");
        escrow = new JobEscrow(IERC20(address(usd)), admin, makeAddr("treasury"), makeAddr("sink"), 300, 5_000, 60);
        MockStakingRegistry reg = new MockStakingRegistry();
        bytes32 role = escrow.CHALLENGER_GAME_ROLE();
        vm.startPrank(admin);
        escrow.grantRole(role, game);
        escrow.setSlashParams(IStakingRegistry(address(reg)), 0);
        vm.stopPrank();
        handler = new EscrowHandler(escrow, usd, game);
        targetContract(address(handler));
    }

    /// Token balance == sum of the amounts of live jobs + accrued, undistributed fees.
    function invariant_balanceEqualsLiveJobsPlusFees() public view {
        assertEq(
            usd.balanceOf(address(escrow)),
            handler.ghostLive() + escrow.pendingFees() + escrow.pendingBurn()
        );
    }

    /// Escrow balance == sum of the payments of the jobs still open on chain (Open/Submitted/Challenged) + fees.
    function invariant_balanceEqualsOpenJobPaymentsOnChain() public view {
        assertEq(
            usd.balanceOf(address(escrow)),
            handler.liveOnChain() + escrow.pendingFees() + escrow.pendingBurn()
        );
    }

    /// Conservation: everything buyers paid in went to providers, buyers (refunds), fees, or is still held.
    function invariant_conservation() public view {
        assertEq(
            handler.ghostPaidIn(),
            handler.ghostToProviders() + handler.ghostRefunded() + handler.ghostFees() + handler.ghostLive()
        );
    }

    /// Only the game can challenge or resolve; state never moves backwards.
    function invariant_onlyGameChallenges() public view {
        assertEq(handler.ghostUnauthorizedSuccess(), 0);
        handler.checkStates();
    }

    /// Positive control of the state check: the order refuses every backward or post-terminal move.
    function test_theStateOrderRefusesBackwardMoves() public view {
        uint8[2][7] memory forward = [[0, 1], [1, 2], [2, 3], [1, 5], [2, 4], [3, 4], [3, 5]];
        uint8[2][7] memory backward = [[2, 1], [3, 2], [3, 1], [4, 5], [5, 4], [5, 1], [1, 0]];
        for (uint256 i; i < 7; ++i) {
            assertTrue(handler.movesForward(forward[i][0], forward[i][1]));
            assertFalse(handler.movesForward(backward[i][0], backward[i][1]));
        }
        assertTrue(handler.movesForward(4, 4) && handler.movesForward(5, 5));
    }

    /// Positive control: a job seen moving backwards (its state mocked back to Open after a
    /// submission) is counted by the handler and fails the invariant's check.
    function test_aBackwardMoveFailsTheStateCheck() public {
        handler.open(0, 0, 1e6, 3600, 3600);
        handler.submit(0, keccak256("root"));
        bytes32 id = handler.jobAt(0);
        assertEq(uint8(escrow.stateOf(id)), uint8(JobEscrow.State.Submitted));
        handler.checkStates(); // fine so far
        vm.mockCall(
            address(escrow), abi.encodeCall(JobEscrow.stateOf, (id)), abi.encode(JobEscrow.State.Open)
        );
        handler.warp(1); // any action: the handler sees Submitted -> Open
        assertEq(handler.ghostStateRegressions(), 1);
        vm.expectRevert(bytes("a job's state moved backwards during an action: 1 != 0"));
        handler.checkStates();
    }
}

/// @notice JobEscrow against the real StakingRegistry and MockUSD: every open job locks provider stake, a lost
///         challenge slashes the job's lock (`slashLocked`), every other end releases it exactly once.
contract JobEscrowStakingIntegrationTest is GCXFixtures {
    JobEscrow internal escrow;
    address internal game = makeAddr("game");
    address internal buyer = makeAddr("buyer");
    address internal provider = makeAddr("provider");
    address internal challenger = makeAddr("challenger");
    bytes32 internal JOB;
    StakingRegistry.Role internal constant P = StakingRegistry.Role.Provider;
    uint256 internal constant STAKE = 5_000 ether;

    function setUp() public {
        _deployGCX();
        JOB = bytes32(uint256(uint160(buyer)) << 96);
        escrow = new JobEscrow(IERC20(address(musd)), admin, makeAddr("treasury"), makeAddr("sink"), 100, 0, 60);
        vm.startPrank(admin);
        escrow.grantRole(escrow.CHALLENGER_GAME_ROLE(), game);
        registry.grantRole(registry.LOCKER_ROLE(), address(escrow));
        escrow.setSlashParams(IStakingRegistry(address(registry)), uint8(P));
        vm.stopPrank();
        _stakeAs(provider, P, STAKE);
        musd.mint(buyer, 100_000e6);
        vm.prank(buyer);
        musd.approve(address(escrow), type(uint256).max);
    }

    function _id(uint96 nonce) internal view returns (bytes32) {
        return escrow.jobIdFor(buyer, nonce);
    }

    function _openJob(bytes32 id, uint256 amount) internal {
        vm.prank(buyer);
        escrow.open(id, provider, amount, 60, uint40(block.timestamp + 1 hours));
    }

    function _submit(bytes32 id) internal {
        vm.prank(provider);
        escrow.submitResult(id, keccak256("result"));
    }

    function _challenge(bytes32 id) internal {
        _submit(id);
        vm.prank(game);
        escrow.markChallenged(id, challenger);
    }

    function _locked() internal view returns (uint256) {
        return registry.lockedOf(provider, P);
    }

    function test_selectorsMatchRegistry() public pure {
        assertEq(IStakingRegistry.slash.selector, StakingRegistry.slash.selector);
        assertEq(IStakingRegistry.slashLocked.selector, StakingRegistry.slashLocked.selector);
        assertEq(IStakingRegistry.lock.selector, StakingRegistry.lock.selector);
        assertEq(IStakingRegistry.unlock.selector, StakingRegistry.unlock.selector);
        assertEq(IStakingRegistry.stakeOf.selector, StakingRegistry.stakeOf.selector);
        assertEq(IStakingRegistry.lockedOf.selector, StakingRegistry.lockedOf.selector);
    }

    /// Attack 1: a provider that never staked (or unbonded before submitting) took a job and was paid.
    function test_attack1_inactiveProviderCannotOpenOrSubmit() public {
        address unstaked = makeAddr("unstaked");
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ProviderNotActive.selector, unstaked));
        vm.prank(buyer);
        escrow.open(JOB, unstaked, 100e6, 60, uint40(block.timestamp + 1 hours));

        vm.prank(admin);
        registry.setMinStake(P, 1_000 ether);
        _openJob(JOB, 100e6); // locks 100 GCX
        vm.prank(provider); // the provider leaves after the job was opened: all of its free stake unbonding
        registry.requestUnbond(P, STAKE - 100 ether);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ProviderNotActive.selector, provider));
        vm.prank(provider);
        escrow.submitResult(JOB, keccak256("result"));
        vm.warp(block.timestamp + 1 hours + 1);
        escrow.refund(JOB); // the buyer gets its money back, the provider nothing
        assertEq(musd.balanceOf(buyer), 100_000e6);
        assertEq(musd.balanceOf(provider), 0);
        assertEq(_locked(), 0);
    }

    /// Attack 2: one fixed stake backed any number of open jobs. Now each job locks max(minJobLock, amount *
    /// lockPerUnit) of free bonded stake: 5,000 GCX back five 1,000-USD jobs, not a sixth.
    function test_attack2_providerCannotOpenMoreJobsThanItsStakeCovers() public {
        assertEq(escrow.lockAmountFor(1_000e6), 1_000 ether); // 1 GCX per USD
        assertEq(escrow.lockAmountFor(1), 10 ether); // the floor
        for (uint96 n; n < 5; ++n) {
            _openJob(_id(n), 1_000e6);
            assertEq(escrow.stakeLockOf(_id(n)), 1_000 ether);
        }
        assertEq(_locked(), STAKE);
        assertEq(escrow.lockedJobs(), 5);
        bytes32 sixth = _id(5);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.InsufficientFreeStake.selector, provider, 0, 10 ether));
        _openJob(sixth, 1); // not even the smallest job
        assertEq(uint8(escrow.stateOf(_id(5))), uint8(JobEscrow.State.None));
        assertEq(musd.balanceOf(address(escrow)), 5_000e6);
        // a job that ends frees its lock for the next one
        _submit(_id(0));
        vm.warp(block.timestamp + 60);
        escrow.finalize(_id(0));
        _openJob(_id(5), 1_000e6);
        assertEq(_locked(), STAKE);
        // a bigger job than the free stake is refused with the free stake named
        _submit(_id(1));
        vm.warp(block.timestamp + 60);
        escrow.finalize(_id(1));
        bytes32 seventh = _id(6);
        vm.expectRevert(
            abi.encodeWithSelector(JobEscrow.InsufficientFreeStake.selector, provider, 1_000 ether, 1_000 ether + 1e12)
        );
        _openJob(seventh, 1_000e6 + 1);
    }

    /// Attack 2: unbond + withdraw while a job is open left the slash nothing to take. Locked stake cannot be
    /// unbonded, so only the free part leaves.
    function test_attack2_unbondAndWithdrawCannotTakeLockedStake() public {
        _openJob(JOB, 1_000e6); // locks 1,000 GCX
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.InsufficientBondedStake.selector, STAKE - 1_000 ether, STAKE)
        );
        vm.prank(provider);
        registry.requestUnbond(P, STAKE);
        vm.prank(provider);
        registry.requestUnbond(P, STAKE - 1_000 ether);
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(provider);
        assertEq(registry.withdraw(P), STAKE - 1_000 ether);
        (uint256 bonded, uint256 unbonding,) = registry.stakeOf(provider, P);
        assertEq(bonded, 1_000 ether);
        assertEq(unbonding, 0);
        assertEq(_locked(), 1_000 ether);
        vm.prank(provider); // nothing more can leave while the job is live
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.InsufficientBondedStake.selector, 0, 1));
        registry.requestUnbond(P, 1);
    }

    /// Attack 2: a provider that loses has its job's locked stake slashed, even after it asked to unbond all it
    /// could; the rest of its stake (unbonding) is untouched.
    function test_attack2_loserIsSlashedItsLockEvenAfterRequestingUnbond() public {
        _openJob(JOB, 100e6); // locks 100 GCX
        vm.prank(provider);
        registry.requestUnbond(P, STAKE - 100 ether);
        _challenge(JOB);
        uint256 staked = registry.totalStaked();
        vm.expectEmit(address(escrow));
        emit JobEscrow.ProviderSlashed(JOB, provider, 100 ether, challenger);
        vm.prank(game);
        escrow.resolve(JOB, false);
        assertEq(registry.totalStaked(), staked - 100 ether);
        (uint256 bonded, uint256 unbonding,) = registry.stakeOf(provider, P);
        assertEq(bonded, 0);
        assertEq(unbonding, STAKE - 100 ether);
        assertEq(_locked(), 0);
        assertEq(escrow.stakeLockOf(JOB), 0);
        assertEq(escrow.lockedJobs(), 0);
        assertEq(musd.balanceOf(buyer), 100_000e6);
        assertEq(gcx.balanceOf(challenger), 20 ether); // 20 % reward
        assertEq(gcx.balanceOf(buyer), 30 ether); // 30 % compensation
    }

    /// Every exit (finalize, refund, resolve won, timeoutDispute) releases its job's lock exactly once: with four
    /// jobs of different locks live at once, each end takes off exactly its own lock (a double unlock would eat
    /// another job's lock), a second end is refused, and nothing is left locked at the end. Changing the lock
    /// parameters meanwhile does not change what open jobs release.
    function test_attack2_everyExitReleasesItsLockExactlyOnce() public {
        bytes32 fin = _id(1);
        bytes32 ref = _id(2);
        bytes32 won = _id(3);
        bytes32 tim = _id(4);
        _openJob(fin, 100e6); // 100 GCX
        _openJob(ref, 200e6); // 200 GCX
        _openJob(won, 300e6); // 300 GCX
        _openJob(tim, 400e6); // 400 GCX
        assertEq(_locked(), 1_000 ether);
        vm.prank(admin);
        escrow.setLockParams(1 ether, 3e12); // later jobs lock more; these keep their locks
        _submit(fin);
        _challenge(won);
        _challenge(tim);

        vm.warp(block.timestamp + 60);
        escrow.finalize(fin);
        assertEq(_locked(), 900 ether);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongState.selector, fin, JobEscrow.State.Finalized));
        escrow.finalize(fin);

        vm.warp(block.timestamp + 1 hours);
        escrow.refund(ref);
        assertEq(_locked(), 700 ether);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongState.selector, ref, JobEscrow.State.Refunded));
        escrow.refund(ref);

        vm.prank(game);
        escrow.resolve(won, true);
        assertEq(_locked(), 400 ether);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongState.selector, won, JobEscrow.State.Finalized));
        vm.prank(game);
        escrow.resolve(won, false);

        vm.warp(block.timestamp + escrow.maxDisputeDuration());
        escrow.timeoutDispute(tim);
        assertEq(_locked(), 0);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.WrongState.selector, tim, JobEscrow.State.Refunded));
        escrow.timeoutDispute(tim);

        assertEq(escrow.lockedJobs(), 0);
        for (uint96 n = 1; n <= 4; ++n) assertEq(escrow.stakeLockOf(_id(n)), 0);
        (uint256 bonded,,) = registry.stakeOf(provider, P);
        assertEq(bonded, STAKE); // nothing slashed
        vm.prank(provider); // and all of it can leave again
        registry.requestUnbond(P, STAKE);
    }

    /// Attack 2: the unbonding delay must outlast the longest challenge window plus the longest dispute. The
    /// escrow keeps the registry's floor there: it cannot be undercut, and raising either bound raises it (or is
    /// refused while the delay is shorter).
    function test_attack2_unbondingDelayFloorFollowsWindowAndDispute() public {
        assertEq(registry.minUnbondingDelay(), 2 days + 3 days);
        vm.startPrank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, 5 days - 1, 5 days)
        );
        registry.setUnbondingDelay(5 days - 1);
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, 0, 5 days));
        registry.setUnbondingDelay(0);

        escrow.setMaxChallengeWindow(4 days);
        assertEq(registry.minUnbondingDelay(), 7 days);
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, 7 days - 1, 7 days)
        );
        registry.setUnbondingDelay(7 days - 1);
        // a window the delay cannot cover is refused until the delay is raised
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, UNBONDING_DELAY, 8 days)
        );
        escrow.setMaxChallengeWindow(5 days);
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, UNBONDING_DELAY, 4 days + 4 days)
        );
        escrow.setMaxDisputeDuration(4 days);
        registry.setUnbondingDelay(10 days);
        escrow.setMaxDisputeDuration(4 days);
        assertEq(registry.minUnbondingDelay(), 8 days);
        // lowering a bound never lowers the floor
        escrow.setMaxChallengeWindow(1 days);
        assertEq(registry.minUnbondingDelay(), 8 days);
        vm.stopPrank();
        // jobs cannot ask for more than the maximum window
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.BadChallengeWindow.selector, 1 days + 1));
        vm.prank(buyer);
        escrow.open(JOB, provider, 1e6, 1 days + 1, uint40(block.timestamp + 1 hours));
    }

    /// open + finalize against the real registry, steady state: the escrow, the provider and the fee accumulator
    /// already hold tokens, and the provider holds another live job's lock (so its lock counter is non-zero).
    function test_gas_openPlusFinalize_realRegistry() public {
        _openJob(_id(1), 10e6);
        _submit(_id(1));
        vm.warp(block.timestamp + 60);
        escrow.finalize(_id(1));
        _openJob(_id(2), 10e6); // stays live
        bytes32 id = _id(3);
        uint40 by = uint40(block.timestamp + 1 hours);
        vm.cool(address(escrow));
        vm.cool(address(musd));
        vm.cool(address(registry));
        vm.prank(buyer);
        uint256 g0 = gasleft();
        escrow.open(id, provider, 10e6, 60, by);
        uint256 gOpen = g0 - gasleft();
        _submit(id);
        vm.warp(block.timestamp + 60);
        vm.cool(address(escrow));
        vm.cool(address(musd));
        vm.cool(address(registry));
        g0 = gasleft();
        escrow.finalize(id);
        uint256 gFin = g0 - gasleft();
        console.log("real registry: open / finalize / sum", gOpen, gFin, gOpen + gFin);
        // Above the 150k target: the lock's fresh slot (22k), two cold registry calls and their events.
        assertLe(gOpen + gFin, 175_000);
    }

    /// Without LOCKER_ROLE the escrow cannot take jobs: the registry's refusal is passed on, not misreported as
    /// missing stake.
    function test_openWithoutLockerRoleRevertsWithTheRegistrysError() public {
        bytes32 role = registry.LOCKER_ROLE();
        vm.prank(admin);
        registry.revokeRole(role, address(escrow));
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, address(escrow), role)
        );
        _openJob(JOB, 1e6);
    }

    /// Attack 1 with a raised minimum: a provider below the minimum is not active either.
    function test_attack1_providerBelowMinimumCannotOpen() public {
        vm.prank(admin);
        registry.setMinStake(StakingRegistry.Role.Provider, 5_000 ether + 1);
        vm.expectRevert(abi.encodeWithSelector(JobEscrow.ProviderNotActive.selector, provider));
        vm.prank(buyer);
        escrow.open(JOB, provider, 100e6, 60, uint40(block.timestamp + 1 hours));
    }

    function test_lostChallengeSlashesRealRegistry() public {
        vm.prank(buyer);
        escrow.open(JOB, provider, 100e6, 60, uint40(block.timestamp + 1 hours));
        vm.prank(provider);
        escrow.submitResult(JOB, keccak256("bad result"));
        vm.prank(game);
        escrow.markChallenged(JOB, challenger);
        uint256 staked = registry.totalStaked();
        vm.expectEmit(address(escrow));
        emit JobEscrow.ProviderSlashed(JOB, provider, 100 ether, challenger);
        vm.prank(game);
        escrow.resolve(JOB, false);
        assertEq(registry.totalStaked(), staked - 100 ether);
        assertEq(musd.balanceOf(buyer), 100_000e6);
        assertGt(gcx.balanceOf(challenger) + gcx.balanceOf(buyer), 0);
    }
}
