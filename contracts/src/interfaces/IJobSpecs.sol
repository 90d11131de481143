// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IJobSpecs
/// @notice What the verification game knows of a job's program (docs/gcx-tp.md, "Job spec"; Python:
///         `gcx.jobs.spec`). The chain knows a program only by its keccak digest, so the buyer commits, per job and
///         before the job opens in the escrow, one more hash:
///         `spec = keccak256(abi.encode(bytes32 programDigest, uint32 nOps, bytes32 skeletonRoot, bytes32[] inputRoots))`
///         where `skeletonRoot` is the op-skeleton tree over the 34-byte static prefixes of the program's op leaves
///         and `inputRoots[t]` program input t's tensor root (zero: none). A provider refuses a job whose committed
///         spec is not its program's. Anyone may later publish the preimage (a challenger does before it opens a
///         dispute); the game reads the published fields.
interface IJobSpecs {
    /// @notice The published fields of a spec.
    struct Spec {
        bytes32 programDigest;
        uint32 nOps;
        bytes32 skeletonRoot;
        bytes32[] inputRoots;
    }

    /// @notice Buyer `buyer` committed `spec` for job `jobId`.
    event SpecCommitted(bytes32 indexed jobId, address indexed buyer, bytes32 spec);
    /// @notice The preimage of job `jobId`'s spec was published.
    event SpecPublished(bytes32 indexed jobId, bytes32 programDigest, uint32 nOps, bytes32 skeletonRoot);

    /// @notice Commit `spec` (nonzero) for job `jobId`. Only the job's buyer (the address in the job id's top 20
    ///         bytes), only once, and only while the escrow does not know the job (state None).
    function commit(bytes32 jobId, bytes32 spec) external;

    /// @notice Publish the preimage of job `jobId`'s committed spec (anyone; idempotent).
    function publish(
        bytes32 jobId,
        bytes32 programDigest,
        uint32 nOps,
        bytes32 skeletonRoot,
        bytes32[] calldata inputRoots
    ) external;

    /// @notice Job `jobId`'s committed spec hash (zero: none).
    function specOf(bytes32 jobId) external view returns (bytes32);

    /// @notice Whether job `jobId`'s spec preimage is published.
    function isPublished(bytes32 jobId) external view returns (bool);

    /// @notice Job `jobId`'s published spec (reverts when not published).
    function specFor(bytes32 jobId) external view returns (Spec memory);
}
