// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IGcxTpOneStep
/// @notice The one-step prover of the GCX-TP verification game (docs/verification.md, "One-step proof";
///         commitments and semantics: docs/gcx-tp.md). After the bisection has pinned one op `op` of the
///         provider's result root and one row `row` of that op's output tensor, and the challenger has named one
///         column `col`, this contract recomputes output element `(row, col)` of op `op` from its inputs, bit for
///         bit with GCX-TP semantics, and compares it with the provider's committed value.
///
///         All proofs are the canonical GCX-TP proof encodings (`gcx.tp.commit`: `RowProof.encode()`,
///         `OpProof.encode()`), read by calldata slices:
///         * row proof: `01 01 ‖ header (14) ‖ row index u32 ‖ row bytes ‖ depth × sibling (32)`;
///         * op proof:  `01 03 ‖ n_ops u32 ‖ program digest (32) ‖ op body (66) ‖ ceil(log2 n_ops) × sibling`.
///
///         Operands. An op's input tensor id `t` is either a program input (`t < nIn`, where
///         `nIn = output tensor id − op index`, from the op leaf) whose root is the buyer's, `inputRoots[t]`, or
///         the output of op `j = t − nIn < op`, whose root is read from op `j`'s leaf, proven against the same
///         result root (the provider's own earlier commitment). The operand rows needed per op:
///         * `matmul_nt`: row `row` of A (input 0) and row `col` of B (input 1) (whole rows: one dot product);
///         * `add`: row `row` of X and row `row` of Y, or row 0 of Y when Y is a row-vector bias;
///         * `relu`, `requant`: row `row` of X;
///         * `argmax`: the output is rank 1 (one row: `row` must be 0); row `col` of X (the whole row).
///
///         Errors. Every function reverts (custom errors of {GcxTpOneStep}) when the evidence is not what it
///         must be: a proof that does not verify, a row proven at another index, a wrong op index or op
///         count, a malformed operand op leaf, an operand row that is not the one the element depends on,
///         a column out of range, a program input without a buyer root. A reverting move is the mover's
///         failure to prove (the game's deadlines then decide), never a verdict.
///
///         Verdict. A provider's own disputed op leaf that verifies under its result root but is malformed
///         (docs/gcx-tp.md, "well-formed") or whose output header does not follow from the operands' headers
///         (wrong dtype, rank or shape), or a disputed row whose proven header differs from the leaf's, makes the
///         provider wrong without an element: no program produces it.
interface IGcxTpOneStep {
    /// @notice A tensor header (docs/gcx-tp.md, "Tensor header"): rank 1 is one row (`rows == 1`).
    struct Header {
        uint32 id;
        uint8 dtype; // 1 = int8, 2 = int32
        uint8 rank;
        uint32 rows;
        uint32 cols;
    }

    /// @notice A decoded 66-byte op-leaf body.
    struct OpLeaf {
        uint32 k;
        uint8 opcode; // 1 matmul_nt, 2 add, 3 relu, 4 requant, 5 argmax
        uint8 arity;
        uint32 in0;
        uint32 in1;
        int32 multiplier;
        uint8 shift;
        int8 zeroPoint;
        Header out;
        bytes32 outRoot;
    }

    /// @notice One operand's evidence, in the op's input order.
    struct Operand {
        /// @dev Empty for a program input (root: `Step.inputRoots[t]`); otherwise the op proof of the op that
        ///      produced the operand, against `Step.resultRoot`.
        bytes opProof;
        /// @dev The row proof of the operand row the element depends on (see the contract's notes).
        bytes rowProof;
    }

    /// @notice Everything a one-step recomputation reads.
    struct Step {
        bytes32 resultRoot; // the provider's result root
        bytes32 programDigest; // the job's program digest (keccak-256 of the canonical program)
        uint32 nOps; // ops in the result tree (the game's bisection range)
        uint32 op; // the disputed op index k
        uint32 row; // the disputed output row
        uint32 col; // the challenger's column in that row
        bytes opProof; // op k's op proof against resultRoot
        bytes32[] inputRoots; // the buyer's input tensor roots by tensor id (only the read ones matter)
        Operand[] operands; // one per op input (arity), in order
    }

    /// @notice Verify a row proof against `tensorRoot` at row `row` (the proof's index must be `row`).
    /// @return header The proven tensor header.
    /// @return rowLeaf The row's leaf hash.
    function verifyRow(bytes32 tensorRoot, uint32 row, bytes calldata rowProof)
        external
        view
        returns (Header memory header, bytes32 rowLeaf);

    /// @notice Element `(row, col)` of the tensor committed by `tensorRoot`, opened by a row proof of `row`.
    function elementAt(bytes32 tensorRoot, uint32 row, uint32 col, bytes calldata rowProof)
        external
        view
        returns (int256 value);

    /// @notice Verify an op proof against `resultRoot` for program `programDigest`; reverts on a malformed
    ///         body as on a bad proof.
    /// @return nOps The op count the result root binds.
    /// @return leaf The decoded op leaf.
    function verifyOp(bytes32 resultRoot, bytes32 programDigest, bytes calldata opProof)
        external
        view
        returns (uint32 nOps, OpLeaf memory leaf);

    /// @notice Recompute output element `(s.row, s.col)` of op `s.op`.
    /// @return leafValid False when the provider's op leaf is itself wrong (malformed, or an output header that
    ///         does not follow from the operands): the provider loses without an element.
    /// @return value The correct element (int32 or int8 value) when `leafValid`.
    /// @return leaf The provider's decoded op leaf (for the caller's bookkeeping: its output root and header).
    function oneStep(Step calldata s) external view returns (bool leafValid, int256 value, OpLeaf memory leaf);

    /// @notice The one-step verdict with the provider's disputed row given as a row proof of row `s.row` against
    ///         op `s.op`'s output root (the whole row in this call's calldata).
    /// @return providerRight True iff the provider's leaf is valid, `outRowProof`'s header is the leaf's output
    ///         header and its element `s.col` equals the recomputed value.
    function decide(Step calldata s, bytes calldata outRowProof) external view returns (bool providerRight);

    /// @notice The provider's reveal of its disputed row, for a later, cheaper {decideClaimed} (so no one call
    ///         carries the provider's row and the operand rows together). Verifies op `op`'s proof under
    ///         `resultRoot` and `rowProof` of row `row` under the leaf's output root, and returns a keccak word
    ///         root over the row bytes (32-byte words, the last one zero-padded; a position-binding tree of fixed
    ///         depth `ceil(log2 words)`; `wordRoot = keccak256(dtype u8 ‖ cols u32 ‖ tree root)`). The game
    ///         stores the one word; the challenger then opens one element with {revealedElement}.
    /// @return leafValid False when the leaf is malformed, is not op `op`, or the row's proven header is not the
    ///         leaf's output header: the provider loses.
    function revealRow(
        bytes32 resultRoot,
        bytes32 programDigest,
        uint32 nOps,
        uint32 op,
        uint32 row,
        bytes calldata opProof,
        bytes calldata rowProof
    ) external view returns (bool leafValid, bytes32 wordRoot);

    /// @notice Element `col` of a row committed by {revealRow}: `word` is 32-byte word `col·width / 32` of the
    ///         row bytes and `siblings` its bottom-up keccak path.
    function revealedElement(
        bytes32 wordRoot,
        uint8 dtype,
        uint32 cols,
        uint32 col,
        bytes32 word,
        bytes32[] calldata siblings
    ) external pure returns (int256 value);

    /// @notice The one-step verdict against a provider's element already opened with {revealedElement}.
    function decideClaimed(Step calldata s, int256 claimed) external view returns (bool providerRight);
}
