// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOneStep} from "../interfaces/IOneStep.sol";
import {IGcxTpOneStep} from "../interfaces/IGcxTpOneStep.sol";
import {IJobSpecs} from "../interfaces/IJobSpecs.sol";

/// @title GcxTpGameStep
/// @notice The {IOneStep} of the {VerificationGame} for GCX-TP results: an adapter over the one-step prover
///         ({IGcxTpOneStep}) and the per-job spec registry ({IJobSpecs}) (docs/verification.md, "The adapter:
///         job specs and proof formats"). Stateless; both dependencies are fixed at deployment.
///
///         What it adds to the prover: the job's program, known on chain only through its published spec
///         (program digest, op count, op-skeleton root, input roots). The game's root move must name the spec's
///         digest and op count; the disputed op leaf's 34-byte static prefix must be the program's op `k`
///         (skeleton leaf `k`), so a provider cannot commit another op (another opcode, other inputs, other
///         attributes, another output header) than the program's; and program inputs are read against the
///         buyer's input roots.
///
///         Formats (all `abi.encode`, big-endian words; the inner proofs are GCX-TP's canonical encodings,
///         `gcx.tp.commit`):
///         * {revealRow} `proof = abi.encode(bytes opProof, bytes32[] skeletonSiblings, bytes rowProof)`:
///           `opProof` op `k`'s op proof under the provider's result root (`01 03 ‖ n_ops u32 ‖ digest ‖ body (66)
///           ‖ siblings`), whose body must hash to the pinned op leaf; `skeletonSiblings` the `ceil(log2 nOps)`
///           bottom-up siblings of skeleton leaf `k` (`sha256("gcx.tp1.sk.leaf" ‖ body[0:34])`, nodes
///           `sha256("gcx.tp1.sk.node" ‖ l ‖ r)`, padding leaf `sha256("gcx.tp1.sk.pad")`, tags zero-padded to
///           16 bytes); `rowProof` the row proof of the pinned row under the op's output root
///           (`01 01 ‖ header ‖ row u32 ‖ row bytes ‖ siblings`).
///         * {decide} `proof = abi.encode(bytes32 word, bytes32[] wordSiblings, bytes opProof,
///           IGcxTpOneStep.Operand[] operands)`: `word` the 32-byte word `col·width/32` of the revealed row's
///           bytes (last word zero-padded) and `wordSiblings` its bottom-up keccak path in the word tree
///           ({IGcxTpOneStep.revealRow}); `opProof` op `k`'s op proof again; `operands` one per op input
///           (`Operand(bytes opProof, bytes rowProof)`: the producing op's proof under the provider's result root,
///           empty for a program input, and the operand row the element reads), as {IGcxTpOneStep.Step} wants.
///
///         Reverts (the mover's failure, never a verdict): a job without a published spec, an op proof whose
///         body is not the pinned op leaf, a skeleton path of the wrong length, an abi encoding that does not
///         decode, and every revert of the prover (a proof that does not verify, a row at another index, ...).
///         Verdicts: a skeleton mismatch and the prover's `leafValid = false` make the provider lose at
///         {revealRow}; {decide} answers the prover's `decideClaimed`.
contract GcxTpGameStep is IOneStep {
    bytes16 internal constant TAG_OP_LEAF = "gcx.tp1.op.leaf";
    bytes16 internal constant TAG_SK_LEAF = "gcx.tp1.sk.leaf";
    bytes16 internal constant TAG_SK_NODE = "gcx.tp1.sk.node";
    /// @notice Offsets in an op proof: the body is bytes 38..104.
    uint256 internal constant BODY_START = 38;
    uint256 internal constant PREFIX_END = 72; // 38 + 34
    uint256 internal constant BODY_END = 104;

    /// @notice The one-step prover.
    IGcxTpOneStep public immutable prover;
    /// @notice The per-job spec registry.
    IJobSpecs public immutable specs;

    /// @notice A constructor argument was zero.
    error ZeroAddress();
    /// @notice The op proof's body is not the pinned op leaf's preimage (or the proof is truncated).
    error NotPinnedOp(bytes32 opLeaf, bytes32 proven);
    /// @notice The skeleton path has `got` siblings, the op tree needs `want`.
    error SkeletonPathLength(uint256 got, uint256 want);

    /// @param prover_ The one-step prover.
    /// @param specs_ The per-job spec registry.
    constructor(IGcxTpOneStep prover_, IJobSpecs specs_) {
        if (address(prover_) == address(0) || address(specs_) == address(0)) revert ZeroAddress();
        prover = prover_;
        specs = specs_;
    }

    /// @inheritdoc IOneStep
    function ready(bytes32 jobId) external view returns (bool) {
        return specs.isPublished(jobId);
    }

    /// @inheritdoc IOneStep
    /// @dev Reverts when the spec is not published (the game opens no dispute before it is).
    function checkRoot(bytes32 jobId, bytes32 programDigest, uint32 nOps) external view returns (bool ok) {
        IJobSpecs.Spec memory s = specs.specFor(jobId);
        return s.programDigest == programDigest && s.nOps == nOps;
    }

    /// @inheritdoc IOneStep
    /// @dev `proof = abi.encode(bytes opProof, bytes32[] skeletonSiblings, bytes rowProof)` (see the notes).
    function revealRow(Pinned calldata p, bytes calldata proof)
        external
        view
        returns (bool leafValid, bytes32 rowCommit)
    {
        (bytes memory opProof, bytes32[] memory skeleton, bytes memory rowProof) =
            abi.decode(proof, (bytes, bytes32[], bytes));
        // Not the program's op k (or, equally the provider's own fault, not its path): no program made it.
        if (!_isProgramOp(p, opProof, skeleton)) return (false, bytes32(0));
        return prover.revealRow(p.resultRoot, p.programDigest, p.nOps, p.op, p.row, opProof, rowProof);
    }

    /// @dev Whether op proof `opProof`'s body is the pinned op leaf (else revert) and its 34-byte prefix is
    ///      skeleton leaf `p.op` under the job's skeleton root, by the path `skeleton`.
    function _isProgramOp(Pinned calldata p, bytes memory opProof, bytes32[] memory skeleton)
        private
        view
        returns (bool)
    {
        if (opProof.length < BODY_END) revert NotPinnedOp(p.opLeaf, bytes32(0));
        bytes32 leaf = sha256(abi.encodePacked(TAG_OP_LEAF, _slice(opProof, BODY_START, BODY_END)));
        if (leaf != p.opLeaf) revert NotPinnedOp(p.opLeaf, leaf);
        uint256 depth = _depthOf(p.nOps);
        if (skeleton.length != depth) revert SkeletonPathLength(skeleton.length, depth);
        bytes32 h = sha256(abi.encodePacked(TAG_SK_LEAF, _slice(opProof, BODY_START, PREFIX_END)));
        uint256 index = p.op;
        for (uint256 l = 0; l < depth; ++l) {
            h = (index >> l) & 1 == 1
                ? sha256(abi.encodePacked(TAG_SK_NODE, skeleton[l], h))
                : sha256(abi.encodePacked(TAG_SK_NODE, h, skeleton[l]));
        }
        return h == specs.specFor(p.jobId).skeletonRoot;
    }

    /// @inheritdoc IOneStep
    /// @dev `proof = abi.encode(bytes32 word, bytes32[] wordSiblings, bytes opProof, IGcxTpOneStep.Operand[]
    ///      operands)` (see the notes).
    function decide(Pinned calldata p, bytes32 rowCommit, uint32 col, bytes calldata proof)
        external
        view
        returns (bool providerRight)
    {
        (
            bytes32 word,
            bytes32[] memory siblings,
            bytes memory opProof,
            IGcxTpOneStep.Operand[] memory operands
        ) = abi.decode(proof, (bytes32, bytes32[], bytes, IGcxTpOneStep.Operand[]));
        int256 claimed = prover.revealedElement(rowCommit, p.dtype, p.cols, col, word, siblings);
        IGcxTpOneStep.Step memory st = IGcxTpOneStep.Step({
            resultRoot: p.resultRoot,
            programDigest: p.programDigest,
            nOps: p.nOps,
            op: p.op,
            row: p.row,
            col: col,
            opProof: opProof,
            inputRoots: specs.specFor(p.jobId).inputRoots,
            operands: operands
        });
        return prover.decideClaimed(st, claimed);
    }

    /// @dev Bytes `[from, to)` of `b` (`to <= b.length`).
    function _slice(bytes memory b, uint256 from, uint256 to) private pure returns (bytes memory out) {
        out = new bytes(to - from);
        for (uint256 i = from; i < to; ++i) {
            out[i - from] = b[i];
        }
    }

    /// @dev `ceil(log2(n))` for `n >= 1`.
    function _depthOf(uint256 n) private pure returns (uint256 d) {
        while ((uint256(1) << d) < n) ++d;
    }
}
