// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {JobEscrow} from "../../src/JobEscrow.sol";
import {VerificationGame} from "../../src/VerificationGame.sol";
import {MockUSD} from "../../src/mocks/MockUSD.sol";
import {GameModel} from "./GameModel.sol";
import {MockOneStep} from "./MockOneStep.sol";

/// @notice Random play on several jobs at once: honest or lying providers, honest and random challengers that
///         open disputes at random times, moves, timeouts, settles, cancels, withdrawals and the escrow's own
///         finalize and backstop. The honest parties are live (time never jumps past an honest player's
///         deadline); everything else is random. Ghosts record what the invariants check.
contract GameHandler is CommonBase, StdCheats, StdUtils {
    JobEscrow internal escrow;
    VerificationGame internal game;
    MockOneStep internal oneStep;
    MockUSD internal musd;
    GameModel internal truth;
    GameModel internal liar;
    address internal buyer;
    address internal provider;

    uint8 internal constant HONEST = 0;
    uint8 internal constant RANDOM = 1;

    bytes32[] public jobs;
    mapping(bytes32 => bool) public lying;
    uint256[] public disputes;
    mapping(uint256 => uint8) public strategy;
    mapping(uint256 => uint256) public rnd;
    address[] public challengers;
    uint256 public ghostBondsIn;
    uint256 public ghostWithdrawn;
    uint256 public ghostHonestLost;
    uint256 public ghostChallengerWon;
    uint256 public ghostProviderWon;
    uint96 internal nonce;

    constructor(
        JobEscrow escrow_,
        VerificationGame game_,
        MockOneStep oneStep_,
        MockUSD musd_,
        GameModel truth_,
        GameModel liar_,
        address buyer_,
        address provider_
    ) {
        escrow = escrow_;
        game = game_;
        oneStep = oneStep_;
        musd = musd_;
        truth = truth_;
        liar = liar_;
        buyer = buyer_;
        provider = provider_;
        for (uint256 i = 0; i < 4; ++i) {
            challengers.push(makeAddr(string.concat("inv challenger ", vm.toString(i))));
        }
    }

    function disputeCount() external view returns (uint256) {
        return disputes.length;
    }

    function challengerCount() external view returns (uint256) {
        return challengers.length;
    }

    function jobCount() external view returns (uint256) {
        return jobs.length;
    }

    // ------------------------------------------------------------ actions

    function openJob(bool lie) external {
        if (jobs.length >= 6) return;
        bytes32 jobId = escrow.jobIdFor(buyer, ++nonce);
        vm.prank(buyer);
        escrow.open(jobId, provider, 10e6, 4 hours, uint40(block.timestamp + 1 hours));
        bytes32 root = (lie ? liar : truth).resultRoot();
        vm.prank(provider);
        escrow.submitResult(jobId, root);
        oneStep.setProgram(jobId, truth.config().seed, truth.PROGRAM_DIGEST(), truth.config().nOps);
        jobs.push(jobId);
        lying[jobId] = lie;
    }

    function openDispute(uint256 jobSel, uint256 who, bool honestPlayer, uint256 seed) external {
        if (jobs.length == 0) return;
        bytes32 jobId = jobs[jobSel % jobs.length];
        address ch = challengers[who % challengers.length];
        uint256 b = game.bond();
        vm.deal(ch, b);
        vm.prank(ch);
        try game.open{value: b}(jobId) returns (uint256 id) {
            disputes.push(id);
            strategy[id] = honestPlayer ? HONEST : RANDOM;
            rnd[id] = seed;
            ghostBondsIn += b;
        } catch {}
    }

    function move(uint256 sel) external {
        if (disputes.length == 0) return;
        uint256 id = disputes[sel % disputes.length];
        VerificationGame.Dispute memory d = game.getDispute(id);
        if (d.phase >= VerificationGame.Phase.ProviderWon) return;
        (VerificationGame.Side side, uint256 deadline) = game.turnOf(id);
        if (block.timestamp > deadline) return;
        GameModel posted = lying[d.jobId] ? liar : truth;
        if (side == VerificationGame.Side.Provider) _providerMove(id, d, posted);
        else _challengerMove(id, d, posted);
        _afterEnd(id);
    }

    function warp(uint256 dt) external {
        dt = bound(dt, 1, 2 hours);
        // Honest players are live: never jump past an honest player's deadline.
        for (uint256 i = 0; i < disputes.length; ++i) {
            uint256 id = disputes[i];
            VerificationGame.Dispute memory d = game.getDispute(id);
            if (d.phase >= VerificationGame.Phase.ProviderWon) continue;
            (VerificationGame.Side side, uint256 deadline) = game.turnOf(id);
            bool honestOnTurn =
                side == VerificationGame.Side.Provider ? !lying[d.jobId] : strategy[id] == HONEST;
            if (honestOnTurn && deadline >= block.timestamp && block.timestamp + dt > deadline) {
                dt = deadline - block.timestamp;
            }
        }
        vm.warp(block.timestamp + dt);
    }

    function timeout(uint256 sel) external {
        if (disputes.length == 0) return;
        uint256 id = disputes[sel % disputes.length];
        try game.timeout(id) {} catch {}
        _afterEnd(id);
    }

    function cancel(uint256 sel) external {
        if (disputes.length == 0) return;
        uint256 id = disputes[sel % disputes.length];
        try game.cancel(id) {} catch {}
    }

    function settle(uint256 jobSel) external {
        if (jobs.length == 0) return;
        try game.settle(jobs[jobSel % jobs.length]) {} catch {}
    }

    function finalize(uint256 jobSel) external {
        if (jobs.length == 0) return;
        try escrow.finalize(jobs[jobSel % jobs.length]) {} catch {}
    }

    function withdraw(uint256 who) external {
        address a = who % 3 == 0 ? provider : challengers[who % challengers.length];
        uint256 c = game.credit(a);
        if (c == 0) return;
        game.withdraw(a);
        ghostWithdrawn += c;
    }

    // ------------------------------------------------------------ players

    function _providerMove(uint256 id, VerificationGame.Dispute memory d, GameModel m) internal {
        VerificationGame.Phase p = d.phase;
        vm.startPrank(provider);
        if (p == VerificationGame.Phase.AwaitRoot) {
            uint8 h = m.opDepth();
            bytes32 dg = m.PROGRAM_DIGEST();
            uint32 n = m.config().nOps;
            game.revealRoot(id, dg, n, m.opTreeRoot(), m.opNode(h - 1, 0), m.opNode(h - 1, 1));
        } else if (p == VerificationGame.Phase.OpBisect) {
            uint256 i = 2 * uint256(d.index);
            game.bisect(id, m.opNode(d.height - 1, i), m.opNode(d.height - 1, i + 1));
        } else if (p == VerificationGame.Phase.AwaitOp) {
            uint8 h = m.rowDepth();
            game.revealOp(
                id,
                m.body(d.index),
                m.treeRootOf(d.index),
                m.rowNode(d.index, h - 1, 0),
                m.rowNode(d.index, h - 1, 1)
            );
        } else if (p == VerificationGame.Phase.RowBisect) {
            uint256 i = 2 * uint256(d.index);
            game.bisect(id, m.rowNode(d.op, d.height - 1, i), m.rowNode(d.op, d.height - 1, i + 1));
        } else {
            game.revealRow(id, m.rowBytes(d.op, d.index));
        }
        vm.stopPrank();
    }

    function _challengerMove(uint256 id, VerificationGame.Dispute memory d, GameModel posted) internal {
        uint256 r = uint256(keccak256(abi.encode(rnd[id])));
        rnd[id] = r;
        bool honestPlayer = strategy[id] == HONEST;
        VerificationGame.Phase p = d.phase;
        vm.startPrank(d.challenger);
        if (p == VerificationGame.Phase.AwaitStep) {
            uint32 cols = truth.config().cols;
            uint32 col = uint32(r % cols);
            if (honestPlayer) {
                for (uint32 j = 0; j < cols; ++j) {
                    if (posted.value(d.op, d.row, j) != truth.value(d.op, d.row, j)) {
                        col = j;
                        break;
                    }
                }
            }
            game.step(id, col, posted.rowBytes(d.op, d.row));
        } else {
            bool right = r & 1 == 1;
            if (honestPlayer) {
                uint256 i = 2 * uint256(d.index);
                bytes32 mine = p == VerificationGame.Phase.OpChoose
                    ? truth.opNode(d.height - 1, i)
                    : truth.rowNode(d.op, d.height - 1, i);
                right = d.left == mine;
            }
            game.choose(id, right);
        }
        vm.stopPrank();
    }

    /// @dev Counts each dispute's end once (a later call on an ended dispute returns before this).
    function _afterEnd(uint256 id) internal {
        if (counted[id]) return;
        VerificationGame.Phase ph = game.getDispute(id).phase;
        if (ph < VerificationGame.Phase.ProviderWon) return;
        counted[id] = true;
        _count(id);
    }

    mapping(uint256 => bool) internal counted;

    function _count(uint256 id) internal {
        VerificationGame.Dispute memory d = game.getDispute(id);
        bool lie = lying[d.jobId];
        if (d.phase == VerificationGame.Phase.ChallengerWon) ++ghostChallengerWon;
        if (d.phase == VerificationGame.Phase.ProviderWon) ++ghostProviderWon;
        if (d.phase == VerificationGame.Phase.ChallengerWon && !lie) ++ghostHonestLost; // honest provider lost
        if (d.phase == VerificationGame.Phase.ProviderWon && lie && strategy[id] == HONEST) {
            ++ghostHonestLost;
        }
    }

    /// @dev Σ live bonds.
    function liveBonds() external view returns (uint256 sum) {
        for (uint256 i = 0; i < disputes.length; ++i) {
            VerificationGame.Dispute memory d = game.getDispute(disputes[i]);
            if (d.phase < VerificationGame.Phase.ProviderWon) sum += d.bond;
        }
    }

    /// @dev Σ credits of every account that can hold one.
    function credits(address burnSink) external view returns (uint256 sum) {
        sum = game.credit(provider) + game.credit(burnSink);
        for (uint256 i = 0; i < challengers.length; ++i) {
            sum += game.credit(challengers[i]);
        }
    }
}
