"""GCX tensor programs: structure, canonical encoding, digest and the strict decoder.

A program declares named inputs (dtype, shape and the buyer's 32-byte row root of the value, or
none), a list of ops and named outputs. Tensors are numbered: the inputs first, in declaration
order, then the output of each op, in op order; an op names only earlier tensors, so a program
is acyclic by construction. :func:`make_program` and :func:`decode_program` check everything
(dtypes, shapes, references, limits) and infer every tensor's type before anything runs.

Encoding (docs/gcx-tp.md, "Program encoding"): the canonical msgpack (:mod:`gcx.wire`) of the
map ``{"type": "gcx-tp/program", "v": 1, "inputs": [...], "ops": [...], "outputs": [...]}``;
the digest is the keccak-256 of those bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_hash.auto import keccak

from gcx.errors import WireError
from gcx.wire import canonical_bytes, expect_bytes, expect_int, expect_str, unpack

from .errors import ProgramError
from .ops import MAX_TENSOR_ID, Op, decode_op, encode_op, infer
from .tensor import DTYPES, MAX_RANK, MAX_TENSOR_ELEMENTS, TensorType

PROGRAM_TYPE = "gcx-tp/program"
PROGRAM_VERSION = 1
MAX_INPUTS = 64
MAX_OPS = 1024
MAX_OUTPUTS = 64
MAX_PROGRAM_ELEMENTS = 2**28  # all tensors of a program together (inputs and op outputs)
MAX_PROGRAM_BYTES = 256 * 1024
ROOT_BYTES = 32
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class InputDecl:
    """A program input: its name, type and the buyer's row root of its value (``None``: the
    buyer committed none)."""

    name: str
    type: TensorType
    root: bytes | None = None


@dataclass(frozen=True, slots=True)
class OutputDecl:
    """A named program output: the id of the tensor it is."""

    name: str
    tensor: int


@dataclass(frozen=True)
class Program:
    """A validated program; build with :func:`make_program` or :func:`decode_program`.

    ``types[i]`` is the type of tensor ``i`` (inputs first, then each op's output).
    """

    inputs: tuple[InputDecl, ...]
    ops: tuple[Op, ...]
    outputs: tuple[OutputDecl, ...]
    types: tuple[TensorType, ...]

    def to_wire(self) -> dict[str, Any]:
        """The program's map (what :attr:`canonical` encodes)."""
        return {
            "type": PROGRAM_TYPE,
            "v": PROGRAM_VERSION,
            "inputs": [
                {"name": i.name, "dtype": i.type.dtype, "shape": list(i.type.shape), "root": i.root}
                for i in self.inputs
            ],
            "ops": [encode_op(op) for op in self.ops],
            "outputs": [{"name": o.name, "tensor": o.tensor} for o in self.outputs],
        }

    @cached_property
    def canonical(self) -> bytes:
        """The canonical msgpack bytes of the program."""
        return canonical_bytes(self.to_wire())

    @cached_property
    def digest(self) -> bytes:
        """keccak-256 of :attr:`canonical` (32 bytes)."""
        return bytes(keccak(self.canonical))

    def op_tensor(self, index: int) -> int:
        """The tensor id of op ``index``'s output."""
        return len(self.inputs) + index


def _name(value: Any, what: str) -> str:
    name = expect_str(value, what, 1, 64)
    if not NAME_RE.fullmatch(name):  # not match(): '$' would accept a trailing newline
        raise ProgramError(f"{what} {name!r} must match {NAME_RE.pattern}")
    return name


def tensor_type(dtype: Any, shape: Any, what: str) -> TensorType:
    """A validated :class:`TensorType`: a known dtype, rank 1 or 2, dimensions at least 1, at
    most :data:`MAX_TENSOR_ELEMENTS` elements."""
    if type(dtype) is not str or dtype not in DTYPES:
        raise ProgramError(f"{what} dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if type(shape) not in (list, tuple) or not 1 <= len(shape) <= MAX_RANK:
        raise ProgramError(f"{what} shape must be an array of 1 to {MAX_RANK} dimensions")
    dims = tuple(expect_int(d, f"{what} dimension", 1, MAX_TENSOR_ELEMENTS) for d in shape)
    t = TensorType(dtype, dims)
    if t.elements > MAX_TENSOR_ELEMENTS:
        raise ProgramError(f"{what} {t.describe()} exceeds {MAX_TENSOR_ELEMENTS} elements")
    return t


def make_program(inputs: Sequence[InputDecl], ops: Sequence[Op], outputs: Sequence[OutputDecl]) -> Program:
    """Check a program and infer its tensor types; :class:`ProgramError` if it is refused."""
    try:
        return _make(inputs, ops, outputs)
    except ProgramError:
        raise
    except WireError as exc:
        raise ProgramError(str(exc)) from None


def _make(inputs: Sequence[InputDecl], ops: Sequence[Op], outputs: Sequence[OutputDecl]) -> Program:
    if not 1 <= len(inputs) <= MAX_INPUTS:
        raise ProgramError(f"a program has 1 to {MAX_INPUTS} inputs, got {len(inputs)}")
    if not 1 <= len(ops) <= MAX_OPS:
        raise ProgramError(f"a program has 1 to {MAX_OPS} ops, got {len(ops)}")
    if not 1 <= len(outputs) <= MAX_OUTPUTS:
        raise ProgramError(f"a program has 1 to {MAX_OUTPUTS} outputs, got {len(outputs)}")
    types: list[TensorType] = []
    seen: set[str] = set()
    for n, decl in enumerate(inputs):
        what = f"input {n}"
        _name(decl.name, f"{what} name")
        if decl.name in seen:
            raise ProgramError(f"{what}: duplicate name {decl.name!r}")
        seen.add(decl.name)
        types.append(tensor_type(decl.type.dtype, decl.type.shape, what))
        if decl.root is not None:
            expect_bytes(decl.root, f"{what} root", ROOT_BYTES, ROOT_BYTES)
    for j, op in enumerate(ops):
        where = f"op {j} ({op.name})"
        for t in op.inputs:
            if type(t) is not int or not 0 <= t < len(types):
                raise ProgramError(f"{where}: operand {t!r} is not an earlier tensor (0..{len(types) - 1})")
        types.append(infer(op, types, where))
    total = sum(t.elements for t in types)
    if total > MAX_PROGRAM_ELEMENTS:
        raise ProgramError(f"the program's tensors hold {total} elements, over {MAX_PROGRAM_ELEMENTS}")
    seen.clear()
    for n, out in enumerate(outputs):
        what = f"output {n}"
        _name(out.name, f"{what} name")
        if out.name in seen:
            raise ProgramError(f"{what}: duplicate name {out.name!r}")
        seen.add(out.name)
        if type(out.tensor) is not int or not 0 <= out.tensor < len(types):
            raise ProgramError(f"{what}: tensor {out.tensor!r} is not a tensor (0..{len(types) - 1})")
    program = Program(tuple(inputs), tuple(ops), tuple(outputs), tuple(types))
    if len(program.canonical) > MAX_PROGRAM_BYTES:
        raise ProgramError(f"the program encodes to more than {MAX_PROGRAM_BYTES} bytes")
    return program


def _exact_keys(value: Any, keys: frozenset[str], what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ProgramError(f"{what} must be a map, got a {type(value).__name__}")
    if any(type(k) is not str for k in value):  # gcx.wire.unpack never yields others; callers may
        raise ProgramError(f"{what} has a key that is not a string")
    if set(value) != keys:
        extra, missing = sorted(set(value) - keys), sorted(keys - set(value))
        raise ProgramError(f"{what} keys: extra {extra}, missing {missing}")
    return value


def _array(value: Any, what: str, limit: int) -> list[Any]:
    if type(value) is not list:
        raise ProgramError(f"{what} must be an array, got a {type(value).__name__}")
    if len(value) > limit:
        raise ProgramError(f"{what} has {len(value)} entries, at most {limit}")
    return value


_PROGRAM_KEYS = frozenset({"type", "v", "inputs", "ops", "outputs"})
_INPUT_KEYS = frozenset({"name", "dtype", "shape", "root"})
_OUTPUT_KEYS = frozenset({"name", "tensor"})


def program_from_wire(value: Any) -> Program:
    """Decode an already unpacked program map (as embedded in a job file) strictly."""
    try:
        return _from_wire(value)
    except ProgramError:
        raise
    except WireError as exc:
        raise ProgramError(str(exc)) from None


def _from_wire(value: Any) -> Program:
    m = _exact_keys(value, _PROGRAM_KEYS, "a program")
    if m["type"] != PROGRAM_TYPE or type(m["v"]) is not int or m["v"] != PROGRAM_VERSION:
        raise ProgramError(f"not a {PROGRAM_TYPE} v{PROGRAM_VERSION} map: {m['type']!r} v{m['v']!r}")
    inputs = []
    for n, raw in enumerate(_array(m["inputs"], "inputs", MAX_INPUTS)):
        i = _exact_keys(raw, _INPUT_KEYS, f"input {n}")
        root = (
            None if i["root"] is None else expect_bytes(i["root"], f"input {n} root", ROOT_BYTES, ROOT_BYTES)
        )
        t = tensor_type(i["dtype"], i["shape"], f"input {n}")
        inputs.append(InputDecl(_name(i["name"], f"input {n} name"), t, root))
    ops = [decode_op(raw, f"op {j}") for j, raw in enumerate(_array(m["ops"], "ops", MAX_OPS))]
    outputs = []
    for n, raw in enumerate(_array(m["outputs"], "outputs", MAX_OUTPUTS)):
        o = _exact_keys(raw, _OUTPUT_KEYS, f"output {n}")
        outputs.append(
            OutputDecl(
                _name(o["name"], f"output {n} name"),
                expect_int(o["tensor"], f"output {n} tensor", 0, MAX_TENSOR_ID),
            )
        )
    return _make(inputs, ops, outputs)


def decode_program(data: bytes) -> Program:
    """Decode canonical program bytes strictly; only :class:`ProgramError` escapes.

    Non-canonical encodings of a valid program are refused too, so one program has one
    encoding and one digest.
    """
    try:
        value = unpack(data, MAX_PROGRAM_BYTES)
    except WireError as exc:
        raise ProgramError(f"not a program: {exc}") from None
    program = program_from_wire(value)
    if program.canonical != bytes(data):
        raise ProgramError("the program is not canonically encoded")
    return program
