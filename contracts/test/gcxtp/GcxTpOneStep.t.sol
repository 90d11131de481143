// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {console} from "forge-std/console.sol";
import {IGcxTpOneStep} from "../../src/interfaces/IGcxTpOneStep.sol";
import {GcxTpOneStep} from "../../src/gcxtp/GcxTpOneStep.sol";
import {GcxTpMerkle} from "../../src/gcxtp/GcxTpMerkle.sol";
import {GcxTpBuilders} from "./GcxTpBuilders.sol";

/// @notice The one-step prover's refusals and verdicts: position binding, malformed proofs and op leaves, a
///         wrong provider losing, a challenger naming a right element losing, operand evidence refused, the
///         revealed-row path, and the gas of one step on 4,096-element rows.
contract GcxTpOneStepTest is GcxTpBuilders {
    bytes32 internal constant DIGEST = keccak256("gcx-tp test program");

    function setUp() public {
        _deploy();
    }

    // -- fixtures -----------------------------------------------------------------------------------------------

    function _vals(uint256 n, uint256 seed, int256 lo, int256 span)
        internal
        pure
        returns (int256[] memory v)
    {
        v = new int256[](n);
        for (uint256 i = 0; i < n; ++i) {
            v[i] = lo + int256(uint256(keccak256(abi.encode(seed, i))) % uint256(span));
        }
    }

    /// @dev A 1-op program `matmul_nt(A int8[3,5], B int8[2,5]) → C int32[3,2]`, with C given (right or not).
    struct Mm {
        T a;
        T b;
        T c;
        bytes body;
        bytes32 resultRoot;
        bytes opProof;
    }

    function _matmul(bool tamper) internal pure returns (Mm memory m) {
        m.a = _ints(0, 1, 2, 3, 5, _vals(15, 1, -128, 256));
        m.b = _ints(1, 1, 2, 2, 5, _vals(10, 2, -128, 256));
        int256[] memory c = new int256[](6);
        for (uint256 i = 0; i < 3; ++i) {
            for (uint256 j = 0; j < 2; ++j) {
                int256 acc;
                for (uint256 l = 0; l < 5; ++l) {
                    acc += _elem(m.a, i, l) * _elem(m.b, j, l);
                }
                c[i * 2 + j] = acc;
            }
        }
        if (tamper) c[3] += 1; // element (1, 1)
        m.c = _ints(2, 2, 2, 3, 2, c);
        m.body = _body(0, 1, 2, 0, 1, 0, 0, 0, m.c);
        _seal(m);
    }

    function _seal(Mm memory m) internal pure {
        bytes[] memory bodies = new bytes[](1);
        bodies[0] = m.body;
        bytes[] memory proofs;
        (m.resultRoot, proofs) = _result(DIGEST, bodies);
        m.opProof = proofs[0];
    }

    function _mmStep(Mm memory m, uint32 r, uint32 col) internal pure returns (IGcxTpOneStep.Step memory s) {
        s.resultRoot = m.resultRoot;
        s.programDigest = DIGEST;
        s.nOps = 1;
        s.op = 0;
        s.row = r;
        s.col = col;
        s.opProof = m.opProof;
        s.inputRoots = new bytes32[](2);
        s.inputRoots[0] = m.a.root;
        s.inputRoots[1] = m.b.root;
        s.operands = new IGcxTpOneStep.Operand[](2);
        s.operands[0] = _operand("", _rowProof(m.a, r));
        s.operands[1] = _operand("", _rowProof(m.b, col));
    }

    // -- position binding and malformed proofs ------------------------------------------------------------------

    function test_rowProvenAtWrongIndexFails() public {
        T memory a = _ints(0, 1, 2, 3, 4, _vals(12, 7, -128, 256));
        bytes memory p = _rowProof(a, 2);
        osp.verifyRow(a.root, 2, p);
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.WrongRow.selector, uint32(1), uint32(2)));
        osp.verifyRow(a.root, 1, p);
        // the same row bytes and siblings re-labelled as row 1 climb to another root
        bytes memory relabelled =
            bytes.concat(_slice(p, 0, 16), bytes4(uint32(1)), _slice(p, 20, p.length - 20));
        vm.expectRevert();
        osp.verifyRow(a.root, 1, relabelled);
        // row 1's own proof with row 2's bytes
        bytes memory p1 = _rowProof(a, 1);
        bytes memory swapped = bytes.concat(_slice(p1, 0, 20), _row(a, 2), _slice(p1, 24, p1.length - 24));
        vm.expectRevert();
        osp.verifyRow(a.root, 1, swapped);
        // a neighbour's sibling order: row 3 does not exist (padding), index 3 is out of range
        bytes memory at3 = bytes.concat(_slice(p, 0, 16), bytes4(uint32(3)), _slice(p, 20, p.length - 20));
        vm.expectRevert(abi.encodeWithSelector(GcxTpMerkle.MalformedProof.selector, "row index out of range"));
        osp.verifyRow(a.root, 3, at3);
    }

    function test_rowProofUnderAnotherTensorFails() public {
        int256[] memory v = _vals(12, 7, -128, 256);
        T memory a = _ints(0, 1, 2, 3, 4, v);
        T memory b = _ints(1, 1, 2, 3, 4, v); // same bytes, another id
        T memory flat = _ints(0, 1, 2, 1, 12, v); // same bytes, another shape
        bytes memory p = _rowProof(a, 0);
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.RootMismatch.selector, b.root, a.root));
        osp.verifyRow(b.root, 0, p);
        vm.expectRevert();
        osp.verifyRow(flat.root, 0, p);
    }

    function test_malformedRowProofsRefused() public {
        T memory a = _ints(0, 2, 2, 3, 2, _vals(6, 9, -1000, 2000));
        bytes memory p = _rowProof(a, 1);
        bytes[] memory bad = new bytes[](9);
        bad[0] = bytes.concat(bytes1(0x02), _slice(p, 1, p.length - 1)); // version
        bad[1] = bytes.concat(bytes2(0x0102), _slice(p, 2, p.length - 2)); // kind: element
        bad[2] = _slice(p, 0, p.length - 1); // truncated
        bad[3] = bytes.concat(p, bytes1(0x00)); // trailing byte
        bad[4] = _slice(p, 0, 19); // shorter than the fixed part
        bad[5] = _patch(p, 6, 0x03); // dtype 3
        bad[6] = _patch(p, 7, 0x03); // rank 3
        bad[7] = _patch(p, 7, 0x01); // rank 1 with 3 rows
        bad[8] = bytes.concat(_slice(p, 0, 8), bytes4(0), _slice(p, 12, p.length - 12)); // 0 rows
        for (uint256 i = 0; i < bad.length; ++i) {
            (bool ok, bytes memory ret) =
                address(osp).staticcall(abi.encodeCall(osp.verifyRow, (a.root, uint32(1), bad[i])));
            assertFalse(ok, vm.toString(i));
            assertEq(bytes4(ret), GcxTpMerkle.MalformedProof.selector, vm.toString(i));
        }
    }

    function _patch(bytes memory p, uint256 pos, uint8 v) internal pure returns (bytes memory q) {
        q = bytes.concat(p);
        q[pos] = bytes1(v);
    }

    // -- op leaves ----------------------------------------------------------------------------------------------

    /// @dev A 1-op result over `body` with X = tensor 0 int32[1,4] as its input.
    function _unary(bytes memory body) internal pure returns (bytes32 root, bytes memory proof) {
        bytes[] memory bodies = new bytes[](1);
        bodies[0] = body;
        bytes[] memory proofs;
        (root, proofs) = _result(DIGEST, bodies);
        proof = proofs[0];
    }

    function test_malformedOpLeavesRefused() public {
        T memory i32o = _ints(2, 2, 2, 1, 4, _vals(4, 3, -5, 10)); // id 2: two program inputs
        T memory i8o = _ints(2, 1, 2, 1, 4, _vals(4, 3, -5, 10));
        T memory r1 = _ints(2, 2, 1, 1, 4, _vals(4, 3, -5, 10));
        bytes[] memory bodies = new bytes[](16);
        bodies[0] = _body(0, 0, 1, 0, 0, 0, 0, 0, i32o); // opcode 0
        bodies[1] = _body(0, 6, 1, 0, 0, 0, 0, 0, i32o); // opcode 6
        bodies[2] = _body(0, 3, 2, 0, 0, 0, 0, 0, i32o); // relu with arity 2
        bodies[3] = _body(0, 1, 1, 0, 0, 0, 0, 0, i32o); // matmul with arity 1
        bodies[4] = _body(0, 3, 1, 0, 1, 0, 0, 0, i32o); // unused slot not 0
        bodies[5] = _body(0, 3, 1, 2, 0, 0, 0, 0, i32o); // input is not before the output
        bodies[6] = _body(0, 3, 1, 0, 0, 1, 0, 0, i32o); // relu with a multiplier
        bodies[7] = _body(0, 3, 1, 0, 0, 0, 1, 0, i32o); // relu with a shift
        bodies[8] = _body(0, 3, 1, 0, 0, 0, 0, -1, i32o); // relu with a zero point
        bodies[9] = _body(0, 4, 1, 0, 0, 1, 63, 0, i8o); // requant shift 63
        bodies[10] = _body(0, 4, 1, 0, 0, 1, 1, 0, i32o); // requant to int32
        bodies[11] = _body(0, 3, 1, 0, 0, 0, 0, 0, i8o); // relu to int8
        bodies[12] = _body(0, 1, 2, 0, 1, 0, 0, 0, r1); // matmul to rank 1
        bodies[13] = _body(0, 5, 1, 0, 0, 0, 0, 0, i32o); // argmax to rank 2
        bodies[14] = _body(1, 3, 1, 0, 0, 0, 0, 0, i32o); // k is not its position
        bodies[15] = bytes.concat(
            _slice(_body(0, 3, 1, 0, 0, 0, 0, 0, i32o), 0, 26),
            bytes4(0),
            _slice(_body(0, 3, 1, 0, 0, 0, 0, 0, i32o), 30, 36)
        ); // 0 rows
        for (uint256 i = 0; i < bodies.length; ++i) {
            _assertRefused(bodies[i], i32o, i);
        }
        // the well-formed neighbour of them all verifies
        (bytes32 goodRoot, bytes memory good) = _unary(_body(0, 3, 1, 0, 0, 0, 0, 0, i32o));
        (uint32 n, IGcxTpOneStep.OpLeaf memory leaf) = osp.verifyOp(goodRoot, DIGEST, good);
        assertEq(n, 1);
        assertEq(leaf.opcode, 3);
        assertEq(leaf.outRoot, i32o.root);
    }

    function _assertRefused(bytes memory body, T memory row, uint256 i) internal view {
        assertEq(body.length, 66);
        (bytes32 root, bytes memory proof) = _unary(body);
        (bool ok,) = address(osp).staticcall(abi.encodeCall(osp.verifyOp, (root, DIGEST, proof)));
        assertFalse(ok, string.concat("verifyOp accepted malformed body ", vm.toString(i)));
        IGcxTpOneStep.Step memory s;
        s.resultRoot = root;
        s.programDigest = DIGEST;
        s.nOps = 1;
        s.opProof = proof;
        (bool valid,,) = osp.oneStep(s);
        assertFalse(valid, string.concat("oneStep: provider's malformed leaf ", vm.toString(i)));
        assertFalse(osp.decide(s, _rowProof(row, 0)), vm.toString(i));
        (valid,) = osp.revealRow(root, DIGEST, 1, 0, 0, proof, _rowProof(row, 0));
        assertFalse(valid, vm.toString(i));
    }

    function test_opProofBinding() public {
        Mm memory m = _matmul(false);
        osp.verifyOp(m.resultRoot, DIGEST, m.opProof);
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.WrongOp.selector, "program digest"));
        osp.verifyOp(m.resultRoot, keccak256("another program"), m.opProof);
        vm.expectRevert();
        osp.verifyOp(keccak256("another root"), DIGEST, m.opProof);
        // another op count in the proof climbs to another root
        bytes memory n2 =
            bytes.concat(bytes2(0x0103), bytes4(uint32(2)), _slice(m.opProof, 6, 98), bytes32(0));
        vm.expectRevert();
        osp.verifyOp(m.resultRoot, DIGEST, n2);
        // the step names another op count or op than the proof's
        IGcxTpOneStep.Step memory s = _mmStep(m, 0, 0);
        s.nOps = 2;
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.WrongOp.selector, "op count"));
        osp.oneStep(s);
        s.nOps = 1;
        s.op = 1;
        vm.expectRevert(abi.encodeWithSelector(GcxTpMerkle.MalformedProof.selector, "op index out of range"));
        osp.oneStep(s);
    }

    // -- verdicts -----------------------------------------------------------------------------------------------

    function test_wrongElementLosesRightElementWins() public view {
        Mm memory m = _matmul(true); // the provider's C(1,1) is off by one
        assertFalse(osp.decide(_mmStep(m, 1, 1), _rowProof(m.c, 1)), "the wrong element loses");
        // a challenger that names a right element of the same row loses
        assertTrue(osp.decide(_mmStep(m, 1, 0), _rowProof(m.c, 1)), "the right element wins");
        (bool ok, int256 v,) = osp.oneStep(_mmStep(m, 1, 1));
        assertTrue(ok);
        assertEq(v, _elem(m.c, 1, 1) - 1);
        Mm memory honest = _matmul(false);
        for (uint32 i = 0; i < 3; ++i) {
            for (uint32 j = 0; j < 2; ++j) {
                assertTrue(osp.decide(_mmStep(honest, i, j), _rowProof(honest.c, i)));
            }
        }
    }

    function test_outputShapeNotFollowingFromOperandsLoses() public view {
        Mm memory m = _matmul(false);
        // the provider commits C as int32[3,3] (B has 2 rows): its leaf and root agree, the shape is wrong
        int256[] memory nine = _vals(9, 4, -100, 200);
        m.c = _ints(2, 2, 2, 3, 3, nine);
        m.body = _body(0, 1, 2, 0, 1, 0, 0, 0, m.c);
        _seal(m);
        (bool ok,,) = osp.oneStep(_mmStep(m, 0, 0));
        assertFalse(ok, "a shape no program infers");
        assertFalse(osp.decide(_mmStep(m, 0, 0), _rowProof(m.c, 0)));
    }

    function test_revealedRowOfAnotherHeaderLoses() public view {
        Mm memory m = _matmul(false);
        // the leaf's header says int32[3,2] but its root commits a tensor of another id
        T memory other = _ints(7, 2, 2, 3, 2, _vals(6, 5, -9, 18));
        m.body = bytes.concat(_slice(_body(0, 1, 2, 0, 1, 0, 0, 0, m.c), 0, 34), other.root);
        _seal(m);
        assertFalse(osp.decide(_mmStep(m, 0, 0), _rowProof(other, 0)));
        (bool ok,) = osp.revealRow(m.resultRoot, DIGEST, 1, 0, 0, m.opProof, _rowProof(other, 0));
        assertFalse(ok);
    }

    function test_operandEvidenceRefused() public {
        Mm memory m = _matmul(false);
        IGcxTpOneStep.Step memory s = _mmStep(m, 2, 1);
        s.operands[1] = _operand("", _rowProof(m.b, 0)); // B's row 0 for column 1
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.WrongRow.selector, uint32(1), uint32(0)));
        osp.oneStep(s);
        s = _mmStep(m, 2, 1);
        s.operands[0] = _operand("", _rowProof(m.b, 1)); // B's row as A's
        vm.expectRevert();
        osp.oneStep(s);
        s = _mmStep(m, 2, 1);
        s.inputRoots = new bytes32[](1); // no buyer root for tensor 1
        s.inputRoots[0] = m.a.root;
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.NoInputRoot.selector, uint32(1)));
        osp.oneStep(s);
        s = _mmStep(m, 2, 1);
        s.inputRoots[1] = bytes32(0);
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.NoInputRoot.selector, uint32(1)));
        osp.oneStep(s);
        s = _mmStep(m, 2, 1);
        s.operands[1].opProof = m.opProof; // a program input has no op proof
        vm.expectRevert();
        osp.oneStep(s);
        s = _mmStep(m, 2, 1);
        IGcxTpOneStep.Operand[] memory one = new IGcxTpOneStep.Operand[](1);
        one[0] = s.operands[0];
        s.operands = one;
        vm.expectRevert();
        osp.oneStep(s);
        s = _mmStep(m, 2, 1);
        s.col = 2; // C has 2 columns
        s.operands[1] = _operand("", _rowProof(m.b, 1));
        vm.expectRevert(abi.encodeWithSelector(GcxTpOneStep.ColumnOutOfRange.selector, uint32(2), uint32(2)));
        osp.oneStep(s);
        s = _mmStep(m, 2, 1);
        s.row = 3;
        vm.expectRevert();
        osp.oneStep(s);
    }

    function test_operandFromAnotherOpRefused() public {
        // op 0: relu(X int32[2,3]) → tensor 1; op 1: relu(tensor 1) → tensor 2
        T memory x = _ints(0, 2, 2, 2, 3, _vals(6, 11, -50, 100));
        int256[] memory y = new int256[](6);
        for (uint256 i = 0; i < 6; ++i) {
            y[i] = _elem(x, i / 3, i % 3) > 0 ? _elem(x, i / 3, i % 3) : int256(0);
        }
        T memory t1 = _ints(1, 2, 2, 2, 3, y);
        T memory t2 = _ints(2, 2, 2, 2, 3, y);
        bytes[] memory bodies = new bytes[](2);
        bodies[0] = _body(0, 3, 1, 0, 0, 0, 0, 0, t1);
        bodies[1] = _body(1, 3, 1, 1, 0, 0, 0, 0, t2);
        (bytes32 root, bytes[] memory proofs) = _result(DIGEST, bodies);
        IGcxTpOneStep.Step memory s;
        s.resultRoot = root;
        s.programDigest = DIGEST;
        s.nOps = 2;
        s.op = 1;
        s.row = 1;
        s.col = 2;
        s.opProof = proofs[1];
        s.inputRoots = new bytes32[](1);
        s.inputRoots[0] = x.root;
        s.operands = new IGcxTpOneStep.Operand[](1);
        s.operands[0] = _operand(proofs[0], _rowProof(t1, 1));
        assertTrue(osp.decide(s, _rowProof(t2, 1)));
        s.operands[0] = _operand(proofs[1], _rowProof(t1, 1)); // op 1's proof for tensor 1
        vm.expectRevert();
        osp.oneStep(s);
        s.operands[0] = _operand(proofs[0], _rowProof(x, 1)); // the input's row under op 0's output root
        vm.expectRevert();
        osp.oneStep(s);
    }

    function test_operandRowOfAnotherHeaderThanItsLeafRefused() public {
        // op 0's leaf says int32[2,3] but names the root of an int32[3,2] tensor 1; op 1 = relu(tensor 1)
        T memory x = _ints(0, 2, 2, 2, 3, _vals(6, 11, -50, 100));
        T memory t1 = _ints(1, 2, 2, 3, 2, _vals(6, 12, 0, 100));
        T memory t1Said = _ints(1, 2, 2, 2, 3, _vals(6, 12, 0, 100));
        T memory t2 = _ints(2, 2, 2, 3, 2, _vals(6, 12, 0, 100));
        bytes[] memory bodies = new bytes[](2);
        bodies[0] = bytes.concat(_slice(_body(0, 3, 1, 0, 0, 0, 0, 0, t1Said), 0, 34), t1.root);
        bodies[1] = _body(1, 3, 1, 1, 0, 0, 0, 0, t2);
        (bytes32 root, bytes[] memory proofs) = _result(DIGEST, bodies);
        IGcxTpOneStep.Step memory s;
        s.resultRoot = root;
        s.programDigest = DIGEST;
        s.nOps = 2;
        s.op = 1;
        s.opProof = proofs[1];
        s.inputRoots = new bytes32[](1);
        s.inputRoots[0] = x.root;
        s.operands = new IGcxTpOneStep.Operand[](1);
        s.operands[0] = _operand(proofs[0], _rowProof(t1, 0));
        vm.expectRevert(
            abi.encodeWithSelector(
                GcxTpOneStep.BadOperand.selector, uint256(0), "header is not the op leaf's"
            )
        );
        osp.oneStep(s);
    }

    function test_revealedElements() public view {
        // int32 rows of 11 and int8 rows of 37 elements: a partial last word, padding words
        T memory a = _ints(0, 2, 2, 2, 11, _vals(22, 21, -(2 ** 31), 2 ** 32));
        T memory b = _ints(1, 1, 2, 2, 37, _vals(74, 22, -128, 256));
        _checkWords(a, 1);
        _checkWords(b, 1);
    }

    function _checkWords(T memory t, uint32 r) internal view {
        bytes memory row = _row(t, r);
        (bool ok, bytes memory ret) =
            address(osp).staticcall(abi.encodeCall(osp.verifyRow, (t.root, r, _rowProof(t, r))));
        assertTrue(ok);
        ret;
        bytes32 wordRoot = _wordRootOf(t, r);
        for (uint32 col = 0; col < t.cols; ++col) {
            (bytes32 word, bytes32[] memory sib) = _wordProof(row, uint256(col) * _width(t.dtype) / 32);
            assertEq(osp.revealedElement(wordRoot, t.dtype, t.cols, col, word, sib), _elem(t, r, col));
            if (sib.length > 0) {
                sib[0] = bytes32(uint256(sib[0]) ^ 1);
                (ok,) = address(osp)
                    .staticcall(
                        abi.encodeCall(osp.revealedElement, (wordRoot, t.dtype, t.cols, col, word, sib))
                    );
                assertFalse(ok, "a bad word proof");
            }
        }
    }

    /// @dev The prover's word root of row `r` via a 1-op relu program over `t` as its input 0.
    function _wordRootOf(T memory t, uint32 r) internal view returns (bytes32 wordRoot) {
        T memory out = _copyAs(t, t.id + 1);
        (bytes32 root, bytes memory proof) =
            _unary(_body(0, t.dtype == 1 ? 4 : 3, 1, t.id, 0, t.dtype == 1 ? int32(1) : int32(0), 0, 0, out));
        bool ok;
        (ok, wordRoot) = osp.revealRow(root, DIGEST, 1, 0, r, proof, _rowProof(out, r));
        assertTrue(ok);
        assertEq(wordRoot, _wordRoot(_row(t, r), t.dtype, t.cols));
    }

    function _copyAs(T memory t, uint32 id) internal pure returns (T memory u) {
        u.id = id;
        u.dtype = t.dtype;
        u.rank = t.rank;
        u.rows = t.rows;
        u.cols = t.cols;
        u.data = t.data;
        u = _commit(u);
    }

    function _words(bytes memory row) internal pure returns (bytes32[] memory w) {
        uint256 n = (row.length + 31) / 32;
        w = new bytes32[](uint256(1) << _depth(n));
        for (uint256 i = 0; i < row.length; ++i) {
            w[i / 32] |= bytes32(uint256(uint8(row[i])) << (8 * (31 - (i % 32))));
        }
    }

    function _wordRoot(bytes memory row, uint8 dtype, uint32 cols) internal pure returns (bytes32) {
        bytes32[] memory lv = _words(row);
        for (uint256 n = lv.length; n > 1; n /= 2) {
            for (uint256 i = 0; i < n / 2; ++i) {
                lv[i] = keccak256(abi.encodePacked(lv[2 * i], lv[2 * i + 1]));
            }
        }
        return keccak256(abi.encodePacked(dtype, cols, lv[0]));
    }

    function _wordProof(bytes memory row, uint256 index)
        internal
        pure
        returns (bytes32 word, bytes32[] memory sib)
    {
        bytes32[] memory lv = _words(row);
        word = lv[index];
        uint256 d = _depth(lv.length);
        sib = new bytes32[](d);
        for (uint256 l = 0; l < d; ++l) {
            sib[l] = lv[(index >> l) ^ 1];
            bytes32[] memory up = new bytes32[](lv.length / 2);
            for (uint256 i = 0; i < up.length; ++i) {
                up[i] = keccak256(abi.encodePacked(lv[2 * i], lv[2 * i + 1]));
            }
            lv = up;
        }
    }
}
