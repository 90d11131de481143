// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {StakingRegistry} from "./StakingRegistry.sol";

/// @title AuditSlasher
/// @notice Capacity-audit failures on-chain (docs/audits.md, "On-chain: evidence and the slash"). The coordinator's
///         auditor key (`AUDITOR_ROLE`) posts each failed audit of a run: the audit's identifiers (provider,
///         challenge id, seed, claimed rate, issue time, verdict) as arguments and event fields, and the whole
///         canonical `gcx.audit.record` bytes in the calldata, whose keccak is the event's `recordDigest`. Failures
///         are linked (`prevId` names the provider's previous failure in the run; zero starts a new run), so passes
///         need not be posted: the auditor attests that no audit lies between two linked failures. At `threshold`
///         failures within `period` a slash is proposed, once per run; after `slashDelay` anyone executes it through
///         {StakingRegistry.slash} (this contract holds `SLASHER_ROLE`), splitting it by the registry's split (its
///         burn share is never zero). A `GUARDIAN_ROLE` may cancel a proposed slash during the delay.
/// @dev Trust: a rogue auditor key can fabricate failures, so its power is bounded: each slash takes at most
///      `slashBps` of the provider's slashable stake and at most `maxSlash`; at most `maxSlashesPerWindow` slashes
///      are proposed per `rateWindow`; every slash waits `slashDelay` (the guardian's veto window); the admin
///      revokes the role; the reward and compensation recipients are the admin's choice, never the auditor's.
///      `period + slashDelay ≤ registry.unbondingDelay()`, so stake unbonded after a run's first failure is still
///      slashable (the registry slashes unbonding stake too) when the slash executes.
contract AuditSlasher is AccessControl {
    /// @notice Posts failed audits' evidence (the coordinator's key, which also signs the challenges).
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR_ROLE");
    /// @notice May cancel a proposed slash before it executes.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice Basis-point denominator.
    uint16 public constant BPS = 10_000;
    /// @notice A challenge may be issued at most this far ahead of the block's clock.
    uint64 public constant MAX_CLOCK_SKEW = 300;
    /// @notice Largest accepted record (canonical bytes).
    uint256 public constant MAX_RECORD_BYTES = 256 * 1024;
    /// @notice `StakingRegistry.Role.Provider`.
    StakingRegistry.Role public constant PROVIDER = StakingRegistry.Role.Provider;

    /// @notice Failed verdicts (`gcx.audit.record`'s): `Passed` is never posted.
    enum Verdict {
        Passed,
        Late,
        WrongRootFormat,
        BadSignature,
        WrongRow,
        BadProof,
        NoAnswer
    }

    enum SlashStatus {
        None,
        Pending,
        Executed,
        Cancelled
    }

    /// @dev One posted failure: the provider it is against and its challenge's issue time (seconds). One slot.
    struct Evidence {
        address provider;
        uint64 issuedAt;
    }

    /// @dev A provider's current run of linked failures.
    struct Streak {
        bytes32 lastId; // the run's latest failure
        uint64 startAt; // issue time of the first failure counted (the period is measured from it)
        uint64 lastAt; // issue time of `lastId`
        uint32 count; // failures counted since `startAt`
        bool slashed; // this run already proposed its slash
    }

    struct PendingSlash {
        address provider;
        uint64 executableAt;
        SlashStatus status;
        bytes32 lastId; // the failure that reached the threshold
    }

    /// @notice One failed audit's identifiers, as its record states them.
    struct Failure {
        address provider; // the challenge's `provider` (its staking address)
        bytes32 challengeId; // keccak of the canonical challenge without its signature (the evidence id)
        bytes32 prevId; // the provider's previous failure in this run, or zero to start a new run
        Verdict verdict;
        uint64 seed; // the challenge's seed
        uint64 claimedOpsPerS; // the claimed int8 rate the challenge was sized to
        uint64 issuedAtMs; // the challenge's issue time (unix ms, the auditor's clock)
    }

    /// @notice Tunables (admin).
    struct Params {
        uint32 threshold; // failures in a row that slash
        uint64 period; // the counted failures lie within this many seconds (of the first)
        uint64 slashDelay; // seconds between proposal and execution (0: executed in the proposing call)
        uint16 slashBps; // share of the provider's slashable stake taken per slash
        uint256 maxSlash; // absolute cap per slash (token wei)
        uint32 maxSlashesPerWindow; // proposals allowed per rate window
        uint64 rateWindow; // seconds
        address rewardTo; // the registry's reward share (zero: burned)
        address compensateTo; // the registry's compensation share (zero: burned)
    }

    /// @notice The staking registry slashed through (this contract must hold its `SLASHER_ROLE`).
    StakingRegistry public immutable registry;

    Params private _params;
    /// @notice Posted failures by challenge id.
    mapping(bytes32 challengeId => Evidence) public evidenceOf;
    /// @notice Each provider's current run.
    mapping(address provider => Streak) public streakOf;
    /// @notice Proposed slashes, numbered from 1.
    mapping(uint256 slashId => PendingSlash) public slashes;
    /// @notice Number of slashes proposed so far (the last id).
    uint256 public slashCount;
    /// @notice Start of the current rate window and the proposals made in it.
    uint64 public windowStart;
    uint32 public slashesInWindow;

    /// @notice An address argument is zero.
    error ZeroAddress();
    /// @notice A parameter is out of range.
    error InvalidParams();
    /// @notice `period + slashDelay` exceeds the registry's unbonding delay: stake could leave before the slash.
    error DelayExceedsUnbonding(uint64 periodPlusDelay, uint64 unbondingDelay);
    /// @notice `Passed` (or an unknown verdict) was posted as a failure.
    error NotAFailure(uint8 verdict);
    /// @notice The challenge id is zero, or the record is empty or too large.
    error MalformedEvidence();
    /// @notice This challenge's evidence was posted already (a replay).
    error EvidenceKnown(bytes32 challengeId);
    /// @notice The challenge was issued after `block.timestamp + MAX_CLOCK_SKEW`.
    error EvidenceFromFuture(uint64 issuedAt);
    /// @notice The challenge was issued more than `period` before this block.
    error StaleEvidence(uint64 issuedAt);
    /// @notice `prevId` is not the provider's latest posted failure (`expected`).
    error BrokenLink(bytes32 expected);
    /// @notice The failure is not later than its predecessor.
    error OutOfOrder(uint64 issuedAt, uint64 previous);
    /// @notice `maxSlashesPerWindow` slashes were proposed in the current window; retry from `nextWindowAt`.
    error RateLimited(uint64 nextWindowAt);
    /// @notice The slash is not pending.
    error NotPending(uint256 slashId);
    /// @notice The slash's delay has not elapsed.
    error TooEarly(uint64 executableAt);

    /// @notice A failed audit of `provider`: challenge `challengeId` (seed `seed`, claim `claimedOpsPerS`, issued at
    ///         `issuedAtMs`) ended with `verdict`; `recordDigest` is the keccak of the canonical record bytes in this
    ///         call's calldata; it follows failure `prevId` (zero: a new run) and the run now counts `count`.
    event FailurePosted(
        address indexed provider,
        bytes32 indexed challengeId,
        bytes32 prevId,
        Verdict verdict,
        uint64 seed,
        uint64 claimedOpsPerS,
        uint64 issuedAtMs,
        bytes32 recordDigest,
        uint32 count
    );
    /// @notice `provider`'s run ending in `lastId` reached the threshold: slash `slashId` executes from
    ///         `executableAt`.
    event SlashProposed(
        uint256 indexed slashId, address indexed provider, bytes32 lastId, uint64 executableAt
    );
    /// @notice Slash `slashId` took `amount` of `provider`'s stake (split as the registry's `Slashed` event says).
    event SlashExecuted(uint256 indexed slashId, address indexed provider, uint256 amount);
    /// @notice Slash `slashId` was cancelled by the guardian `by`.
    event SlashCancelled(uint256 indexed slashId, address indexed provider, address by);
    /// @notice The parameters changed.
    event ParamsUpdated(Params params);

    /// @notice Deploy the slasher over `registry_` with `params_`; `admin` gets `DEFAULT_ADMIN_ROLE` and
    ///         `GUARDIAN_ROLE`. The registry's admin must then grant this contract `SLASHER_ROLE`.
    constructor(StakingRegistry registry_, address admin, Params memory params_) {
        if (address(registry_) == address(0) || admin == address(0)) revert ZeroAddress();
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, admin);
        _setParams(params_);
    }

    // ------------------------------------------------------------------ evidence

    /// @notice Post one failed audit (only `AUDITOR_ROLE`). Proposes the run's slash when it reaches `threshold`
    ///         (and executes it at once when `slashDelay` is 0).
    /// @param f The audit's identifiers (see {Failure}); `f.challengeId` is the evidence id, accepted once.
    /// @param record The canonical `gcx.audit.record` v1 bytes (signed challenge, signed answer, opened rows).
    /// @return count The run's count after this failure.
    function postFailure(Failure calldata f, bytes calldata record)
        external
        onlyRole(AUDITOR_ROLE)
        returns (uint32 count)
    {
        if (f.provider == address(0)) revert ZeroAddress();
        if (f.verdict == Verdict.Passed) revert NotAFailure(uint8(f.verdict));
        if (f.challengeId == bytes32(0) || record.length == 0 || record.length > MAX_RECORD_BYTES) {
            revert MalformedEvidence();
        }
        if (evidenceOf[f.challengeId].provider != address(0)) revert EvidenceKnown(f.challengeId);
        uint64 issuedAt = f.issuedAtMs / 1000;
        if (issuedAt > block.timestamp + MAX_CLOCK_SKEW) revert EvidenceFromFuture(issuedAt);
        if (block.timestamp > uint256(issuedAt) + _params.period) revert StaleEvidence(issuedAt);
        evidenceOf[f.challengeId] = Evidence(f.provider, issuedAt);
        bool propose;
        (count, propose) = _link(f, issuedAt);
        emit FailurePosted(
            f.provider,
            f.challengeId,
            f.prevId,
            f.verdict,
            f.seed,
            f.claimedOpsPerS,
            f.issuedAtMs,
            keccak256(record),
            count
        );
        if (propose) _propose(f.provider, f.challengeId);
    }

    /// @dev Extend (or start) `f.provider`'s run with `f`; whether the run now proposes its slash.
    function _link(Failure calldata f, uint64 issuedAt) private returns (uint32 count, bool propose) {
        Streak memory s = streakOf[f.provider];
        if (f.prevId == bytes32(0)) {
            s = Streak(f.challengeId, issuedAt, issuedAt, 1, false);
        } else {
            if (f.prevId != s.lastId) revert BrokenLink(s.lastId);
            if (issuedAt < s.lastAt) revert OutOfOrder(issuedAt, s.lastAt);
            if (issuedAt - s.startAt > _params.period) {
                (s.startAt, s.count) = (issuedAt, 1); // the run goes on; counting restarts within the period
            } else {
                s.count += 1;
            }
            (s.lastId, s.lastAt) = (f.challengeId, issuedAt);
        }
        count = s.count;
        propose = !s.slashed && count >= _params.threshold;
        if (propose) s.slashed = true;
        streakOf[f.provider] = s;
    }

    // ------------------------------------------------------------------ slashes

    /// @notice Execute pending slash `slashId` once its delay has elapsed (anyone).
    /// @return amount The stake taken.
    function executeSlash(uint256 slashId) external returns (uint256 amount) {
        PendingSlash storage ps = slashes[slashId];
        if (ps.status != SlashStatus.Pending) revert NotPending(slashId);
        if (block.timestamp < ps.executableAt) revert TooEarly(ps.executableAt);
        return _execute(slashId, ps);
    }

    /// @notice Cancel pending slash `slashId` (only `GUARDIAN_ROLE`), e.g. on a provider's appeal showing an audit
    ///         between two linked failures that the auditor left out.
    function cancelSlash(uint256 slashId) external onlyRole(GUARDIAN_ROLE) {
        PendingSlash storage ps = slashes[slashId];
        if (ps.status != SlashStatus.Pending) revert NotPending(slashId);
        ps.status = SlashStatus.Cancelled;
        emit SlashCancelled(slashId, ps.provider, msg.sender);
    }

    /// @notice What a slash of `provider` executed now would take: `slashBps` of its stake the registry can slash
    ///         (bonded minus locked, plus unbonding), at most `maxSlash`.
    function slashAmountOf(address provider) public view returns (uint256) {
        (uint256 bonded, uint256 unbonding,) = registry.stakeOf(provider, PROVIDER);
        uint256 slashable = bonded - registry.lockedOf(provider, PROVIDER) + unbonding;
        uint256 amount = (slashable * _params.slashBps) / BPS;
        return amount < _params.maxSlash ? amount : _params.maxSlash;
    }

    function _propose(address provider, bytes32 lastId) private {
        Params memory p = _params;
        uint64 now_ = uint64(block.timestamp);
        if (now_ >= windowStart + p.rateWindow) {
            (windowStart, slashesInWindow) = (now_, 0);
        }
        if (slashesInWindow >= p.maxSlashesPerWindow) revert RateLimited(windowStart + p.rateWindow);
        slashesInWindow += 1;
        uint256 id = ++slashCount;
        uint64 at = now_ + p.slashDelay;
        slashes[id] = PendingSlash(provider, at, SlashStatus.Pending, lastId);
        emit SlashProposed(id, provider, lastId, at);
        if (p.slashDelay == 0) _execute(id, slashes[id]);
    }

    function _execute(uint256 slashId, PendingSlash storage ps) private returns (uint256 amount) {
        ps.status = SlashStatus.Executed; // before the external call
        address provider = ps.provider;
        amount = slashAmountOf(provider);
        if (amount != 0) {
            amount = registry.slash(provider, PROVIDER, amount, _params.rewardTo, _params.compensateTo);
        }
        emit SlashExecuted(slashId, provider, amount);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Replace the parameters (only `DEFAULT_ADMIN_ROLE`). Pending slashes keep their execution time.
    function setParams(Params calldata params_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParams(params_);
    }

    /// @notice The current parameters.
    function params() external view returns (Params memory) {
        return _params;
    }

    function _setParams(Params memory p) private {
        if (
            p.threshold == 0 || p.threshold > 100 || p.period == 0 || p.slashBps == 0 || p.slashBps > BPS
                || p.maxSlash == 0 || p.maxSlashesPerWindow == 0 || p.rateWindow == 0
        ) revert InvalidParams();
        uint64 unbonding = registry.unbondingDelay();
        if (p.period + p.slashDelay > unbonding) {
            revert DelayExceedsUnbonding(p.period + p.slashDelay, unbonding);
        }
        _params = p;
        emit ParamsUpdated(p);
    }
}
