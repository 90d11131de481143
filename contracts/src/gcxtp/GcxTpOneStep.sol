// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IGcxTpOneStep} from "../interfaces/IGcxTpOneStep.sol";
import {GcxTpMerkle as M} from "./GcxTpMerkle.sol";

/// @title GcxTpOneStep
/// @notice The one-step prover of the verification game: recomputes one output element of one GCX-TP op from
///         its operands' committed rows, with the exact integer semantics of docs/gcx-tp.md ("Operations"), and
///         decides whether the provider's committed element is right. Stateless: deploy once, call from the
///         game. The interface, operand rules, errors and verdicts are documented on {IGcxTpOneStep}.
contract GcxTpOneStep is IGcxTpOneStep {
    /// @notice The longest matmul_nt reduction (docs/gcx-tp.md).
    uint256 public constant MAX_K = 65_536;

    /// @notice A proof verifies under another root than the one it must verify under.
    error RootMismatch(bytes32 expected, bytes32 proven);
    /// @notice A row proof of another row than the one asked for (position binding).
    error WrongRow(uint32 expected, uint32 proven);
    /// @notice A column outside the row.
    error ColumnOutOfRange(uint32 col, uint32 cols);
    /// @notice The op proof is of another program, op count or op.
    error WrongOp(string why);
    /// @notice An operand's evidence is not that of the operand the op reads.
    error BadOperand(uint256 slot, string why);
    /// @notice A program input has no buyer root to prove it against.
    error NoInputRoot(uint32 tensorId);

    /// @dev One verified operand row.
    struct Opnd {
        Header header;
        uint32 index;
        uint256 rowOffset;
    }

    /// @inheritdoc IGcxTpOneStep
    function verifyRow(bytes32 tensorRoot, uint32 row, bytes calldata rowProof)
        external
        view
        returns (Header memory header, bytes32 rowLeaf)
    {
        M.Row memory r = _row(tensorRoot, row, rowProof);
        return (r.header, r.leaf);
    }

    /// @inheritdoc IGcxTpOneStep
    function elementAt(bytes32 tensorRoot, uint32 row, uint32 col, bytes calldata rowProof)
        external
        view
        returns (int256 value)
    {
        M.Row memory r = _row(tensorRoot, row, rowProof);
        if (col >= r.header.cols) revert ColumnOutOfRange(col, r.header.cols);
        return M.elementAt(r.rowOffset, r.header.dtype, col);
    }

    /// @inheritdoc IGcxTpOneStep
    function verifyOp(bytes32 resultRoot, bytes32 programDigest, bytes calldata opProof)
        external
        view
        returns (uint32 nOps, OpLeaf memory leaf)
    {
        if (opProof.length < M.OP_PROOF_FIXED) revert M.MalformedProof("op proof truncated");
        uint32 k = uint32(bytes4(opProof[38:42]));
        bool wellFormed;
        bytes32 digest;
        bytes32 root;
        (nOps, digest, root, leaf, wellFormed) = M.opProofRoot(opProof, k);
        if (!wellFormed) revert M.MalformedProof("malformed op leaf");
        if (digest != programDigest) revert WrongOp("program digest");
        if (root != resultRoot) revert RootMismatch(resultRoot, root);
    }

    /// @inheritdoc IGcxTpOneStep
    function oneStep(Step calldata s) public view returns (bool leafValid, int256 value, OpLeaf memory leaf) {
        leafValid = true;
        leaf = _providerLeaf(s.resultRoot, s.programDigest, s.nOps, s.op, s.opProof);
        if (!M.isWellFormed(leaf) || leaf.k != s.op || leaf.out.id <= leaf.k) return (false, 0, leaf);
        uint32 nIn = leaf.out.id - leaf.k;
        if (s.operands.length != leaf.arity) revert BadOperand(s.operands.length, "operand count");

        Opnd memory x = _operand(s, nIn, 0, leaf.in0);
        Opnd memory y;
        if (leaf.arity == 2) y = _operand(s, nIn, 1, leaf.in1);
        if (!_shapesFollow(leaf, x.header, y.header)) return (false, 0, leaf);

        Header memory out = leaf.out;
        if (s.row >= out.rows) revert WrongRow(s.row, out.rows);
        if (s.col >= out.cols) revert ColumnOutOfRange(s.col, out.cols);
        uint8 op = leaf.opcode;
        if (op == M.MATMUL_NT) {
            _want(x, s.row);
            _want(y, s.col);
            value = _dot(x.rowOffset, y.rowOffset, x.header.cols);
        } else if (op == M.ADD) {
            _want(x, s.row);
            _want(y, (y.header.rank == 1 && x.header.rank == 2) ? 0 : s.row);
            int256 sum = M.elementAt(x.rowOffset, M.INT32, s.col) + M.elementAt(y.rowOffset, M.INT32, s.col);
            assembly {
                value := signextend(3, sum) // ((x + y + 2^31) mod 2^32) - 2^31
            }
        } else if (op == M.RELU) {
            _want(x, s.row);
            int256 v = M.elementAt(x.rowOffset, M.INT32, s.col);
            value = v > 0 ? v : int256(0);
        } else if (op == M.REQUANT) {
            _want(x, s.row);
            value = _requant(M.elementAt(x.rowOffset, M.INT32, s.col), leaf);
        } else {
            // argmax: output element (0, col) is the argmax of X's row `col`
            _want(x, s.col);
            value = _argmax(x.rowOffset, x.header.cols);
        }
    }

    /// @inheritdoc IGcxTpOneStep
    function decide(Step calldata s, bytes calldata outRowProof) external view returns (bool providerRight) {
        (bool leafValid, int256 value, OpLeaf memory leaf) = oneStep(s);
        if (!leafValid) return false;
        M.Row memory r = _row(leaf.outRoot, s.row, outRowProof);
        if (!_sameHeader(r.header, leaf.out)) return false;
        return M.elementAt(r.rowOffset, r.header.dtype, s.col) == value;
    }

    /// @inheritdoc IGcxTpOneStep
    function revealRow(
        bytes32 resultRoot,
        bytes32 programDigest,
        uint32 nOps,
        uint32 op,
        uint32 row,
        bytes calldata opProof,
        bytes calldata rowProof
    ) external view returns (bool leafValid, bytes32 wordRoot) {
        OpLeaf memory leaf = _providerLeaf(resultRoot, programDigest, nOps, op, opProof);
        if (!M.isWellFormed(leaf) || leaf.k != op || leaf.out.id <= leaf.k) return (false, bytes32(0));
        M.Row memory r = _row(leaf.outRoot, row, rowProof);
        if (!_sameHeader(r.header, leaf.out)) return (false, bytes32(0));
        return (true, M.wordRoot(r.rowOffset, r.rowLength, r.header.dtype, r.header.cols));
    }

    /// @inheritdoc IGcxTpOneStep
    function revealedElement(
        bytes32 wordRoot,
        uint8 dtype,
        uint32 cols,
        uint32 col,
        bytes32 word,
        bytes32[] calldata siblings
    ) external pure returns (int256 value) {
        if (dtype != M.INT8 && dtype != M.INT32) revert M.MalformedProof("unknown dtype");
        if (col >= cols) revert ColumnOutOfRange(col, cols);
        uint256 w = M.width(dtype);
        uint256 byteAt = uint256(col) * w;
        uint256 index = byteAt >> 5;
        uint256 depth = M.depthOf((uint256(cols) * w + 31) >> 5);
        if (siblings.length != depth) revert M.MalformedProof("word proof length");
        bytes32 h = word;
        for (uint256 l = 0; l < depth; ++l) {
            h = (index >> l) & 1 == 1
                ? keccak256(abi.encodePacked(siblings[l], h))
                : keccak256(abi.encodePacked(h, siblings[l]));
        }
        bytes32 root = keccak256(abi.encodePacked(dtype, cols, h));
        if (root != wordRoot) revert RootMismatch(wordRoot, root);
        uint256 off = byteAt & 31;
        assembly {
            switch dtype
            case 1 { value := signextend(0, byte(off, word)) }
            default {
                value := or(
                    or(byte(off, word), shl(8, byte(add(off, 1), word))),
                    or(shl(16, byte(add(off, 2), word)), shl(24, byte(add(off, 3), word)))
                )
                value := signextend(3, value)
            }
        }
    }

    /// @inheritdoc IGcxTpOneStep
    function decideClaimed(Step calldata s, int256 claimed) external view returns (bool providerRight) {
        (bool leafValid, int256 value,) = oneStep(s);
        return leafValid && value == claimed;
    }

    // -- internals ----------------------------------------------------------------------------------------------

    /// @dev A row proof of row `row` that verifies under `root`.
    function _row(bytes32 root, uint32 row, bytes calldata proof) internal view returns (M.Row memory r) {
        r = M.rowProofRoot(proof);
        if (r.root != root) revert RootMismatch(root, r.root);
        if (r.index != row) revert WrongRow(row, r.index);
    }

    /// @dev The provider's op `op` leaf proven under its result root at position `op` (decoded even if malformed).
    function _providerLeaf(
        bytes32 resultRoot,
        bytes32 programDigest,
        uint32 nOps,
        uint32 op,
        bytes calldata proof
    ) internal view returns (OpLeaf memory leaf) {
        (uint32 n, bytes32 digest, bytes32 root, OpLeaf memory l,) = M.opProofRoot(proof, op);
        if (n != nOps) revert WrongOp("op count");
        if (digest != programDigest) revert WrongOp("program digest");
        if (root != resultRoot) revert RootMismatch(resultRoot, root);
        return l;
    }

    /// @dev Operand `slot` (tensor `t`): its root (the buyer's, or op `t − nIn`'s proven output root) and its
    ///      verified row (any row here; which row it must be is checked by {_want} once the shapes are known).
    function _operand(Step calldata s, uint32 nIn, uint256 slot, uint32 t)
        internal
        view
        returns (Opnd memory o)
    {
        Operand calldata e = s.operands[slot];
        bytes32 root;
        Header memory header;
        if (t < nIn) {
            if (e.opProof.length != 0) revert BadOperand(slot, "a program input has no op proof");
            if (t >= s.inputRoots.length || s.inputRoots[t] == bytes32(0)) revert NoInputRoot(t);
            root = s.inputRoots[t];
        } else {
            uint32 j = t - nIn; // < s.op, since t < out id = nIn + op
            (uint32 n, bytes32 digest, bytes32 r, OpLeaf memory l, bool wf) = M.opProofRoot(e.opProof, j);
            if (!wf) revert BadOperand(slot, "malformed operand op leaf");
            if (n != s.nOps || digest != s.programDigest || r != s.resultRoot) {
                revert BadOperand(slot, "op proof");
            }
            if (l.out.id != t) revert BadOperand(slot, "operand op leaf is not of this tensor");
            root = l.outRoot;
            header = l.out;
        }
        M.Row memory row = M.rowProofRoot(e.rowProof);
        if (row.root != root) revert RootMismatch(root, row.root);
        if (row.header.id != t) revert BadOperand(slot, "row proof of another tensor");
        // an earlier op's leaf and the root it names must agree on the header (both sides accepted that leaf)
        if (t >= nIn && !_sameHeader(row.header, header)) {
            revert BadOperand(slot, "header is not the op leaf's");
        }
        o = Opnd({header: row.header, index: row.index, rowOffset: row.rowOffset});
    }

    /// @dev The operand row must be the one the element depends on (position binding).
    function _want(Opnd memory o, uint32 row) internal pure {
        if (o.index != row) revert WrongRow(row, o.index);
    }

    function _sameShape(Header memory a, Header memory b) internal pure returns (bool) {
        return a.rank == b.rank && a.rows == b.rows && a.cols == b.cols;
    }

    function _sameHeader(Header memory a, Header memory b) internal pure returns (bool) {
        return a.id == b.id && a.dtype == b.dtype && _sameShape(a, b);
    }

    /// @dev Whether the op's output header is the type GCX-TP infers from the operands' (docs/gcx-tp.md,
    ///      "Operations"); false also when the operands do not fit the op (no program has such an op).
    function _shapesFollow(OpLeaf memory l, Header memory x, Header memory y) internal pure returns (bool) {
        Header memory o = l.out;
        uint8 op = l.opcode;
        if (op == M.MATMUL_NT) {
            return x.dtype == M.INT8 && y.dtype == M.INT8 && x.rank == 2 && y.rank == 2 && x.cols == y.cols
                && x.cols <= MAX_K && o.dtype == M.INT32 && o.rank == 2 && o.rows == x.rows
                && o.cols == y.rows;
        }
        if (op == M.ADD) {
            bool fits = _sameShape(x, y) || (x.rank == 2 && y.rank == 1 && y.cols == x.cols);
            return x.dtype == M.INT32 && y.dtype == M.INT32 && fits && o.dtype == M.INT32 && _sameShape(o, x);
        }
        if (op == M.RELU) return x.dtype == M.INT32 && o.dtype == M.INT32 && _sameShape(o, x);
        if (op == M.REQUANT) return x.dtype == M.INT32 && o.dtype == M.INT8 && _sameShape(o, x);
        return x.dtype == M.INT32 && x.rank == 2 && o.dtype == M.INT32 && o.rank == 1 && o.cols == x.rows;
    }

    /// @dev Σ a[l]·b[l] over two int8 rows of `k` bytes at calldata offsets `a`, `b` (exact: |Σ| ≤ 2^30).
    function _dot(uint256 a, uint256 b, uint256 k) internal pure returns (int256 acc) {
        assembly {
            let end := add(a, and(k, not(31)))
            for {} lt(a, end) {
                a := add(a, 32)
                b := add(b, 32)
            } {
                let wa := calldataload(a)
                let wb := calldataload(b)
                for { let i := 0 } lt(i, 32) { i := add(i, 4) } {
                    acc := add(
                        acc,
                        add(
                            add(
                                mul(signextend(0, byte(i, wa)), signextend(0, byte(i, wb))),
                                mul(signextend(0, byte(add(i, 1), wa)), signextend(0, byte(add(i, 1), wb)))
                            ),
                            add(
                                mul(signextend(0, byte(add(i, 2), wa)), signextend(0, byte(add(i, 2), wb))),
                                mul(signextend(0, byte(add(i, 3), wa)), signextend(0, byte(add(i, 3), wb)))
                            )
                        )
                    )
                }
            }
            let rem := and(k, 31)
            if rem {
                let wa := calldataload(a)
                let wb := calldataload(b)
                for { let i := 0 } lt(i, rem) { i := add(i, 1) } {
                    acc := add(acc, mul(signextend(0, byte(i, wa)), signextend(0, byte(i, wb))))
                }
            }
        }
    }

    /// @dev requant: `p = x·m` (exact), `+ 2^(shift−1)` when shift > 0, arithmetic `>> shift` (floor), `+ zp`,
    ///      clamped to int8.
    function _requant(int256 x, OpLeaf memory l) internal pure returns (int256 y) {
        int256 p = x * int256(l.multiplier);
        uint256 shift = l.shift;
        if (shift > 0) p += int256(1) << (shift - 1);
        int256 q = p >> shift; // arithmetic shift: floor division by 2^shift
        y = q + int256(l.zeroPoint);
        if (y < -128) y = -128;
        if (y > 127) y = 127;
    }

    /// @dev The lowest index of the maximum of an int32 row of `n` elements at calldata offset `row`.
    function _argmax(uint256 row, uint256 n) internal pure returns (int256 best) {
        assembly {
            let w := calldataload(row)
            let m :=
                signextend(
                    3,
                    or(or(byte(0, w), shl(8, byte(1, w))), or(shl(16, byte(2, w)), shl(24, byte(3, w))))
                )
            for { let j := 1 } lt(j, n) { j := add(j, 1) } {
                w := calldataload(add(row, shl(2, j)))
                let v :=
                    signextend(
                        3,
                        or(or(byte(0, w), shl(8, byte(1, w))), or(shl(16, byte(2, w)), shl(24, byte(3, w))))
                    )
                if sgt(v, m) {
                    m := v
                    best := j
                }
            }
        }
    }
}
