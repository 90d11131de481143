// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {JobEscrow} from "../../src/JobEscrow.sol";
import {TestToken} from "./TestToken.sol";

/// @notice Drives a JobEscrow through random job lifecycles over a bounded set of job ids.
contract EscrowHandler is Test {
    JobEscrow public immutable escrow;
    TestToken public immutable usd;
    address public immutable game;

    address[] internal buyers;
    address[] internal providers;
    bytes32[] internal ids;
    /// The state of each job as it was after the last handler action.
    mapping(bytes32 => uint8) internal lastState;

    uint256 public ghostLive;
    uint256 public ghostPaidIn;
    uint256 public ghostToProviders;
    uint256 public ghostRefunded;
    uint256 public ghostFees;
    uint256 public ghostUnauthorizedSuccess;
    /// Jobs seen moving backwards (counted, not asserted: a revert in a handler call is discarded).
    uint256 public ghostStateRegressions;
    uint256 internal nonce;

    constructor(JobEscrow escrow_, TestToken usd_, address game_) {
        escrow = escrow_;
        usd = usd_;
        game = game_;
        for (uint256 i; i < 3; ++i) {
            address b = address(uint160(0xB000 + i));
            buyers.push(b);
            usd.mint(b, 1e30);
            vm.prank(b);
            usd.approve(address(escrow), type(uint256).max);
            providers.push(address(uint160(0xD000 + i)));
        }
    }

    /// After every action, each job's state must have moved forward from the last one seen.
    modifier recordsStates() {
        _;
        for (uint256 i; i < ids.length; ++i) {
            uint8 s = uint8(escrow.stateOf(ids[i]));
            if (!movesForward(lastState[ids[i]], s)) ghostStateRegressions++;
            lastState[ids[i]] = s;
        }
    }

    /// The state order: None < Open < Submitted < Challenged < Finalized, Refunded; the last two
    /// are terminal. Staying is always allowed.
    function movesForward(uint8 from, uint8 to) public pure returns (bool) {
        if (from == to) return true;
        if (from >= uint8(JobEscrow.State.Finalized)) return false;
        return to > from;
    }

    function _job(uint256 seed) internal view returns (bytes32 id, JobEscrow.Job memory j) {
        if (ids.length == 0) return (bytes32(0), j);
        id = ids[seed % ids.length];
        j = escrow.getJob(id);
    }

    function open(uint256 b, uint256 p, uint256 amount, uint256 window, uint256 submitIn)
        external
        recordsStates
    {
        address buyer = buyers[b % buyers.length];
        bytes32 id = escrow.jobIdFor(buyer, uint96(nonce++));
        amount = bound(amount, 1, 1e15);
        window = bound(window, 60, 3 days);
        submitIn = bound(submitIn, 0, 3 days);
        vm.prank(buyer);
        escrow.open(id, providers[p % providers.length], amount, uint32(window), uint40(block.timestamp + submitIn));
        ids.push(id);
        ghostLive += amount;
        ghostPaidIn += amount;
    }

    function submit(uint256 seed, bytes32 root) external recordsStates {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Open || block.timestamp > j.deadline || root == bytes32(0)) return;
        vm.prank(j.provider);
        escrow.submitResult(id, root);
    }

    function warp(uint256 dt) external recordsStates {
        vm.warp(block.timestamp + bound(dt, 1, 2 days));
    }

    function finalize(uint256 seed) external recordsStates {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Submitted || block.timestamp < j.deadline) return;
        escrow.finalize(id);
        _paid(j);
    }

    function refund(uint256 seed) external recordsStates {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Open || block.timestamp <= j.deadline) return;
        escrow.refund(id);
        ghostLive -= j.amount;
        ghostRefunded += j.amount;
    }

    function challenge(uint256 seed, address challenger) external recordsStates {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Submitted || block.timestamp >= j.deadline || challenger == address(0)) return;
        vm.prank(game);
        escrow.markChallenged(id, challenger);
    }

    function resolve(uint256 seed, bool providerWon) external recordsStates {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Challenged) return;
        vm.prank(game);
        escrow.resolve(id, providerWon);
        if (providerWon) {
            _paid(j);
        } else {
            ghostLive -= j.amount;
            ghostRefunded += j.amount;
        }
    }

    function timeoutDispute(uint256 seed) external recordsStates {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Challenged || block.timestamp < escrow.disputeDeadlineOf(id)) return;
        escrow.timeoutDispute(id);
        ghostLive -= j.amount;
        ghostRefunded += j.amount;
    }

    /// Sum of the amounts of the jobs in Open, Submitted or Challenged, read from the escrow itself.
    function liveOnChain() external view returns (uint256 sum) {
        for (uint256 i; i < ids.length; ++i) {
            JobEscrow.Job memory j = escrow.getJob(ids[i]);
            if (j.state == JobEscrow.State.Open || j.state == JobEscrow.State.Submitted
                || j.state == JobEscrow.State.Challenged) sum += j.amount;
        }
    }

    function distributeFees() external recordsStates {
        escrow.distributeFees();
    }

    /// Anyone but the game trying to challenge or resolve must fail.
    function strangerChallenge(uint256 seed, uint256 who, bool resolve_) external recordsStates {
        (bytes32 id,) = _job(seed);
        address caller = who % 2 == 0 ? buyers[who % buyers.length] : providers[who % providers.length];
        vm.prank(caller);
        if (resolve_) {
            try escrow.resolve(id, who % 3 == 0) {
                ghostUnauthorizedSuccess++;
            } catch {}
        } else {
            try escrow.markChallenged(id, caller) {
                ghostUnauthorizedSuccess++;
            } catch {}
        }
    }

    function _paid(JobEscrow.Job memory j) internal {
        uint256 fee = uint256(j.amount) * j.feeBps / 10_000;
        ghostLive -= j.amount;
        ghostFees += fee;
        ghostToProviders += j.amount - fee;
    }

    /// States only move forward: Open → Submitted → Challenged → terminal, or Open → Refunded.
    /// Every action was checked as it happened (``ghostStateRegressions``); here every job is also
    /// checked against the state recorded after the last action.
    function checkStates() external view {
        assertEq(ghostStateRegressions, 0, "a job's state moved backwards during an action");
        for (uint256 i; i < ids.length; ++i) {
            uint8 s = uint8(escrow.stateOf(ids[i]));
            assertTrue(s != uint8(JobEscrow.State.None), "an opened job has no state");
            assertTrue(movesForward(lastState[ids[i]], s), "a job's state moved backwards");
        }
    }

    /// How many jobs the handler opened, and the id of the ``i``-th (for the tests of the check).
    function jobCount() external view returns (uint256) {
        return ids.length;
    }

    function jobAt(uint256 i) external view returns (bytes32) {
        return ids[i];
    }
}
