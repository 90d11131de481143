// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title CollateralVault
/// @notice Stablecoin collateral for GCX clearing (seed §8, DESIGN §5). Every trader clears through a guarantor
///         (clearing member). A customer's collateral sits in a sub-account *under* its guarantor and is
///         segregated from the guarantor's own pool. Trading is off-chain; its cash flows are netted and settled
///         here in sequential, zero-sum batches posted by the operator.
///
/// Accounts. Balances are keyed `(guarantor, account)`. `account == guarantor` is the guarantor's own pool; any
/// other `account` is a customer sub-account under that guarantor.
///
/// Trust model (what the operator can and cannot do):
/// * The operator (OPERATOR_ROLE) can move balances only through {settle}: a batch whose deltas sum to exactly
///   zero and that leaves no balance negative. It can never transfer tokens out of the vault.
/// * The operator can place a hold on an account (margin the off-chain risk engine requires), with the reason in
///   the event. A hold only blocks withdrawals of the held part; it moves nothing.
/// * Tokens leave the vault only through {withdraw}, to the account owner, after `withdrawalDelay`.
/// * The admin (DEFAULT_ADMIN_ROLE) registers/suspends guarantors and sets the withdrawal delay (bounded by
///   {MAX_WITHDRAWAL_DELAY}); a delay change does not affect requests already made.
///
/// Token assumptions: a plain ERC-20 (no fee on transfer, no rebasing).
///
/// Invariant: `token.balanceOf(this) >= totalLiabilities`, where `totalLiabilities` is the sum of all customer
/// balances and pools, tracked in storage (settlements are zero-sum and leave it unchanged). Pending withdrawals
/// are claims on those balances (the funds stay in the balance, exposed to settlement and holds, until executed),
/// so `totalPendingWithdrawals` is informational and not an extra liability.
contract CollateralVault is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- types

    /// @notice One netted transfer of a settlement batch.
    /// @param guarantor The guarantor the account clears through.
    /// @param account The customer, or the guarantor itself for its pool.
    /// @param delta Signed change of the account's balance (smallest unit of the stablecoin).
    struct Entry {
        address guarantor;
        address account;
        int256 delta;
    }

    /// @notice A withdrawal request; executable from `executableAt` by `account`.
    struct WithdrawalRequest {
        address guarantor;
        uint40 executableAt;
        address account;
        uint96 amount;
    }

    /// @notice Registration status of a guarantor.
    enum GuarantorStatus {
        None, // never registered: no deposits, not settleable
        Active, // accepts deposits
        Suspended // no new deposits; balances still settle and withdraw
    }

    // ---------------------------------------------------------------- constants / roles

    /// @notice Role that posts settlement batches and places/releases margin holds.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice Maximum number of entries in one settlement batch (bounds the loop in {settle}).
    uint256 public constant MAX_BATCH_ENTRIES = 256;
    /// @notice Upper bound of the withdrawal delay the admin may set.
    uint256 public constant MAX_WITHDRAWAL_DELAY = 30 days;

    // ---------------------------------------------------------------- storage

    /// @notice The collateral stablecoin.
    IERC20 public immutable token;

    /// @notice Delay between {requestWithdrawal} and the earliest {withdraw}, in seconds.
    uint256 public withdrawalDelay;
    /// @notice Id the next settlement batch must carry (ids start at 1).
    uint64 public nextBatchId = 1;
    /// @notice Id the next withdrawal request will get (ids start at 1).
    uint256 public nextRequestId = 1;
    /// @notice Sum of all customer balances and pools.
    uint256 public totalLiabilities;
    /// @notice Sum of the amounts of all pending (requested, not executed or cancelled) withdrawals.
    uint256 public totalPendingWithdrawals;

    /// @notice Registration status per guarantor.
    mapping(address guarantor => GuarantorStatus) public guarantorStatus;
    /// @notice Merkle root of each settled batch (audit trail of the off-chain batch contents).
    mapping(uint64 batchId => bytes32) public batchRoot;
    /// @notice Pending withdrawal requests.
    mapping(uint256 requestId => WithdrawalRequest) public withdrawalRequests;

    mapping(address guarantor => mapping(address account => uint256)) private _balance;
    mapping(address guarantor => mapping(address account => uint256)) private _held;

    // ---------------------------------------------------------------- events

    /// @notice A guarantor was registered, suspended or re-activated.
    event GuarantorStatusSet(address indexed guarantor, GuarantorStatus status);
    /// @notice The withdrawal delay changed.
    event WithdrawalDelaySet(uint256 delay);
    /// @notice `account` deposited `amount` under `guarantor` (`account == guarantor`: into the pool).
    event Deposited(address indexed guarantor, address indexed account, uint256 amount);
    /// @notice A settlement batch was applied.
    event BatchSettled(uint64 indexed batchId, bytes32 merkleRoot, uint256 entryCount);
    /// @notice The operator put `amount` of `account`'s balance on hold.
    event HoldPlaced(address indexed guarantor, address indexed account, uint256 amount, uint256 totalHeld, string reason);
    /// @notice The operator released `amount` of `account`'s hold.
    event HoldReleased(
        address indexed guarantor, address indexed account, uint256 amount, uint256 totalHeld, string reason
    );
    /// @notice A withdrawal was requested.
    event WithdrawalRequested(
        uint256 indexed requestId, address indexed guarantor, address indexed account, uint256 amount, uint256 executableAt
    );
    /// @notice A withdrawal request was cancelled by its account.
    event WithdrawalCancelled(uint256 indexed requestId);
    /// @notice A withdrawal was executed and the tokens sent to the account.
    event Withdrawn(uint256 indexed requestId, address indexed guarantor, address indexed account, uint256 amount);

    // ---------------------------------------------------------------- errors

    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice An amount argument was zero.
    error ZeroAmount();
    /// @notice An amount does not fit the request's storage (uint96).
    error AmountTooLarge(uint256 amount);
    /// @notice The guarantor is not registered (or not active, for deposits).
    error UnknownGuarantor(address guarantor);
    /// @notice The guarantor is suspended and takes no deposits.
    error GuarantorNotActive(address guarantor);
    /// @notice Only a guarantor may deposit into its own pool.
    error NotGuarantor(address caller);
    /// @notice The withdrawal delay exceeds {MAX_WITHDRAWAL_DELAY}.
    error DelayTooLong(uint256 delay);
    /// @notice The batch id is not `nextBatchId`.
    error BadBatchId(uint64 expected, uint64 got);
    /// @notice The batch is empty or longer than {MAX_BATCH_ENTRIES}.
    error BadBatchLength(uint256 length);
    /// @notice The batch deltas do not sum to zero.
    error BatchNotZeroSum(int256 sum);
    /// @notice A delta of `type(int256).min` (cannot be negated).
    error BadDelta(uint256 index);
    /// @notice Entry `index` would make its balance negative.
    error NegativeBalance(uint256 index, uint256 balance, uint256 debit);
    /// @notice Not enough unheld balance for the withdrawal.
    error InsufficientAvailable(uint256 available, uint256 amount);
    /// @notice The hold would exceed the balance.
    error HoldExceedsBalance(uint256 balance, uint256 newHeld);
    /// @notice The release exceeds the current hold.
    error ReleaseExceedsHold(uint256 held, uint256 amount);
    /// @notice No such pending withdrawal request.
    error UnknownRequest(uint256 requestId);
    /// @notice The caller is not the request's account.
    error NotRequestOwner(uint256 requestId, address caller);
    /// @notice The withdrawal delay has not passed yet.
    error WithdrawalNotReady(uint256 executableAt);

    // ---------------------------------------------------------------- construction / admin

    /// @param token_ The collateral stablecoin.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE.
    /// @param operator Holder of OPERATOR_ROLE (may be zero: grant later).
    /// @param withdrawalDelay_ Initial withdrawal delay in seconds (≤ {MAX_WITHDRAWAL_DELAY}).
    constructor(IERC20 token_, address admin, address operator, uint256 withdrawalDelay_) {
        if (address(token_) == address(0) || admin == address(0)) revert ZeroAddress();
        if (withdrawalDelay_ > MAX_WITHDRAWAL_DELAY) revert DelayTooLong(withdrawalDelay_);
        token = token_;
        withdrawalDelay = withdrawalDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (operator != address(0)) _grantRole(OPERATOR_ROLE, operator);
        emit WithdrawalDelaySet(withdrawalDelay_);
    }

    /// @notice Register, suspend or re-activate a guarantor. A guarantor can never be un-registered
    ///         (its accounts keep settling and withdrawing).
    /// @param guarantor The guarantor.
    /// @param active True: Active (accepts deposits). False: Suspended.
    function setGuarantor(address guarantor, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (guarantor == address(0)) revert ZeroAddress();
        GuarantorStatus status = active ? GuarantorStatus.Active : GuarantorStatus.Suspended;
        guarantorStatus[guarantor] = status;
        emit GuarantorStatusSet(guarantor, status);
    }

    /// @notice Set the withdrawal delay for future requests.
    /// @param delay Seconds (≤ {MAX_WITHDRAWAL_DELAY}).
    function setWithdrawalDelay(uint256 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (delay > MAX_WITHDRAWAL_DELAY) revert DelayTooLong(delay);
        withdrawalDelay = delay;
        emit WithdrawalDelaySet(delay);
    }

    // ---------------------------------------------------------------- deposits

    /// @notice Deposit `amount` into the caller's sub-account under `guarantor` (pulls the stablecoin; approve
    ///         first). If the caller is `guarantor` itself, this deposits into its pool.
    /// @param guarantor An Active guarantor.
    /// @param amount Amount in the stablecoin's smallest unit.
    function deposit(address guarantor, uint256 amount) external nonReentrant {
        _deposit(guarantor, msg.sender, amount);
    }

    /// @notice Deposit `amount` into the caller's own guarantor pool (caller must be an Active guarantor).
    /// @param amount Amount in the stablecoin's smallest unit.
    function depositPool(uint256 amount) external nonReentrant {
        if (guarantorStatus[msg.sender] == GuarantorStatus.None) revert NotGuarantor(msg.sender);
        _deposit(msg.sender, msg.sender, amount);
    }

    function _deposit(address guarantor, address account, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        GuarantorStatus status = guarantorStatus[guarantor];
        if (status == GuarantorStatus.None) revert UnknownGuarantor(guarantor);
        if (status != GuarantorStatus.Active) revert GuarantorNotActive(guarantor);
        _balance[guarantor][account] += amount;
        totalLiabilities += amount;
        emit Deposited(guarantor, account, amount);
        token.safeTransferFrom(account, address(this), amount);
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Apply a netted settlement batch. Deltas must sum to zero and leave no balance negative; entries are
    ///         applied in order (an account may appear several times). `merkleRoot` commits to the off-chain batch
    ///         contents and is stored and emitted for audit.
    /// @param batchId Must equal `nextBatchId`.
    /// @param merkleRoot Merkle root of the off-chain batch.
    /// @param entries 1..{MAX_BATCH_ENTRIES} entries; each `guarantor` must be registered.
    function settle(uint64 batchId, bytes32 merkleRoot, Entry[] calldata entries) external onlyRole(OPERATOR_ROLE) {
        uint64 expected = nextBatchId;
        if (batchId != expected) revert BadBatchId(expected, batchId);
        uint256 n = entries.length;
        if (n == 0 || n > MAX_BATCH_ENTRIES) revert BadBatchLength(n);

        int256 sum;
        for (uint256 i; i < n; ++i) {
            Entry calldata e = entries[i];
            if (guarantorStatus[e.guarantor] == GuarantorStatus.None) revert UnknownGuarantor(e.guarantor);
            int256 d = e.delta;
            sum += d;
            if (d > 0) {
                _balance[e.guarantor][e.account] += uint256(d);
            } else if (d < 0) {
                if (d == type(int256).min) revert BadDelta(i);
                uint256 debit = uint256(-d);
                uint256 bal = _balance[e.guarantor][e.account];
                if (bal < debit) revert NegativeBalance(i, bal, debit);
                unchecked {
                    _balance[e.guarantor][e.account] = bal - debit;
                }
            }
        }
        if (sum != 0) revert BatchNotZeroSum(sum);

        unchecked {
            nextBatchId = expected + 1;
        }
        batchRoot[batchId] = merkleRoot;
        emit BatchSettled(batchId, merkleRoot, n);
    }

    // ---------------------------------------------------------------- holds

    /// @notice Hold `amount` more of `account`'s balance under `guarantor` for margin the off-chain risk engine
    ///         requires. The total hold may not exceed the balance at the time it is placed (a later settlement
    ///         loss may bring the balance below the hold; the available amount is then zero).
    /// @param guarantor The guarantor.
    /// @param account The customer (or the guarantor for its pool).
    /// @param amount Additional amount to hold.
    /// @param reason Human-readable reason (e.g. the risk engine's margin call id); emitted.
    function hold(address guarantor, address account, uint256 amount, string calldata reason)
        external
        onlyRole(OPERATOR_ROLE)
    {
        if (amount == 0) revert ZeroAmount();
        uint256 newHeld = _held[guarantor][account] + amount;
        uint256 bal = _balance[guarantor][account];
        if (newHeld > bal) revert HoldExceedsBalance(bal, newHeld);
        _held[guarantor][account] = newHeld;
        emit HoldPlaced(guarantor, account, amount, newHeld, reason);
    }

    /// @notice Release `amount` of the hold on `account` under `guarantor`.
    /// @param guarantor The guarantor.
    /// @param account The customer (or the guarantor for its pool).
    /// @param amount Amount to release (≤ the current hold).
    /// @param reason Human-readable reason; emitted.
    function release(address guarantor, address account, uint256 amount, string calldata reason)
        external
        onlyRole(OPERATOR_ROLE)
    {
        if (amount == 0) revert ZeroAmount();
        uint256 held_ = _held[guarantor][account];
        if (amount > held_) revert ReleaseExceedsHold(held_, amount);
        unchecked {
            held_ -= amount;
        }
        _held[guarantor][account] = held_;
        emit HoldReleased(guarantor, account, amount, held_, reason);
    }

    // ---------------------------------------------------------------- withdrawals

    /// @notice Request a withdrawal of `amount` from the caller's account under `guarantor` (the pool, if the
    ///         caller is the guarantor). The funds stay in the balance (still settled and holdable) until
    ///         {withdraw}, executable after `withdrawalDelay`.
    /// @param guarantor The guarantor.
    /// @param amount Amount (≤ the currently available, i.e. unheld, balance).
    /// @return requestId The id to pass to {withdraw} or {cancelWithdrawal}.
    function requestWithdrawal(address guarantor, uint256 amount) external returns (uint256 requestId) {
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        uint256 avail = available(guarantor, msg.sender);
        if (amount > avail) revert InsufficientAvailable(avail, amount);
        requestId = nextRequestId++;
        uint256 executableAt = block.timestamp + withdrawalDelay;
        withdrawalRequests[requestId] = WithdrawalRequest({
            guarantor: guarantor,
            executableAt: uint40(executableAt),
            account: msg.sender,
            amount: uint96(amount)
        });
        totalPendingWithdrawals += amount;
        emit WithdrawalRequested(requestId, guarantor, msg.sender, amount, executableAt);
    }

    /// @notice Cancel a pending withdrawal request (only its account).
    /// @param requestId The request.
    function cancelWithdrawal(uint256 requestId) external {
        WithdrawalRequest memory r = _ownedRequest(requestId);
        delete withdrawalRequests[requestId];
        totalPendingWithdrawals -= r.amount;
        emit WithdrawalCancelled(requestId);
    }

    /// @notice Execute a pending withdrawal (only its account, once the delay has passed, and only if the
    ///         unheld balance still covers it). Sends the tokens to the account.
    /// @param requestId The request.
    function withdraw(uint256 requestId) external nonReentrant {
        WithdrawalRequest memory r = _ownedRequest(requestId);
        if (block.timestamp < r.executableAt) revert WithdrawalNotReady(r.executableAt);
        uint256 amount = r.amount;
        uint256 bal = _balance[r.guarantor][r.account];
        uint256 h = _held[r.guarantor][r.account];
        uint256 avail = bal > h ? bal - h : 0;
        if (amount > avail) revert InsufficientAvailable(avail, amount);

        delete withdrawalRequests[requestId];
        unchecked {
            _balance[r.guarantor][r.account] = bal - amount; // amount <= avail <= bal
        }
        totalLiabilities -= amount;
        totalPendingWithdrawals -= amount;
        emit Withdrawn(requestId, r.guarantor, r.account, amount);
        token.safeTransfer(r.account, amount);
    }

    function _ownedRequest(uint256 requestId) private view returns (WithdrawalRequest memory r) {
        r = withdrawalRequests[requestId];
        if (r.account == address(0)) revert UnknownRequest(requestId);
        if (r.account != msg.sender) revert NotRequestOwner(requestId, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @notice Balance of `customer`'s sub-account under `guarantor`.
    function customerBalance(address guarantor, address customer) external view returns (uint256) {
        return _balance[guarantor][customer];
    }

    /// @notice Balance of `guarantor`'s own pool.
    function poolBalance(address guarantor) external view returns (uint256) {
        return _balance[guarantor][guarantor];
    }

    /// @notice Amount of `account`'s balance under `guarantor` on hold.
    function held(address guarantor, address account) external view returns (uint256) {
        return _held[guarantor][account];
    }

    /// @notice Unheld balance of `account` under `guarantor` (zero if the hold exceeds the balance).
    function available(address guarantor, address account) public view returns (uint256) {
        uint256 bal = _balance[guarantor][account];
        uint256 h = _held[guarantor][account];
        return bal > h ? bal - h : 0;
    }
}
