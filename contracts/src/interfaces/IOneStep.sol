// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IOneStep
/// @notice The one-step decision the {VerificationGame} delegates to once its bisection has pinned one op and one
///         output row of a provider's result root (docs/verification.md, "The game"). The game itself checks
///         every commitment on the bisection path (the result-root preimage, op-tree and row-tree nodes, the op
///         leaf's 66-byte body and the output tensor root, all with GCX-TP's SHA-256 tags); this interface does
///         what needs the program and the operands. An adapter over `IGcxTpOneStep` implements it.
///
///         Every function is a pure function of the job, the pinned position and the evidence: given valid
///         evidence, the answer does not depend on who calls. A revert means "the evidence does not prove
///         anything" (a bad proof, a wrong index): it is the mover's failure, decided by the game's deadlines,
///         never a verdict.
interface IOneStep {
    /// @notice What the bisection has pinned, all of it checked by the game against the provider's own
    ///         commitments.
    struct Pinned {
        bytes32 jobId; // the escrow's job id
        bytes32 resultRoot; // the provider's posted result root
        bytes32 programDigest; // from the provider's result-root preimage
        uint32 nOps; // from the provider's result-root preimage
        uint32 op; // the disputed op k (< nOps)
        bytes32 opLeaf; // the provider's op leaf at k: H(op.leaf ‖ body)
        bytes32 outRoot; // the op's output tensor root (body bytes 34..66)
        uint32 tensorId; // the output header (body bytes 20..34), checked: rows ≥ 1, cols ≥ 1, dtype 1 or 2
        uint8 dtype;
        uint8 rank;
        uint32 rows;
        uint32 cols;
        uint32 row; // the disputed output row (< rows); 0 while only the op is pinned
        bytes32 rowLeaf; // the provider's row leaf at `row` (zero while only the op is pinned)
    }

    /// @notice Whether job `jobId` can be disputed at all: its program is known to the one-step decision (for
    ///         the GCX-TP adapter: the job's spec is published in `IJobSpecs`). {VerificationGame.open} refuses a
    ///         dispute while this is false, so no game can start that the one-step decision cannot end.
    function ready(bytes32 jobId) external view returns (bool);

    /// @notice Whether the provider's result-root preimage names job `jobId`'s program: its digest and its op
    ///         count. False makes the provider lose at once (it committed to another program).
    function checkRoot(bytes32 jobId, bytes32 programDigest, uint32 nOps) external view returns (bool ok);

    /// @notice The provider's reveal of the pinned row (`proof`: the row and whatever the adapter needs).
    /// @return leafValid False when the pinned op leaf cannot come from the job's program (malformed, an op other
    ///         than the program's op k, an output header that does not follow from the operands): the provider
    ///         loses without an element.
    /// @return rowCommit A commitment to the revealed row the game stores for {decide} (nonzero when `leafValid`).
    function revealRow(Pinned calldata p, bytes calldata proof)
        external
        view
        returns (bool leafValid, bytes32 rowCommit);

    /// @notice The verdict on element `(p.row, col)`: recompute it from the operands (proven in `proof` against
    ///         the provider's earlier commitments and the buyer's inputs) and compare it with the provider's
    ///         revealed row (`rowCommit`, opened by `proof`).
    /// @return providerRight True iff the provider's element equals the recomputed one.
    function decide(Pinned calldata p, bytes32 rowCommit, uint32 col, bytes calldata proof)
        external
        view
        returns (bool providerRight);
}
