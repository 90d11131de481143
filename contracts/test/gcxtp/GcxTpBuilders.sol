// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {IGcxTpOneStep} from "../../src/interfaces/IGcxTpOneStep.sol";
import {GcxTpOneStep} from "../../src/gcxtp/GcxTpOneStep.sol";

/// @notice Test-side GCX-TP commitment builders, written from docs/gcx-tp.md independently of GcxTpMerkle (plain
///         `sha256(abi.encodePacked(...))`, memory only): tensors from their row bytes, row proofs, op bodies,
///         op trees and op proofs. The golden test checks these builders against the golden roots first.
abstract contract GcxTpBuilders is Test {
    bytes16 internal constant ROW_LEAF = "gcx.tp1.row.leaf";
    bytes16 internal constant ROW_NODE = "gcx.tp1.row.node";
    bytes16 internal constant ROW_PAD_TAG = "gcx.tp1.row.pad";
    bytes16 internal constant TENSOR = "gcx.tp1.tensor";
    bytes16 internal constant OP_LEAF = "gcx.tp1.op.leaf";
    bytes16 internal constant OP_NODE = "gcx.tp1.op.node";
    bytes16 internal constant OP_PAD_TAG = "gcx.tp1.op.pad";
    bytes16 internal constant RESULT = "gcx.tp1.result";

    /// @dev A tensor with its commitment. `leaves` are the `rows` row leaves (no padding).
    struct T {
        uint32 id;
        uint8 dtype;
        uint8 rank;
        uint32 rows;
        uint32 cols;
        bytes data;
        bytes32[] leaves;
        bytes32 treeRoot;
        bytes32 root;
    }

    GcxTpOneStep internal osp;

    function _deploy() internal {
        osp = new GcxTpOneStep();
    }

    function _depth(uint256 n) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < n) ++d;
    }

    function _width(uint8 dtype) internal pure returns (uint256) {
        return dtype == 1 ? 1 : 4;
    }

    function _header(T memory t) internal pure returns (bytes memory) {
        return abi.encodePacked(t.id, t.dtype, t.rank, t.rows, t.cols);
    }

    function _slice(bytes memory b, uint256 start, uint256 len) internal pure returns (bytes memory out) {
        out = new bytes(len);
        assembly ("memory-safe") {
            mcopy(add(out, 32), add(add(b, 32), start), len)
        }
    }

    function _row(T memory t, uint256 i) internal pure returns (bytes memory) {
        uint256 len = uint256(t.cols) * _width(t.dtype);
        return _slice(t.data, i * len, len);
    }

    /// @dev Element (r, c) of `t` decoded from its little-endian data.
    function _elem(T memory t, uint256 r, uint256 c) internal pure returns (int256) {
        if (t.dtype == 1) return int256(int8(uint8(t.data[r * t.cols + c])));
        uint256 o = (r * t.cols + c) * 4;
        uint32 u = uint32(uint8(t.data[o])) | (uint32(uint8(t.data[o + 1])) << 8)
            | (uint32(uint8(t.data[o + 2])) << 16) | (uint32(uint8(t.data[o + 3])) << 24);
        return int256(int32(u));
    }

    function _rowLeaf(T memory t, uint256 i) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(ROW_LEAF, t.id, uint32(i), t.dtype, t.cols, _row(t, i)));
    }

    /// @dev Every level of a padded tree over `leaves` (level 0 = the padded leaves).
    function _levels(bytes32[] memory leaves, bytes16 nodeTag, bytes32 pad)
        internal
        pure
        returns (bytes32[][] memory lv)
    {
        uint256 d = _depth(leaves.length);
        lv = new bytes32[][](d + 1);
        lv[0] = new bytes32[](uint256(1) << d);
        for (uint256 i = 0; i < lv[0].length; ++i) {
            lv[0][i] = i < leaves.length ? leaves[i] : pad;
        }
        for (uint256 l = 1; l <= d; ++l) {
            lv[l] = new bytes32[](lv[l - 1].length / 2);
            for (uint256 i = 0; i < lv[l].length; ++i) {
                lv[l][i] = sha256(abi.encodePacked(nodeTag, lv[l - 1][2 * i], lv[l - 1][2 * i + 1]));
            }
        }
    }

    function _path(bytes32[][] memory lv, uint256 index) internal pure returns (bytes memory sib) {
        for (uint256 l = 0; l + 1 < lv.length; ++l) {
            sib = bytes.concat(sib, lv[l][(index >> l) ^ 1]);
        }
    }

    /// @dev Fill `leaves`, `treeRoot` and `root` of `t` from its data.
    function _commit(T memory t) internal pure returns (T memory) {
        t.leaves = new bytes32[](t.rows);
        for (uint256 i = 0; i < t.rows; ++i) {
            t.leaves[i] = _rowLeaf(t, i);
        }
        bytes32[][] memory lv = _levels(t.leaves, ROW_NODE, sha256(abi.encodePacked(ROW_PAD_TAG)));
        t.treeRoot = lv[lv.length - 1][0];
        t.root = sha256(abi.encodePacked(TENSOR, _header(t), t.treeRoot));
        return t;
    }

    /// @dev The canonical row proof of row `i` of `t` (siblings from `t.leaves`).
    function _rowProof(T memory t, uint256 i) internal pure returns (bytes memory) {
        bytes32[][] memory lv = _levels(t.leaves, ROW_NODE, sha256(abi.encodePacked(ROW_PAD_TAG)));
        return bytes.concat(bytes2(0x0101), _header(t), bytes4(uint32(i)), _row(t, i), _path(lv, i));
    }

    /// @dev The 66-byte op body.
    function _body(
        uint32 k,
        uint8 opcode,
        uint8 arity,
        uint32 in0,
        uint32 in1,
        int32 multiplier,
        uint8 shift,
        int8 zp,
        T memory out
    ) internal pure returns (bytes memory) {
        return abi.encodePacked(k, opcode, arity, in0, in1, multiplier, shift, zp, _header(out), out.root);
    }

    /// @dev A result commitment over op bodies: result root and one op proof per op.
    function _result(bytes32 digest, bytes[] memory bodies)
        internal
        pure
        returns (bytes32 root, bytes[] memory proofs)
    {
        bytes32[] memory leaves = new bytes32[](bodies.length);
        for (uint256 i = 0; i < bodies.length; ++i) {
            leaves[i] = sha256(abi.encodePacked(OP_LEAF, bodies[i]));
        }
        bytes32[][] memory lv = _levels(leaves, OP_NODE, sha256(abi.encodePacked(OP_PAD_TAG)));
        uint32 n = uint32(bodies.length);
        root = sha256(abi.encodePacked(RESULT, digest, n, lv[lv.length - 1][0]));
        proofs = new bytes[](bodies.length);
        for (uint256 i = 0; i < bodies.length; ++i) {
            proofs[i] = bytes.concat(bytes2(0x0103), bytes4(n), digest, bodies[i], _path(lv, i));
        }
    }

    function _ints(uint32 id, uint8 dtype, uint8 rank, uint32 rows, uint32 cols, int256[] memory v)
        internal
        pure
        returns (T memory t)
    {
        t.id = id;
        t.dtype = dtype;
        t.rank = rank;
        t.rows = rows;
        t.cols = cols;
        require(v.length == uint256(rows) * cols, "shape");
        for (uint256 i = 0; i < v.length; ++i) {
            if (dtype == 1) {
                t.data = bytes.concat(t.data, bytes1(uint8(int8(v[i]))));
            } else {
                uint32 u = uint32(int32(v[i]));
                t.data = bytes.concat(t.data, bytes4(_bswap32(u)));
            }
        }
        return _commit(t);
    }

    function _bswap32(uint32 u) internal pure returns (uint32) {
        return (u >> 24) | ((u >> 8) & 0xff00) | ((u << 8) & 0xff0000) | (u << 24);
    }

    function _operand(bytes memory opProof, bytes memory rowProof)
        internal
        pure
        returns (IGcxTpOneStep.Operand memory)
    {
        return IGcxTpOneStep.Operand({opProof: opProof, rowProof: rowProof});
    }
}
