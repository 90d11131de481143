// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {GCXFixtures} from "../utils/GCXFixtures.sol";
import {StakingRegistry} from "../../src/StakingRegistry.sol";
import {JobEscrow} from "../../src/JobEscrow.sol";
import {VerificationGame} from "../../src/VerificationGame.sol";
import {IChallengeHook} from "../../src/interfaces/IChallengeHook.sol";
import {IOneStep} from "../../src/interfaces/IOneStep.sol";
import {IStakingRegistry} from "../../src/interfaces/IStakingRegistry.sol";
import {GameModel} from "./GameModel.sol";
import {MockOneStep} from "./MockOneStep.sol";

/// @notice The real JobEscrow, StakingRegistry and GCX token with the VerificationGame and the one-step test
///         double, plus the actors of Optimism-style 1-vs-1 tests: a provider that plays its own model (honest or
///         a consistent liar), an honest challenger that compares every revealed node with its honest model and
///         goes left whenever the left child differs, and random challengers. An actor that does not move lets
///         the clock run out and the loop calls {VerificationGame.timeout}.
abstract contract GameBase is GCXFixtures {
    JobEscrow internal escrow;
    VerificationGame internal game;
    MockOneStep internal oneStep;

    address internal buyer = makeAddr("buyer");
    address internal provider = makeAddr("provider");
    address internal burnSink = makeAddr("bondBurnSink");
    address internal honest = makeAddr("honestChallenger");
    StakingRegistry.Role internal constant P = StakingRegistry.Role.Provider;
    uint256 internal constant STAKE = 100_000 ether;
    uint256 internal constant AMOUNT = 1_000e6;
    uint32 internal constant WINDOW = 1 days;
    uint96 internal nonce;

    /// Challenger strategies.
    uint8 internal constant HONEST = 0;
    uint8 internal constant RANDOM = 1; // random choices and column, sometimes withholds
    uint8 internal constant WITHHOLD = 2; // never moves

    struct Player {
        address who;
        uint8 strategy;
        uint256 rnd;
    }

    function setUp() public virtual {
        _deployGCX();
        escrow = new JobEscrow(
            IERC20(address(musd)), admin, makeAddr("treasury"), makeAddr("feeSink"), 100, 2_000, 60
        );
        oneStep = new MockOneStep();
        game = new VerificationGame(
            IChallengeHook(address(escrow)), IOneStep(address(oneStep)), admin, burnSink
        );
        vm.startPrank(admin);
        escrow.grantRole(escrow.CHALLENGER_GAME_ROLE(), address(game));
        registry.grantRole(registry.LOCKER_ROLE(), address(escrow));
        escrow.setSlashParams(IStakingRegistry(address(registry)), uint8(P));
        vm.stopPrank();
        _stakeAs(provider, P, STAKE);
        musd.mint(buyer, 1_000_000e6);
        vm.prank(buyer);
        musd.approve(address(escrow), type(uint256).max);
    }

    // ------------------------------------------------------------ models and jobs

    function _cfg(uint256 seed, uint32 nOps, uint32 rows, uint32 cols)
        internal
        pure
        returns (GameModel.Config memory c)
    {
        c.seed = seed;
        c.nOps = nOps;
        c.rows = rows;
        c.cols = cols;
        c.dtype = 1;
    }

    function _liar(GameModel.Config memory c, uint32 wOp, uint32 wRow, uint32 wCol)
        internal
        pure
        returns (GameModel.Config memory)
    {
        c.liar = true;
        c.wOp = wOp;
        c.wRow = wRow;
        c.wCol = wCol;
        return c;
    }

    /// @dev Open a job whose provider posts `posted`'s result root; the one-step double's program is `truth`'s.
    function _job(GameModel truth, GameModel posted) internal returns (bytes32 jobId) {
        return _jobW(truth, posted, WINDOW);
    }

    /// @dev {_job} with challenge window `window`.
    function _jobW(GameModel truth, GameModel posted, uint32 window) internal returns (bytes32 jobId) {
        jobId = escrow.jobIdFor(buyer, ++nonce);
        vm.prank(buyer);
        escrow.open(jobId, provider, AMOUNT, window, uint40(block.timestamp + 1 hours));
        bytes32 root = posted.resultRoot();
        vm.prank(provider);
        escrow.submitResult(jobId, root);
        GameModel.Config memory c = truth.config();
        oneStep.setProgram(jobId, c.seed, truth.PROGRAM_DIGEST(), c.nOps);
    }

    function _open(bytes32 jobId, address who) internal returns (uint256 id) {
        uint256 b = game.bond();
        vm.deal(who, who.balance + b);
        vm.prank(who);
        id = game.open{value: b}(jobId);
    }

    function _phase(uint256 id) internal view returns (VerificationGame.Phase) {
        return game.getDispute(id).phase;
    }

    function _live(uint256 id) internal view returns (bool) {
        VerificationGame.Phase p = _phase(id);
        return p != VerificationGame.Phase.ProviderWon && p != VerificationGame.Phase.ChallengerWon
            && p != VerificationGame.Phase.Cancelled;
    }

    // ------------------------------------------------------------ actors

    /// @dev The provider's move from its model `m` (a consistent player: honest, or a liar that defends its lie).
    function _providerMove(uint256 id, GameModel m) internal {
        VerificationGame.Dispute memory d = game.getDispute(id);
        VerificationGame.Phase p = d.phase;
        vm.startPrank(d.provider);
        if (p == VerificationGame.Phase.AwaitRoot) {
            uint8 h = m.opDepth();
            bytes32 l = h == 0 ? bytes32(0) : m.opNode(h - 1, 0);
            bytes32 r = h == 0 ? bytes32(0) : m.opNode(h - 1, 1);
            game.revealRoot(id, m.PROGRAM_DIGEST(), m.config().nOps, m.opTreeRoot(), l, r);
        } else if (p == VerificationGame.Phase.OpBisect) {
            game.bisect(
                id,
                m.opNode(d.height - 1, 2 * uint256(d.index)),
                m.opNode(d.height - 1, 2 * uint256(d.index) + 1)
            );
        } else if (p == VerificationGame.Phase.AwaitOp) {
            uint32 k = d.index;
            uint8 h = m.rowDepth();
            bytes32 l = h == 0 ? bytes32(0) : m.rowNode(k, h - 1, 0);
            bytes32 r = h == 0 ? bytes32(0) : m.rowNode(k, h - 1, 1);
            game.revealOp(id, m.body(k), m.treeRootOf(k), l, r);
        } else if (p == VerificationGame.Phase.RowBisect) {
            game.bisect(
                id,
                m.rowNode(d.op, d.height - 1, 2 * uint256(d.index)),
                m.rowNode(d.op, d.height - 1, 2 * uint256(d.index) + 1)
            );
        } else if (p == VerificationGame.Phase.AwaitRow) {
            game.revealRow(id, m.rowBytes(d.op, d.index));
        } else {
            revert("not the provider's turn");
        }
        vm.stopPrank();
    }

    /// @dev The challenger's move. `truth` is the honest model, `posted` the provider's (its revealed row is
    ///      public calldata). Returns false when the player withholds.
    function _challengerMove(uint256 id, Player memory pl, GameModel truth, GameModel posted)
        internal
        returns (bool moved)
    {
        VerificationGame.Dispute memory d = game.getDispute(id);
        VerificationGame.Phase p = d.phase;
        if (pl.strategy == WITHHOLD) return false;
        pl.rnd = uint256(keccak256(abi.encode(pl.rnd)));
        if (pl.strategy == RANDOM && pl.rnd % 8 == 0) return false; // sometimes withholds
        vm.startPrank(pl.who);
        if (p == VerificationGame.Phase.OpChoose || p == VerificationGame.Phase.RowChoose) {
            bool right;
            if (pl.strategy == HONEST) {
                uint256 i = 2 * uint256(d.index);
                bytes32 mine = p == VerificationGame.Phase.OpChoose
                    ? truth.opNode(d.height - 1, i)
                    : truth.rowNode(d.op, d.height - 1, i);
                right = d.left == mine; // dispute the left child whenever it differs
            } else {
                right = pl.rnd & 2 != 0;
            }
            game.choose(id, right);
        } else if (p == VerificationGame.Phase.AwaitStep) {
            uint32 cols = truth.config().cols;
            uint32 col = uint32((pl.rnd >> 8) % cols);
            if (pl.strategy == HONEST) {
                for (uint32 j = 0; j < cols; ++j) {
                    if (posted.value(d.op, d.row, j) != truth.value(d.op, d.row, j)) {
                        col = j;
                        break;
                    }
                }
            }
            game.step(id, col, posted.rowBytes(d.op, d.row));
        } else {
            revert("not the challenger's turn");
        }
        vm.stopPrank();
        return true;
    }

    /// @dev Play the disputes `ids` (one player each, all against the provider with model `posted`) move by move,
    ///      round-robin, until all have ended. A side whose deadline has passed is timed out; when nobody could
    ///      move (everyone left withholds), time jumps past the nearest deadline; otherwise a block (12 s) passes
    ///      per round.
    function _playAll(
        uint256[] memory ids,
        Player[] memory players,
        GameModel truth,
        GameModel posted,
        bool providerWithholds
    ) internal {
        for (uint256 round = 0; round < 2_000; ++round) {
            bool any;
            bool moved;
            uint256 nearest = type(uint256).max;
            for (uint256 n = 0; n < ids.length; ++n) {
                uint256 id = ids[n];
                if (!_live(id)) continue;
                any = true;
                (VerificationGame.Side side, uint256 deadline) = game.turnOf(id);
                if (block.timestamp > deadline) {
                    game.timeout(id);
                    moved = true;
                } else if (side == VerificationGame.Side.Provider && !providerWithholds) {
                    _providerMove(id, posted);
                    moved = true;
                } else if (
                    side == VerificationGame.Side.Challenger && _challengerMove(id, players[n], truth, posted)
                ) {
                    moved = true;
                } else if (deadline < nearest) {
                    nearest = deadline;
                }
                _checkRounds(id);
            }
            if (!any) return;
            vm.warp(moved ? block.timestamp + 12 : nearest + 1);
        }
        revert("games did not end");
    }

    function _play(uint256 id, Player memory pl, GameModel truth, GameModel posted) internal {
        uint256[] memory ids = new uint256[](1);
        ids[0] = id;
        Player[] memory pls = new Player[](1);
        pls[0] = pl;
        _playAll(ids, pls, truth, posted, false);
    }

    /// @dev The round bound: total moves ≤ 2 (⌈log₂ ops⌉ + ⌈log₂ rows⌉ + 2).
    function _checkRounds(uint256 id) internal view {
        VerificationGame.Dispute memory d = game.getDispute(id);
        uint256 rowDepth;
        while ((uint256(1) << rowDepth) < (d.rows == 0 ? 1 : d.rows)) ++rowDepth;
        if (d.rows == 0) rowDepth = 32; // not revealed yet: the bound uses the deepest tree
        assertLe(d.moves, 2 * (uint256(d.opDepth) + rowDepth + 2), "round bound");
    }

    // ------------------------------------------------------------ conservation

    /// @dev Withdraw every credit of `accounts` (and the burn sink); the game then holds nothing, and a second
    ///      withdrawal is refused.
    function _drain(address[] memory accounts) internal {
        for (uint256 i = 0; i < accounts.length; ++i) {
            if (game.credit(accounts[i]) != 0) game.withdraw(accounts[i]);
            vm.expectRevert(abi.encodeWithSelector(VerificationGame.NothingToWithdraw.selector, accounts[i]));
            game.withdraw(accounts[i]);
        }
        if (game.credit(burnSink) != 0) game.withdraw(burnSink);
        assertEq(address(game).balance, 0, "game holds ETH after resolution");
    }

    function _name(string memory s, uint256 i) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode(s, i)))));
    }
}
