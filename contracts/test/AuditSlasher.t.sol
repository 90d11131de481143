// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AuditSlasher} from "../src/AuditSlasher.sol";
import {StakingRegistry} from "../src/StakingRegistry.sol";
import {GCXFixtures} from "./utils/GCXFixtures.sol";

contract AuditSlasherTest is GCXFixtures {
    AuditSlasher internal slasherC;
    address internal auditor = makeAddr("auditor");
    address internal guardian = makeAddr("guardian");
    address internal provider = makeAddr("provider");
    address internal honest = makeAddr("honest");
    address internal rewardTo = makeAddr("rewardTo");
    address internal compensateTo = makeAddr("compensateTo");
    address internal stranger = makeAddr("stranger");

    uint256 internal constant STAKE = 2_000 ether;
    bytes internal constant RECORD = hex"8aa674797065b06763782e6175646974";
    uint64 internal nextSeed = 1;

    function setUp() public {
        _deployGCX();
        slasherC = new AuditSlasher(registry, admin, _params(0));
        vm.startPrank(admin);
        registry.grantRole(registry.SLASHER_ROLE(), address(slasherC));
        slasherC.grantRole(slasherC.AUDITOR_ROLE(), auditor);
        slasherC.grantRole(slasherC.GUARDIAN_ROLE(), guardian);
        vm.stopPrank();
        _stakeAs(provider, StakingRegistry.Role.Provider, STAKE);
        _stakeAs(honest, StakingRegistry.Role.Provider, STAKE);
    }

    function _params(uint64 delay) internal view returns (AuditSlasher.Params memory) {
        return AuditSlasher.Params({
            threshold: 3,
            period: 1 days,
            slashDelay: delay,
            slashBps: 1_000, // 10 %
            maxSlash: 150 ether,
            maxSlashesPerWindow: 2,
            rateWindow: 1 days,
            rewardTo: rewardTo,
            compensateTo: compensateTo
        });
    }

    function _setDelay(uint64 delay) internal {
        vm.prank(admin);
        slasherC.setParams(_params(delay));
    }

    function _id(address who, uint64 seed) internal pure returns (bytes32) {
        return keccak256(abi.encode("challenge", who, seed));
    }

    /// @dev Post a failure of `who` linked to `prev`, issued now; returns its id.
    function _fail(address who, bytes32 prev) internal returns (bytes32 id) {
        uint64 seed = nextSeed++;
        id = _id(who, seed);
        vm.prank(auditor);
        slasherC.postFailure(
            AuditSlasher.Failure(
                who, id, prev, AuditSlasher.Verdict.Late, seed, 1e11, uint64(block.timestamp) * 1000
            ),
            RECORD
        );
    }

    function _run(address who, uint256 n) internal returns (bytes32 last) {
        for (uint256 i; i < n; ++i) {
            last = _fail(who, last);
            vm.warp(block.timestamp + 900);
        }
    }

    function _stake(address who) internal view returns (uint256 total) {
        (uint256 bonded, uint256 unbonding,) = registry.stakeOf(who, StakingRegistry.Role.Provider);
        return bonded + unbonding;
    }

    // ------------------------------------------------------------------ the path

    function test_threeFailuresInARow_slashCappedAndSplit() public {
        uint256 supply = gcx.totalSupply();
        uint256 staked = registry.totalStaked();
        _run(provider, 3);
        // 10 % of 2 000 = 200, capped at 150.
        assertEq(_stake(provider), STAKE - 150 ether);
        assertEq(_stake(honest), STAKE);
        // Conservation: what left the registry is burned + rewarded + compensated, exactly.
        uint256 rewarded = gcx.balanceOf(rewardTo);
        uint256 compensated = gcx.balanceOf(compensateTo);
        uint256 burned = supply - gcx.totalSupply();
        assertEq(staked - registry.totalStaked(), 150 ether);
        assertEq(burned + rewarded + compensated, 150 ether);
        assertGt(burned, 0);
        assertEq(rewarded, (150 ether * uint256(registry.slashRewardBps())) / 10_000);
        (,,, uint32 count, bool slashed) = slasherC.streakOf(provider);
        assertEq(count, 3);
        assertTrue(slashed);
        (address p, uint64 execAt, AuditSlasher.SlashStatus status,) = slasherC.slashes(1);
        assertEq(p, provider);
        assertEq(execAt, block.timestamp - 900); // proposed and executed at the third post (delay 0)
        assertEq(uint8(status), uint8(AuditSlasher.SlashStatus.Executed));
    }

    function test_twoFailuresThenNewRun_noSlash() public {
        _run(provider, 2);
        _run(provider, 2); // prev = 0: a pass came between (the auditor starts a new run)
        assertEq(_stake(provider), STAKE);
        assertEq(slasherC.slashCount(), 0);
    }

    function test_postFailure_emitsEvidence() public {
        bytes32 id = _id(provider, 1);
        vm.expectEmit(true, true, false, true, address(slasherC));
        emit AuditSlasher.FailurePosted(
            provider,
            id,
            bytes32(0),
            AuditSlasher.Verdict.Late,
            1,
            1e11,
            uint64(block.timestamp) * 1000,
            keccak256(RECORD),
            1
        );
        _fail(provider, bytes32(0));
        (address p, uint64 execAt) = slasherC.evidenceOf(id);
        assertEq(p, provider);
        assertEq(execAt, block.timestamp);
    }

    // ------------------------------------------------------------------ attacks

    function test_nonAuditor_refused() public {
        bytes32 role = slasherC.AUDITOR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider, _id(provider, 9), 0, AuditSlasher.Verdict.Late, 9, 1, uint64(block.timestamp) * 1000
            ),
            RECORD
        );
    }

    function test_revokedAuditor_refused() public {
        _fail(provider, 0);
        vm.startPrank(admin);
        slasherC.revokeRole(slasherC.AUDITOR_ROLE(), auditor);
        vm.stopPrank();
        vm.expectRevert();
        _fail(provider, 0);
    }

    function test_replayedEvidence_refused() public {
        bytes32 id = _fail(provider, 0);
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.EvidenceKnown.selector, id));
        vm.prank(auditor);
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider, id, id, AuditSlasher.Verdict.Late, 1, 1e11, uint64(block.timestamp) * 1000
            ),
            RECORD
        );
        // Nor against another provider.
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.EvidenceKnown.selector, id));
        vm.prank(auditor);
        slasherC.postFailure(
            AuditSlasher.Failure(
                honest, id, 0, AuditSlasher.Verdict.Late, 1, 1e11, uint64(block.timestamp) * 1000
            ),
            RECORD
        );
    }

    function test_passedVerdict_refused() public {
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.NotAFailure.selector, 0));
        vm.prank(auditor);
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider,
                _id(provider, 7),
                0,
                AuditSlasher.Verdict.Passed,
                7,
                1,
                uint64(block.timestamp) * 1000
            ),
            RECORD
        );
    }

    function test_emptyOrZeroEvidence_refused() public {
        vm.startPrank(auditor);
        vm.expectRevert(AuditSlasher.MalformedEvidence.selector);
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider, bytes32(0), 0, AuditSlasher.Verdict.Late, 7, 1, uint64(block.timestamp) * 1000
            ),
            RECORD
        );
        vm.expectRevert(AuditSlasher.MalformedEvidence.selector);
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider, _id(provider, 7), 0, AuditSlasher.Verdict.Late, 7, 1, uint64(block.timestamp) * 1000
            ),
            ""
        );
        vm.stopPrank();
    }

    function test_brokenLink_refused() public {
        bytes32 first = _fail(provider, 0);
        bytes32 second = _fail(provider, first);
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.BrokenLink.selector, second));
        vm.prank(auditor);
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider,
                _id(provider, 99),
                first,
                AuditSlasher.Verdict.Late,
                99,
                1,
                uint64(block.timestamp) * 1000
            ),
            RECORD
        );
    }

    function test_staleAndFutureEvidence_refused() public {
        vm.warp(block.timestamp + 2 days);
        uint64 old = uint64(block.timestamp - 1 days - 1);
        vm.startPrank(auditor);
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.StaleEvidence.selector, old));
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider, _id(provider, 50), 0, AuditSlasher.Verdict.Late, 50, 1, old * 1000
            ),
            RECORD
        );
        uint64 future = uint64(block.timestamp + 301);
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.EvidenceFromFuture.selector, future));
        slasherC.postFailure(
            AuditSlasher.Failure(
                provider, _id(provider, 51), 0, AuditSlasher.Verdict.Late, 51, 1, future * 1000
            ),
            RECORD
        );
        vm.stopPrank();
    }

    function test_slashAtMostOncePerRun() public {
        bytes32 last = _run(provider, 3);
        uint256 after3 = _stake(provider);
        for (uint256 i; i < 5; ++i) {
            last = _fail(provider, last);
            vm.warp(block.timestamp + 900);
        }
        assertEq(_stake(provider), after3);
        assertEq(slasherC.slashCount(), 1);
    }

    function test_failuresSpreadBeyondPeriod_doNotSlash() public {
        bytes32 last = _fail(provider, 0);
        vm.warp(block.timestamp + 13 hours);
        last = _fail(provider, last);
        vm.warp(block.timestamp + 13 hours); // 26 h after the first: counting restarts here
        last = _fail(provider, last);
        assertEq(slasherC.slashCount(), 0);
        (,,, uint32 count,) = slasherC.streakOf(provider);
        assertEq(count, 1);
    }

    function test_rogueAuditor_rateLimitedAndCapped() public {
        address[] memory victims = new address[](3);
        for (uint256 i; i < 3; ++i) {
            victims[i] = makeAddr(string(abi.encodePacked("victim", i)));
            _stakeAs(victims[i], StakingRegistry.Role.Provider, 100_000 ether);
        }
        _run(victims[0], 3);
        _run(victims[1], 3);
        bytes32 last = _fail(victims[2], 0);
        last = _fail(victims[2], last);
        uint64 seed = nextSeed++;
        vm.expectRevert(
            abi.encodeWithSelector(AuditSlasher.RateLimited.selector, slasherC.windowStart() + 1 days)
        );
        vm.prank(auditor);
        slasherC.postFailure(
            AuditSlasher.Failure(
                victims[2],
                _id(victims[2], seed),
                last,
                AuditSlasher.Verdict.Late,
                seed,
                1,
                uint64(block.timestamp) * 1000
            ),
            RECORD
        );
        // Each slash took at most maxSlash, however large the stake.
        assertEq(_stake(victims[0]), 100_000 ether - 150 ether);
        assertEq(_stake(victims[1]), 100_000 ether - 150 ether);
        assertEq(_stake(victims[2]), 100_000 ether);
    }

    function test_delay_guardianCancels_andEarlyExecuteRefused() public {
        _setDelay(1 days);
        _run(provider, 3);
        (, uint64 execAt,,) = slasherC.slashes(1);
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.TooEarly.selector, execAt));
        slasherC.executeSlash(1);
        vm.expectRevert();
        vm.prank(stranger);
        slasherC.cancelSlash(1);
        vm.prank(guardian);
        slasherC.cancelSlash(1);
        vm.warp(execAt);
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.NotPending.selector, 1));
        slasherC.executeSlash(1);
        assertEq(_stake(provider), STAKE);
    }

    function test_delay_anyoneExecutesOnce() public {
        _setDelay(1 days);
        _run(provider, 3);
        (, uint64 execAt,,) = slasherC.slashes(1);
        vm.warp(execAt);
        vm.prank(stranger);
        assertEq(slasherC.executeSlash(1), 150 ether);
        vm.expectRevert(abi.encodeWithSelector(AuditSlasher.NotPending.selector, 1));
        slasherC.executeSlash(1);
        assertEq(_stake(provider), STAKE - 150 ether);
    }

    function test_unbondingDuringRun_stillSlashed() public {
        _setDelay(1 days);
        bytes32 last = _fail(provider, 0);
        vm.prank(provider);
        registry.requestUnbond(StakingRegistry.Role.Provider, STAKE); // dodging at the first failure
        vm.warp(block.timestamp + 900);
        last = _fail(provider, last);
        vm.warp(block.timestamp + 900);
        _fail(provider, last);
        (, uint64 execAt,,) = slasherC.slashes(1);
        vm.warp(execAt);
        // Not withdrawable yet (period + delay ≤ unbonding delay), so the slash reaches the unbonding stake.
        vm.expectRevert();
        vm.prank(provider);
        registry.withdraw(StakingRegistry.Role.Provider);
        slasherC.executeSlash(1);
        assertEq(_stake(provider), STAKE - 150 ether);
    }

    function test_params_delayBeyondUnbonding_refused() public {
        AuditSlasher.Params memory p = _params(6 days + 1);
        vm.expectRevert(
            abi.encodeWithSelector(AuditSlasher.DelayExceedsUnbonding.selector, 7 days + 1, 7 days)
        );
        vm.prank(admin);
        slasherC.setParams(p);
    }

    function test_params_onlyAdmin_andBounds() public {
        AuditSlasher.Params memory p = _params(0);
        vm.expectRevert();
        vm.prank(auditor);
        slasherC.setParams(p);
        p.slashBps = 0;
        vm.expectRevert(AuditSlasher.InvalidParams.selector);
        vm.prank(admin);
        slasherC.setParams(p);
    }

    function test_withoutSlasherRole_slashReverts() public {
        vm.startPrank(admin);
        registry.revokeRole(registry.SLASHER_ROLE(), address(slasherC));
        vm.stopPrank();
        bytes32 last = _fail(provider, 0);
        last = _fail(provider, last);
        vm.expectRevert();
        _fail(provider, last);
        assertEq(_stake(provider), STAKE);
    }

    // ------------------------------------------------------------------ gas

    function test_gas_postAndSlash() public {
        bytes memory record = new bytes(1500);
        for (uint256 i; i < record.length; ++i) {
            record[i] = bytes1(uint8(i % 251 + 1));
        }
        _setDelay(1 days);
        bytes32 last;
        for (uint64 i = 1; i <= 3; ++i) {
            bytes32 id = _id(provider, 1000 + i);
            vm.prank(auditor);
            uint256 g = gasleft();
            slasherC.postFailure(
                AuditSlasher.Failure(
                    provider,
                    id,
                    last,
                    AuditSlasher.Verdict.Late,
                    1000 + i,
                    1e11,
                    uint64(block.timestamp) * 1000
                ),
                record
            );
            emit log_named_uint("postFailure gas (execution, 1500-byte record)", g - gasleft());
            last = id;
            vm.warp(block.timestamp + 900);
        }
        vm.warp(block.timestamp + 1 days);
        uint256 g2 = gasleft();
        slasherC.executeSlash(1);
        emit log_named_uint("executeSlash gas (execution)", g2 - gasleft());
    }
}
