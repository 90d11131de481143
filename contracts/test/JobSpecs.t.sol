// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {GCXFixtures} from "./utils/GCXFixtures.sol";
import {StakingRegistry} from "../src/StakingRegistry.sol";
import {JobEscrow} from "../src/JobEscrow.sol";
import {JobSpecs} from "../src/JobSpecs.sol";
import {IChallengeHook} from "../src/interfaces/IChallengeHook.sol";
import {IJobSpecs} from "../src/interfaces/IJobSpecs.sol";
import {IStakingRegistry} from "../src/interfaces/IStakingRegistry.sol";

/// @notice JobSpecs: only the job's buyer commits, once, nonzero, before the escrow knows the job; anyone
///         publishes the exact preimage (idempotent); the hash is the one Python's `gcx.jobs.spec` computes.
contract JobSpecsTest is GCXFixtures {
    JobEscrow internal escrow;
    JobSpecs internal specs;

    address internal buyer = makeAddr("buyer");
    address internal provider = makeAddr("provider");
    address internal anyone = makeAddr("anyone");
    StakingRegistry.Role internal constant P = StakingRegistry.Role.Provider;

    // The spec of `gcx.tp.examples.matmul.matmul_job(8)`, computed in Python with
    //   s = gcx.jobs.spec.job_spec(matmul_job(8).program)
    //   s.program_digest, s.n_ops, s.skeleton_root, s.input_roots, s.hash  (= spec_hash(...))
    bytes32 internal constant DIGEST = 0x2a18d95c44617726607fd7cf312f910f822141c23a13473de0627f177d58448e;
    uint32 internal constant N_OPS = 1;
    bytes32 internal constant SKELETON = 0x8b4405091b039573f0689319a85b4abfa9b807ef508525d87e654a95e0c7aca8;
    bytes32 internal constant INPUT0 = 0x405c10a9690756b53c10fcdb0d7f0f8f7f5811f7420edf56ce5ec416015cc5db;
    bytes32 internal constant INPUT1 = 0x527042b51206b82163d25a5442249aacb70355a70fa302636a7ede4e21badc8b;
    bytes32 internal constant SPEC = 0x293d8c6995bd24f1e18ea7df8ff886841b0fc7d58b09d8d4946e8f7ba43a82c3;

    function setUp() public {
        _deployGCX();
        escrow = new JobEscrow(
            IERC20(address(musd)), admin, makeAddr("treasury"), makeAddr("feeSink"), 100, 2_000, 60
        );
        specs = new JobSpecs(IChallengeHook(address(escrow)));
        vm.startPrank(admin);
        registry.grantRole(registry.LOCKER_ROLE(), address(escrow));
        escrow.setSlashParams(IStakingRegistry(address(registry)), uint8(P));
        vm.stopPrank();
        _stakeAs(provider, P, 100_000 ether);
        musd.mint(buyer, 1_000_000e6);
        vm.prank(buyer);
        musd.approve(address(escrow), type(uint256).max);
    }

    function _inputs() internal pure returns (bytes32[] memory r) {
        r = new bytes32[](2);
        r[0] = INPUT0;
        r[1] = INPUT1;
    }

    function _jobId(uint96 nonce) internal view returns (bytes32) {
        return escrow.jobIdFor(buyer, nonce);
    }

    function test_python_spec_hash_matches_abi_encode() public pure {
        assertEq(keccak256(abi.encode(DIGEST, N_OPS, SKELETON, _inputs())), SPEC);
    }

    function test_buyer_commits_once_and_anyone_publishes() public {
        bytes32 jobId = _jobId(1);
        vm.expectEmit(address(specs));
        emit IJobSpecs.SpecCommitted(jobId, buyer, SPEC);
        vm.prank(buyer);
        specs.commit(jobId, SPEC);
        assertEq(specs.specOf(jobId), SPEC);
        assertFalse(specs.isPublished(jobId));
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.NotPublished.selector, jobId));
        specs.specFor(jobId);

        vm.expectEmit(address(specs));
        emit IJobSpecs.SpecPublished(jobId, DIGEST, N_OPS, SKELETON);
        vm.prank(anyone);
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, _inputs());
        assertTrue(specs.isPublished(jobId));
        IJobSpecs.Spec memory s = specs.specFor(jobId);
        assertEq(s.programDigest, DIGEST);
        assertEq(s.nOps, N_OPS);
        assertEq(s.skeletonRoot, SKELETON);
        assertEq(s.inputRoots.length, 2);
        assertEq(s.inputRoots[0], INPUT0);
        assertEq(s.inputRoots[1], INPUT1);

        // Idempotent: the same preimage again succeeds, emits nothing, changes nothing.
        vm.recordLogs();
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, _inputs());
        assertEq(vm.getRecordedLogs().length, 0);
        assertEq(specs.specFor(jobId).inputRoots[1], INPUT1);
    }

    function test_only_the_buyer_may_commit() public {
        bytes32 jobId = _jobId(1);
        vm.prank(anyone);
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.NotBuyer.selector, jobId, anyone));
        specs.commit(jobId, SPEC);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.NotBuyer.selector, jobId, provider));
        specs.commit(jobId, SPEC);
        assertEq(specs.specOf(jobId), bytes32(0));
    }

    function test_commit_only_once_even_with_the_same_spec() public {
        bytes32 jobId = _jobId(1);
        vm.startPrank(buyer);
        specs.commit(jobId, SPEC);
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.AlreadyCommitted.selector, jobId, SPEC));
        specs.commit(jobId, bytes32(uint256(1)));
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.AlreadyCommitted.selector, jobId, SPEC));
        specs.commit(jobId, SPEC);
        vm.stopPrank();
        assertEq(specs.specOf(jobId), SPEC);
    }

    function test_zero_spec_refused() public {
        bytes32 jobId = _jobId(1);
        vm.prank(buyer);
        vm.expectRevert(JobSpecs.ZeroSpec.selector);
        specs.commit(jobId, bytes32(0));
    }

    function test_no_commit_once_the_escrow_knows_the_job() public {
        bytes32 jobId = _jobId(1);
        vm.startPrank(buyer);
        escrow.open(jobId, provider, 1_000e6, 600, uint40(block.timestamp + 1 hours));
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.JobAlreadyOpened.selector, jobId, uint8(1)));
        specs.commit(jobId, SPEC);
        vm.stopPrank();
        // Nor after it ended (Refunded): a job id is never reused, so its spec never changes.
        vm.warp(block.timestamp + 1 hours + 1);
        escrow.refund(jobId);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.JobAlreadyOpened.selector, jobId, uint8(5)));
        specs.commit(jobId, SPEC);
    }

    function test_committed_before_open_survives_the_open() public {
        bytes32 jobId = _jobId(2);
        vm.startPrank(buyer);
        specs.commit(jobId, SPEC);
        escrow.open(jobId, provider, 1_000e6, 600, uint40(block.timestamp + 1 hours));
        vm.stopPrank();
        assertEq(specs.specOf(jobId), SPEC);
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, _inputs());
        assertTrue(specs.isPublished(jobId));
    }

    function test_wrong_preimage_refused() public {
        bytes32 jobId = _jobId(1);
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.NotCommitted.selector, jobId));
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, _inputs());
        vm.prank(buyer);
        specs.commit(jobId, SPEC);
        bytes32[] memory r = _inputs();
        r[1] = bytes32(0);
        bytes32 got = keccak256(abi.encode(DIGEST, N_OPS, SKELETON, r));
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.WrongPreimage.selector, jobId, got, SPEC));
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, r);
        got = keccak256(abi.encode(DIGEST, N_OPS + 1, SKELETON, _inputs()));
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.WrongPreimage.selector, jobId, got, SPEC));
        specs.publish(jobId, DIGEST, N_OPS + 1, SKELETON, _inputs());
        assertFalse(specs.isPublished(jobId));
        // After the right one, a wrong one is still refused (publish never overwrites).
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, _inputs());
        got = keccak256(abi.encode(DIGEST, N_OPS, SKELETON, r));
        vm.expectRevert(abi.encodeWithSelector(JobSpecs.WrongPreimage.selector, jobId, got, SPEC));
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, r);
        assertEq(specs.specFor(jobId).inputRoots[1], INPUT1);
    }

    function test_zero_escrow_refused() public {
        vm.expectRevert(JobSpecs.ZeroAddress.selector);
        new JobSpecs(IChallengeHook(address(0)));
    }

    function test_gas_commit_and_publish() public {
        bytes32 jobId = _jobId(3);
        vm.prank(buyer);
        uint256 g = gasleft();
        specs.commit(jobId, SPEC);
        uint256 commitGas = g - gasleft();
        g = gasleft();
        specs.publish(jobId, DIGEST, N_OPS, SKELETON, _inputs());
        uint256 publishGas = g - gasleft();
        emit log_named_uint("commit gas (execution)", commitGas);
        emit log_named_uint("publish gas (execution, 2 inputs)", publishGas);
    }
}
