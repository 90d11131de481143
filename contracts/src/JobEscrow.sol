// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IStakingRegistry} from "./interfaces/IStakingRegistry.sol";
import {IChallengeHook} from "./interfaces/IChallengeHook.sol";

/// @title JobEscrow
/// @notice Escrowed payment for a GCX job or lease with optimistic settlement (DESIGN §6): the buyer locks the
///         payment, the provider posts the job's result root, and after a challenge window anyone can finalize,
///         paying the provider minus a protocol fee. A dispute contract (the future `VerificationGame`, holder of
///         CHALLENGER_GAME_ROLE) can freeze a job during its window and later resolve it: the provider is paid,
///         or the buyer is refunded and the provider's stake is slashed in the StakingRegistry.
///
/// Stake at risk. Every open job locks part of its provider's bonded GCX stake in the StakingRegistry
/// ({lockAmountFor}: `max(minJobLock, amount * lockPerUnit)`), so one stake backs only as many jobs as it covers.
/// The lock is released exactly once when the job ends (finalize, refund, resolve in the provider's favour,
/// timeoutDispute) and slashed (`slashLocked`) when the provider loses a challenge. Locked stake cannot be unbonded,
/// so a provider cannot withdraw the stake behind a job before the job ends. The escrow also keeps the registry's
/// unbonding-delay floor at `maxChallengeWindow + maxDisputeDuration` (see {setMaxChallengeWindow}).
///
/// Job lifecycle (`State`):
///
/// | from      | call                        | who                   | when                          | to        |
/// |-----------|-----------------------------|-----------------------|-------------------------------|-----------|
/// | None      | open (locks provider stake) | buyer (anyone)        | provider active, stake covers | Open      |
/// | Open      | submitResult                | the job's provider    | now <= submitDeadline, active | Submitted |
/// | Open      | refund                      | anyone (pays buyer)   | now >  submitDeadline         | Refunded  |
/// | Submitted | markChallenged              | CHALLENGER_GAME_ROLE  | now <  challengeDeadline      | Challenged|
/// | Submitted | finalize                    | anyone                | now >= challengeDeadline      | Finalized |
/// | Challenged| resolve(providerWon = true) | CHALLENGER_GAME_ROLE  | any time                      | Finalized |
/// | Challenged| resolve(providerWon = false)| CHALLENGER_GAME_ROLE  | any time                      | Refunded  |
/// | Challenged| resolveAgainstProvider      | CHALLENGER_GAME_ROLE  | any time                      | Refunded  |
/// | Challenged| timeoutDispute (no slash)   | anyone                | now >= disputeDeadlineOf      | Refunded  |
///
/// Finalized and Refunded are terminal; a job id is never reused. A job id is bound to its buyer: its top 20 bytes
/// must be the buyer's address (`jobIdFor(buyer, nonce)`), so each buyer owns 2^96 ids and nobody can occupy
/// (front-run) another buyer's id.
///
/// Fees. The fee rate (`feeBps`) is fixed per job when it is opened. On payout `fee = amount * feeBps / 10_000`
/// (rounded down); `feeBurnBps` of the fee (current value at payout) goes to the burn sink, the rest to the fee
/// recipient (e.g. the InsuranceFund, whose share price a plain transfer raises, or a treasury). Fees accrue here
/// and are pushed out in bulk by {distributeFees} (anyone), so a payout moves one token transfer and a fee
/// recipient that reverts can never block providers.
///
/// Accounting invariant: `token.balanceOf(this) == Σ amount of jobs in Open/Submitted/Challenged
/// + pendingFees + pendingBurn` (plus any tokens sent here by plain transfer, which nobody can withdraw).
///
/// Trust model: the admin sets fee parameters (bounded by {MAX_FEE_BPS}, and never affecting open jobs' fee
/// rate), the staking registry (only while no job holds a lock), the lock parameters (never affecting open jobs'
/// locks) and the window/dispute bounds, and grants CHALLENGER_GAME_ROLE. The game role can freeze
/// a job during its window and decide it; that is its whole power: it cannot move funds anywhere but to the
/// job's buyer or provider. The game must always terminate in a `resolve` (its own timeouts ensure that).
contract JobEscrow is IChallengeHook, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types

    /// @notice Job states; see the transition table in the contract notice.
    enum State {
        None,
        Open,
        Submitted,
        Challenged,
        Finalized,
        Refunded
    }

    /// @notice A job, packed in three slots.
    /// @dev `deadline` is the submission deadline while Open and the challenge deadline (exclusive) from
    ///      Submitted on.
    struct Job {
        // slot 0
        address buyer;
        State state;
        uint40 deadline;
        uint32 challengeWindow;
        uint16 feeBps;
        // slot 1
        address provider;
        uint96 amount;
        // slot 2
        bytes32 resultRoot;
    }

    // ---------------------------------------------------------------- constants / roles

    /// @notice Role of the dispute contract (the VerificationGame).
    bytes32 public constant CHALLENGER_GAME_ROLE = keccak256("CHALLENGER_GAME_ROLE");
    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Highest protocol fee rate the admin may set (10 %).
    uint256 public constant MAX_FEE_BPS = 1_000;
    /// @notice Upper bound for `maxChallengeWindow`.
    uint256 public constant MAX_CHALLENGE_WINDOW = 30 days;
    /// @notice Longest time from open to the submission deadline.
    uint256 public constant MAX_SUBMIT_PERIOD = 365 days;

    // ---------------------------------------------------------------- storage

    /// @notice The payment stablecoin.
    IERC20 public immutable token;

    /// @notice Fee rate (bps of the job amount) for jobs opened from now on.
    uint16 public feeBps;
    /// @notice Share of the fee (bps) sent to the burn sink.
    uint16 public feeBurnBps;
    /// @notice Shortest challenge window a job may ask for (seconds).
    uint32 public minChallengeWindow;
    /// @notice Receives the non-burned part of the fees.
    address public feeRecipient;
    /// @notice Number of jobs holding a stake lock (Open, Submitted or Challenged); packed with the fee fields.
    uint32 public lockedJobs;
    /// @notice Receives the burned part of the fees (a dead address or a buy-and-burn contract).
    address public burnSink;
    /// @notice Fees accrued for the fee recipient, not yet distributed.
    uint128 public pendingFees;
    /// @notice Fees accrued for the burn sink, not yet distributed.
    uint128 public pendingBurn;

    /// @notice Where providers' stake is checked, locked and slashed (zero: no job can open).
    IStakingRegistry public stakingRegistry;
    /// @notice The provider role number in the StakingRegistry.
    uint8 public providerRole;
    /// @notice Longest challenge window a job may ask for (seconds, ≤ {MAX_CHALLENGE_WINDOW}).
    uint32 public maxChallengeWindow = 2 days;

    /// @notice Least provider stake (GCX wei) a job locks, whatever its payment.
    uint128 public minJobLock = 10 ether;
    /// @notice Provider stake (GCX wei) locked per unit of payment (per micro-USD for a 6-decimal stablecoin).
    uint128 public lockPerUnit = 1e12;
    /// @notice Provider stake locked by each job while it is live (zero once it ended).
    mapping(bytes32 jobId => uint256) public stakeLockOf;

    /// @notice Longest a Challenged job waits for the game's `resolve` before anyone may {timeoutDispute} it
    ///         (fixed per job when it is challenged).
    uint32 public maxDisputeDuration = 3 days;
    /// @notice Upper bound for `maxDisputeDuration`.
    uint256 public constant MAX_DISPUTE_DURATION = 30 days;
    /// @notice When each challenged job's dispute times out (challengedAt + maxDisputeDuration at that time).
    mapping(bytes32 jobId => uint256) public disputeDeadlineOf;

    mapping(bytes32 jobId => Job) private _jobs;
    /// @notice The challenger of each challenged job (reward recipient of the slash): the first dispute's opener,
    ///         replaced by the winner in {resolveAgainstProvider}.
    mapping(bytes32 jobId => address) public challengerOf;

    // ---------------------------------------------------------------- events

    /// @notice A job was opened and its payment escrowed.
    event JobOpened(
        bytes32 indexed jobId,
        address indexed buyer,
        address indexed provider,
        uint256 amount,
        uint256 feeBps,
        uint256 challengeWindow,
        uint256 submitDeadline
    );
    /// @notice The provider posted the job's result root; the challenge window runs until `challengeDeadline`.
    event ResultSubmitted(bytes32 indexed jobId, bytes32 resultRoot, uint256 challengeDeadline);
    /// @notice The dispute contract froze the job.
    event JobChallenged(bytes32 indexed jobId, address indexed challenger);
    /// @notice The dispute contract decided the job.
    event JobResolved(bytes32 indexed jobId, bool providerWon);
    /// @notice The provider was paid `payout`; `fee` accrued, of which `burn` for the burn sink.
    event JobFinalized(bytes32 indexed jobId, address indexed provider, uint256 payout, uint256 fee, uint256 burn);
    /// @notice The buyer was refunded.
    event JobRefunded(bytes32 indexed jobId, address indexed buyer, uint256 amount);
    /// @notice The provider's stake was slashed (by `amount`, as reported by the registry) after losing a challenge.
    event ProviderSlashed(bytes32 indexed jobId, address indexed provider, uint256 amount, address challenger);
    /// @notice Accrued fees were sent out.
    event FeesDistributed(address indexed feeRecipient, uint256 fees, address indexed burnSink, uint256 burn);
    /// @notice Fee parameters changed.
    event FeeParamsSet(uint256 feeBps, uint256 feeBurnBps, address feeRecipient, address burnSink);
    /// @notice The staking registry or the provider role changed.
    event SlashParamsSet(address stakingRegistry, uint8 providerRole);
    /// @notice The per-job stake lock parameters changed (applies to jobs opened afterwards).
    event LockParamsSet(uint256 minJobLock, uint256 lockPerUnit);
    /// @notice The maximum challenge window changed (applies to jobs opened afterwards).
    event MaxChallengeWindowSet(uint256 maxChallengeWindow);
    /// @notice The game did not resolve job `jobId` in time; the buyer was refunded, nobody slashed.
    event DisputeTimedOut(bytes32 indexed jobId);
    /// @notice The dispute timeout changed (applies to jobs challenged afterwards).
    event MaxDisputeDurationSet(uint256 maxDisputeDuration);
    /// @notice The minimum challenge window changed.
    event MinChallengeWindowSet(uint256 minChallengeWindow);

    // ---------------------------------------------------------------- errors

    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice The job amount was zero.
    error ZeroAmount();
    /// @notice The job amount does not fit uint96.
    error AmountTooLarge(uint256 amount);
    /// @notice A fee parameter is out of range.
    error BadFeeParams();
    /// @notice The challenge window is outside [minChallengeWindow, maxChallengeWindow] (or a bound is out of
    ///         range).
    error BadChallengeWindow(uint256 window);
    /// @notice The submission deadline is in the past or more than MAX_SUBMIT_PERIOD ahead.
    error BadSubmitDeadline(uint256 deadline);
    /// @notice The job id is already used.
    error JobExists(bytes32 jobId);
    /// @notice The job is not in the state the call needs.
    error WrongState(bytes32 jobId, State state);
    /// @notice Only the job's provider may submit its result.
    error NotProvider(address caller);
    /// @notice The result root was zero.
    error ZeroResultRoot();
    /// @notice The submission deadline has passed.
    error SubmitDeadlinePassed(uint256 deadline);
    /// @notice The submission deadline has not passed yet.
    error SubmitDeadlineNotPassed(uint256 deadline);
    /// @notice The challenge window has closed.
    error ChallengeWindowClosed(uint256 deadline);
    /// @notice The challenge window is still open.
    error ChallengeWindowOpen(uint256 deadline);
    /// @notice The dispute duration is zero or above MAX_DISPUTE_DURATION.
    error BadDisputeDuration(uint256 duration);
    /// @notice The dispute has not timed out yet.
    error DisputeNotTimedOut(uint256 deadline);
    /// @notice The staking registry has no code.
    error NotAContract(address account);
    /// @notice The job id's top 20 bytes are not the caller's address (see {jobIdFor}).
    error JobIdNotBuyers(bytes32 jobId, address caller);
    /// @notice The provider is not active in the staking registry (or no registry is set).
    error ProviderNotActive(address provider);
    /// @notice The provider's free (bonded, unlocked) stake `free` cannot cover the job's lock `needed`.
    error InsufficientFreeStake(address provider, uint256 free, uint256 needed);
    /// @notice `minJobLock` is zero, or a lock parameter does not fit uint128.
    error BadLockParams(uint256 minJobLock, uint256 lockPerUnit);
    /// @notice The registry cannot change while `lockedJobs` jobs hold locks in the current one.
    error LocksOutstanding(uint256 lockedJobs);

    // ---------------------------------------------------------------- construction / admin

    /// @param token_ The payment stablecoin.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE.
    /// @param feeRecipient_ Receives the non-burned fees.
    /// @param burnSink_ Receives the burned fees.
    /// @param feeBps_ Fee rate in bps (≤ {MAX_FEE_BPS}).
    /// @param feeBurnBps_ Burned share of the fee in bps (≤ 10 000).
    /// @param minChallengeWindow_ Shortest allowed challenge window (≤ `maxChallengeWindow`, initially 2 days).
    constructor(
        IERC20 token_,
        address admin,
        address feeRecipient_,
        address burnSink_,
        uint16 feeBps_,
        uint16 feeBurnBps_,
        uint32 minChallengeWindow_
    ) {
        if (address(token_) == address(0) || admin == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setFeeParams(feeBps_, feeBurnBps_, feeRecipient_, burnSink_);
        _setMinChallengeWindow(minChallengeWindow_);
    }

    /// @notice Set the fee parameters (only admin). The rate applies to jobs opened afterwards; the burn share
    ///         and recipients apply to payouts afterwards.
    function setFeeParams(uint16 feeBps_, uint16 feeBurnBps_, address feeRecipient_, address burnSink_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setFeeParams(feeBps_, feeBurnBps_, feeRecipient_, burnSink_);
    }

    /// @notice Set the staking registry where providers' stake is checked, locked and slashed, and the provider
    ///         role number (only admin). The escrow must hold the registry's LOCKER_ROLE; the registry's unbonding
    ///         delay must already cover `maxChallengeWindow + maxDisputeDuration` (the escrow raises the
    ///         registry's floor to it). Refused while any job holds a lock (its unlock or slash must reach the
    ///         registry and role that hold it). `registry == 0` stops new jobs.
    function setSlashParams(IStakingRegistry registry, uint8 providerRole_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(registry) != address(0) && address(registry).code.length == 0) {
            revert NotAContract(address(registry));
        }
        uint256 live = lockedJobs;
        if (live != 0) revert LocksOutstanding(live);
        stakingRegistry = registry;
        providerRole = providerRole_;
        emit SlashParamsSet(address(registry), providerRole_);
        _raiseUnbondingFloor();
    }

    /// @notice Set how much provider stake a job locks (only admin; applies to jobs opened afterwards):
    ///         `max(minJobLock_, amount * lockPerUnit_)` GCX wei for a payment of `amount` stablecoin units.
    /// @param minJobLock_ Least lock per job (> 0, so every lost challenge slashes something).
    /// @param lockPerUnit_ GCX wei per stablecoin unit (0: every job locks `minJobLock_`).
    function setLockParams(uint256 minJobLock_, uint256 lockPerUnit_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (minJobLock_ == 0 || minJobLock_ > type(uint128).max || lockPerUnit_ > type(uint128).max) {
            revert BadLockParams(minJobLock_, lockPerUnit_);
        }
        minJobLock = uint128(minJobLock_);
        lockPerUnit = uint128(lockPerUnit_);
        emit LockParamsSet(minJobLock_, lockPerUnit_);
    }

    /// @notice Set the shortest challenge window a job may ask for (only admin; ≤ `maxChallengeWindow`).
    function setMinChallengeWindow(uint32 window) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinChallengeWindow(window);
    }

    /// @notice Set the longest challenge window a job may ask for (only admin; applies to jobs opened
    ///         afterwards; `minChallengeWindow` ≤ window ≤ {MAX_CHALLENGE_WINDOW}). Raises the staking registry's
    ///         unbonding-delay floor to `window + maxDisputeDuration`, and so reverts
    ///         (`UnbondingDelayTooShort`) if the registry's unbonding delay is shorter.
    function setMaxChallengeWindow(uint32 window) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (window == 0 || window < minChallengeWindow || window > MAX_CHALLENGE_WINDOW) {
            revert BadChallengeWindow(window);
        }
        maxChallengeWindow = window;
        emit MaxChallengeWindowSet(window);
        _raiseUnbondingFloor();
    }

    /// @notice Set how long a challenged job may wait for the game (only admin; applies to later challenges).
    ///         Raises the staking registry's unbonding-delay floor to `maxChallengeWindow + duration`, and so
    ///         reverts (`UnbondingDelayTooShort`) if the registry's unbonding delay is shorter.
    function setMaxDisputeDuration(uint32 duration) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (duration == 0 || duration > MAX_DISPUTE_DURATION) revert BadDisputeDuration(duration);
        maxDisputeDuration = duration;
        emit MaxDisputeDurationSet(duration);
        _raiseUnbondingFloor();
    }

    /// @dev Keep the registry's unbonding-delay floor at the longest time from a result's submission to the end
    ///      of its dispute: a fault can be proven (and slashed) until then. The registry never lowers a floor.
    function _raiseUnbondingFloor() private {
        IStakingRegistry registry = stakingRegistry;
        if (address(registry) == address(0)) return;
        registry.raiseMinUnbondingDelay(uint64(maxChallengeWindow) + maxDisputeDuration);
    }

    function _setFeeParams(uint16 feeBps_, uint16 feeBurnBps_, address feeRecipient_, address burnSink_) private {
        if (feeRecipient_ == address(0) || burnSink_ == address(0)) revert ZeroAddress();
        if (feeBps_ > MAX_FEE_BPS || feeBurnBps_ > BPS) revert BadFeeParams();
        feeBps = feeBps_;
        feeBurnBps = feeBurnBps_;
        feeRecipient = feeRecipient_;
        burnSink = burnSink_;
        emit FeeParamsSet(feeBps_, feeBurnBps_, feeRecipient_, burnSink_);
    }

    function _setMinChallengeWindow(uint32 window) private {
        if (window > maxChallengeWindow) revert BadChallengeWindow(window);
        minChallengeWindow = window;
        emit MinChallengeWindowSet(window);
    }

    // ---------------------------------------------------------------- lifecycle

    /// @notice Open job `jobId`: escrow `amount` of the stablecoin from the caller (the buyer; approve first) and
    ///         lock {lockAmountFor}(`amount`) of the provider's free bonded stake (`InsufficientFreeStake` if its
    ///         stake cannot cover it).
    /// @param jobId Fresh job id whose top 20 bytes are the caller's address ({jobIdFor}).
    /// @param provider The provider that will run the job.
    /// @param amount Payment in the stablecoin's smallest unit (0 < amount < 2^96).
    /// @param challengeWindow Seconds a result can be challenged after submission.
    /// @param submitDeadline Timestamp until which (inclusive) the provider may submit; afterwards the buyer
    ///        can be refunded.
    function open(bytes32 jobId, address provider, uint256 amount, uint32 challengeWindow, uint40 submitDeadline)
        external
        nonReentrant
    {
        if (address(uint160(uint256(jobId) >> 96)) != msg.sender) revert JobIdNotBuyers(jobId, msg.sender);
        if (provider == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        if (challengeWindow < minChallengeWindow || challengeWindow > maxChallengeWindow) {
            revert BadChallengeWindow(challengeWindow);
        }
        if (submitDeadline < block.timestamp || submitDeadline > block.timestamp + MAX_SUBMIT_PERIOD) {
            revert BadSubmitDeadline(submitDeadline);
        }
        Job storage j = _jobs[jobId];
        if (j.state != State.None) revert JobExists(jobId);
        _requireActive(provider);

        uint16 fee = feeBps;
        j.buyer = msg.sender;
        j.state = State.Open;
        j.deadline = submitDeadline;
        j.challengeWindow = challengeWindow;
        j.feeBps = fee;
        j.provider = provider;
        j.amount = uint96(amount);
        uint256 stakeLock = lockAmountFor(amount);
        stakeLockOf[jobId] = stakeLock;
        ++lockedJobs;

        emit JobOpened(jobId, msg.sender, provider, amount, fee, challengeWindow, submitDeadline);
        _lockStake(provider, stakeLock);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Post the job's result root (only the job's provider, while Open and before the submission
    ///         deadline). Starts the challenge window.
    /// @param jobId The job.
    /// @param resultRoot The Merkle root committing to the job's result (non-zero).
    function submitResult(bytes32 jobId, bytes32 resultRoot) external {
        Job storage j = _jobs[jobId];
        State s = j.state;
        if (s != State.Open) revert WrongState(jobId, s);
        if (msg.sender != j.provider) revert NotProvider(msg.sender);
        if (resultRoot == bytes32(0)) revert ZeroResultRoot();
        uint256 submitDeadline = j.deadline;
        if (block.timestamp > submitDeadline) revert SubmitDeadlinePassed(submitDeadline);
        _requireActive(msg.sender);

        uint256 challengeDeadline = block.timestamp + j.challengeWindow;
        j.state = State.Submitted;
        j.deadline = uint40(challengeDeadline);
        j.resultRoot = resultRoot;
        emit ResultSubmitted(jobId, resultRoot, challengeDeadline);
    }

    /// @notice Pay the provider once the challenge window has closed unchallenged (anyone).
    /// @param jobId The job.
    function finalize(bytes32 jobId) external nonReentrant {
        Job storage j = _jobs[jobId];
        State s = j.state;
        if (s != State.Submitted) revert WrongState(jobId, s);
        uint256 deadline = j.deadline;
        if (block.timestamp < deadline) revert ChallengeWindowOpen(deadline);
        _payProvider(jobId, j);
    }

    /// @notice Refund the buyer of a job whose provider never submitted by the deadline (anyone; the tokens
    ///         always go to the buyer).
    /// @param jobId The job.
    function refund(bytes32 jobId) external nonReentrant {
        Job storage j = _jobs[jobId];
        State s = j.state;
        if (s != State.Open) revert WrongState(jobId, s);
        uint256 deadline = j.deadline;
        if (block.timestamp <= deadline) revert SubmitDeadlineNotPassed(deadline);
        _refundBuyer(jobId, j, false);
    }

    /// @inheritdoc IChallengeHook
    function markChallenged(bytes32 jobId, address challenger) external onlyRole(CHALLENGER_GAME_ROLE) {
        if (challenger == address(0)) revert ZeroAddress();
        Job storage j = _jobs[jobId];
        State s = j.state;
        if (s != State.Submitted) revert WrongState(jobId, s);
        uint256 deadline = j.deadline;
        if (block.timestamp >= deadline) revert ChallengeWindowClosed(deadline);
        j.state = State.Challenged;
        challengerOf[jobId] = challenger;
        disputeDeadlineOf[jobId] = block.timestamp + maxDisputeDuration;
        emit JobChallenged(jobId, challenger);
    }

    /// @inheritdoc IChallengeHook
    function resolve(bytes32 jobId, bool providerWon) external nonReentrant onlyRole(CHALLENGER_GAME_ROLE) {
        Job storage j = _jobs[jobId];
        State s = j.state;
        if (s != State.Challenged) revert WrongState(jobId, s);
        emit JobResolved(jobId, providerWon);
        if (providerWon) {
            _payProvider(jobId, j);
            return;
        }
        // Refund the buyer and slash the stake the job locked (reward to the challenger, compensation to the
        // buyer). A failing slash reverts the whole resolve (the job stays Challenged, its payment escrowed and
        // its stake locked) so a cheater never keeps its stake silently.
        _refundBuyer(jobId, j, true);
    }

    /// @inheritdoc IChallengeHook
    function resolveAgainstProvider(bytes32 jobId, address challenger)
        external
        nonReentrant
        onlyRole(CHALLENGER_GAME_ROLE)
    {
        if (challenger == address(0)) revert ZeroAddress();
        Job storage j = _jobs[jobId];
        State s = j.state;
        if (s != State.Challenged) revert WrongState(jobId, s);
        challengerOf[jobId] = challenger;
        emit JobResolved(jobId, false);
        _refundBuyer(jobId, j, true);
    }

    /// @notice Escrow-side backstop for a game that never decides: once `disputeDeadlineOf[jobId]` has passed,
    ///         anyone can end the dispute. The buyer is refunded in full and nobody is slashed: no fault was
    ///         proven, so the money goes back to whoever paid it (a stalling provider is not paid, a stalling
    ///         game cannot send the funds anywhere new). The game may still `resolve` until someone calls this.
    /// @param jobId The job (state Challenged).
    function timeoutDispute(bytes32 jobId) external nonReentrant {
        Job storage j = _jobs[jobId];
        State s = j.state;
        if (s != State.Challenged) revert WrongState(jobId, s);
        uint256 deadline = disputeDeadlineOf[jobId];
        if (block.timestamp < deadline) revert DisputeNotTimedOut(deadline);
        emit DisputeTimedOut(jobId);
        _refundBuyer(jobId, j, false);
    }

    /// @notice Send the accrued fees to the fee recipient and the burn sink (anyone).
    function distributeFees() external nonReentrant {
        uint256 fees = pendingFees;
        uint256 burn = pendingBurn;
        pendingFees = 0;
        pendingBurn = 0;
        address recipient = feeRecipient;
        address sink = burnSink;
        emit FeesDistributed(recipient, fees, sink, burn);
        if (fees != 0) token.safeTransfer(recipient, fees);
        if (burn != 0) token.safeTransfer(sink, burn);
    }

    /// @dev Only providers active in the staking registry (bonded stake ≥ the role's minimum; unbonding stake
    ///      does not count) may take a job or be paid for one; without a registry nobody may.
    function _requireActive(address provider) private view {
        IStakingRegistry registry = stakingRegistry;
        if (address(registry) == address(0) || !registry.isActive(provider, providerRole)) {
            revert ProviderNotActive(provider);
        }
    }

    /// @dev Lock `amount` of the provider's stake; a registry refusal for lack of free stake becomes
    ///      {InsufficientFreeStake}, any other refusal is passed on unchanged.
    function _lockStake(address provider, uint256 amount) private {
        IStakingRegistry registry = stakingRegistry;
        uint8 role = providerRole;
        try registry.lock(provider, role, amount) {}
        catch (bytes memory reason) {
            (uint256 bonded,,) = registry.stakeOf(provider, role);
            uint256 locked = registry.lockedOf(provider, role);
            uint256 free = bonded > locked ? bonded - locked : 0;
            if (free < amount) revert InsufficientFreeStake(provider, free, amount);
            assembly ("memory-safe") {
                revert(add(reason, 32), mload(reason))
            }
        }
    }

    /// @dev Forget job `jobId`'s lock (it ends now) and return its amount; called exactly once per job, on the
    ///      transition to a terminal state.
    function _clearLock(bytes32 jobId) private returns (uint256 stakeLock) {
        stakeLock = stakeLockOf[jobId];
        delete stakeLockOf[jobId];
        --lockedJobs;
    }


    function _payProvider(bytes32 jobId, Job storage j) private {
        j.state = State.Finalized;
        address provider = j.provider;
        uint256 amount = j.amount;
        uint256 fee = amount * j.feeBps / BPS;
        uint256 payout;
        uint256 burn;
        unchecked {
            payout = amount - fee; // fee <= amount (feeBps <= MAX_FEE_BPS < BPS)
        }
        if (fee != 0) {
            burn = fee * feeBurnBps / BPS;
            // fee < 2^96, so the casts are exact; the uint128 sums are checked.
            pendingFees += uint128(fee - burn);
            pendingBurn += uint128(burn);
        }
        emit JobFinalized(jobId, provider, payout, fee, burn);
        stakingRegistry.unlock(provider, providerRole, _clearLock(jobId));
        if (payout != 0) token.safeTransfer(provider, payout);
    }

    /// @dev End job `jobId` with a refund to its buyer; its stake lock is released, or slashed when
    ///      `slashStake` (a lost challenge: reward to the challenger, compensation to the buyer).
    function _refundBuyer(bytes32 jobId, Job storage j, bool slashStake) private {
        j.state = State.Refunded;
        address buyer = j.buyer;
        uint256 amount = j.amount;
        emit JobRefunded(jobId, buyer, amount);
        address provider = j.provider;
        uint256 stakeLock = _clearLock(jobId);
        if (slashStake) {
            address challenger = challengerOf[jobId];
            uint256 slashed = stakingRegistry.slashLocked(provider, providerRole, stakeLock, challenger, buyer);
            emit ProviderSlashed(jobId, provider, slashed, challenger);
        } else {
            stakingRegistry.unlock(provider, providerRole, stakeLock);
        }
        token.safeTransfer(buyer, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice The job id a buyer uses for its `nonce`-th job: the buyer's address in the top 20 bytes, the
    ///         nonce in the low 12 bytes.
    function jobIdFor(address buyer, uint96 nonce) public pure returns (bytes32) {
        return bytes32((uint256(uint160(buyer)) << 96) | nonce);
    }

    /// @notice The provider stake (GCX wei) a job paying `amount` locks if opened now:
    ///         `max(minJobLock, amount * lockPerUnit)`.
    function lockAmountFor(uint256 amount) public view returns (uint256) {
        uint256 scaled = amount * lockPerUnit;
        uint256 floor = minJobLock;
        return scaled > floor ? scaled : floor;
    }

    /// @notice The full record of job `jobId`.
    function getJob(bytes32 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @notice The state of job `jobId`.
    function stateOf(bytes32 jobId) external view returns (State) {
        return _jobs[jobId].state;
    }

    /// @inheritdoc IChallengeHook
    function challengeInfo(bytes32 jobId)
        external
        view
        returns (address provider, address buyer, bytes32 resultRoot, uint64 challengeDeadline, uint8 state)
    {
        Job storage j = _jobs[jobId];
        State s = j.state;
        provider = j.provider;
        buyer = j.buyer;
        resultRoot = j.resultRoot;
        challengeDeadline = s == State.Open || s == State.None ? 0 : uint64(j.deadline);
        state = uint8(s);
    }
}
