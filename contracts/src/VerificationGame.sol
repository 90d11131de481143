// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IChallengeHook} from "./interfaces/IChallengeHook.sol";
import {IOneStep} from "./interfaces/IOneStep.sol";

/// @title VerificationGame
/// @notice The on-chain dispute of a GCX-TP result (docs/verification.md, "The game"; commitments:
///         docs/gcx-tp.md, "Commitments"). Holder of the escrow's `CHALLENGER_GAME_ROLE`.
///
///         A challenger opens a dispute on a Submitted job inside its challenge window with a bond (ETH,
///         {bond}). Every dispute is its own 1-vs-1 game between the bonded challenger and the job's provider;
///         any number of challengers may dispute the same job in parallel. The job is frozen in the escrow at
///         the first dispute and is paid to the provider ({settle}) only after its window has closed **and
///         every dispute opened in it is resolved**; the first challenger to win ends the job at once: the
///         buyer is refunded and the job's locked stake slashed (reward share to that bonded challenger).
///
///         One game: the provider reveals its result-root preimage (program digest, op count, op-tree root);
///         bisection over the op tree (the provider reveals a node's two children, the challenger picks the one
///         it disputes) to one op leaf; the provider reveals the op body and its output tensor's row-tree root;
///         bisection over the row tree to one row leaf; the provider reveals the row ({IOneStep.revealRow}); the
///         challenger names a column and the one-step contract decides ({IOneStep.decide}). A disputed subtree
///         that lies wholly in the padding is decided at once against the known padding root. Moves alternate
///         under a chess clock per side (each move at most `moveTimeout`, all of a side's moves at most
///         `clockBudget`: unused time never lengthens a later move); whoever misses its deadline loses
///         ({timeout}), so withholding a node, a row or a proof loses.
///
///         Funds: the bond is returned to a winning challenger (or when the job ends by another dispute or the
///         escrow's backstop), and goes to the provider net of `bondBurnBps` (rounded up, never zero) when the
///         challenger loses. Payouts are credits, withdrawn with {withdraw}; the contract's balance is always
///         the bonds of live disputes plus the unwithdrawn credits.
///
///         Trust: the admin sets the bond and clock parameters (for disputes opened afterwards) and the burn
///         sink; it cannot touch a live dispute, a bond or a credit. The one-step contract is fixed at
///         deployment.
contract VerificationGame is AccessControl, ReentrancyGuardTransient {
    // ---------------------------------------------------------------- types

    /// @notice Where a dispute stands. The side to move: provider in AwaitRoot, OpBisect, AwaitOp, RowBisect,
    ///         AwaitRow; challenger in OpChoose, RowChoose, AwaitStep. The last three are terminal.
    enum Phase {
        None,
        AwaitRoot,
        OpChoose,
        OpBisect,
        AwaitOp,
        RowChoose,
        RowBisect,
        AwaitRow,
        AwaitStep,
        ProviderWon,
        ChallengerWon,
        Cancelled
    }

    /// @notice A player.
    enum Side {
        Provider,
        Challenger
    }

    /// @notice One dispute. `node` is the provider's commitment at the current position (`index` at height
    ///         `height` of the op tree or the row tree), `left`/`right` its revealed children.
    struct Dispute {
        bytes32 jobId;
        address challenger;
        uint96 bond;
        address provider;
        Phase phase;
        uint8 height;
        uint8 moves;
        uint8 maxMoves;
        uint8 opDepth;
        uint40 turnStart;
        uint32 moveTimeout;
        uint32 clockProvider;
        uint32 clockChallenger;
        uint32 nOps;
        uint32 index;
        uint32 op;
        uint32 row;
        uint32 tensorId;
        uint8 dtype;
        uint8 rank;
        uint32 rows;
        uint32 cols;
        bytes32 resultRoot;
        bytes32 programDigest;
        bytes32 node;
        bytes32 left;
        bytes32 right;
        bytes32 opLeaf;
        bytes32 outRoot;
        bytes32 rowLeaf;
        bytes32 rowCommit;
    }

    /// @notice Per-job bookkeeping.
    struct JobGame {
        bool marked; // this game froze the job (markChallenged)
        uint32 live; // disputes not yet ended
        uint32 opened; // disputes ever opened
    }

    // ---------------------------------------------------------------- constants

    /// @notice GCX-TP tags (docs/gcx-tp.md, "Constants").
    bytes16 internal constant TAG_ROW_NODE = "gcx.tp1.row.node";
    bytes16 internal constant TAG_TENSOR = "gcx.tp1.tensor";
    bytes16 internal constant TAG_OP_LEAF = "gcx.tp1.op.leaf";
    bytes16 internal constant TAG_OP_NODE = "gcx.tp1.op.node";
    bytes16 internal constant TAG_RESULT = "gcx.tp1.result";
    /// @notice `ROW_PAD = H(row.pad)` and `OP_PAD = H(op.pad)`.
    bytes32 internal constant ROW_PAD = 0xc11773a3f8a3e3524f001f496e8ab8e079528ba5dc4ccb117321aa7752850fac;
    bytes32 internal constant OP_PAD = 0xeefdc01264d864d13164da4071c159465cb8f9a1372a377d19a127a3fcb9f6a9;

    /// @notice Escrow job states this contract reads (`JobEscrow.State`).
    uint8 internal constant STATE_SUBMITTED = 2;
    uint8 internal constant STATE_CHALLENGED = 3;
    /// @notice Deepest op tree or row tree (u32 counts).
    uint8 public constant MAX_DEPTH = 32;
    /// @notice Most provider moves in one game: root, ⌈log₂ ops⌉ − 1 bisections, op body, ⌈log₂ rows⌉ − 1
    ///         bisections, row (≤ 32 + 32 + 3). The bond covers this many moves by default.
    uint32 public constant MAX_PROVIDER_MOVES = 2 * MAX_DEPTH + 3;
    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;

    // ---------------------------------------------------------------- storage

    /// @notice The escrow whose game role this contract holds.
    IChallengeHook public immutable escrow;
    /// @notice The one-step decision.
    IOneStep public immutable oneStep;

    /// @notice Bond = `movesBound × gasPerMove × gasPrice` (wei): the honest side's gas to answer a whole game.
    uint32 public movesBound;
    uint64 public gasPerMove;
    uint64 public gasPrice;
    /// @notice Share of a lost bond burned (bps, > 0; rounded up).
    uint16 public bondBurnBps;
    /// @notice Longest single move (seconds).
    uint32 public moveTimeout;
    /// @notice Each side's total thinking time in one game (seconds, ≥ moveTimeout).
    uint32 public clockBudget;
    /// @notice Receives the burned share of lost bonds (a dead address).
    address public burnSink;

    /// @notice Disputes by id (1, 2, …).
    mapping(uint256 id => Dispute) internal _disputes;
    /// @notice Number of disputes ever opened.
    uint256 public disputeCount;
    /// @notice Per-job bookkeeping.
    mapping(bytes32 jobId => JobGame) public jobGames;
    /// @notice The dispute a challenger opened on a job (zero: none; one per challenger and job).
    mapping(bytes32 jobId => mapping(address challenger => uint256 id)) public disputeOf;
    /// @notice Withdrawable ETH per account.
    mapping(address account => uint256) public credit;

    // ---------------------------------------------------------------- events

    /// @notice A dispute was opened with a bond of `bond` wei.
    event DisputeOpened(uint256 indexed id, bytes32 indexed jobId, address indexed challenger, uint256 bond);
    /// @notice A move was made (`phase`: the phase it was made in; `moves`: the dispute's move count after it).
    event Moved(uint256 indexed id, Phase phase, Side side, uint256 moves);
    /// @notice A dispute ended (`outcome`: ProviderWon, ChallengerWon or Cancelled).
    event DisputeEnded(uint256 indexed id, bytes32 indexed jobId, Phase outcome);
    /// @notice The job's window closed with every dispute won by its provider: the escrow paid the provider.
    event JobSettled(bytes32 indexed jobId);
    /// @notice `amount` wei of credit was paid to `account`.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice The bond parameters changed.
    event BondParamsSet(uint256 movesBound, uint256 gasPerMove, uint256 gasPrice, uint256 bondBurnBps);
    /// @notice The clock parameters changed.
    event ClockParamsSet(uint256 moveTimeout, uint256 clockBudget);
    /// @notice The burn sink changed.
    event BurnSinkSet(address burnSink);

    // ---------------------------------------------------------------- errors

    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice A bond parameter is zero or out of range.
    error BadBondParams();
    /// @notice A clock parameter is zero or `clockBudget < moveTimeout`.
    error BadClockParams();
    /// @notice `sent` is not the bond `needed`.
    error WrongBond(uint256 sent, uint256 needed);
    /// @notice The job is not Submitted (or Challenged by this game) in the escrow.
    error NotDisputable(bytes32 jobId, uint8 state);
    /// @notice The job's challenge window has closed.
    error WindowClosed(bytes32 jobId, uint256 deadline);
    /// @notice The provider cannot dispute its own job.
    error ProviderCannotChallenge();
    /// @notice The challenger already disputed this job (dispute `id`).
    error AlreadyDisputing(uint256 id);
    /// @notice A dispute opened now could outlast the escrow's dispute deadline.
    error DisputeOutlivesEscrow(uint256 end, uint256 escrowDeadline);
    /// @notice The one-step decision does not know job `jobId`'s program yet ({IOneStep.ready}: for GCX-TP, its
    ///         spec is not published in the job-spec registry).
    error SpecNotReady(bytes32 jobId);
    /// @notice No such dispute, or it has ended.
    error NotLive(uint256 id);
    /// @notice The call is not the move the dispute expects now.
    error WrongPhase(uint256 id, Phase phase);
    /// @notice Only the player on turn may move.
    error NotPlayer(address caller);
    /// @notice The mover's deadline has passed (see {timeout}).
    error DeadlinePassed(uint256 deadline);
    /// @notice The side on turn still has time.
    error DeadlineNotPassed(uint256 deadline);
    /// @notice The revealed data does not hash to the commitment it opens.
    error NotPreimage();
    /// @notice The op count is zero.
    error BadOpCount();
    /// @notice The op body is not 66 bytes or names another op index.
    error BadOpBody();
    /// @notice The dispute reached its move limit (cannot happen: the phases bound it).
    error RoundLimit();
    /// @notice The job is still in dispute in the escrow (nothing to cancel).
    error JobStillDisputed(bytes32 jobId);
    /// @notice The job cannot be settled yet: window open, disputes live, or not challenged by this game.
    error NotSettleable(bytes32 jobId);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw(address account);
    /// @notice The ETH transfer failed.
    error TransferFailed(address to);

    // ---------------------------------------------------------------- construction / admin

    /// @param escrow_ The escrow (this contract must be granted its CHALLENGER_GAME_ROLE).
    /// @param oneStep_ The one-step decision.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE.
    /// @param burnSink_ Receives the burned share of lost bonds.
    constructor(IChallengeHook escrow_, IOneStep oneStep_, address admin, address burnSink_) {
        if (address(escrow_) == address(0) || address(oneStep_) == address(0) || admin == address(0)) {
            revert ZeroAddress();
        }
        escrow = escrow_;
        oneStep = oneStep_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setBurnSink(burnSink_);
        // Defaults (docs/verification.md, "Deadlines and bonds"): 67 moves × 150k gas × 20 gwei = 0.201 ETH.
        _setBondParams(MAX_PROVIDER_MOVES, 150_000, 20 gwei, 1_000);
        // 1 h per move, 11 h per side: 2 × 11 h + 1 h fits the escrow's default 3-day dispute deadline after a
        // 2-day window.
        _setClockParams(1 hours, 11 hours);
    }

    /// @notice Set the bond parameters (only admin; for disputes opened afterwards).
    /// @param movesBound_ Moves the bond pays for (1 … MAX_PROVIDER_MOVES · 2).
    /// @param gasPerMove_ Gas per honest move (≥ 21 000, ≤ 30 M).
    /// @param gasPrice_ Stated gas price (wei per gas, ≥ 1).
    /// @param bondBurnBps_ Burned share of a lost bond (1 … 10 000 bps).
    function setBondParams(uint32 movesBound_, uint64 gasPerMove_, uint64 gasPrice_, uint16 bondBurnBps_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setBondParams(movesBound_, gasPerMove_, gasPrice_, bondBurnBps_);
    }

    /// @notice Set the clock (only admin; for disputes opened afterwards).
    /// @param moveTimeout_ Longest single move (seconds, ≥ 1).
    /// @param clockBudget_ Each side's total time in one game (seconds, ≥ moveTimeout_).
    function setClockParams(uint32 moveTimeout_, uint32 clockBudget_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setClockParams(moveTimeout_, clockBudget_);
    }

    /// @notice Set the burn sink (only admin; non-zero).
    function setBurnSink(address burnSink_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setBurnSink(burnSink_);
    }

    function _setBondParams(uint32 movesBound_, uint64 gasPerMove_, uint64 gasPrice_, uint16 bondBurnBps_)
        private
    {
        if (
            movesBound_ == 0 || movesBound_ > 2 * MAX_PROVIDER_MOVES || gasPerMove_ < 21_000
                || gasPerMove_ > 30_000_000 || gasPrice_ == 0 || bondBurnBps_ == 0 || bondBurnBps_ > BPS
        ) revert BadBondParams();
        // The bond must fit uint96: 134 × 3e7 × gasPrice < 2^96 holds for gasPrice < ~1.9e13 wei (19 kgwei).
        if (uint256(movesBound_) * gasPerMove_ * gasPrice_ > type(uint96).max) revert BadBondParams();
        movesBound = movesBound_;
        gasPerMove = gasPerMove_;
        gasPrice = gasPrice_;
        bondBurnBps = bondBurnBps_;
        emit BondParamsSet(movesBound_, gasPerMove_, gasPrice_, bondBurnBps_);
    }

    function _setClockParams(uint32 moveTimeout_, uint32 clockBudget_) private {
        if (moveTimeout_ == 0 || clockBudget_ < moveTimeout_) revert BadClockParams();
        moveTimeout = moveTimeout_;
        clockBudget = clockBudget_;
        emit ClockParamsSet(moveTimeout_, clockBudget_);
    }

    function _setBurnSink(address burnSink_) private {
        if (burnSink_ == address(0)) revert ZeroAddress();
        burnSink = burnSink_;
        emit BurnSinkSet(burnSink_);
    }

    // ---------------------------------------------------------------- opening, ending

    /// @notice The bond a dispute opened now needs (wei): `movesBound × gasPerMove × gasPrice`.
    function bond() public view returns (uint256) {
        return uint256(movesBound) * gasPerMove * gasPrice;
    }

    /// @notice The longest a dispute opened now can last (seconds): both clocks, plus one move of slack for
    ///         the final {timeout} call.
    function maxDisputeLength() public view returns (uint256) {
        return 2 * uint256(clockBudget) + moveTimeout;
    }

    /// @notice Open a dispute on job `jobId` (send exactly {bond} wei). The job must be Submitted, or already
    ///         Challenged by this game, and inside its challenge window; the caller must not be its provider
    ///         nor already dispute it, and the one-step decision must be ready for the job ({IOneStep.ready}:
    ///         its spec published), else {SpecNotReady}. The first dispute freezes the job in the escrow.
    /// @return id The dispute id; the provider moves first ({revealRoot}).
    function open(bytes32 jobId) external payable nonReentrant returns (uint256 id) {
        uint256 needed = bond();
        if (msg.value != needed) revert WrongBond(msg.value, needed);
        (address provider,, bytes32 resultRoot, uint64 windowEnd, uint8 state) = escrow.challengeInfo(jobId);
        JobGame storage g = jobGames[jobId];
        if (!(state == STATE_SUBMITTED || (state == STATE_CHALLENGED && g.marked))) {
            revert NotDisputable(jobId, state);
        }
        if (block.timestamp >= windowEnd) revert WindowClosed(jobId, windowEnd);
        if (msg.sender == provider) revert ProviderCannotChallenge();
        uint256 existing = disputeOf[jobId][msg.sender];
        if (existing != 0) revert AlreadyDisputing(existing);
        if (!oneStep.ready(jobId)) revert SpecNotReady(jobId);
        if (state == STATE_SUBMITTED) {
            g.marked = true;
            escrow.markChallenged(jobId, msg.sender);
        }
        uint256 end = block.timestamp + maxDisputeLength();
        uint256 escrowDeadline = escrow.disputeDeadlineOf(jobId);
        if (end > escrowDeadline) revert DisputeOutlivesEscrow(end, escrowDeadline);

        id = ++disputeCount;
        disputeOf[jobId][msg.sender] = id;
        ++g.live;
        ++g.opened;
        Dispute storage d = _disputes[id];
        d.jobId = jobId;
        d.challenger = msg.sender;
        d.bond = uint96(needed);
        d.provider = provider;
        d.phase = Phase.AwaitRoot;
        d.maxMoves = uint8(2 * (2 * uint256(MAX_DEPTH) + 2));
        d.turnStart = uint40(block.timestamp);
        uint32 budget = clockBudget;
        d.moveTimeout = moveTimeout;
        d.clockProvider = budget;
        d.clockChallenger = budget;
        d.resultRoot = resultRoot;
        emit DisputeOpened(id, jobId, msg.sender, needed);
    }

    /// @notice End a dispute whose side on turn missed its deadline (anyone): that side loses.
    function timeout(uint256 id) external nonReentrant {
        Dispute storage d = _live(id);
        uint256 deadline = _deadline(d);
        if (block.timestamp <= deadline) revert DeadlineNotPassed(deadline);
        _finish(id, d, _sideOf(d.phase) == Side.Challenger);
    }

    /// @notice End a live dispute whose job is no longer in dispute in the escrow (another dispute won, or the
    ///         escrow's backstop ended it) (anyone): the bond is returned to its challenger.
    function cancel(uint256 id) external nonReentrant {
        Dispute storage d = _live(id);
        bytes32 jobId = d.jobId;
        (,,,, uint8 state) = escrow.challengeInfo(jobId);
        if (state == STATE_CHALLENGED) revert JobStillDisputed(jobId);
        _cancel(id, d);
    }

    /// @notice Pay job `jobId`'s provider through the escrow once its window has closed and every dispute on it
    ///         ended in the provider's favour (anyone; also done by the last dispute's end).
    function settle(bytes32 jobId) external nonReentrant {
        (,,, uint64 windowEnd, uint8 state) = escrow.challengeInfo(jobId);
        JobGame storage g = jobGames[jobId];
        if (!g.marked || g.live != 0 || state != STATE_CHALLENGED || block.timestamp < windowEnd) {
            revert NotSettleable(jobId);
        }
        emit JobSettled(jobId);
        escrow.resolve(jobId, true);
    }

    /// @notice Pay `account` its whole credit (anyone may trigger it; the ETH always goes to `account`).
    function withdraw(address account) external nonReentrant returns (uint256 amount) {
        amount = credit[account];
        if (amount == 0) revert NothingToWithdraw(account);
        credit[account] = 0;
        emit Withdrawn(account, amount);
        (bool ok,) = account.call{value: amount}("");
        if (!ok) revert TransferFailed(account);
    }

    // ---------------------------------------------------------------- provider moves

    /// @notice Provider: reveal the result-root preimage `H(result ‖ programDigest ‖ nOps u32 ‖ opTreeRoot)`
    ///         and, when the op tree has more than one leaf, the op-tree root's children `left`, `right`.
    function revealRoot(
        uint256 id,
        bytes32 programDigest,
        uint32 nOps,
        bytes32 opTreeRoot,
        bytes32 left,
        bytes32 right
    ) external nonReentrant {
        Dispute storage d = _move(id, Phase.AwaitRoot);
        if (nOps == 0) revert BadOpCount();
        if (sha256(abi.encodePacked(TAG_RESULT, programDigest, nOps, opTreeRoot)) != d.resultRoot) {
            revert NotPreimage();
        }
        uint8 depth = _ceilLog2(nOps);
        d.programDigest = programDigest;
        d.nOps = nOps;
        d.opDepth = depth;
        d.node = opTreeRoot;
        d.height = depth;
        emit Moved(id, Phase.AwaitRoot, Side.Provider, d.moves);
        if (!oneStep.checkRoot(d.jobId, programDigest, nOps)) {
            _finish(id, d, false);
            return;
        }
        if (depth == 0) {
            d.phase = Phase.AwaitOp;
        } else {
            _split(d, TAG_OP_NODE, left, right);
            d.phase = Phase.OpChoose;
        }
    }

    /// @notice Provider: reveal the children of the disputed node (op tree or row tree).
    function bisect(uint256 id, bytes32 left, bytes32 right) external nonReentrant {
        Dispute storage d = _live(id);
        Phase p = d.phase;
        if (p != Phase.OpBisect && p != Phase.RowBisect) revert WrongPhase(id, p);
        _begin(d);
        emit Moved(id, p, Side.Provider, d.moves);
        if (p == Phase.OpBisect) {
            _split(d, TAG_OP_NODE, left, right);
            d.phase = Phase.OpChoose;
        } else {
            _split(d, TAG_ROW_NODE, left, right);
            d.phase = Phase.RowChoose;
        }
    }

    /// @notice Provider: open the disputed op leaf: its 66-byte `body` (docs/gcx-tp.md, "Op leaves") and its
    ///         output tensor's row-tree root; when that tree has more than one leaf, also its children.
    function revealOp(uint256 id, bytes calldata body, bytes32 treeRoot, bytes32 left, bytes32 right)
        external
        nonReentrant
    {
        Dispute storage d = _move(id, Phase.AwaitOp);
        if (body.length != 66 || uint32(bytes4(body[0:4])) != d.index) revert BadOpBody();
        if (sha256(abi.encodePacked(TAG_OP_LEAF, body)) != d.node) revert NotPreimage();
        bytes32 outRoot = bytes32(body[34:66]);
        if (sha256(abi.encodePacked(TAG_TENSOR, body[20:34], treeRoot)) != outRoot) revert NotPreimage();
        d.op = d.index;
        d.opLeaf = d.node;
        d.outRoot = outRoot;
        uint8 dtype = uint8(body[24]);
        uint32 rows = uint32(bytes4(body[26:30]));
        uint32 cols = uint32(bytes4(body[30:34]));
        d.tensorId = uint32(bytes4(body[20:24]));
        d.dtype = dtype;
        d.rank = uint8(body[25]);
        d.rows = rows;
        d.cols = cols;
        emit Moved(id, Phase.AwaitOp, Side.Provider, d.moves);
        if (rows == 0 || cols == 0 || (dtype != 1 && dtype != 2)) {
            // No program produces such a header: the provider committed garbage.
            _finish(id, d, false);
            return;
        }
        uint8 depth = _ceilLog2(rows);
        d.maxMoves = uint8(2 * (uint256(d.opDepth) + depth + 2));
        d.node = treeRoot;
        d.height = depth;
        d.index = 0;
        if (depth == 0) {
            d.phase = Phase.AwaitRow;
        } else {
            _split(d, TAG_ROW_NODE, left, right);
            d.phase = Phase.RowChoose;
        }
    }

    /// @notice Provider: reveal the disputed row (`proof`: what the one-step adapter's
    ///         {IOneStep.revealRow} reads).
    function revealRow(uint256 id, bytes calldata proof) external nonReentrant {
        Dispute storage d = _move(id, Phase.AwaitRow);
        d.row = d.index;
        d.rowLeaf = d.node;
        emit Moved(id, Phase.AwaitRow, Side.Provider, d.moves);
        (bool leafValid, bytes32 rowCommit) = oneStep.revealRow(_pinned(d), proof);
        if (!leafValid) {
            _finish(id, d, false);
            return;
        }
        d.rowCommit = rowCommit;
        d.phase = Phase.AwaitStep;
    }

    // ---------------------------------------------------------------- challenger moves

    /// @notice Challenger: dispute the right child (`disputeRight`) or the left child of the last split. A
    ///         child wholly in the padding is decided at once: the provider wins iff it is the padding root.
    function choose(uint256 id, bool disputeRight) external nonReentrant {
        Dispute storage d = _live(id);
        Phase p = d.phase;
        if (p != Phase.OpChoose && p != Phase.RowChoose) revert WrongPhase(id, p);
        _begin(d);
        emit Moved(id, p, Side.Challenger, d.moves);
        bytes32 node = disputeRight ? d.right : d.left;
        uint32 index = d.index * 2 + (disputeRight ? 1 : 0);
        uint8 height = d.height - 1;
        d.node = node;
        d.index = index;
        d.height = height;
        bool ops = p == Phase.OpChoose;
        uint256 count = ops ? d.nOps : d.rows;
        if (uint256(index) << height >= count) {
            bytes32 pad =
                ops ? _padRoot(OP_PAD, TAG_OP_NODE, height) : _padRoot(ROW_PAD, TAG_ROW_NODE, height);
            _finish(id, d, node == pad);
            return;
        }
        if (height == 0) d.phase = ops ? Phase.AwaitOp : Phase.AwaitRow;
        else d.phase = ops ? Phase.OpBisect : Phase.RowBisect;
    }

    /// @notice Challenger: name column `col` of the revealed row and give the one-step evidence (`proof`:
    ///         what {IOneStep.decide} reads). The one-step verdict ends the dispute.
    function step(uint256 id, uint32 col, bytes calldata proof) external nonReentrant {
        Dispute storage d = _move(id, Phase.AwaitStep);
        emit Moved(id, Phase.AwaitStep, Side.Challenger, d.moves);
        bool providerRight = oneStep.decide(_pinned(d), d.rowCommit, col, proof);
        _finish(id, d, providerRight);
    }

    // ---------------------------------------------------------------- internals

    function _live(uint256 id) private view returns (Dispute storage d) {
        d = _disputes[id];
        Phase p = d.phase;
        if (p == Phase.None || p >= Phase.ProviderWon) revert NotLive(id);
    }

    /// @dev Check that `phase` is expected and the caller may move now; charge its clock.
    function _move(uint256 id, Phase phase) private returns (Dispute storage d) {
        d = _live(id);
        if (d.phase != phase) revert WrongPhase(id, d.phase);
        _begin(d);
    }

    /// @dev The caller must be the side on turn, before its deadline. Its elapsed time leaves its clock, the
    ///      other side's turn (or its own next one) starts now, and the move count rises (bounded).
    function _begin(Dispute storage d) private {
        Side side = _sideOf(d.phase);
        if (msg.sender != (side == Side.Provider ? d.provider : d.challenger)) revert NotPlayer(msg.sender);
        uint256 deadline = _deadline(d);
        if (block.timestamp > deadline) revert DeadlinePassed(deadline);
        uint32 elapsed = uint32(block.timestamp - d.turnStart);
        if (side == Side.Provider) d.clockProvider -= elapsed;
        else d.clockChallenger -= elapsed;
        d.turnStart = uint40(block.timestamp);
        uint8 moves = d.moves;
        if (moves >= d.maxMoves) revert RoundLimit();
        d.moves = moves + 1;
    }

    function _split(Dispute storage d, bytes16 tag, bytes32 left, bytes32 right) private {
        if (sha256(abi.encodePacked(tag, left, right)) != d.node) revert NotPreimage();
        d.left = left;
        d.right = right;
    }

    /// @dev End a live dispute. If the job is no longer in dispute in the escrow, the bond is returned
    ///      (cancelled). Otherwise: provider won → bond to the provider net of the burn, and the job settles if
    ///      its window has closed and no dispute is left; challenger won → bond back and the escrow slashes the
    ///      provider with the reward to this dispute's bonded challenger.
    function _finish(uint256 id, Dispute storage d, bool providerWon) private {
        bytes32 jobId = d.jobId;
        (,,, uint64 windowEnd, uint8 state) = escrow.challengeInfo(jobId);
        if (state != STATE_CHALLENGED) {
            _cancel(id, d);
            return;
        }
        JobGame storage g = jobGames[jobId];
        uint32 live = g.live - 1;
        g.live = live;
        uint256 b = d.bond;
        if (providerWon) {
            d.phase = Phase.ProviderWon;
            uint256 burned = (b * bondBurnBps + BPS - 1) / BPS;
            credit[d.provider] += b - burned;
            credit[burnSink] += burned;
            emit DisputeEnded(id, jobId, Phase.ProviderWon);
            if (live == 0 && block.timestamp >= windowEnd) {
                emit JobSettled(jobId);
                escrow.resolve(jobId, true);
            }
        } else {
            d.phase = Phase.ChallengerWon;
            credit[d.challenger] += b;
            emit DisputeEnded(id, jobId, Phase.ChallengerWon);
            escrow.resolveAgainstProvider(jobId, d.challenger);
        }
    }

    function _cancel(uint256 id, Dispute storage d) private {
        d.phase = Phase.Cancelled;
        --jobGames[d.jobId].live;
        credit[d.challenger] += d.bond;
        emit DisputeEnded(id, d.jobId, Phase.Cancelled);
    }

    function _pinned(Dispute storage d) private view returns (IOneStep.Pinned memory p) {
        p.jobId = d.jobId;
        p.resultRoot = d.resultRoot;
        p.programDigest = d.programDigest;
        p.nOps = d.nOps;
        p.op = d.op;
        p.opLeaf = d.opLeaf;
        p.outRoot = d.outRoot;
        p.tensorId = d.tensorId;
        p.dtype = d.dtype;
        p.rank = d.rank;
        p.rows = d.rows;
        p.cols = d.cols;
        p.row = d.row;
        p.rowLeaf = d.rowLeaf;
    }

    function _sideOf(Phase p) private pure returns (Side) {
        return (p == Phase.OpChoose || p == Phase.RowChoose || p == Phase.AwaitStep)
            ? Side.Challenger
            : Side.Provider;
    }

    function _deadline(Dispute storage d) private view returns (uint256) {
        uint256 left = _sideOf(d.phase) == Side.Provider ? d.clockProvider : d.clockChallenger;
        uint256 perMove = d.moveTimeout;
        return uint256(d.turnStart) + (left < perMove ? left : perMove);
    }

    /// @dev The root of an all-padding subtree of height `h`: `Z_0 = pad`, `Z_{h+1} = H(tag ‖ Z_h ‖ Z_h)`.
    function _padRoot(bytes32 pad, bytes16 tag, uint8 h) private pure returns (bytes32 z) {
        z = pad;
        for (uint8 i = 0; i < h; ++i) {
            z = sha256(abi.encodePacked(tag, z, z));
        }
    }

    function _ceilLog2(uint256 n) private pure returns (uint8 depth) {
        while ((uint256(1) << depth) < n) ++depth;
    }

    // ---------------------------------------------------------------- views

    /// @notice The full record of dispute `id`.
    function getDispute(uint256 id) external view returns (Dispute memory) {
        return _disputes[id];
    }

    /// @notice The side to move in dispute `id` and its deadline (inclusive); reverts if the dispute ended.
    function turnOf(uint256 id) external view returns (Side side, uint256 deadline) {
        Dispute storage d = _live(id);
        return (_sideOf(d.phase), _deadline(d));
    }
}
