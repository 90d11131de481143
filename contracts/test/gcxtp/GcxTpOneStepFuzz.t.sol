// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IGcxTpOneStep} from "../../src/interfaces/IGcxTpOneStep.sol";
import {GcxTpBuilders} from "./GcxTpBuilders.sol";

/// @notice Differential fuzz of the one-step semantics against references written differently in the test
///         (division with a floor correction for requant's shift, explicit ±2^32 for add's wrap, a plain loop
///         for the dot product and argmax), on one-op programs committed by the test's builders.
contract GcxTpOneStepFuzzTest is GcxTpBuilders {
    bytes32 internal constant DIGEST = keccak256("gcx-tp fuzz program");

    function setUp() public {
        _deploy();
    }

    function _one(int256 v) internal pure returns (int256[] memory a) {
        a = new int256[](1);
        a[0] = v;
    }

    /// @dev Step for op 0 of a 1-op program over input tensors `ins` (their roots are the buyer's).
    function _step(bytes memory body, T[] memory ins, uint32[] memory rows, uint32 row, uint32 col)
        internal
        pure
        returns (IGcxTpOneStep.Step memory s)
    {
        bytes[] memory bodies = new bytes[](1);
        bodies[0] = body;
        bytes[] memory proofs;
        (s.resultRoot, proofs) = _result(DIGEST, bodies);
        s.programDigest = DIGEST;
        s.nOps = 1;
        s.row = row;
        s.col = col;
        s.opProof = proofs[0];
        s.inputRoots = new bytes32[](ins.length);
        s.operands = new IGcxTpOneStep.Operand[](ins.length);
        for (uint256 i = 0; i < ins.length; ++i) {
            s.inputRoots[i] = ins[i].root;
            s.operands[i] = _operand("", _rowProof(ins[i], rows[i]));
        }
    }

    function _value(IGcxTpOneStep.Step memory s) internal view returns (int256 v) {
        bool ok;
        (ok, v,) = osp.oneStep(s);
        assertTrue(ok);
    }

    function _refRequant(int256 x, int256 m, uint256 shift, int256 zp) internal pure returns (int256 y) {
        int256 p = x * m;
        if (shift > 0) p += int256(2 ** (shift - 1));
        int256 d = int256(2 ** shift);
        int256 q = p / d; // truncates toward zero
        if (p % d != 0 && p < 0) q -= 1; // floor
        y = q + zp;
        y = y < -128 ? int256(-128) : y > 127 ? int256(127) : y;
    }

    function testFuzz_requant(int32 x, int32 m, uint8 shiftSeed, int8 zp) public view {
        uint8 shift = shiftSeed % 63;
        T[] memory ins = new T[](1);
        ins[0] = _ints(0, 2, 1, 1, 1, _one(x));
        T memory out = _t(1, 1, 1, 1, 1);
        bytes memory body = _body(0, 4, 1, 0, 0, m, shift, zp, out);
        uint32[] memory rows = new uint32[](1);
        assertEq(_value(_step(body, ins, rows, 0, 0)), _refRequant(x, m, shift, zp));
    }

    function testFuzz_addWraps(int32 x, int32 y) public view {
        T[] memory ins = new T[](2);
        ins[0] = _ints(0, 2, 1, 1, 1, _one(x));
        ins[1] = _ints(1, 2, 1, 1, 1, _one(y));
        bytes memory body = _body(0, 2, 2, 0, 1, 0, 0, 0, _t(2, 2, 1, 1, 1));
        int256 want = int256(x) + int256(y);
        if (want > type(int32).max) want -= 2 ** 32;
        if (want < type(int32).min) want += 2 ** 32;
        assertEq(_value(_step(body, ins, new uint32[](2), 0, 0)), want);
    }

    function testFuzz_relu(int32 x) public view {
        T[] memory ins = new T[](1);
        ins[0] = _ints(0, 2, 1, 1, 1, _one(x));
        bytes memory body = _body(0, 3, 1, 0, 0, 0, 0, 0, _t(1, 2, 1, 1, 1));
        assertEq(_value(_step(body, ins, new uint32[](1), 0, 0)), x > 0 ? int256(x) : int256(0));
    }

    function testFuzz_matmulDot(uint256 seed, uint16 kSeed) public view {
        uint32 k = uint32(kSeed % 200) + 1; // whole words, a partial word, and one element
        T[] memory ins = new T[](2);
        ins[0] = _randT(0, 1, 2, k, seed);
        ins[1] = _randT(1, 1, 3, k, uint256(keccak256(abi.encode(seed))));
        uint32[] memory rows = new uint32[](2);
        rows[0] = 1;
        rows[1] = 2;
        bytes memory body = _body(0, 1, 2, 0, 1, 0, 0, 0, _t(2, 2, 2, 2, 3));
        int256 want;
        for (uint256 l = 0; l < k; ++l) {
            want += _elem(ins[0], 1, l) * _elem(ins[1], 2, l);
        }
        assertEq(_value(_step(body, ins, rows, 1, 2)), want);
    }

    function testFuzz_argmax(uint256 seed, uint8 nSeed, bool ties) public view {
        uint32 n = uint32(nSeed % 40) + 1;
        T memory x = _randT(0, 2, 2, n, seed);
        if (ties) {
            // few distinct values: ties are frequent
            int256[] memory v = new int256[](2 * n);
            for (uint256 i = 0; i < 2 * n; ++i) {
                v[i] = int256(uint256(keccak256(abi.encode(seed, i))) % 3) - 1;
            }
            x = _ints(0, 2, 2, 2, n, v);
        }
        T[] memory ins = new T[](1);
        ins[0] = x;
        uint32[] memory rows = new uint32[](1);
        rows[0] = 1;
        bytes memory body = _body(0, 5, 1, 0, 0, 0, 0, 0, _t(1, 2, 1, 1, 2));
        uint256 best;
        for (uint256 j = 1; j < n; ++j) {
            if (_elem(x, 1, j) > _elem(x, 1, best)) best = j;
        }
        assertEq(_value(_step(body, ins, rows, 0, 1)), int256(best));
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

    function _randT(uint32 id, uint8 dtype, uint32 rows, uint32 cols, uint256 seed)
        internal
        pure
        returns (T memory t)
    {
        t = _t(id, dtype, 2, rows, cols);
        uint256 n = uint256(rows) * cols * _width(dtype);
        t.data = new bytes(n);
        for (uint256 i = 0; i < n; ++i) {
            t.data[i] = bytes1(uint8(uint256(keccak256(abi.encode(seed, i)))));
        }
        t = _commit(t);
    }
}
