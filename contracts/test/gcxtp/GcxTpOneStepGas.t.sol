// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {console} from "forge-std/console.sol";
import {IGcxTpOneStep} from "../../src/interfaces/IGcxTpOneStep.sol";
import {GcxTpBuilders} from "./GcxTpBuilders.sol";

/// @notice Gas of one step on 4,096-element rows, the worst case of docs/verification.md: a 256-op program
///         (op tree depth 8), the disputed op 200, output tensors of 4,096 rows (row tree depth 12), rows of
///         pseudo-random bytes (almost no zero byte: the calldata is priced at its worst), operands read from
///         an earlier op's output (an op proof each) or from a buyer input. Per call: calldata bytes and the
///         execution gas of the prover, and the transaction's gas under EIP-7623
///         (`21000 + max(4·tokens + exec, 10·tokens)`, tokens = zero bytes + 4 × nonzero bytes), as if the
///         transaction called the prover directly (the game adds its own bookkeeping).
contract GcxTpOneStepGasTest is GcxTpBuilders {
    bytes32 internal constant DIGEST = keccak256("gcx-tp gas program");
    uint32 internal constant N_OPS = 256;
    uint32 internal constant OP = 200;
    uint32 internal constant N_IN = 4;
    uint32 internal constant ROWS = 4096;
    uint32 internal constant COLS = 4096;
    uint32 internal constant ROW = 1234;
    uint32 internal constant COL = 4000;
    uint256 internal constant TARGET = 1_500_000;

    function setUp() public {
        _deploy();
    }

    function _rand(uint256 n, uint256 seed) internal pure returns (bytes memory b) {
        b = new bytes(n);
        assembly ("memory-safe") {
            mstore(0x00, seed)
            for { let i := 0 } lt(i, n) { i := add(i, 32) } {
                mstore(0x20, i)
                mstore(add(add(b, 32), i), keccak256(0x00, 0x40))
            }
            mstore(add(add(b, 32), n), 0) // clear what the last word wrote past the end
        }
    }

    /// @dev One committed row of a tensor whose other rows are unknown: random siblings, the root climbed.
    function _fake(T memory t, uint32 r, bytes memory row, uint256 seed)
        internal
        pure
        returns (bytes memory proof)
    {
        bytes32 h = sha256(abi.encodePacked(ROW_LEAF, t.id, r, t.dtype, t.cols, row));
        bytes memory sib;
        uint256 d = _depth(t.rows);
        for (uint256 l = 0; l < d; ++l) {
            bytes32 s = keccak256(abi.encode(seed, l));
            sib = bytes.concat(sib, s);
            h = (r >> l) & 1 == 1
                ? sha256(abi.encodePacked(ROW_NODE, s, h))
                : sha256(abi.encodePacked(ROW_NODE, h, s));
        }
        t.root = sha256(abi.encodePacked(TENSOR, _header(t), h));
        proof = bytes.concat(bytes2(0x0101), _header(t), bytes4(r), row, sib);
    }

    function _t(uint32 id, uint8 dtype, uint8 rank, uint32 rows, uint32 cols)
        internal
        pure
        returns (T memory t)
    {
        t.id = id;
        t.dtype = dtype;
        t.rank = rank;
        t.rows = rows;
        t.cols = cols;
    }

    /// @dev A 256-op result whose ops 150, 151 and 200 are `bodies` (others random leaves).
    function _tree(bytes memory b150, bytes memory b151, bytes memory b200)
        internal
        pure
        returns (bytes32 root, bytes memory p150, bytes memory p151, bytes memory p200)
    {
        bytes32[] memory leaves = new bytes32[](N_OPS);
        for (uint256 i = 0; i < N_OPS; ++i) {
            leaves[i] = keccak256(abi.encode("op", i));
        }
        leaves[150] = sha256(abi.encodePacked(OP_LEAF, b150));
        leaves[151] = sha256(abi.encodePacked(OP_LEAF, b151));
        leaves[OP] = sha256(abi.encodePacked(OP_LEAF, b200));
        bytes32[][] memory lv = _levels(leaves, OP_NODE, sha256(abi.encodePacked(OP_PAD_TAG)));
        root = sha256(abi.encodePacked(RESULT, DIGEST, N_OPS, lv[lv.length - 1][0]));
        p150 = bytes.concat(bytes2(0x0103), bytes4(N_OPS), DIGEST, b150, _path(lv, 150));
        p151 = bytes.concat(bytes2(0x0103), bytes4(N_OPS), DIGEST, b151, _path(lv, 151));
        p200 = bytes.concat(bytes2(0x0103), bytes4(N_OPS), DIGEST, b200, _path(lv, OP));
    }

    struct Case {
        string name;
        uint8 opcode;
        int32 multiplier;
        uint8 shift;
        int8 zp;
        T x; // operand 0: op 150's output
        T y; // operand 1: op 151's output or buyer input 1 (y.id == 1), unused when unary
        bool unary;
        T out; // op 200's output
        uint32 xRow;
        uint32 yRow;
        uint32 outRow;
        uint32 outCol;
    }

    function _b150(Case memory c) internal pure returns (bytes memory) {
        bool i8 = c.x.dtype == 1; // an int8 operand comes from a requant, an int32 one from a relu
        return _body(150, i8 ? 4 : 3, 1, 3, 0, i8 ? int32(1) : int32(0), 0, 0, c.x);
    }

    function _b151(Case memory c) internal pure returns (bytes memory) {
        return _body(151, 3, 1, 3, 0, 0, 0, 0, c.y.id == 1 ? _t(N_IN + 151, 2, 2, ROWS, COLS) : c.y);
    }

    function _b200(Case memory c) internal pure returns (bytes memory) {
        uint32 in1 = c.unary ? 0 : c.y.id;
        return _body(OP, c.opcode, c.unary ? 1 : 2, c.x.id, in1, c.multiplier, c.shift, c.zp, c.out);
    }

    function _build(Case memory c, bytes memory outRow)
        internal
        pure
        returns (IGcxTpOneStep.Step memory s, bytes memory outProof)
    {
        bytes memory xProof = _fake(c.x, c.xRow, _rand(uint256(c.x.cols) * _width(c.x.dtype), 1), 11);
        bytes memory yProof;
        if (!c.unary) yProof = _fake(c.y, c.yRow, _rand(uint256(c.y.cols) * _width(c.y.dtype), 2), 12);
        outProof = _fake(c.out, c.outRow, outRow, 13);
        (bytes32 root, bytes memory p150, bytes memory p151, bytes memory p200) =
            _tree(_b150(c), _b151(c), _b200(c));
        s.resultRoot = root;
        s.programDigest = DIGEST;
        s.nOps = N_OPS;
        s.op = OP;
        s.row = c.outRow;
        s.col = c.outCol;
        s.opProof = p200;
        s.inputRoots = new bytes32[](N_IN);
        s.inputRoots[1] = c.y.root;
        s.operands = new IGcxTpOneStep.Operand[](c.unary ? 1 : 2);
        s.operands[0] = _operand(p150, xProof);
        if (!c.unary) s.operands[1] = _operand(c.y.id == 1 ? bytes("") : p151, yProof);
    }

    function _tokens(bytes memory cd) internal pure returns (uint256 tokens) {
        for (uint256 i = 0; i < cd.length; ++i) {
            tokens += cd[i] == 0 ? 1 : 4;
        }
    }

    /// @dev Calls the prover with `cd`; returns the transaction gas under EIP-7623 and logs the figures.
    /// @dev `extra`: calldata the same transaction also carries (priced, not executed here).
    function _tx(string memory name, bytes memory cd, bytes memory extra)
        internal
        returns (uint256 total, bytes memory ret)
    {
        uint256 tokens = _tokens(cd) + _tokens(extra);
        uint256 g = gasleft();
        bool ok;
        (ok, ret) = address(osp).staticcall(cd);
        uint256 exec = g - gasleft();
        assertTrue(ok, name);
        uint256 standard = 21_000 + 4 * tokens + exec;
        uint256 floor = 21_000 + 10 * tokens;
        total = standard > floor ? standard : floor;
        console.log(name);
        console.log("  calldata bytes", cd.length + extra.length, " exec gas", exec);
        console.log("  tx gas (EIP-7623)", total, standard > floor ? " standard" : " floor binds");
    }

    function _run(Case memory c) internal returns (uint256 full, uint256 reveal, uint256 step) {
        uint256 ow = uint256(c.out.cols) * _width(c.out.dtype);
        bytes memory outRow = _rand(ow, 3);
        (IGcxTpOneStep.Step memory s,) = _build(c, outRow);
        (bool ok, int256 v,) = osp.oneStep(s);
        assertTrue(ok);
        // the honest provider's row: element (row, col) is the recomputed value
        if (c.out.dtype == 1) {
            outRow[c.outCol] = bytes1(uint8(int8(v)));
        } else {
            bytes4 le = bytes4(_bswap32(uint32(int32(v))));
            for (uint256 i = 0; i < 4; ++i) {
                outRow[c.outCol * 4 + i] = le[i];
            }
        }
        bytes memory outProof;
        (s, outProof) = _build(c, outRow);

        full = _full(c, s, outProof);
        (reveal, step) = _revealPath(c, s, outProof, outRow, v);
    }

    function _full(Case memory c, IGcxTpOneStep.Step memory s, bytes memory outProof)
        internal
        returns (uint256 full)
    {
        bytes memory ret;
        (full, ret) = _tx(
            string.concat(c.name, ": decide (row and operands in one call)"),
            abi.encodeCall(osp.decide, (s, outProof)),
            ""
        );
        assertTrue(abi.decode(ret, (bool)), "honest provider");
    }

    function _revealPath(
        Case memory c,
        IGcxTpOneStep.Step memory s,
        bytes memory outProof,
        bytes memory outRow,
        int256 v
    ) internal returns (uint256 reveal, uint256 step) {
        bytes memory ret;
        (reveal, ret) = _tx(
            string.concat(c.name, ": revealRow (the provider's move)"),
            abi.encodeCall(osp.revealRow, (s.resultRoot, DIGEST, N_OPS, OP, s.row, s.opProof, outProof)),
            ""
        );
        (bool valid, bytes32 wordRoot) = abi.decode(ret, (bool, bytes32));
        assertTrue(valid);
        step = _challengerMove(c.name, s, _open(c, wordRoot, outRow), v);
    }

    function _challengerMove(string memory name, IGcxTpOneStep.Step memory s, bytes memory open, int256 v)
        internal
        returns (uint256 step)
    {
        (bool okOpen, bytes memory ret) = address(osp).staticcall(open);
        assertTrue(okOpen);
        int256 claimed = abi.decode(ret, (int256));
        assertEq(claimed, v);
        // the challenger's move: one call carrying the element's word proof and the step
        uint256 g = gasleft();
        address(osp).staticcall(open);
        uint256 openGas = g - gasleft();
        (step, ret) = _tx(
            string.concat(name, ": revealedElement + decideClaimed (the challenger's move)"),
            abi.encodeCall(osp.decideClaimed, (s, claimed)),
            open
        );
        step += openGas;
        assertTrue(abi.decode(ret, (bool)));
        console.log("  + revealedElement exec", openGas, " move total", step);
    }

    function _open(Case memory c, bytes32 wordRoot, bytes memory outRow)
        internal
        view
        returns (bytes memory)
    {
        (bytes32 word, bytes32[] memory sib) =
            _wordProofOf(outRow, uint256(c.outCol) * _width(c.out.dtype) / 32);
        return abi.encodeCall(osp.revealedElement, (wordRoot, c.out.dtype, c.out.cols, c.outCol, word, sib));
    }

    function _wordProofOf(bytes memory row, uint256 index)
        internal
        pure
        returns (bytes32 word, bytes32[] memory sib)
    {
        uint256 n = (row.length + 31) / 32;
        bytes32[] memory lv = new bytes32[](uint256(1) << _depth(n));
        assembly ("memory-safe") {
            mcopy(add(lv, 32), add(row, 32), mload(row))
        }
        word = lv[index];
        uint256 d = _depth(lv.length);
        sib = new bytes32[](d);
        for (uint256 l = 0; l < d; ++l) {
            sib[l] = lv[index ^ 1];
            for (uint256 i = 0; i < lv.length >> (l + 1); ++i) {
                lv[i] = keccak256(abi.encodePacked(lv[2 * i], lv[2 * i + 1]));
            }
            index >>= 1;
        }
    }

    function _base(string memory name, uint8 opcode) internal pure returns (Case memory c) {
        c.name = name;
        c.opcode = opcode;
        c.x = _t(N_IN + 150, 2, 2, ROWS, COLS);
        c.y = _t(N_IN + 151, 2, 2, ROWS, COLS);
        c.out = _t(N_IN + OP, 2, 2, ROWS, COLS);
        c.xRow = ROW;
        c.yRow = ROW;
        c.outRow = ROW;
        c.outCol = COL;
    }

    function test_gas_matmul_nt_k4096() public {
        Case memory c = _base("matmul_nt k=4096", 1);
        c.x = _t(N_IN + 150, 1, 2, ROWS, 4096); // A: a requant output
        c.y = _t(1, 1, 2, ROWS, 4096); // B: a buyer input
        c.yRow = COL;
        (uint256 full, uint256 reveal, uint256 step) = _run(c);
        assertLe(full, TARGET);
        assertLe(reveal, TARGET);
        assertLe(step, TARGET);
    }

    function test_gas_add_same_shape() public {
        Case memory c = _base("add int32 same shape", 2);
        (uint256 full, uint256 reveal, uint256 step) = _run(c);
        assertGt(
            full, TARGET, "three int32 rows in one call exceed the target: the reveal path is the one to use"
        );
        assertLe(reveal, TARGET);
        assertLe(step, TARGET);
    }

    function test_gas_add_bias() public {
        Case memory c = _base("add int32 row-vector bias", 2);
        c.y = _t(1, 2, 1, 1, COLS);
        c.yRow = 0;
        (, uint256 reveal, uint256 step) = _run(c);
        assertLe(reveal, TARGET);
        assertLe(step, TARGET);
    }

    function test_gas_relu() public {
        Case memory c = _base("relu int32", 3);
        c.unary = true;
        (uint256 full, uint256 reveal, uint256 step) = _run(c);
        assertLe(full, TARGET);
        assertLe(reveal, TARGET);
        assertLe(step, TARGET);
    }

    function test_gas_requant() public {
        Case memory c = _base("requant int32 -> int8", 4);
        c.unary = true;
        c.multiplier = 1518500250;
        c.shift = 40;
        c.zp = -3;
        c.out = _t(N_IN + OP, 1, 2, ROWS, COLS);
        (uint256 full, uint256 reveal, uint256 step) = _run(c);
        assertLe(full, TARGET);
        assertLe(reveal, TARGET);
        assertLe(step, TARGET);
    }

    function test_gas_argmax() public {
        Case memory c = _base("argmax int32[4096,4096] -> int32[4096]", 5);
        c.unary = true;
        c.out = _t(N_IN + OP, 2, 1, 1, ROWS);
        c.outRow = 0;
        c.xRow = COL;
        (uint256 full, uint256 reveal, uint256 step) = _run(c);
        assertLe(full, TARGET);
        assertLe(reveal, TARGET);
        assertLe(step, TARGET);
    }
}
