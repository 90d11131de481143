// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The test "program": element (op, row, col)'s correct value, and reading an element out of row bytes.
library GameTruth {
    function value(uint256 seed, uint32 op, uint32 row, uint32 col, uint8 dtype)
        internal
        pure
        returns (int256)
    {
        uint256 h = uint256(keccak256(abi.encode(seed, op, row, col)));
        return dtype == 1 ? int256(int8(uint8(h))) : int256(int32(uint32(h)));
    }

    /// @dev Element `col` of little-endian two's-complement row bytes.
    function read(bytes memory row, uint32 col, uint8 dtype) internal pure returns (int256) {
        if (dtype == 1) return int256(int8(uint8(row[col])));
        uint256 o = uint256(col) * 4;
        uint32 u = uint32(uint8(row[o])) | (uint32(uint8(row[o + 1])) << 8)
            | (uint32(uint8(row[o + 2])) << 16) | (uint32(uint8(row[o + 3])) << 24);
        return int256(int32(u));
    }
}

/// @notice One party's view of a job's GCX-TP commitments (docs/gcx-tp.md, "Commitments"), built with the real
///         tags and SHA-256: op bodies, row trees with padding, the op tree and the result root. Element values
///         come from {GameTruth}; a *liar* model changes one element (`wOp`, `wRow`, `wCol`) by +1, and a
///         `badPad` liar puts a junk leaf in the op tree's first padding position.
///
///         Sparse mode (for large shapes): only op `sOp` has a real body and row tree, and in it only row
///         `sRow` has real bytes; every other op leaf or row leaf is a synthetic hash shared by honest and liar
///         models, so a dispute that ends at (`sOp`, `sRow`) plays exactly as with full commitments.
contract GameModel {
    bytes16 internal constant TAG_ROW_LEAF = "gcx.tp1.row.leaf";
    bytes16 internal constant TAG_ROW_NODE = "gcx.tp1.row.node";
    bytes16 internal constant TAG_TENSOR = "gcx.tp1.tensor";
    bytes16 internal constant TAG_OP_LEAF = "gcx.tp1.op.leaf";
    bytes16 internal constant TAG_OP_NODE = "gcx.tp1.op.node";
    bytes16 internal constant TAG_RESULT = "gcx.tp1.result";
    bytes32 internal constant ROW_PAD = 0xc11773a3f8a3e3524f001f496e8ab8e079528ba5dc4ccb117321aa7752850fac;
    bytes32 internal constant OP_PAD = 0xeefdc01264d864d13164da4071c159465cb8f9a1372a377d19a127a3fcb9f6a9;
    uint32 internal constant N_INPUTS = 2;

    struct Config {
        uint256 seed;
        uint32 nOps;
        uint32 rows;
        uint32 cols;
        uint8 dtype;
        bool sparse;
        uint32 sOp;
        uint32 sRow;
        bool liar;
        uint32 wOp;
        uint32 wRow;
        uint32 wCol;
        bool badPad;
    }

    Config internal c;
    bytes32 public constant PROGRAM_DIGEST = keccak256("gcx-tp test program");
    uint8 public opDepth;
    uint8 public rowDepth;
    bytes32 public opTreeRoot;
    bytes32 public resultRoot;
    mapping(uint256 key => bytes32) internal _opNode; // (h << 32) | i
    mapping(uint32 op => mapping(uint256 key => bytes32)) internal _rowNode;
    mapping(uint32 op => bytes) internal _body;
    mapping(uint32 op => bytes32) public treeRootOf;

    constructor(Config memory cfg) {
        c = cfg;
        opDepth = _ceilLog2(cfg.nOps);
        rowDepth = _ceilLog2(cfg.rows);
        uint256 width = uint256(1) << opDepth;
        bytes32[] memory leaves = new bytes32[](width);
        for (uint32 k = 0; k < width; ++k) {
            if (k >= cfg.nOps) leaves[k] = (cfg.badPad && k == cfg.nOps) ? keccak256("junk") : OP_PAD;
            else if (cfg.sparse && k != cfg.sOp) leaves[k] = sha256(abi.encode("synthetic op", k));
            else leaves[k] = _buildOp(k);
        }
        opTreeRoot = _tree(leaves, TAG_OP_NODE, _opNode);
        resultRoot = sha256(abi.encodePacked(TAG_RESULT, PROGRAM_DIGEST, cfg.nOps, opTreeRoot));
    }

    function config() external view returns (Config memory) {
        return c;
    }

    function value(uint32 op, uint32 row, uint32 col) public view returns (int256 v) {
        v = GameTruth.value(c.seed, op, row, col, c.dtype);
        if (c.liar && op == c.wOp && row == c.wRow && col == c.wCol) {
            int256 top = c.dtype == 1 ? int256(type(int8).max) : int256(type(int32).max);
            int256 bottom = c.dtype == 1 ? int256(type(int8).min) : int256(type(int32).min);
            v = v == top ? bottom : v + 1; // a different value of the same dtype
        }
    }

    function rowBytes(uint32 op, uint32 row) public view returns (bytes memory b) {
        uint256 w = c.dtype == 1 ? 1 : 4;
        b = new bytes(uint256(c.cols) * w);
        for (uint32 j = 0; j < c.cols; ++j) {
            uint32 u = uint32(int32(value(op, row, j)));
            if (w == 1) {
                b[j] = bytes1(uint8(u));
            } else {
                uint256 o = uint256(j) * 4;
                b[o] = bytes1(uint8(u));
                b[o + 1] = bytes1(uint8(u >> 8));
                b[o + 2] = bytes1(uint8(u >> 16));
                b[o + 3] = bytes1(uint8(u >> 24));
            }
        }
    }

    function header(uint32 op) public view returns (bytes memory) {
        return abi.encodePacked(N_INPUTS + op, c.dtype, uint8(2), c.rows, c.cols);
    }

    function body(uint32 op) external view returns (bytes memory) {
        return _body[op];
    }

    /// @notice Node at height `h`, position `i` of the op tree.
    function opNode(uint8 h, uint256 i) external view returns (bytes32) {
        return _opNode[(uint256(h) << 32) | i];
    }

    /// @notice Node at height `h`, position `i` of op `op`'s row tree.
    function rowNode(uint32 op, uint8 h, uint256 i) external view returns (bytes32) {
        return _rowNode[op][(uint256(h) << 32) | i];
    }

    function _buildOp(uint32 k) private returns (bytes32) {
        uint256 width = uint256(1) << rowDepth;
        bytes32[] memory leaves = new bytes32[](width);
        bytes memory hdr = header(k);
        for (uint32 i = 0; i < width; ++i) {
            if (i >= c.rows) {
                leaves[i] = ROW_PAD;
            } else if (c.sparse && i != c.sRow) {
                leaves[i] = sha256(abi.encode("synthetic row", k, i));
            } else {
                leaves[i] =
                    sha256(abi.encodePacked(TAG_ROW_LEAF, N_INPUTS + k, i, c.dtype, c.cols, rowBytes(k, i)));
            }
        }
        bytes32 treeRoot = _tree(leaves, TAG_ROW_NODE, _rowNode[k]);
        treeRootOf[k] = treeRoot;
        bytes32 tensorRoot = sha256(abi.encodePacked(TAG_TENSOR, hdr, treeRoot));
        // relu(tensor N_INPUTS + k - 1): opcode 3, one input, no attributes.
        bytes memory b =
            abi.encodePacked(k, uint8(3), uint8(1), N_INPUTS + k - 1, uint32(0), int32(0), uint8(0), int8(0));
        b = abi.encodePacked(b, hdr, tensorRoot);
        require(b.length == 66, "body");
        _body[k] = b;
        return sha256(abi.encodePacked(TAG_OP_LEAF, b));
    }

    function _tree(bytes32[] memory level, bytes16 tag, mapping(uint256 => bytes32) storage out)
        private
        returns (bytes32)
    {
        uint256 h = 0;
        while (true) {
            for (uint256 i = 0; i < level.length; ++i) {
                out[(h << 32) | i] = level[i];
            }
            if (level.length == 1) return level[0];
            bytes32[] memory up = new bytes32[](level.length / 2);
            for (uint256 i = 0; i < up.length; ++i) {
                up[i] = sha256(abi.encodePacked(tag, level[2 * i], level[2 * i + 1]));
            }
            level = up;
            ++h;
        }
    }

    function _ceilLog2(uint256 n) private pure returns (uint8 d) {
        while ((uint256(1) << d) < n) ++d;
    }
}
