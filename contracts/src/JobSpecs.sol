// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IChallengeHook} from "./interfaces/IChallengeHook.sol";
import {IJobSpecs} from "./interfaces/IJobSpecs.sol";

/// @title JobSpecs
/// @notice The per-job spec commitment the verification game reads (see {IJobSpecs}; docs/gcx-tp.md, "Job spec").
///         A buyer commits its job's spec hash before it opens the job in the escrow; once the escrow knows the
///         job the commitment can never change, so a provider that checked the committed spec before taking the
///         job is held to exactly that program. Anyone may publish the preimage later (a challenger does before
///         it disputes); publishing stores the fields the game's one-step adapter reads.
///
///         A separate contract rather than a JobEscrow field: the escrow's storage layout and bytecode stay as
///         they are; the buyer pays one transaction more per job (docs/decisions.md).
///
///         Trust: no admin. The only authority is the job id itself: its top 20 bytes are its buyer (the escrow
///         enforces the same binding on `open`), so nobody can commit a spec for another buyer's job.
contract JobSpecs is IJobSpecs {
    /// @notice The escrow whose job states gate {commit}.
    IChallengeHook public immutable escrow;

    /// @notice Committed spec hash per job (zero: none).
    mapping(bytes32 jobId => bytes32) public specOf;

    /// @dev A published spec; `published` shares `nOps`'s slot.
    struct Stored {
        bytes32 programDigest;
        bytes32 skeletonRoot;
        uint32 nOps;
        bool published;
        bytes32[] inputRoots;
    }

    mapping(bytes32 jobId => Stored) private _specs;

    /// @notice An address argument was zero.
    error ZeroAddress();
    /// @notice The spec hash was zero.
    error ZeroSpec();
    /// @notice Only the job's buyer (the address in the job id's top 20 bytes) may commit its spec.
    error NotBuyer(bytes32 jobId, address caller);
    /// @notice The job's spec is already committed (as `spec`).
    error AlreadyCommitted(bytes32 jobId, bytes32 spec);
    /// @notice The escrow already knows the job (`state`: its `JobEscrow.State`): too late to commit.
    error JobAlreadyOpened(bytes32 jobId, uint8 state);
    /// @notice No spec is committed for the job.
    error NotCommitted(bytes32 jobId);
    /// @notice The published fields hash to `got`, not to the committed spec `committed`.
    error WrongPreimage(bytes32 jobId, bytes32 got, bytes32 committed);
    /// @notice The job's spec preimage has not been published.
    error NotPublished(bytes32 jobId);

    /// @param escrow_ The JobEscrow (read through its {IChallengeHook.challengeInfo}).
    constructor(IChallengeHook escrow_) {
        if (address(escrow_) == address(0)) revert ZeroAddress();
        escrow = escrow_;
    }

    /// @inheritdoc IJobSpecs
    function commit(bytes32 jobId, bytes32 spec) external {
        if (spec == bytes32(0)) revert ZeroSpec();
        if (address(uint160(uint256(jobId) >> 96)) != msg.sender) revert NotBuyer(jobId, msg.sender);
        bytes32 existing = specOf[jobId];
        if (existing != bytes32(0)) revert AlreadyCommitted(jobId, existing);
        (,,,, uint8 state) = escrow.challengeInfo(jobId);
        if (state != 0) revert JobAlreadyOpened(jobId, state);
        specOf[jobId] = spec;
        emit SpecCommitted(jobId, msg.sender, spec);
    }

    /// @inheritdoc IJobSpecs
    function publish(
        bytes32 jobId,
        bytes32 programDigest,
        uint32 nOps,
        bytes32 skeletonRoot,
        bytes32[] calldata inputRoots
    ) external {
        bytes32 committed = specOf[jobId];
        if (committed == bytes32(0)) revert NotCommitted(jobId);
        bytes32 got = keccak256(abi.encode(programDigest, nOps, skeletonRoot, inputRoots));
        if (got != committed) revert WrongPreimage(jobId, got, committed);
        Stored storage s = _specs[jobId];
        if (s.published) return; // idempotent: the same preimage again changes nothing
        s.programDigest = programDigest;
        s.skeletonRoot = skeletonRoot;
        s.nOps = nOps;
        s.published = true;
        s.inputRoots = inputRoots;
        emit SpecPublished(jobId, programDigest, nOps, skeletonRoot);
    }

    /// @inheritdoc IJobSpecs
    function isPublished(bytes32 jobId) external view returns (bool) {
        return _specs[jobId].published;
    }

    /// @inheritdoc IJobSpecs
    function specFor(bytes32 jobId) external view returns (Spec memory) {
        Stored storage s = _specs[jobId];
        if (!s.published) revert NotPublished(jobId);
        return Spec(s.programDigest, s.nOps, s.skeletonRoot, s.inputRoots);
    }
}
