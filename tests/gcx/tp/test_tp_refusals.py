"""GCX-TP refusals, table-driven: every malformed, oversized, cyclic or ill-typed program is a
:class:`ProgramError` from :func:`make_program` and (where it can be encoded) from
:func:`decode_program` of its canonical bytes and :func:`program_from_wire` of its map;
non-canonical encodings of a valid program are refused; wrong input values are a
:class:`TensorValueError` (a wrong buyer root an :class:`InputRootError`) before a backend sees
anything.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import pytest

from gcx.tp import (
    Add,
    Argmax,
    InputDecl,
    MatmulNT,
    Op,
    OutputDecl,
    ProgramError,
    Relu,
    Requant,
    TensorType,
    TensorValueError,
    decode_program,
    execute,
    make_program,
)
from gcx.tp import program as program_mod
from gcx.tp.attest import InputRootError, commit_inputs
from gcx.tp.backends import NumpyBackend
from gcx.tp.commit import tensor_root
from gcx.tp.program import program_from_wire
from gcx.wire import canonical_bytes

Wire = dict[str, Any]


def _base() -> Wire:
    """A valid program's map. Tensors: 0 x int8[3,40], 1 w int8[5,40], 2 bias int32[5],
    3 h int32[3,5], 4 v int8[40]; ops 0..5 are tensors 5..10."""

    def inp(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
        return {"name": name, "dtype": dtype, "shape": shape, "root": None}

    return {
        "type": "gcx-tp/program",
        "v": 1,
        "inputs": [
            inp("x", "int8", [3, 40]),
            inp("w", "int8", [5, 40]),
            inp("bias", "int32", [5]),
            inp("h", "int32", [3, 5]),
            inp("v", "int8", [40]),
        ],
        "ops": [
            {"op": "matmul_nt", "in": [0, 1]},  # 5: int32[3,5]
            {"op": "add", "in": [5, 2]},  # 6: bias broadcast
            {"op": "relu", "in": [6]},  # 7
            {
                "op": "requant",
                "in": [7],
                "multiplier": 1 << 20,
                "shift": 24,
                "zero_point": -3,
            },  # 8: int8[3,5]
            {"op": "argmax", "in": [6]},  # 9: int32[3]
            {"op": "add", "in": [7, 3]},  # 10: same shape
        ],
        "outputs": [{"name": "q", "tensor": 8}, {"name": "cls", "tensor": 9}, {"name": "s", "tensor": 10}],
    }


_BUILD: dict[str, Callable[[list[Any], dict[str, Any]], Op]] = {
    "matmul_nt": lambda i, m: MatmulNT(*i),
    "add": lambda i, m: Add(*i),
    "relu": lambda i, m: Relu(*i),
    "requant": lambda i, m: Requant(*i, m["multiplier"], m["shift"], m["zero_point"]),
    "argmax": lambda i, m: Argmax(*i),
}


def _objects(w: Wire) -> tuple[list[InputDecl], list[Op], list[OutputDecl]]:
    """``make_program``'s arguments for a map (only for maps whose structure they can express)."""
    inputs = [InputDecl(i["name"], TensorType(i["dtype"], tuple(i["shape"])), i["root"]) for i in w["inputs"]]
    ops = [_BUILD[o["op"]](o["in"], o) for o in w["ops"]]
    return inputs, ops, [OutputDecl(o["name"], o["tensor"]) for o in w["outputs"]]


def test_base_program_is_valid() -> None:
    w = _base()
    p = decode_program(canonical_bytes(w))
    assert p == make_program(*_objects(w)) == program_from_wire(w) and p.to_wire() == w
    assert [t.describe() for t in p.types[5:]] == [
        "int32[3,5]", "int32[3,5]", "int32[3,5]", "int8[3,5]", "int32[3]", "int32[3,5]",
    ]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """A mutation of the base map and a regex the refusal's message must contain.
    ``make``: whether ``make_program`` can be handed the same program."""

    id: str
    mutate: Callable[[Wire], None]
    match: str
    make: bool = True


def _set(path: str, value: Any) -> Callable[[Wire], None]:
    """``w[a][b]... = value`` for a path like ``"inputs.0.shape"``."""

    def mutate(w: Wire) -> None:
        *keys, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        node: Any = w
        for k in keys:
            node = node[k]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[Wire], None]:
    def mutate(w: Wire) -> None:
        *keys, last = path.split(".")
        node: Any = w
        for k in keys:
            node = node[int(k) if k.isdigit() else k]
        del node[last]

    return mutate


def _relu_chain(n: int) -> Callable[[Wire], None]:
    def mutate(w: Wire) -> None:
        w["ops"] = [{"op": "relu", "in": [2]}] * n

    return mutate


def _many_inputs(n: int) -> Callable[[Wire], None]:
    def mutate(w: Wire) -> None:
        w["inputs"] = [{"name": f"i{k}", "dtype": "int32", "shape": [5], "root": None} for k in range(n)]
        w["ops"] = [{"op": "relu", "in": [0]}]
        w["outputs"] = [{"name": "y", "tensor": n}]

    return mutate


def _many_outputs(n: int) -> Callable[[Wire], None]:
    def mutate(w: Wire) -> None:
        w["outputs"] = [{"name": f"o{k}", "tensor": 8} for k in range(n)]

    return mutate


def _big_matmul_output(w: Wire) -> None:  # int8[8193,1] · int8[8193,1]ᵀ = int32[8193,8193] > 2**26
    w["inputs"][0]["shape"], w["inputs"][1]["shape"] = [8193, 1], [8193, 1]
    w["ops"], w["outputs"] = [{"op": "matmul_nt", "in": [0, 1]}], [{"name": "y", "tensor": 5}]


def _program_too_big(w: Wire) -> None:  # 1 + 4 tensors of 2**26 elements > 2**28
    w["inputs"] = [{"name": "big", "dtype": "int32", "shape": [8192, 8192], "root": None}]
    w["ops"] = [{"op": "relu", "in": [t]} for t in range(4)]
    w["outputs"] = [{"name": "y", "tensor": 4}]


def _long_k(w: Wire) -> None:
    w["inputs"][0]["shape"], w["inputs"][1]["shape"] = [1, 65_537], [2, 65_537]
    w["ops"], w["outputs"] = [{"op": "matmul_nt", "in": [0, 1]}], [{"name": "y", "tensor": 5}]


EARLIER = r"operand \S+ is not an earlier tensor|operand .* is outside"
ILL = r"must be {} of {}, got {}"
CASES = [
    # references: cycles, later and unknown tensors
    Case("op-names-itself", _set("ops.2.in", [7]), r"operand 7 is not an earlier tensor \(0\.\.6\)"),
    Case("op-names-later-tensor", _set("ops.0.in", [0, 6]), r"operand 6 is not an earlier tensor \(0\.\.4\)"),
    Case("two-op-cycle", _set("ops.1.in", [7, 2]), r"op 1 \(add\): operand 7 is not an earlier tensor"),
    Case("unknown-tensor", _set("ops.1.in", [5, 999]), r"operand 999 is not an earlier tensor"),
    Case("negative-tensor", _set("ops.1.in", [5, -1]), EARLIER),
    Case("id-beyond-encoding", _set("ops.1.in", [5, 2**20 + 1]), EARLIER),
    Case(
        "output-unknown-tensor",
        _set("outputs.0.tensor", 11),
        r"output 0: tensor 11 is not a tensor \(0\.\.10\)",
    ),
    Case("output-negative", _set("outputs.0.tensor", -1), r"output 0.*tensor"),
    # unknown ops, arity, extra and missing keys
    Case("unknown-op", _set("ops.2.op", "conv"), r"unknown op 'conv'", make=False),
    Case("op-name-not-str", _set("ops.2.op", 3), r"unknown op 3", make=False),
    Case("op-without-name", _delete("ops.2.op"), r"unknown op None", make=False),
    Case("op-not-a-map", _set("ops.2", ["relu", 6]), r"an op must be a map", make=False),
    Case("arity", _set("ops.2.in", [6, 6]), r"'in' must be an array of 1 tensor ids", make=False),
    Case("in-not-array", _set("ops.2.in", 6), r"'in' must be an array", make=False),
    Case("op-extra-key", _set("ops.2.shift", 3), r"relu keys: extra \['shift'\], missing \[\]", make=False),
    Case(
        "requant-missing-key",
        _delete("ops.3.shift"),
        r"requant keys: extra \[\], missing \['shift'\]",
        make=False,
    ),
    Case("program-extra-key", _set("extra", 1), r"a program keys: extra \['extra'\]", make=False),
    Case("program-missing-key", _delete("outputs"), r"missing \['outputs'\]", make=False),
    Case("input-extra-key", _set("inputs.1.layout", "nt"), r"input 1 keys: extra \['layout'\]", make=False),
    Case("input-missing-root", _delete("inputs.1.root"), r"input 1 keys: .*missing \['root'\]", make=False),
    Case(
        "output-extra-key", _set("outputs.1.dtype", "int32"), r"output 1 keys: extra \['dtype'\]", make=False
    ),
    Case("inputs-not-array", _set("inputs", {}), r"inputs must be an array", make=False),
    # type and version
    Case("wrong-type", _set("type", "gcx-tp/programme"), r"not a gcx-tp/program v1 map", make=False),
    Case("type-as-bytes", _set("type", b"gcx-tp/program"), r"not a gcx-tp/program v1 map", make=False),
    Case("wrong-version", _set("v", 2), r"not a gcx-tp/program v1 map", make=False),
    Case("version-bool", _set("v", True), r"not a gcx-tp/program v1 map", make=False),
    Case("version-str", _set("v", "1"), r"not a gcx-tp/program v1 map", make=False),
    # ill-typed operands
    Case("matmul-int32", _set("ops.0.in", [3, 3]), ILL.format("int8", "rank 2", r"int32\[3,5\]")),
    Case("matmul-rank1", _set("ops.0.in", [4, 1]), ILL.format("int8", "rank 2", r"int8\[40\]")),
    Case("requant-int8", _set("ops.3.in", [0]), ILL.format("int32", "rank 1 or rank 2", r"int8\[3,40\]")),
    Case("relu-int8", _set("ops.2.in", [0]), ILL.format("int32", "rank 1 or rank 2", r"int8\[3,40\]")),
    Case("argmax-int8", _set("ops.4.in", [0]), ILL.format("int32", "rank 2", r"int8\[3,40\]")),
    Case("argmax-rank1", _set("ops.4.in", [2]), ILL.format("int32", "rank 2", r"int32\[5\]")),
    Case(
        "add-int8", _set("ops.1.in", [0, 0]), r"X " + ILL.format("int32", "rank 1 or rank 2", r"int8\[3,40\]")
    ),
    Case(
        "add-int8-y", _set("ops.1.in", [5, 4]), r"Y " + ILL.format("int32", "rank 1 or rank 2", r"int8\[40\]")
    ),
    # shape mismatches
    Case("k-mismatch", _set("inputs.1.shape", [5, 41]), r"A int8\[3,40\] and B int8\[5,41\] differ in k"),
    Case("add-shapes", _set("inputs.3.shape", [2, 5]), r"Y int32\[2,5\] is neither X's shape int32\[3,5\]"),
    Case(
        "bias-length",
        _set("inputs.2.shape", [6]),
        r"Y int32\[6\] is neither X's shape int32\[3,5\] nor one row",
    ),
    Case("bias-as-matrix-row", _set("inputs.3.shape", [1, 5]), r"Y int32\[1,5\] is neither"),
    Case("vector-plus-matrix", _set("ops.1.in", [2, 3]), r"Y int32\[3,5\] is neither X's shape int32\[5\]"),
    # limits and shapes
    Case("k-over-65536", _long_k, r"k = 65537 exceeds 65536"),
    Case(
        "rank-3", _set("inputs.0.shape", [3, 4, 10]), r"input 0 shape must be an array of 1 to 2 dimensions"
    ),
    Case("rank-0", _set("inputs.0.shape", []), r"input 0 shape must be an array of 1 to 2 dimensions"),
    Case("zero-dim", _set("inputs.0.shape", [0, 40]), r"input 0 dimension 0 is outside \[1, 67108864\]"),
    Case("negative-dim", _set("inputs.2.shape", [-5]), r"input 2 dimension -5 is outside"),
    Case("dim-over-2^26", _set("inputs.2.shape", [2**26 + 1]), r"input 2 dimension 67108865 is outside"),
    Case(
        "tensor-over-2^26",
        _set("inputs.0.shape", [8192, 8193]),
        r"input 0 int8\[8192,8193\] exceeds 67108864",
    ),
    Case("op-output-over-2^26", _big_matmul_output, r"output int32\[8193,8193\] exceeds 67108864 elements"),
    Case("program-over-2^28", _program_too_big, r"hold 335544320 elements, over 268435456"),
    Case("1025-ops", _relu_chain(1025), r"ops has 1025 entries, at most 1024|1 to 1024 ops, got 1025"),
    Case("0-ops", _relu_chain(0), r"a program has 1 to 1024 ops, got 0"),
    Case("65-inputs", _many_inputs(65), r"inputs has 65 entries, at most 64|1 to 64 inputs, got 65"),
    Case("0-inputs", _set("inputs", []), r"a program has 1 to 64 inputs, got 0"),
    Case("65-outputs", _many_outputs(65), r"outputs has 65 entries, at most 64|1 to 64 outputs, got 65"),
    Case("0-outputs", _set("outputs", []), r"a program has 1 to 64 outputs, got 0"),
    # names
    Case("name-uppercase", _set("inputs.0.name", "X"), r"input 0 name 'X' must match"),
    Case("name-digit-first", _set("inputs.0.name", "1x"), r"must match"),
    Case("name-dash", _set("outputs.0.name", "q-1"), r"output 0 name 'q-1' must match"),
    Case("name-empty", _set("inputs.0.name", ""), r"input 0 name has 0 characters"),
    Case("name-65-chars", _set("inputs.0.name", "a" * 65), r"input 0 name has 65 characters"),
    Case("name-trailing-newline", _set("inputs.0.name", "x\n"), r"input 0 name 'x\\n' must match"),
    Case(
        "output-name-trailing-newline", _set("outputs.1.name", "cls\n"), r"output 1 name 'cls\\n' must match"
    ),
    Case("name-not-str", _set("inputs.0.name", b"x"), r"input 0 name must be a string"),
    Case("duplicate-input", _set("inputs.1.name", "x"), r"input 1: duplicate name 'x'"),
    Case("duplicate-output", _set("outputs.2.name", "q"), r"output 2: duplicate name 'q'"),
    # dtypes and roots
    Case("dtype-int16", _set("inputs.0.dtype", "int16"), r"input 0 dtype 'int16' is not one of int8, int32"),
    Case("dtype-not-str", _set("inputs.0.dtype", 8), r"input 0 dtype 8 is not one of"),
    Case("root-31-bytes", _set("inputs.0.root", b"\x01" * 31), r"input 0 root has 31 bytes, expected 32"),
    Case("root-as-str", _set("inputs.0.root", "00" * 32), r"input 0 root must be bytes"),
    # requant attributes
    Case("shift-63", _set("ops.3.shift", 63), r"op 3.*shift 63 is outside \[0, 62\]"),
    Case("shift-negative", _set("ops.3.shift", -1), r"shift -1 is outside"),
    Case("zero-point-128", _set("ops.3.zero_point", 128), r"zero_point 128 is outside \[-128, 127\]"),
    Case("zero-point--129", _set("ops.3.zero_point", -129), r"zero_point -129 is outside"),
    Case("multiplier-2^31", _set("ops.3.multiplier", 2**31), r"multiplier 2147483648 is outside"),
    Case("multiplier--2^31-1", _set("ops.3.multiplier", -(2**31) - 1), r"multiplier -2147483649 is outside"),
    # booleans (and floats) where integers belong
    Case("bool-dim", _set("inputs.0.shape", [True, 40]), r"input 0 dimension must be an integer, got a bool"),
    Case(
        "float-dim", _set("inputs.0.shape", [3.0, 40]), r"input 0 dimension must be an integer, got a float"
    ),
    Case(
        "bool-operand",
        _set("ops.0.in", [False, True]),
        r"operand.*(must be an integer, got a bool|not an earlier)",
    ),
    Case("bool-multiplier", _set("ops.3.multiplier", True), r"multiplier must be an integer, got a bool"),
    Case("bool-shift", _set("ops.3.shift", False), r"shift must be an integer, got a bool"),
    Case("bool-zero-point", _set("ops.3.zero_point", True), r"zero_point must be an integer, got a bool"),
    Case("bool-output", _set("outputs.0.tensor", True), r"output 0.*(must be an integer, got a bool|True)"),
]


def _mutated(case: Case) -> Wire:
    w = copy.deepcopy(_base())
    case.mutate(w)
    return w


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_refused_by_decoder(case: Case) -> None:
    w = _mutated(case)
    with pytest.raises(ProgramError, match=case.match):
        program_from_wire(w)
    with pytest.raises(ProgramError, match=case.match):
        decode_program(canonical_bytes(w))


@pytest.mark.parametrize("case", [c for c in CASES if c.make], ids=lambda c: c.id)
def test_refused_by_make_program(case: Case) -> None:
    inputs, ops, outputs = _objects(_mutated(case))
    with pytest.raises(ProgramError, match=case.match):
        make_program(inputs, ops, outputs)


def test_make_program_refuses_out_of_range_requant_before_encoding() -> None:
    """Regression: ``make_program`` accepted ``Requant`` attributes the decoder refuses (shift 63,
    zero_point 128, multiplier 2**31, a bool), so it built programs whose own canonical bytes
    did not decode."""
    inputs, ops, outputs = _objects(_base())
    for bad, match in (
        (Requant(7, 1, 63, 0), "shift 63"),
        (Requant(7, 2**31, 1, 0), "multiplier 2147483648"),
        (Requant(7, 1, 1, 128), "zero_point 128"),
        (Requant(7, True, 1, 0), "multiplier must be an integer, got a bool"),
    ):
        with pytest.raises(ProgramError, match=re.escape(f"op 3 (requant) {match}")):
            make_program(inputs, [*ops[:3], bad, *ops[4:]], outputs)


def test_name_with_trailing_newline_refused() -> None:
    """Regression: names were checked with ``re.match`` and a ``$`` anchor, which also matches
    before a final newline, so ``"x\\n"`` passed as an input or output name."""
    inputs, ops, outputs = _objects(_base())
    with pytest.raises(ProgramError, match="must match"):
        make_program([InputDecl("x\n", inputs[0].type), *inputs[1:]], ops, outputs)
    with pytest.raises(ProgramError, match="must match"):
        make_program(inputs, ops, [OutputDecl("q\n", 8), *outputs[1:]])


def test_oversized_encoding_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bytes over 256 KiB are refused before they are parsed.
    w = _base()
    w["inputs"][0]["root"] = b"\x00" * (256 * 1024)
    with pytest.raises(
        ProgramError, match=r"not a program: message of \d+ bytes exceeds the limit of 262144"
    ):
        decode_program(canonical_bytes(w))
    # No program within the other limits reaches 256 KiB (1024 requants, 64 long-named inputs and
    # outputs encode to well under 100 KiB), so both checks are shown against a lowered limit.
    size = len(canonical_bytes(_base()))
    monkeypatch.setattr(program_mod, "MAX_PROGRAM_BYTES", size - 1)
    with pytest.raises(ProgramError, match=f"encodes to more than {size - 1} bytes"):
        make_program(*_objects(_base()))
    with pytest.raises(ProgramError, match="exceeds the limit"):
        decode_program(canonical_bytes(_base()))


def test_largest_program_within_limits_is_under_256_kib() -> None:
    """The claim above: a program at every count limit with long names and wide attributes."""
    inputs = [
        InputDecl(f"i{k:02d}" + "a" * 61, TensorType("int32", (2, 3)), bytes([k]) * 32) for k in range(64)
    ]
    ops: list[Op] = [Requant(63, -(2**31), 62, -128) if k % 2 else Relu(63) for k in range(1024)]
    p = make_program(inputs, ops, [OutputDecl(f"o{k:02d}" + "b" * 61, 64 + 1022) for k in range(64)])
    assert len(p.canonical) < 128 * 1024


# -- non-canonical encodings of a valid program -------------------------------------------------


def _pack(value: Any, *, keys: str = "sorted", wide_ints: bool = False, wide_headers: bool = False) -> bytes:
    """A small msgpack encoder with knobs; with its defaults it is the canonical encoding."""
    if type(value) is int and wide_ints:
        return (
            b"\xcf" + value.to_bytes(8, "big")
            if value >= 0
            else b"\xd3" + value.to_bytes(8, "big", signed=True)
        )
    if type(value) is dict:
        order = sorted(value) if keys != "reversed" else sorted(value, reverse=True)
        head = bytes([0xDE]) + len(value).to_bytes(2, "big") if wide_headers else bytes([0x80 | len(value)])
        opts = {"keys": keys, "wide_ints": wide_ints, "wide_headers": wide_headers}
        return head + b"".join(_pack(k, **opts) + _pack(value[k], **opts) for k in order)  # type: ignore[arg-type]
    if type(value) is list:
        assert len(value) < 16
        head = bytes([0xDC]) + len(value).to_bytes(2, "big") if wide_headers else bytes([0x90 | len(value)])
        opts = {"keys": keys, "wide_ints": wide_ints, "wide_headers": wide_headers}
        return head + b"".join(_pack(v, **opts) for v in value)  # type: ignore[arg-type]
    if type(value) is str and wide_headers:
        raw = value.encode()
        return b"\xd9" + bytes([len(raw)]) + raw
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def _duplicate_key(w: Wire) -> bytes:
    """The base map with its ``v`` key twice (msgpack keeps the last)."""
    body = b"".join(_pack(k) + _pack(w[k]) for k in sorted(w))
    return bytes([0x80 | (len(w) + 1)]) + _pack("v") + _pack(1) + body


def test_custom_encoder_is_canonical_by_default() -> None:
    assert _pack(_base()) == canonical_bytes(_base())


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_pack(_base(), keys="reversed"), id="unsorted-keys"),
        pytest.param(_pack(_base(), wide_ints=True), id="non-shortest-ints"),
        pytest.param(_pack(_base(), wide_headers=True), id="non-shortest-headers"),
        pytest.param(_duplicate_key(_base()), id="duplicate-key"),
        pytest.param(msgpack.packb(_base(), use_bin_type=True), id="insertion-order"),
    ],
)
def test_non_canonical_encoding_refused(data: bytes) -> None:
    assert data != canonical_bytes(_base())
    # the same valid program...
    assert program_from_wire(msgpack.unpackb(data, raw=False)) == decode_program(canonical_bytes(_base()))
    with pytest.raises(ProgramError, match="the program is not canonically encoded"):
        decode_program(data)  # ...but not its one encoding


def test_trailing_bytes_refused() -> None:
    with pytest.raises(ProgramError, match="trailing bytes"):
        decode_program(canonical_bytes(_base()) + b"\xc0")


# -- input values ---------------------------------------------------------------------------------


class Recorder:
    """A NumPy backend that records every call it gets."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._inner = NumpyBackend()

    def __getattr__(self, attr: str) -> Any:
        method = getattr(self._inner, attr)

        def call(*args: Any) -> Any:
            self.calls.append(attr)
            return method(*args)

        return call


def _values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "x": rng.integers(-128, 128, (3, 40), dtype=np.int8),
        "w": rng.integers(-128, 128, (5, 40), dtype=np.int8),
        "bias": rng.integers(-1000, 1000, 5, dtype=np.int32),
        "h": rng.integers(-1000, 1000, (3, 5), dtype=np.int32),
        "v": rng.integers(-128, 128, 40, dtype=np.int8),
    }


def _with(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(vals: dict[str, Any]) -> None:
        vals[name] = value(vals[name]) if callable(value) else value

    return mutate


# The bad value sits in the LAST input ("v") unless the case is about another: a checker that
# loads as it checks would have handed x, w, bias and h to the backend first.
VALUE_CASES = [
    ("missing", lambda vals: vals.pop("v"), r"inputs must be exactly"),
    ("extra", _with("zz", np.zeros(1, np.int8)), r"inputs must be exactly"),
    ("int16", _with("v", lambda a: a.astype(np.int16)), r"input 'v' is int16\[40\], expected int8\[40\]"),
    (
        "int32-for-int8",
        _with("v", lambda a: a.astype(np.int32)),
        r"input 'v' is int32\[40\], expected int8\[40\]",
    ),
    (
        "big-endian",
        _with("bias", lambda a: a.astype(">i4")),
        r"input 'bias' is >i4\[5\], expected int32\[5\]",
    ),
    ("uint8", _with("v", lambda a: a.view(np.uint8)), r"input 'v' is uint8\[40\]"),
    ("bool", _with("v", lambda a: a > 0), r"input 'v' is bool\[40\]"),
    ("shape", _with("v", lambda a: np.zeros(41, np.int8)), r"input 'v' is int8\[41\], expected int8\[40\]"),
    ("rank", _with("v", lambda a: a.reshape(1, 40)), r"input 'v' is int8\[1,40\], expected int8\[40\]"),
    ("flattened", _with("h", lambda a: a.reshape(-1)), r"input 'h' is int32\[15\], expected int32\[3,5\]"),
    ("fortran-order", _with("h", np.asfortranarray), r"input 'h' must be C-contiguous"),
    ("strided-view", _with("v", lambda a: np.zeros(80, np.int8)[::2]), r"input 'v' must be C-contiguous"),
    ("list", _with("v", lambda a: a.tolist()), r"input 'v' must be a numpy array, got a list"),
    ("scalar", _with("v", lambda a: np.int8(3)), r"input 'v' must be a numpy array"),
]


def _program(**roots: bytes) -> Any:
    w = _base()
    for decl in w["inputs"]:
        decl["root"] = roots.get(decl["name"])
    return decode_program(canonical_bytes(w))


@pytest.mark.parametrize(("mutate", "match"), [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES])
def test_wrong_input_values_refused_before_the_backend(
    mutate: Callable[[dict[str, Any]], None], match: str
) -> None:
    vals: dict[str, Any] = _values()
    mutate(vals)
    backend = Recorder()
    with pytest.raises(TensorValueError, match=match) as err:
        execute(_program(), vals, backend)  # type: ignore[arg-type]
    assert type(err.value) is TensorValueError
    assert backend.calls == []  # nothing loaded, nothing run
    with pytest.raises(TensorValueError, match=match) as err:
        commit_inputs(_program(), vals)
    assert type(err.value) is TensorValueError


def test_good_values_run_on_the_recorder() -> None:
    backend = Recorder()
    result = execute(_program(), _values(), backend)  # type: ignore[arg-type]
    assert backend.calls[:5] == ["load"] * 5 and "matmul_nt" in backend.calls
    assert result.outputs["cls"].shape == (3,)


def _attested_run(program: Any, vals: dict[str, Any], backend: Recorder) -> Any:
    """A provider's order of work: check the inputs against the buyer's roots, then run."""
    commit_inputs(program, vals)
    return execute(program, vals, backend)  # type: ignore[arg-type]


def test_buyer_root_mismatch_refused_before_running() -> None:
    vals = _values()
    good = {name: tensor_root(t, vals[name]) for t, name in enumerate(["x", "w", "bias", "h", "v"])}
    assert len(commit_inputs(_program(**good), vals)) == 5  # the right roots pass
    other = vals["v"].copy()
    other[7] ^= 1
    cases = {
        "another value": {**good, "v": tensor_root(4, other)},
        "another tensor id": {**good, "v": tensor_root(3, vals["v"])},  # the root binds the id
        "another shape": {**good, "h": tensor_root(3, vals["h"].reshape(5, 3).copy())},
        "a random root": {**good, "x": b"\x07" * 32},
    }
    for why, roots in cases.items():
        backend = Recorder()
        with pytest.raises(InputRootError, match="the program commits") as err:
            _attested_run(_program(**roots), vals, backend)
        assert isinstance(err.value, TensorValueError), why
        assert backend.calls == [], why
    backend = Recorder()
    _attested_run(_program(**good), vals, backend)
    assert "argmax" in backend.calls
