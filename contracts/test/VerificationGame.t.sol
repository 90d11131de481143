// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {JobEscrow} from "../src/JobEscrow.sol";
import {VerificationGame} from "../src/VerificationGame.sol";
import {GameModel} from "./game/GameModel.sol";
import {GameBase} from "./game/GameBase.sol";
import {GameHandler} from "./game/GameHandler.sol";

/// @notice VerificationGame: Optimism-style 1-vs-1 actor tests (the honest party wins against any opponent),
///         N-vs-1 disputes on one job, conservation of bonds, stakes and payments, timeouts at every stage and
///         the refusals.
contract VerificationGameTest is GameBase {
    // ------------------------------------------------------------ helpers

    function _honest() internal view returns (Player memory) {
        return Player(honest, HONEST, 1);
    }

    function _one(address who) internal pure returns (address[] memory a) {
        a = new address[](2);
        a[0] = who;
        a[1] = address(0xdead);
    }

    /// @dev Honest challenger against a liar at (wOp, wRow, wCol): the challenger wins, the bisection pins the
    ///      first disputed op and row, the provider's lock is slashed with the reward to the challenger, the buyer
    ///      is refunded and the game ends holding nothing.
    function _honestBeatsLiar(
        uint256 seed,
        uint32 nOps,
        uint32 rows,
        uint32 cols,
        uint32 wOp,
        uint32 wRow,
        uint32 wCol
    ) internal {
        GameModel truth = new GameModel(_cfg(seed, nOps, rows, cols));
        GameModel liar = new GameModel(_liar(_cfg(seed, nOps, rows, cols), wOp, wRow, wCol));
        bytes32 jobId = _job(truth, liar);
        uint256 lock = escrow.stakeLockOf(jobId);
        uint256 buyerBefore = musd.balanceOf(buyer);
        uint256 supplyBefore = gcx.totalSupply();
        uint256 id = _open(jobId, honest);
        uint256 b = game.bond();
        _play(id, _honest(), truth, liar);

        VerificationGame.Dispute memory d = game.getDispute(id);
        assertEq(uint8(d.phase), uint8(VerificationGame.Phase.ChallengerWon), "honest challenger lost");
        assertEq(d.op, wOp, "not the first disputed op");
        assertEq(d.row, wRow, "not the disputed row");
        assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Refunded));
        assertEq(musd.balanceOf(buyer) - buyerBefore, AMOUNT, "buyer not refunded");
        // Slash split: 50 % burned, 20 % to the bonded challenger, 30 % to the buyer; stake conserved.
        assertEq(gcx.balanceOf(honest), lock * 2_000 / 10_000, "reward");
        assertEq(gcx.balanceOf(buyer), lock * 3_000 / 10_000, "compensation");
        assertEq(
            supplyBefore - gcx.totalSupply(), lock - lock * 2_000 / 10_000 - lock * 3_000 / 10_000, "burn"
        );
        assertGt(supplyBefore - gcx.totalSupply(), 0, "burn share zero");
        assertEq(escrow.challengerOf(jobId), honest);
        assertEq(game.credit(honest), b, "bond not returned");
        uint256 ethBefore = honest.balance;
        _drain(_one(honest));
        assertEq(honest.balance - ethBefore, b);
    }

    /// @dev Honest provider against challenger `pl`: the provider wins, the bond goes to it net of the burn, and
    ///      after the window the job settles (the provider is paid).
    function _honestProviderWins(uint256 seed, uint32 nOps, uint32 rows, uint32 cols, Player memory pl)
        internal
    {
        GameModel truth = new GameModel(_cfg(seed, nOps, rows, cols));
        bytes32 jobId = _job(truth, truth);
        uint256 id = _open(jobId, pl.who);
        uint256 b = game.bond();
        _play(id, pl, truth, truth);
        assertEq(uint8(_phase(id)), uint8(VerificationGame.Phase.ProviderWon), "honest provider lost");
        uint256 burned = (b * game.bondBurnBps() + 9_999) / 10_000;
        assertEq(game.credit(provider), b - burned);
        assertEq(game.credit(burnSink), burned);
        assertGt(burned, 0);
        assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Challenged), "window still open");
        vm.warp(escrow.getJob(jobId).deadline);
        uint256 paidBefore = musd.balanceOf(provider);
        game.settle(jobId);
        assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Finalized));
        assertEq(musd.balanceOf(provider) - paidBefore, AMOUNT - AMOUNT * 100 / 10_000);
        assertEq(registry.lockedOf(provider, P), 0, "lock not released");
        _drain(_one(provider));
    }

    // ------------------------------------------------------------ honest challenger vs a lying provider

    function test_honestChallenger_wrongFirstOpFirstRow() public {
        _honestBeatsLiar(1, 5, 6, 4, 0, 0, 0);
    }

    function test_honestChallenger_wrongMiddleOpLastRow() public {
        _honestBeatsLiar(2, 5, 6, 4, 2, 5, 3);
    }

    function test_honestChallenger_wrongLastOpLastRowCorner() public {
        _honestBeatsLiar(3, 5, 6, 4, 4, 5, 3);
    }

    function test_honestChallenger_wrongLastOpFirstRowFirstCol() public {
        _honestBeatsLiar(4, 8, 8, 4, 7, 0, 0);
    }

    function test_honestChallenger_oneOpOneRow() public {
        _honestBeatsLiar(5, 1, 1, 3, 0, 0, 2);
    }

    function test_honestChallenger_int32Rows() public {
        GameModel.Config memory c = _cfg(6, 3, 3, 5);
        c.dtype = 2;
        GameModel truth = new GameModel(c);
        GameModel liar = new GameModel(_liar(c, 1, 2, 4));
        bytes32 jobId = _job(truth, liar);
        uint256 id = _open(jobId, honest);
        _play(id, _honest(), truth, liar);
        assertEq(uint8(_phase(id)), uint8(VerificationGame.Phase.ChallengerWon));
    }

    /// Random liar positions, shapes and seeds.
    function testFuzz_honestChallenger_vsRandomLiar(
        uint256 seed,
        uint32 nOps,
        uint32 rows,
        uint32 cols,
        uint32 w
    ) public {
        nOps = uint32(bound(nOps, 1, 9));
        rows = uint32(bound(rows, 1, 9));
        cols = uint32(bound(cols, 1, 5));
        uint32 wOp = uint32(w % nOps);
        uint32 wRow = uint32((w >> 8) % rows);
        uint32 wCol = uint32((w >> 16) % cols);
        _honestBeatsLiar(seed, nOps, rows, cols, wOp, wRow, wCol);
    }

    /// A liar whose op tree has junk in a padding position: the challenger goes there and wins on the padding.
    function test_honestChallenger_junkInPadding() public {
        GameModel truth = new GameModel(_cfg(7, 5, 2, 2));
        GameModel.Config memory c = _cfg(7, 5, 2, 2);
        c.badPad = true;
        GameModel liar = new GameModel(c);
        bytes32 jobId = _job(truth, liar);
        uint256 id = _open(jobId, honest);
        _play(id, _honest(), truth, liar);
        VerificationGame.Dispute memory d = game.getDispute(id);
        assertEq(uint8(d.phase), uint8(VerificationGame.Phase.ChallengerWon));
        assertEq(d.index, 5, "decided at the first padding position");
    }

    /// A provider that stops answering loses (withholding loses), at every provider stage.
    function test_providerWithholding_losesAtEveryStage() public {
        // Stages: AwaitRoot, OpBisect, AwaitOp, RowBisect, AwaitRow (5 ops × 5 rows reaches all).
        for (uint256 stage = 0; stage < 5; ++stage) {
            GameModel truth = new GameModel(_cfg(10 + stage, 5, 5, 2));
            GameModel liar = new GameModel(_liar(_cfg(10 + stage, 5, 5, 2), 3, 3, 1));
            bytes32 jobId = _job(truth, liar);
            uint256 id = _open(jobId, honest);
            VerificationGame.Phase target = [
                VerificationGame.Phase.AwaitRoot,
                VerificationGame.Phase.OpBisect,
                VerificationGame.Phase.AwaitOp,
                VerificationGame.Phase.RowBisect,
                VerificationGame.Phase.AwaitRow
            ][stage];
            Player memory pl = _honest();
            while (_phase(id) != target) {
                (VerificationGame.Side side,) = game.turnOf(id);
                if (side == VerificationGame.Side.Provider) _providerMove(id, liar);
                else _challengerMove(id, pl, truth, liar);
            }
            (VerificationGame.Side s, uint256 deadline) = game.turnOf(id);
            assertEq(uint8(s), uint8(VerificationGame.Side.Provider));
            vm.warp(deadline);
            vm.expectRevert(abi.encodeWithSelector(VerificationGame.DeadlineNotPassed.selector, deadline));
            game.timeout(id);
            vm.warp(deadline + 1);
            if (stage == 0) {
                // A late move is refused: once the deadline has passed, only the timeout remains.
                (bytes32 dg, bytes32 root, bytes32 l, bytes32 r) =
                    (liar.PROGRAM_DIGEST(), liar.opTreeRoot(), liar.opNode(2, 0), liar.opNode(2, 1));
                vm.prank(provider);
                vm.expectRevert(abi.encodeWithSelector(VerificationGame.DeadlinePassed.selector, deadline));
                game.revealRoot(id, dg, 5, root, l, r);
            }
            uint256 rewardBefore = gcx.balanceOf(honest);
            address caller = makeAddr("timeout caller");
            vm.prank(caller);
            game.timeout(id);
            assertEq(
                uint8(_phase(id)), uint8(VerificationGame.Phase.ChallengerWon), "withholding provider won"
            );
            assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Refunded));
            // The reward is bound to the bonded challenger, not to whoever sent the winning transaction.
            assertEq(escrow.challengerOf(jobId), honest);
            assertGt(gcx.balanceOf(honest), rewardBefore);
            assertEq(gcx.balanceOf(caller), 0);
            assertEq(game.credit(caller), 0);
        }
    }

    /// A challenger that stops answering loses its bond, at every challenger stage.
    function test_challengerWithholding_losesAtEveryStage() public {
        VerificationGame.Phase[3] memory targets = [
            VerificationGame.Phase.OpChoose,
            VerificationGame.Phase.RowChoose,
            VerificationGame.Phase.AwaitStep
        ];
        for (uint256 stage = 0; stage < 3; ++stage) {
            GameModel truth = new GameModel(_cfg(20 + stage, 4, 4, 2));
            bytes32 jobId = _job(truth, truth);
            address ch = _name("withholder", stage);
            uint256 id = _open(jobId, ch);
            Player memory pl = Player(ch, RANDOM, 99);
            pl.strategy = HONEST; // plays sensibly until the target stage
            while (_phase(id) != targets[stage]) {
                (VerificationGame.Side side,) = game.turnOf(id);
                if (side == VerificationGame.Side.Provider) _providerMove(id, truth);
                else _challengerMove(id, pl, truth, truth);
            }
            (, uint256 deadline) = game.turnOf(id);
            vm.warp(deadline + 1);
            game.timeout(id);
            assertEq(
                uint8(_phase(id)), uint8(VerificationGame.Phase.ProviderWon), "withholding challenger won"
            );
            assertGt(game.credit(provider), 0);
        }
    }

    /// The clock cannot be banked: a move never gets more than `moveTimeout`, however little time was used
    /// before, and a side's moves together never exceed `clockBudget`.
    function test_clock_notBankable() public {
        vm.prank(admin);
        game.setClockParams(1 hours, 3 hours);
        GameModel truth = new GameModel(_cfg(30, 16, 16, 2));
        GameModel liar = new GameModel(_liar(_cfg(30, 16, 16, 2), 15, 15, 1));
        bytes32 jobId = _job(truth, liar);
        uint256 id = _open(jobId, honest);
        // The provider answers its first three moves at once: its next move still has one hour only.
        Player memory pl = _honest();
        for (uint256 i = 0; i < 3; ++i) {
            _providerMove(id, liar);
            _challengerMove(id, pl, truth, liar);
        }
        (, uint256 deadline) = game.turnOf(id);
        assertEq(deadline, block.timestamp + 1 hours, "unused time was banked");
        // Now the provider uses 59 minutes on each move: after three such moves its clock has 3 min left.
        for (uint256 i = 0; i < 3; ++i) {
            vm.warp(block.timestamp + 59 minutes);
            _providerMove(id, liar);
            _challengerMove(id, pl, truth, liar);
        }
        (, deadline) = game.turnOf(id);
        assertEq(deadline, block.timestamp + 3 minutes, "clock budget not enforced");
        vm.warp(deadline + 1);
        game.timeout(id);
        assertEq(uint8(_phase(id)), uint8(VerificationGame.Phase.ChallengerWon));
    }

    // ------------------------------------------------------------ honest provider vs a random challenger

    function testFuzz_honestProvider_vsRandomChallenger(uint256 seed, uint256 rnd, uint32 nOps, uint32 rows)
        public
    {
        nOps = uint32(bound(nOps, 1, 9));
        rows = uint32(bound(rows, 1, 9));
        _honestProviderWins(seed, nOps, rows, 3, Player(makeAddr("random"), RANDOM, rnd));
    }

    /// A challenger that disputes a correct padding node loses on the spot.
    function test_honestProvider_challengerDisputesPadding() public {
        GameModel truth = new GameModel(_cfg(40, 5, 3, 2));
        bytes32 jobId = _job(truth, truth);
        address ch = makeAddr("padder");
        uint256 id = _open(jobId, ch);
        _providerMove(id, truth); // root + split: [0,4) | [4,8)
        vm.prank(ch);
        game.choose(id, true); // [4,8): op 4 is real
        _providerMove(id, truth); // [4,6) | [6,8)
        vm.prank(ch);
        game.choose(id, true); // [6,8): all padding, and correct
        assertEq(uint8(_phase(id)), uint8(VerificationGame.Phase.ProviderWon));
    }

    /// A provider whose op leaf the program refuses (the one-step's leafValid = false) loses at the reveal.
    function test_invalidOpLeaf_providerLoses() public {
        GameModel truth = new GameModel(_cfg(41, 2, 2, 2));
        bytes32 jobId = _job(truth, truth);
        oneStep.setInvalidOp(jobId, 1);
        uint256 id = _open(jobId, honest);
        _providerMove(id, truth);
        vm.prank(honest);
        game.choose(id, true); // op 1
        _providerMove(id, truth); // op body + row split
        vm.prank(honest);
        game.choose(id, false);
        _providerMove(id, truth); // row reveal: leafValid = false
        assertEq(uint8(_phase(id)), uint8(VerificationGame.Phase.ChallengerWon));
    }

    /// A result root that names another program (the one-step's checkRoot = false) loses at the first move.
    function test_wrongProgram_providerLoses() public {
        GameModel truth = new GameModel(_cfg(42, 2, 2, 2));
        bytes32 jobId = _job(truth, truth);
        oneStep.setProgram(jobId, 42, keccak256("another program"), 2);
        uint256 id = _open(jobId, honest);
        _providerMove(id, truth);
        assertEq(uint8(_phase(id)), uint8(VerificationGame.Phase.ChallengerWon));
    }

    /// Moves must open the provider's commitments: wrong children, a wrong body, a body of another index.
    function test_providerMoves_mustOpenCommitments() public {
        GameModel truth = new GameModel(_cfg(43, 2, 2, 2));
        bytes32 jobId = _job(truth, truth);
        uint256 id = _open(jobId, honest);
        (bytes32 dg, bytes32 root, bytes32 l, bytes32 r) =
            (truth.PROGRAM_DIGEST(), truth.opTreeRoot(), truth.opNode(0, 0), truth.opNode(0, 1));
        vm.startPrank(provider);
        vm.expectRevert(VerificationGame.NotPreimage.selector);
        game.revealRoot(id, dg, 3, root, l, r);
        vm.expectRevert(VerificationGame.BadOpCount.selector);
        game.revealRoot(id, dg, 0, root, bytes32(0), bytes32(0));
        vm.expectRevert(VerificationGame.NotPreimage.selector);
        game.revealRoot(id, dg, 2, root, r, l);
        vm.stopPrank();
        _providerMove(id, truth);
        vm.prank(honest);
        game.choose(id, true); // op 1
        (bytes memory body0, bytes memory body1) = (truth.body(0), truth.body(1));
        (bytes32 tree0, bytes32 rl, bytes32 rr) =
            (truth.treeRootOf(0), truth.rowNode(0, 0, 0), truth.rowNode(0, 0, 1));
        vm.startPrank(provider);
        vm.expectRevert(VerificationGame.BadOpBody.selector); // op 0's body at index 1
        game.revealOp(id, body0, tree0, rl, rr);
        vm.expectRevert(VerificationGame.NotPreimage.selector); // op 1's body with op 0's tree root
        game.revealOp(id, body1, tree0, rl, rr);
        vm.expectRevert(VerificationGame.BadOpBody.selector);
        game.revealOp(id, hex"00", bytes32(0), bytes32(0), bytes32(0));
        vm.stopPrank();
    }

    // ------------------------------------------------------------ many challengers

    /// One honest challenger against a lying provider and five dishonest challengers (accomplices that lose on
    /// purpose, withhold, or play at random). Accomplices losing early never let the job finalize while the
    /// honest dispute is open; the honest challenger wins and alone is paid from the slash; the other bonds
    /// still in play come back.
    function test_oneHonestChallenger_vsFiveDishonest() public {
        GameModel truth = new GameModel(_cfg(50, 7, 6, 3));
        GameModel liar = new GameModel(_liar(_cfg(50, 7, 6, 3), 6, 5, 2));
        bytes32 jobId = _jobW(truth, liar, 2 hours);
        uint256 lock = escrow.stakeLockOf(jobId);
        uint256 b = game.bond();

        // Two accomplices open first and lose at once (they withhold): the job must stay frozen.
        address[] memory acc = new address[](5);
        uint256[] memory accIds = new uint256[](5);
        for (uint256 i = 0; i < 2; ++i) {
            acc[i] = _name("accomplice", i);
            accIds[i] = _open(jobId, acc[i]);
            _providerMove(accIds[i], liar);
        }
        vm.warp(block.timestamp + 1 hours + 1);
        for (uint256 i = 0; i < 2; ++i) {
            game.timeout(accIds[i]);
            assertEq(uint8(_phase(accIds[i])), uint8(VerificationGame.Phase.ProviderWon));
        }
        assertEq(
            uint8(escrow.stateOf(jobId)),
            uint8(JobEscrow.State.Challenged),
            "a lost sham dispute ended the job"
        );
        // The honest challenger and three more accomplices open later in the window.
        uint256 honestId = _open(jobId, honest);
        uint256[] memory ids = new uint256[](4);
        Player[] memory pls = new Player[](4);
        ids[0] = honestId;
        pls[0] = _honest();
        for (uint256 i = 2; i < 5; ++i) {
            acc[i] = _name("accomplice", i);
            accIds[i] = _open(jobId, acc[i]);
            ids[i - 1] = accIds[i];
            pls[i - 1] = Player(acc[i], i == 4 ? WITHHOLD : RANDOM, i + 7);
        }
        // A few moves, then the window closes with disputes open: no settle, no finalize, no new dispute.
        _providerMove(honestId, liar);
        _challengerMove(honestId, pls[0], truth, liar);
        uint256 windowEnd = escrow.getJob(jobId).deadline;
        vm.warp(windowEnd);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.NotSettleable.selector, jobId));
        game.settle(jobId);
        vm.expectRevert(
            abi.encodeWithSelector(JobEscrow.WrongState.selector, jobId, JobEscrow.State.Challenged)
        );
        escrow.finalize(jobId);
        uint256 b2 = game.bond();
        address late = makeAddr("late");
        vm.deal(late, b2);
        vm.prank(late);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.WindowClosed.selector, jobId, windowEnd));
        game.open{value: b2}(jobId);

        _playAll(ids, pls, truth, liar, false);

        assertEq(
            uint8(_phase(honestId)), uint8(VerificationGame.Phase.ChallengerWon), "honest challenger lost"
        );
        _checkOneVsFive(jobId, lock, b, acc);
    }

    function _checkOneVsFive(bytes32 jobId, uint256 lock, uint256 b, address[] memory acc) internal {
        assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Refunded));
        assertEq(escrow.challengerOf(jobId), honest, "reward not bound to the winner");
        assertEq(gcx.balanceOf(honest), lock * 2_000 / 10_000);
        for (uint256 i = 0; i < 5; ++i) {
            assertEq(gcx.balanceOf(acc[i]), 0, "an accomplice was paid from the slash");
        }
        // Bond conservation: 6 bonds in = 1 back to the honest + Σ accomplices' ends.
        uint256 provCredit = game.credit(provider);
        uint256 sinkCredit = game.credit(burnSink);
        uint256 back = game.credit(honest);
        for (uint256 i = 0; i < 5; ++i) {
            back += game.credit(acc[i]);
        }
        assertEq(provCredit + sinkCredit + back, 6 * b, "bonds not conserved");
        assertEq(address(game).balance, 6 * b);
        (, uint32 live,) = game.jobGames(jobId);
        assertEq(live, 0);
        address[] memory all = new address[](7);
        for (uint256 i = 0; i < 5; ++i) {
            all[i] = acc[i];
        }
        all[5] = honest;
        all[6] = provider;
        _drain(all);
    }

    /// An honest provider against five dishonest challengers: all lose, the job settles after the window, the
    /// provider collects every bond net of the burn.
    function test_honestProvider_vsFiveDishonest() public {
        GameModel truth = new GameModel(_cfg(60, 6, 5, 3));
        bytes32 jobId = _job(truth, truth);
        uint256 b = game.bond();
        uint256[] memory ids = new uint256[](5);
        Player[] memory pls = new Player[](5);
        for (uint256 i = 0; i < 5; ++i) {
            address who = _name("dishonest", i);
            ids[i] = _open(jobId, who);
            pls[i] = Player(who, i == 4 ? WITHHOLD : RANDOM, i * 31 + 1);
        }
        _playAll(ids, pls, truth, truth, false);
        for (uint256 i = 0; i < 5; ++i) {
            assertEq(uint8(_phase(ids[i])), uint8(VerificationGame.Phase.ProviderWon), "honest provider lost");
        }
        uint256 burned = (b * game.bondBurnBps() + 9_999) / 10_000;
        assertEq(game.credit(provider), 5 * (b - burned));
        assertEq(game.credit(burnSink), 5 * burned);
        uint256 windowEnd = escrow.getJob(jobId).deadline;
        if (block.timestamp < windowEnd) {
            vm.expectRevert(abi.encodeWithSelector(VerificationGame.NotSettleable.selector, jobId));
            game.settle(jobId);
            vm.warp(windowEnd);
            game.settle(jobId);
        }
        assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Finalized));
        _drain(_one(provider));
    }

    /// The last dispute to end after the window closed settles the job itself.
    function test_lastDisputeAfterWindow_settles() public {
        GameModel truth = new GameModel(_cfg(61, 2, 2, 2));
        bytes32 jobId = _jobW(truth, truth, 60);
        uint256 id = _open(jobId, makeAddr("late loser"));
        vm.warp(escrow.getJob(jobId).deadline);
        (, uint256 deadline) = game.turnOf(id);
        _providerMove(id, truth);
        (, deadline) = game.turnOf(id);
        vm.warp(deadline + 1);
        game.timeout(id);
        assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Finalized));
    }

    // ------------------------------------------------------------ front-running, refusals

    /// A copied winning transaction earns nothing: only the bonded challenger moves, and the reward is bound to
    /// it, not to `msg.sender`.
    function test_copiedWinningTx_earnsNothing() public {
        GameModel truth = new GameModel(_cfg(70, 2, 2, 2));
        GameModel liar = new GameModel(_liar(_cfg(70, 2, 2, 2), 1, 1, 1));
        bytes32 jobId = _job(truth, liar);
        uint256 id = _open(jobId, honest);
        Player memory pl = _honest();
        while (_phase(id) != VerificationGame.Phase.AwaitStep) {
            (VerificationGame.Side side,) = game.turnOf(id);
            if (side == VerificationGame.Side.Provider) _providerMove(id, liar);
            else _challengerMove(id, pl, truth, liar);
        }
        address copier = makeAddr("copier");
        bytes memory winning = abi.encodeCall(VerificationGame.step, (id, 1, liar.rowBytes(1, 1)));
        vm.prank(copier);
        (bool ok, bytes memory ret) = address(game).call(winning);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(VerificationGame.NotPlayer.selector, copier));
        vm.prank(honest);
        (ok,) = address(game).call(winning);
        assertTrue(ok);
        assertEq(gcx.balanceOf(copier), 0);
        assertEq(game.credit(copier), 0);
        assertGt(gcx.balanceOf(honest), 0);
    }

    function test_open_refusals() public {
        GameModel truth = new GameModel(_cfg(80, 1, 1, 1));
        uint256 b = game.bond();
        address ch = makeAddr("ch");
        vm.deal(ch, 10 * b);
        // Unknown (foreign) job.
        bytes32 foreign = keccak256("not a job of this escrow");
        vm.prank(ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.NotDisputable.selector, foreign, 0));
        game.open{value: b}(foreign);
        // Open, not submitted.
        bytes32 jobId = escrow.jobIdFor(buyer, ++nonce);
        vm.prank(buyer);
        escrow.open(jobId, provider, AMOUNT, WINDOW, uint40(block.timestamp + 1 hours));
        vm.prank(ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.NotDisputable.selector, jobId, 1));
        game.open{value: b}(jobId);
        // Wrong bond.
        bytes32 root = truth.resultRoot();
        vm.prank(provider);
        escrow.submitResult(jobId, root);
        vm.prank(ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.WrongBond.selector, b - 1, b));
        game.open{value: b - 1}(jobId);
        // The provider itself.
        vm.deal(provider, b);
        vm.prank(provider);
        vm.expectRevert(VerificationGame.ProviderCannotChallenge.selector);
        game.open{value: b}(jobId);
        // The one-step decision does not know the job's program yet (its spec is not published).
        vm.prank(ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.SpecNotReady.selector, jobId));
        game.open{value: b}(jobId);
        oneStep.setProgram(jobId, 80, truth.PROGRAM_DIGEST(), 1);
        // Twice by the same challenger.
        vm.prank(ch);
        uint256 id = game.open{value: b}(jobId);
        vm.prank(ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.AlreadyDisputing.selector, id));
        game.open{value: b}(jobId);
        // Finalized job.
        bytes32 done = _job(truth, truth);
        vm.warp(escrow.getJob(done).deadline);
        escrow.finalize(done);
        vm.prank(ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.NotDisputable.selector, done, 4));
        game.open{value: b}(done);
        // A job another game-role holder froze.
        bytes32 other = _job(truth, truth);
        address otherGame = makeAddr("otherGame");
        bytes32 role = escrow.CHALLENGER_GAME_ROLE();
        vm.prank(admin);
        escrow.grantRole(role, otherGame);
        vm.prank(otherGame);
        escrow.markChallenged(other, ch);
        vm.prank(ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.NotDisputable.selector, other, 3));
        game.open{value: b}(other);
    }

    /// A dispute that could outlast the escrow's backstop deadline is refused; the defaults fit.
    function test_open_refusesDisputeOutlivingEscrow() public {
        GameModel truth = new GameModel(_cfg(81, 1, 1, 1));
        bytes32 jobId = _job(truth, truth);
        vm.prank(admin);
        game.setClockParams(1 hours, 2 days);
        uint256 b = game.bond();
        address ch = makeAddr("ch");
        vm.deal(ch, b);
        uint256 end = block.timestamp + game.maxDisputeLength();
        vm.prank(ch);
        vm.expectRevert(
            abi.encodeWithSelector(
                VerificationGame.DisputeOutlivesEscrow.selector, end, block.timestamp + 3 days
            )
        );
        game.open{value: b}(jobId);
        assertEq(uint8(escrow.stateOf(jobId)), uint8(JobEscrow.State.Submitted), "freeze not rolled back");
    }

    /// After the escrow's backstop ended a job, live disputes are cancelled and their bonds returned.
    function test_cancel_afterEscrowBackstop() public {
        GameModel truth = new GameModel(_cfg(82, 2, 2, 2));
        bytes32 jobId = _job(truth, truth);
        address ch = makeAddr("ch");
        uint256 id = _open(jobId, ch);
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.JobStillDisputed.selector, jobId));
        game.cancel(id);
        vm.warp(escrow.disputeDeadlineOf(jobId));
        escrow.timeoutDispute(jobId);
        game.cancel(id);
        assertEq(uint8(_phase(id)), uint8(VerificationGame.Phase.Cancelled));
        assertEq(game.credit(ch), game.bond());
        vm.expectRevert(abi.encodeWithSelector(VerificationGame.NotLive.selector, id));
        game.cancel(id);
        _drain(_one(ch));
    }

    function test_admin_params() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), bytes32(0)
            )
        );
        game.setBondParams(1, 21_000, 1, 1);
        vm.startPrank(admin);
        vm.expectRevert(VerificationGame.BadBondParams.selector);
        game.setBondParams(67, 100_000, 1 gwei, 0); // burn share zero
        vm.expectRevert(VerificationGame.BadBondParams.selector);
        game.setBondParams(0, 100_000, 1 gwei, 100);
        vm.expectRevert(VerificationGame.BadClockParams.selector);
        game.setClockParams(2 hours, 1 hours);
        game.setBondParams(40, 100_000, 3 gwei, 500);
        vm.stopPrank();
        assertEq(game.bond(), uint256(40) * 100_000 * 3 gwei);
        assertEq(game.bondBurnBps(), 500);
    }
}

/// @notice The escrow's new game hook: a lost dispute pays the slash reward to the challenger the game names.
contract JobEscrowResolveAgainstTest is GameBase {
    function test_resolveAgainstProvider_paysNamedChallenger() public {
        GameModel truth = new GameModel(_cfg(90, 1, 1, 1));
        bytes32 jobId = _job(truth, truth);
        address first = makeAddr("first");
        address winner = makeAddr("winner");
        vm.prank(address(game));
        escrow.markChallenged(jobId, first);
        uint256 lock = escrow.stakeLockOf(jobId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                address(this),
                escrow.CHALLENGER_GAME_ROLE()
            )
        );
        escrow.resolveAgainstProvider(jobId, winner);
        vm.startPrank(address(game));
        vm.expectRevert(JobEscrow.ZeroAddress.selector);
        escrow.resolveAgainstProvider(jobId, address(0));
        escrow.resolveAgainstProvider(jobId, winner);
        vm.expectRevert(
            abi.encodeWithSelector(JobEscrow.WrongState.selector, jobId, JobEscrow.State.Refunded)
        );
        escrow.resolveAgainstProvider(jobId, winner);
        vm.stopPrank();
        assertEq(escrow.challengerOf(jobId), winner);
        assertEq(gcx.balanceOf(winner), lock * 2_000 / 10_000);
        assertEq(gcx.balanceOf(first), 0);
        assertEq(registry.lockedOf(provider, P), 0);
    }
}

/// @notice Conservation and "the honest party wins" under random interleavings of several jobs and disputes.
contract VerificationGameInvariantTest is GameBase {
    GameHandler internal handler;

    function setUp() public override {
        super.setUp();
        GameModel truth = new GameModel(_cfg(7_777, 5, 3, 2));
        GameModel liar = new GameModel(_liar(_cfg(7_777, 5, 3, 2), 3, 2, 1));
        handler = new GameHandler(escrow, game, oneStep, musd, truth, liar, buyer, provider);
        targetContract(address(handler));
    }

    /// Positive control: the handler's actions reach both outcomes, and the invariants hold after them.
    function test_handlerReachesBothOutcomes() public {
        handler.openJob(true);
        handler.openDispute(0, 0, true, 1);
        for (uint256 i = 0; i < 20; ++i) {
            handler.move(0);
        }
        assertEq(handler.ghostChallengerWon(), 1, "the honest challenger did not win");
        handler.openJob(false);
        handler.openDispute(1, 1, false, 2);
        for (uint256 i = 0; i < 20; ++i) {
            handler.move(1);
            handler.warp(2 hours);
            handler.timeout(1);
        }
        assertEq(handler.ghostProviderWon(), 1, "the honest provider did not win");
        handler.withdraw(0);
        handler.withdraw(1);
        invariant_bondsConserved();
        invariant_honestPartyNeverLoses();
        invariant_noFinalizationWhileDisputed();
    }

    /// The game's ETH is exactly the live bonds plus the unwithdrawn credits; every bond paid in is either
    /// still live, credited or withdrawn.
    function invariant_bondsConserved() public view {
        uint256 live = handler.liveBonds();
        uint256 credited = handler.credits(burnSink);
        assertEq(address(game).balance, live + credited, "game balance != live bonds + credits");
        assertEq(handler.ghostBondsIn(), live + credited + handler.ghostWithdrawn(), "bonds not conserved");
    }

    /// An honest provider never loses a dispute; an honest challenger never loses against a liar.
    function invariant_honestPartyNeverLoses() public view {
        assertEq(handler.ghostHonestLost(), 0, "an honest party lost");
    }

    /// A job never ends paid to its provider while a dispute on it is live, and a job with a winning challenger
    /// is never paid.
    function invariant_noFinalizationWhileDisputed() public view {
        for (uint256 i = 0; i < handler.jobCount(); ++i) {
            bytes32 jobId = handler.jobs(i);
            (, uint32 live,) = game.jobGames(jobId);
            if (escrow.stateOf(jobId) == JobEscrow.State.Finalized) {
                assertEq(live, 0, "paid with a live dispute");
            }
        }
        for (uint256 i = 0; i < handler.disputeCount(); ++i) {
            VerificationGame.Dispute memory d = game.getDispute(handler.disputes(i));
            if (d.phase == VerificationGame.Phase.ChallengerWon) {
                assertEq(
                    uint8(escrow.stateOf(d.jobId)), uint8(JobEscrow.State.Refunded), "won but not refunded"
                );
            }
        }
    }
}
