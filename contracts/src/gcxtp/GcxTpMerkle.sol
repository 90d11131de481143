// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IGcxTpOneStep} from "../interfaces/IGcxTpOneStep.sol";

/// @title GcxTpMerkle
/// @notice GCX-TP commitments on chain (docs/gcx-tp.md, "Commitments"; reference `gcx.tp.commit`): SHA-256
///         (precompile 0x02) row trees, tensor roots, op leaves and result roots, with the same 16-byte domain
///         tags, layouts and position binding as the Python reference. Proofs are the canonical encodings,
///         decoded by calldata slices; anything that is not exactly such an encoding reverts with
///         {MalformedProof}.
library GcxTpMerkle {
    bytes16 internal constant TAG_ROW_LEAF = "gcx.tp1.row.leaf";
    bytes16 internal constant TAG_ROW_NODE = "gcx.tp1.row.node";
    bytes16 internal constant TAG_ROW_PAD = "gcx.tp1.row.pad";
    bytes16 internal constant TAG_TENSOR = "gcx.tp1.tensor";
    bytes16 internal constant TAG_OP_LEAF = "gcx.tp1.op.leaf";
    bytes16 internal constant TAG_OP_NODE = "gcx.tp1.op.node";
    bytes16 internal constant TAG_OP_PAD = "gcx.tp1.op.pad";
    bytes16 internal constant TAG_RESULT = "gcx.tp1.result";

    uint8 internal constant INT8 = 1;
    uint8 internal constant INT32 = 2;
    uint8 internal constant PROOF_VERSION = 1;
    uint8 internal constant KIND_ROW = 1;
    uint8 internal constant KIND_OP = 3;

    uint8 internal constant MATMUL_NT = 1;
    uint8 internal constant ADD = 2;
    uint8 internal constant RELU = 3;
    uint8 internal constant REQUANT = 4;
    uint8 internal constant ARGMAX = 5;

    uint256 internal constant OP_BODY_SIZE = 66;
    uint256 internal constant OP_PROOF_FIXED = 104; // 01 03 ‖ n_ops ‖ digest ‖ body
    uint256 internal constant ROW_PROOF_FIXED = 20; // 01 01 ‖ header ‖ index

    /// @notice Bytes that are not a canonical GCX-TP proof encoding (version, kind, header, index, length).
    error MalformedProof(string why);

    /// @notice A decoded, structurally valid row proof: header, row index, and where its row bytes are.
    struct Row {
        IGcxTpOneStep.Header header;
        uint32 index;
        uint256 rowOffset; // calldata offset of the row bytes
        uint256 rowLength; // cols · width
        bytes32 leaf; // the row leaf
        bytes32 root; // the tensor root the proof climbs to
    }

    // -- hashing -----------------------------------------------------------------------------------------------

    /// @dev SHA-256 of `tag ‖ left ‖ right` (an 80-byte node preimage), in scratch memory above the free pointer.
    function node(bytes16 tag, bytes32 left, bytes32 right) internal view returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, tag)
            mstore(add(p, 16), left)
            mstore(add(p, 48), right)
            if iszero(staticcall(gas(), 0x02, p, 80, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }

    /// @notice `ceil(log2(count))` for `count >= 1`: the depth of a tree of `count` leaves.
    function depthOf(uint256 count) internal pure returns (uint256 d) {
        uint256 x = count - 1;
        while (x != 0) {
            x >>= 1;
            ++d;
        }
    }

    /// @dev Climb from `leaf` at `index` with the `depth` bottom-up siblings at calldata `siblings`.
    function climb(bytes16 tag, bytes32 leaf, uint256 index, uint256 siblings, uint256 depth)
        internal
        view
        returns (bytes32 h)
    {
        h = leaf;
        for (uint256 l = 0; l < depth; ++l) {
            bytes32 sib;
            assembly ("memory-safe") {
                sib := calldataload(add(siblings, shl(5, l)))
            }
            h = (index >> l) & 1 == 1 ? node(tag, sib, h) : node(tag, h, sib);
        }
    }

    /// @notice `ROW_PAD = H(row.pad)`, the padding leaf of row trees (docs/gcx-tp.md, "Padding leaves").
    bytes32 internal constant ROW_PAD = 0xc11773a3f8a3e3524f001f496e8ab8e079528ba5dc4ccb117321aa7752850fac;
    /// @notice `OP_PAD = H(op.pad)`, the padding leaf of op trees.
    bytes32 internal constant OP_PAD = 0xeefdc01264d864d13164da4071c159465cb8f9a1372a377d19a127a3fcb9f6a9;

    /// @notice The root `Z_h` of an all-padding subtree of height `h` (`Z_0 = pad`,
    ///         `Z_{h+1} = H(nodeTag ‖ Z_h ‖ Z_h)`), for a bisection that reaches padding positions.
    function padRoot(bytes16 nodeTag, bytes32 pad, uint256 h) internal view returns (bytes32 z) {
        z = pad;
        for (uint256 i = 0; i < h; ++i) {
            z = node(nodeTag, z, z);
        }
    }

    /// @notice The op leaf of a 66-byte body: `H(op.leaf ‖ body)`.
    function opLeafOf(bytes calldata body) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(TAG_OP_LEAF, body));
    }

    /// @notice The result root: `H(result ‖ program digest ‖ n_ops u32 ‖ op tree root)`.
    function resultRootOf(bytes32 digest, uint32 nOps, bytes32 treeRoot) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(TAG_RESULT, digest, nOps, treeRoot));
    }

    /// @notice The tensor root of a header and a row-tree root: `H(tensor ‖ header (14) ‖ tree root)`.
    function tensorRoot(IGcxTpOneStep.Header memory h, bytes32 treeRoot) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(TAG_TENSOR, h.id, h.dtype, h.rank, h.rows, h.cols, treeRoot));
    }

    function width(uint8 dtype) internal pure returns (uint256) {
        return dtype == INT8 ? 1 : 4;
    }

    // -- row proofs --------------------------------------------------------------------------------------------

    /// @notice Decode row proof `p` and climb it to the tensor root it proves (compare it with the committed
    ///         root). Reverts with {MalformedProof} unless `p` is exactly a canonical row-proof encoding.
    function rowProofRoot(bytes calldata p) internal view returns (Row memory r) {
        if (p.length < ROW_PROOF_FIXED) revert MalformedProof("row proof truncated");
        if (uint8(p[0]) != PROOF_VERSION || uint8(p[1]) != KIND_ROW) {
            revert MalformedProof("not a row proof");
        }
        IGcxTpOneStep.Header memory h = IGcxTpOneStep.Header({
            id: uint32(bytes4(p[2:6])),
            dtype: uint8(p[6]),
            rank: uint8(p[7]),
            rows: uint32(bytes4(p[8:12])),
            cols: uint32(bytes4(p[12:16]))
        });
        uint32 index = uint32(bytes4(p[16:20]));
        if (h.dtype != INT8 && h.dtype != INT32) revert MalformedProof("unknown dtype");
        if (h.rank != 1 && h.rank != 2) revert MalformedProof("rank is not 1 or 2");
        if (h.rows == 0 || h.cols == 0 || (h.rank == 1 && h.rows != 1)) revert MalformedProof("bad shape");
        uint256 rowLength = uint256(h.cols) * width(h.dtype);
        if (rowLength > type(uint32).max) revert MalformedProof("row too long");
        if (index >= h.rows) revert MalformedProof("row index out of range");
        uint256 depth = depthOf(h.rows);
        if (p.length != ROW_PROOF_FIXED + rowLength + 32 * depth) revert MalformedProof("row proof length");
        bytes32 leaf = sha256(
            abi.encodePacked(
                TAG_ROW_LEAF, h.id, index, h.dtype, h.cols, p[ROW_PROOF_FIXED:ROW_PROOF_FIXED + rowLength]
            )
        );
        uint256 rowOffset;
        assembly {
            rowOffset := add(p.offset, 20)
        }
        bytes32 tree = climb(TAG_ROW_NODE, leaf, index, rowOffset + rowLength, depth);
        r = Row({
            header: h,
            index: index,
            rowOffset: rowOffset,
            rowLength: rowLength,
            leaf: leaf,
            root: tensorRoot(h, tree)
        });
    }

    /// @notice Element `col` (`< cols`) of a row of `dtype` at calldata offset `rowOffset`, as a signed value.
    function elementAt(uint256 rowOffset, uint8 dtype, uint256 col) internal pure returns (int256 v) {
        assembly ("memory-safe") {
            switch dtype
            case 1 { v := signextend(0, byte(0, calldataload(add(rowOffset, col)))) }
            default {
                let w := calldataload(add(rowOffset, shl(2, col)))
                // little-endian i32 in the top 4 bytes of w
                v := or(or(byte(0, w), shl(8, byte(1, w))), or(shl(16, byte(2, w)), shl(24, byte(3, w))))
                v := signextend(3, v)
            }
        }
    }

    // -- op proofs ---------------------------------------------------------------------------------------------

    /// @notice Decode op proof `p`, climb it from position `position` and return what it proves. The body is
    ///         decoded even when malformed (`wellFormed` false), so a caller can hold a provider to a malformed
    ///         leaf it committed; a proof whose encoding is wrong reverts with {MalformedProof}.
    /// @return nOps The op count of the proof.
    /// @return digest The program digest of the proof.
    /// @return root The result root the proof climbs to.
    /// @return leaf The decoded body.
    /// @return wellFormed Whether the body is a well-formed op leaf at `position` (docs/gcx-tp.md).
    function opProofRoot(bytes calldata p, uint256 position)
        internal
        view
        returns (uint32 nOps, bytes32 digest, bytes32 root, IGcxTpOneStep.OpLeaf memory leaf, bool wellFormed)
    {
        if (p.length < OP_PROOF_FIXED) revert MalformedProof("op proof truncated");
        if (uint8(p[0]) != PROOF_VERSION || uint8(p[1]) != KIND_OP) revert MalformedProof("not an op proof");
        nOps = uint32(bytes4(p[2:6]));
        if (nOps == 0) revert MalformedProof("no ops");
        if (position >= nOps) revert MalformedProof("op index out of range");
        uint256 depth = depthOf(nOps);
        if (p.length != OP_PROOF_FIXED + 32 * depth) revert MalformedProof("op proof length");
        digest = bytes32(p[6:38]);
        bytes calldata body = p[38:104];
        leaf = decodeBody(body);
        wellFormed = isWellFormed(leaf) && leaf.k == position;
        bytes32 opLeaf = opLeafOf(body);
        uint256 siblings;
        assembly {
            siblings := add(p.offset, 104)
        }
        bytes32 tree = climb(TAG_OP_NODE, opLeaf, position, siblings, depth);
        root = resultRootOf(digest, nOps, tree);
    }

    /// @notice Decode a 66-byte op-leaf body by its fixed offsets (no validity check: see {isWellFormed}).
    function decodeBody(bytes calldata b) internal pure returns (IGcxTpOneStep.OpLeaf memory leaf) {
        leaf.k = uint32(bytes4(b[0:4]));
        leaf.opcode = uint8(b[4]);
        leaf.arity = uint8(b[5]);
        leaf.in0 = uint32(bytes4(b[6:10]));
        leaf.in1 = uint32(bytes4(b[10:14]));
        leaf.multiplier = int32(uint32(bytes4(b[14:18])));
        leaf.shift = uint8(b[18]);
        leaf.zeroPoint = int8(uint8(b[19]));
        leaf.out = IGcxTpOneStep.Header({
            id: uint32(bytes4(b[20:24])),
            dtype: uint8(b[24]),
            rank: uint8(b[25]),
            rows: uint32(bytes4(b[26:30])),
            cols: uint32(bytes4(b[30:34]))
        });
        leaf.outRoot = bytes32(b[34:66]);
    }

    /// @notice docs/gcx-tp.md's well-formedness of an op body: opcode 1..5, the arity, the unused slot 0,
    ///         inputs before the output, attributes only on requant (shift ≤ 62), the output's dtype (int8 for
    ///         requant, else int32) and rank (2 for matmul_nt, 1 for argmax), and a valid output header.
    function isWellFormed(IGcxTpOneStep.OpLeaf memory l) internal pure returns (bool) {
        uint8 op = l.opcode;
        if (op < MATMUL_NT || op > ARGMAX) return false;
        uint8 arity = (op == MATMUL_NT || op == ADD) ? 2 : 1;
        if (l.arity != arity) return false;
        if (arity == 1 && l.in1 != 0) return false;
        if (l.in0 >= l.out.id || l.in1 >= l.out.id) return false;
        if (op == REQUANT) {
            if (l.shift > 62) return false;
        } else if (l.multiplier != 0 || l.shift != 0 || l.zeroPoint != 0) {
            return false;
        }
        IGcxTpOneStep.Header memory h = l.out;
        if (h.dtype != (op == REQUANT ? INT8 : INT32)) return false;
        if (h.rank != 1 && h.rank != 2) return false;
        if (op == MATMUL_NT && h.rank != 2) return false;
        if (op == ARGMAX && h.rank != 1) return false;
        if (h.rows == 0 || h.cols == 0 || (h.rank == 1 && h.rows != 1)) return false;
        if (uint256(h.cols) * width(h.dtype) > type(uint32).max) return false;
        return true;
    }

    // -- word trees over a revealed row (keccak; on chain only, not part of GCX-TP's commitments) -------------

    /// @notice The keccak word root of row bytes at calldata `[offset, offset + length)`:
    ///         `keccak256(dtype u8 ‖ cols u32 ‖ tree root)` over the 32-byte words (last zero-padded), padded
    ///         with zero words to `2^ceil(log2 words)` leaves; node = `keccak256(left ‖ right)`.
    function wordRoot(uint256 offset, uint256 length, uint8 dtype, uint32 cols)
        internal
        pure
        returns (bytes32 r)
    {
        uint256 words = (length + 31) >> 5;
        uint256 depth = depthOf(words);
        uint256 n = 1 << depth;
        bytes32[] memory buf = new bytes32[](n);
        bytes32 top;
        assembly ("memory-safe") {
            let base := add(buf, 32)
            calldatacopy(base, offset, length) // exactly `length` bytes: the last word's tail and the pads stay 0
            for { let w := n } gt(w, 1) { w := shr(1, w) } {
                for { let i := 0 } lt(i, shr(1, w)) { i := add(i, 1) } {
                    mstore(0x00, mload(add(base, shl(6, i))))
                    mstore(0x20, mload(add(base, add(shl(6, i), 32))))
                    mstore(add(base, shl(5, i)), keccak256(0x00, 0x40))
                }
            }
            top := mload(base)
        }
        r = keccak256(abi.encodePacked(dtype, cols, top));
    }
}
