// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOneStep} from "../../src/interfaces/IOneStep.sol";
import {GameTruth} from "./GameModel.sol";

/// @notice Test double of the one-step decision (the real one is the GCX-TP one-step prover behind an adapter).
///         The "program" of a job is a seed: the correct value of element (op, row, col) is
///         `GameTruth.value(seed, op, row, col, dtype)`, whatever the operands. The revealed row is checked against
///         the pinned row leaf with GCX-TP's real row-leaf hash, and the verdict compares the provider's element
///         with the truth, so the game sees the same interface and the same kind of verdicts as with the real
///         prover.
contract MockOneStep is IOneStep {
    bytes16 internal constant TAG_ROW_LEAF = "gcx.tp1.row.leaf";

    struct Program {
        uint256 seed;
        bytes32 digest;
        uint32 nOps;
        bool set;
    }

    mapping(bytes32 jobId => Program) public programs;
    /// @notice Ops whose leaf the "program" declares invalid (revealRow answers leafValid = false).
    mapping(bytes32 jobId => mapping(uint32 op => bool)) public invalidOp;

    error UnknownJob(bytes32 jobId);
    error BadRow();
    error BadColumn(uint32 col);

    function setProgram(bytes32 jobId, uint256 seed, bytes32 digest, uint32 nOps) external {
        programs[jobId] = Program(seed, digest, nOps, true);
    }

    function setInvalidOp(bytes32 jobId, uint32 op) external {
        invalidOp[jobId][op] = true;
    }

    /// @dev Ready once the job's program is set (a job the test never set cannot be disputed).
    function ready(bytes32 jobId) external view returns (bool) {
        return programs[jobId].set;
    }

    function checkRoot(bytes32 jobId, bytes32 programDigest, uint32 nOps) external view returns (bool) {
        Program storage p = programs[jobId];
        if (!p.set) revert UnknownJob(jobId);
        return p.digest == programDigest && p.nOps == nOps;
    }

    /// @dev `proof` is the row's bytes.
    function revealRow(Pinned calldata p, bytes calldata proof) external view returns (bool, bytes32) {
        uint256 width = p.dtype == 1 ? 1 : 4;
        if (proof.length != uint256(p.cols) * width) revert BadRow();
        bytes32 leaf = sha256(abi.encodePacked(TAG_ROW_LEAF, p.tensorId, p.row, p.dtype, p.cols, proof));
        if (leaf != p.rowLeaf) revert BadRow();
        if (invalidOp[p.jobId][p.op]) return (false, bytes32(0));
        return (true, keccak256(proof));
    }

    /// @dev `proof` is the row's bytes again (a real adapter opens one word of a word tree instead).
    function decide(Pinned calldata p, bytes32 rowCommit, uint32 col, bytes calldata proof)
        external
        view
        returns (bool)
    {
        if (keccak256(proof) != rowCommit) revert BadRow();
        if (col >= p.cols) revert BadColumn(col);
        Program storage prog = programs[p.jobId];
        int256 claimed = GameTruth.read(proof, col, p.dtype);
        return claimed == GameTruth.value(prog.seed, p.op, p.row, col, p.dtype);
    }
}
