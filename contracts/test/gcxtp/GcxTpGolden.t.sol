// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IGcxTpOneStep} from "../../src/interfaces/IGcxTpOneStep.sol";
import {GcxTpOneStep} from "../../src/gcxtp/GcxTpOneStep.sol";
import {GcxTpMerkle} from "../../src/gcxtp/GcxTpMerkle.sol";
import {GcxTpBuilders} from "./GcxTpBuilders.sol";

/// @notice The GCX-TP golden vectors (tests/gcx/tp/golden/gcx-tp-golden-v1.json, the same file the Python
///         backends pass) in Solidity: every tensor's leaves, tree root and root; every op leaf and op proof and
///         the result root; the file's row and element proofs (and their failure at another index and root);
///         and every output element of every op recomputed by the one-step prover from operand rows proven
///         against the case's commitments, then decided right (and a tampered claim decided wrong).
contract GcxTpGoldenTest is GcxTpBuilders {
    string internal json;

    function setUp() public {
        _deploy();
        json = vm.readFile(string.concat(vm.projectRoot(), "/../tests/gcx/tp/golden/gcx-tp-golden-v1.json"));
    }

    function _s(uint256 c, string memory rest) internal pure returns (string memory) {
        return string.concat(".cases[", vm.toString(c), "]", rest);
    }

    function _load(string memory p) internal view returns (T memory t) {
        t.id = uint32(vm.parseJsonUint(json, string.concat(p, ".tensor_id")));
        t.dtype = uint8(vm.parseJsonUint(json, string.concat(p, ".dtype_code")));
        t.rank = uint8(vm.parseJsonUint(json, string.concat(p, ".rank")));
        t.rows = uint32(vm.parseJsonUint(json, string.concat(p, ".rows")));
        t.cols = uint32(vm.parseJsonUint(json, string.concat(p, ".cols")));
        t.data = vm.parseJsonBytes(json, string.concat(p, ".data"));
        t.leaves = vm.parseJsonBytes32Array(json, string.concat(p, ".leaves"));
        t.treeRoot = vm.parseJsonBytes32(json, string.concat(p, ".tree_root"));
        t.root = vm.parseJsonBytes32(json, string.concat(p, ".root"));
        assertEq(vm.parseJsonBytes(json, string.concat(p, ".header")), _header(t), "header");
    }

    /// @dev Loads every tensor of case `c` and checks its commitment against the file (leaves by the builder
    ///      and by the prover's own row check).
    function _tensors(uint256 c) internal view returns (T[] memory ts, uint256 nIn, uint256 nOps) {
        nIn = vm.parseJsonUint(json, _s(c, ".program.n_inputs"));
        nOps = vm.parseJsonUint(json, _s(c, ".program.n_ops"));
        ts = new T[](nIn + nOps);
        for (uint256 t = 0; t < nIn + nOps; ++t) {
            ts[t] = t < nIn
                ? _load(_s(c, string.concat(".inputs[", vm.toString(t), "]")))
                : _load(_s(c, string.concat(".ops[", vm.toString(t - nIn), "].output")));
            assertEq(ts[t].id, t, "tensor id");
            T memory again = _commit(_copy(ts[t]));
            assertEq(again.leaves, ts[t].leaves, "leaves");
            assertEq(again.treeRoot, ts[t].treeRoot, "tree root");
            assertEq(again.root, ts[t].root, "root");
            for (uint256 i = 0; i < ts[t].rows; ++i) {
                (IGcxTpOneStep.Header memory h, bytes32 leaf) =
                    osp.verifyRow(ts[t].root, uint32(i), _rowProof(ts[t], i));
                assertEq(leaf, ts[t].leaves[i], "row leaf");
                assertEq(h.rows, ts[t].rows);
            }
        }
    }

    function _copy(T memory t) internal pure returns (T memory u) {
        u.id = t.id;
        u.dtype = t.dtype;
        u.rank = t.rank;
        u.rows = t.rows;
        u.cols = t.cols;
        u.data = t.data;
    }

    function _checkCase(uint256 c, string memory name) internal {
        assertEq(vm.parseJsonString(json, _s(c, ".name")), name, "case order");
        (T[] memory ts, uint256 nIn, uint256 nOps) = _tensors(c);
        bytes32 digest = vm.parseJsonBytes32(json, _s(c, ".program.digest"));
        assertEq(keccak256(vm.parseJsonBytes(json, _s(c, ".program.canonical"))), digest, "program digest");
        bytes32 resultRoot = vm.parseJsonBytes32(json, _s(c, ".result.root"));
        assertEq(vm.parseJsonBytes32(json, _s(c, ".result.program_digest")), digest);

        // op leaves, op proofs, result root
        bytes[] memory bodies = new bytes[](nOps);
        bytes[] memory opProofs = new bytes[](nOps);
        for (uint256 j = 0; j < nOps; ++j) {
            string memory p = _s(c, string.concat(".ops[", vm.toString(j), "]"));
            bodies[j] = vm.parseJsonBytes(json, string.concat(p, ".leaf_body"));
            assertEq(bodies[j].length, 66);
            assertEq(
                sha256(abi.encodePacked(OP_LEAF, bodies[j])),
                vm.parseJsonBytes32(json, string.concat(p, ".leaf"))
            );
            opProofs[j] =
                vm.parseJsonBytes(json, _s(c, string.concat(".proofs.ops[", vm.toString(j), "].proof")));
            (uint32 n, IGcxTpOneStep.OpLeaf memory leaf) = osp.verifyOp(resultRoot, digest, opProofs[j]);
            assertEq(n, nOps);
            assertEq(leaf.k, j);
            assertEq(leaf.opcode, vm.parseJsonUint(json, string.concat(p, ".opcode")));
            uint256[] memory ins = vm.parseJsonUintArray(json, string.concat(p, ".in"));
            assertEq(leaf.arity, ins.length);
            assertEq(leaf.in0, ins[0]);
            assertEq(leaf.in1, ins.length == 2 ? ins[1] : 0);
            assertEq(leaf.out.id, nIn + j);
            assertEq(leaf.outRoot, ts[nIn + j].root);
            if (leaf.opcode == 4) {
                assertEq(int256(leaf.multiplier), _attr(p, "multiplier"));
                assertEq(int256(uint256(leaf.shift)), _attr(p, "shift"));
                assertEq(int256(leaf.zeroPoint), _attr(p, "zero_point"));
            }
        }
        (bytes32 rebuilt, bytes[] memory rebuiltProofs) = _result(digest, bodies);
        assertEq(rebuilt, resultRoot, "result root");
        for (uint256 j = 0; j < nOps; ++j) {
            assertEq(rebuiltProofs[j], opProofs[j], "op proof encoding");
        }

        _checkFileProofs(c, ts);

        // every output element of every op, recomputed and decided
        Ctx memory x = Ctx(ts, nIn, nOps, digest, resultRoot, opProofs, new bytes32[](nIn));
        for (uint256 t = 0; t < nIn; ++t) {
            x.inputRoots[t] = ts[t].root;
        }
        for (uint256 j = 0; j < nOps; ++j) {
            T memory out = ts[nIn + j];
            uint256 stride = out.rows * out.cols > 64 ? 7 : 1; // a sample of larger outputs
            for (uint256 e = 0; e < uint256(out.rows) * out.cols; e += stride) {
                _checkElement(x, j, e / out.cols, e % out.cols);
            }
        }
    }

    function _attr(string memory p, string memory key) internal view returns (int256) {
        return vm.parseInt(vm.parseJsonString(json, string.concat(p, ".attributes.", key)));
    }

    struct Ctx {
        T[] ts;
        uint256 nIn;
        uint256 nOps;
        bytes32 digest;
        bytes32 resultRoot;
        bytes[] opProofs;
        bytes32[] inputRoots;
    }

    function _checkElement(Ctx memory x, uint256 j, uint256 r, uint256 col) internal view {
        IGcxTpOneStep.Step memory s = _step(x, j, r, col);
        T memory out = x.ts[x.nIn + j];
        (bool ok, int256 v,) = osp.oneStep(s);
        assertTrue(ok, "leaf valid");
        assertEq(v, _elem(out, r, col), "recomputed element");
        assertTrue(osp.decide(s, _rowProof(out, r)), "provider right");
        assertTrue(osp.decideClaimed(s, v));
        assertFalse(osp.decideClaimed(s, v + 1), "a wrong claim loses");
    }

    function _step(Ctx memory x, uint256 j, uint256 r, uint256 col)
        internal
        view
        returns (IGcxTpOneStep.Step memory s)
    {
        T[] memory ts = x.ts;
        uint256 nIn = x.nIn;
        bytes[] memory opProofs = x.opProofs;
        (, IGcxTpOneStep.OpLeaf memory leaf) = osp.verifyOp(x.resultRoot, x.digest, opProofs[j]);
        s.resultRoot = x.resultRoot;
        s.programDigest = x.digest;
        s.nOps = uint32(x.nOps);
        s.op = uint32(j);
        s.row = uint32(r);
        s.col = uint32(col);
        s.opProof = opProofs[j];
        s.inputRoots = x.inputRoots;
        s.operands = new IGcxTpOneStep.Operand[](leaf.arity);
        uint32[2] memory ids = [leaf.in0, leaf.in1];
        for (uint256 slot = 0; slot < leaf.arity; ++slot) {
            T memory xt = ts[ids[slot]];
            uint256 want = _operandRow(leaf.opcode, slot, r, col, ts[leaf.in0], xt);
            bytes memory opp = ids[slot] < nIn ? bytes("") : opProofs[ids[slot] - nIn];
            s.operands[slot] = _operand(opp, _rowProof(xt, want));
        }
    }

    function _operandRow(uint8 opcode, uint256 slot, uint256 r, uint256 col, T memory x0, T memory x)
        internal
        pure
        returns (uint256)
    {
        if (opcode == 1) return slot == 0 ? r : col;
        if (opcode == 2 && slot == 1 && x.rank == 1 && x0.rank == 2) return 0;
        if (opcode == 5) return col;
        return r;
    }

    /// @dev The file's own row proofs and element proof: they verify at their index, and fail at another
    ///      index and under another tensor's root.
    function _checkFileProofs(uint256 c, T[] memory ts) internal {
        uint256 nRows = vm.parseJsonKeys(json, _s(c, ".proofs")).length; // rows, element, ops
        assertEq(nRows, 3);
        for (uint256 q = 0; q < 3; ++q) {
            string memory p = _s(c, string.concat(".proofs.rows[", vm.toString(q), "]"));
            if (!vm.keyExistsJson(json, p)) break;
            uint256 t = vm.parseJsonUint(json, string.concat(p, ".tensor_id"));
            uint32 index = uint32(vm.parseJsonUint(json, string.concat(p, ".index")));
            bytes memory proof = vm.parseJsonBytes(json, string.concat(p, ".proof"));
            assertEq(proof, _rowProof(ts[t], index), "row proof encoding");
            (, bytes32 leaf) = osp.verifyRow(ts[t].root, index, proof);
            assertEq(leaf, ts[t].leaves[index]);
            vm.expectRevert();
            osp.verifyRow(ts[t].root, index + 1, proof);
            bytes32 other = ts[t == 0 ? 1 : 0].root;
            vm.expectRevert();
            osp.verifyRow(other, index, proof);
        }
        string memory e = _s(c, ".proofs.element");
        uint256 et = vm.parseJsonUint(json, string.concat(e, ".tensor_id"));
        uint32 er = uint32(vm.parseJsonUint(json, string.concat(e, ".row")));
        uint32 ec = uint32(vm.parseJsonUint(json, string.concat(e, ".col")));
        int256 value = vm.parseInt(vm.parseJsonString(json, string.concat(e, ".value")));
        bytes memory ep = vm.parseJsonBytes(json, string.concat(e, ".proof"));
        // element proof = 01 02 ‖ header ‖ row ‖ col ‖ row bytes ‖ siblings; its row proof drops the column
        assertEq(uint8(ep[1]), 2);
        assertEq(uint32(bytes4(_slice(ep, 20, 4))), ec);
        bytes memory rp = bytes.concat(bytes2(0x0101), _slice(ep, 2, 18), _slice(ep, 24, ep.length - 24));
        assertEq(osp.elementAt(ts[et].root, er, ec, rp), value, "element proof value");
        assertEq(value, _elem(ts[et], er, ec));
    }

    function test_constants() public view {
        string[8] memory keys =
            ["row_leaf", "row_node", "row_pad", "tensor", "op_leaf", "op_node", "op_pad", "result"];
        bytes16[8] memory tags =
            [ROW_LEAF, ROW_NODE, ROW_PAD_TAG, TENSOR, OP_LEAF, OP_NODE, OP_PAD_TAG, RESULT];
        for (uint256 i = 0; i < 8; ++i) {
            assertEq(
                bytes16(vm.parseJsonBytes(json, string.concat(".constants.tags.", keys[i]))), tags[i], keys[i]
            );
        }
        assertEq(vm.parseJsonBytes32(json, ".constants.row_pad"), sha256(abi.encodePacked(ROW_PAD_TAG)));
        assertEq(vm.parseJsonBytes32(json, ".constants.op_pad"), sha256(abi.encodePacked(OP_PAD_TAG)));
        assertEq(vm.parseJsonBytes32(json, ".constants.row_pad"), GcxTpMerkle.ROW_PAD);
        assertEq(vm.parseJsonBytes32(json, ".constants.op_pad"), GcxTpMerkle.OP_PAD);
        assertEq(vm.parseJsonUint(json, ".constants.op_body_bytes"), 66);
        assertEq(vm.parseJsonUint(json, ".constants.proof_version"), 1);
        assertEq(vm.parseJsonUint(json, ".version"), 1);
    }

    function test_golden_matmul_k1() public {
        _checkCase(0, "matmul_k1");
    }

    function test_golden_matmul_k65536() public {
        _checkCase(1, "matmul_k65536");
    }

    function test_golden_matmul_one_row_one_col() public {
        _checkCase(2, "matmul_one_row_one_col");
    }

    function test_golden_matmul_general() public {
        _checkCase(3, "matmul_general");
    }

    function test_golden_add_wrap() public {
        _checkCase(4, "add_wrap");
    }

    function test_golden_add_bias_broadcast() public {
        _checkCase(5, "add_bias_broadcast");
    }

    function test_golden_relu() public {
        _checkCase(6, "relu");
    }

    function test_golden_requant_rounding() public {
        _checkCase(7, "requant_rounding");
    }

    function test_golden_requant_extremes() public {
        _checkCase(8, "requant_extremes");
    }

    function test_golden_argmax_ties() public {
        _checkCase(9, "argmax_ties");
    }

    function test_golden_rows_1() public {
        _checkCase(10, "rows_1");
    }

    function test_golden_rows_2() public {
        _checkCase(11, "rows_2");
    }

    function test_golden_rows_3() public {
        _checkCase(12, "rows_3");
    }

    function test_golden_rows_5() public {
        _checkCase(13, "rows_5");
    }

    function test_golden_rows_8() public {
        _checkCase(14, "rows_8");
    }

    function test_golden_mlp() public {
        _checkCase(15, "mlp");
    }

    /// @dev rows_5 (depth 3): positions 5..7 are padding, so the tree root is
    ///      H(H(H(l0,l1),H(l2,l3)), H(H(l4,PAD),Z_1)) with Z_1 = padRoot(1).
    function test_golden_padRoot() public view {
        bytes32[] memory l = vm.parseJsonBytes32Array(json, ".cases[13].inputs[0].leaves");
        assertEq(l.length, 5);
        bytes32 left = _n(_n(l[0], l[1]), _n(l[2], l[3]));
        bytes32 right = _n(_n(l[4], GcxTpMerkle.ROW_PAD), PadProbe.z(1));
        assertEq(_n(left, right), vm.parseJsonBytes32(json, ".cases[13].inputs[0].tree_root"));
        assertEq(PadProbe.z(0), GcxTpMerkle.ROW_PAD);
    }

    function _n(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(ROW_NODE, a, b));
    }

    function test_golden_case_count() public view {
        assertTrue(vm.keyExistsJson(json, ".cases[15]"));
        assertFalse(vm.keyExistsJson(json, ".cases[16]"), "a case this test does not check");
    }
}

/// @dev Exposes the library's internal padRoot to the test.
library PadProbe {
    function z(uint256 h) internal view returns (bytes32) {
        return GcxTpMerkle.padRoot(GcxTpMerkle.TAG_ROW_NODE, GcxTpMerkle.ROW_PAD, h);
    }
}
