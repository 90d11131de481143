"""The operations of GCX tensor programs: their attributes, encoding and shape rules.

Exact semantics (overflow, rounding, ties) are in docs/gcx-tp.md, "Operations", and implemented
identically by every backend (:mod:`gcx.tp.backends`). This module only knows an op's operands
(tensor ids), attributes, its wire form and what type its output has, so a program is checked
completely before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Final

from gcx.errors import WireError
from gcx.wire import expect_int

from .errors import ProgramError
from .tensor import MAX_TENSOR_ELEMENTS, TensorType

MAX_K = 65_536  # longest matmul_nt reduction: |sum| <= 65536 * 128 * 128 = 2**30 < 2**31
MAX_SHIFT = 62
MAX_TENSOR_ID = 2**20  # a bound on ids in the encoding (programs are far smaller, see program.py)


@dataclass(frozen=True, slots=True)
class MatmulNT:
    """``C[m,n] = A[m,k] · B[n,k]ᵀ``: int8 operands, exact int32 result."""

    a: int
    b: int
    name: ClassVar[str] = "matmul_nt"

    @property
    def inputs(self) -> tuple[int, ...]:
        return (self.a, self.b)


@dataclass(frozen=True, slots=True)
class Add:
    """``X + Y`` on int32 with two's-complement wrap; ``Y`` is ``X``'s shape or a row vector."""

    x: int
    y: int
    name: ClassVar[str] = "add"

    @property
    def inputs(self) -> tuple[int, ...]:
        return (self.x, self.y)


@dataclass(frozen=True, slots=True)
class Relu:
    """``max(x, 0)`` elementwise on int32."""

    x: int
    name: ClassVar[str] = "relu"

    @property
    def inputs(self) -> tuple[int, ...]:
        return (self.x,)


@dataclass(frozen=True, slots=True)
class Requant:
    """int32 → int8: ``clamp(((x·multiplier + 2^(shift-1)) >> shift) + zero_point, -128, 127)``."""

    x: int
    multiplier: int
    shift: int
    zero_point: int
    name: ClassVar[str] = "requant"

    @property
    def inputs(self) -> tuple[int, ...]:
        return (self.x,)


@dataclass(frozen=True, slots=True)
class Argmax:
    """Index of each row's maximum (ties: the lowest index): int32[m,n] → int32[m]."""

    x: int
    name: ClassVar[str] = "argmax"

    @property
    def inputs(self) -> tuple[int, ...]:
        return (self.x,)


Op = MatmulNT | Add | Relu | Requant | Argmax
OP_NAMES = ("matmul_nt", "add", "relu", "requant", "argmax")


# -- opcodes: the fixed binary form of an op in op leaves (docs/gcx-tp.md, "Op leaves") --------


class OpCode(IntEnum):
    """The one-byte opcode of each op in its op leaf."""

    MATMUL_NT = 1
    ADD = 2
    RELU = 3
    REQUANT = 4
    ARGMAX = 5

    @property
    def op_type(self) -> type[Op]:
        """The op class of this opcode."""
        return _OPCODES[self][0]

    @property
    def arity(self) -> int:
        """Input tensors of the op: 2 for matmul_nt and add, 1 otherwise."""
        return _OPCODES[self][1]


# The one table: opcode -> (op class, arity). Names are the classes' ``name``.
_OPCODES: Final[dict[OpCode, tuple[type[Op], int]]] = {
    OpCode.MATMUL_NT: (MatmulNT, 2),
    OpCode.ADD: (Add, 2),
    OpCode.RELU: (Relu, 1),
    OpCode.REQUANT: (Requant, 1),
    OpCode.ARGMAX: (Argmax, 1),
}
_CODE_OF: Final[dict[type[Op], OpCode]] = {cls: code for code, (cls, _) in _OPCODES.items()}
assert tuple(cls.name for cls, _ in _OPCODES.values()) == OP_NAMES


@dataclass(frozen=True, slots=True)
class OpAttrs:
    """An op's attributes in its op leaf: requant's multiplier (i32), shift (0..62) and zero
    point (i8); all three are 0 for every other op."""

    multiplier: int = 0
    shift: int = 0
    zero_point: int = 0


NO_ATTRS: Final = OpAttrs()
"""The attributes of every op other than requant."""


def op_fields(op: Op) -> tuple[OpCode, OpAttrs]:
    """The opcode and attributes of ``op`` (its inputs are ``op.inputs``)."""
    code = _CODE_OF[type(op)]
    if isinstance(op, Requant):
        return code, OpAttrs(op.multiplier, op.shift, op.zero_point)
    return code, NO_ATTRS


def op_from_fields(code: int, inputs: Sequence[int], attrs: OpAttrs) -> Op:
    """The op with opcode ``code``, input tensor ids ``inputs`` and attributes ``attrs``: the
    inverse of :func:`op_fields`. :class:`ProgramError` when they do not describe an op: an
    unknown opcode, inputs that are not the opcode's arity of non-negative integers, requant
    attributes out of range (multiplier i32, shift 0..62, zero point i8) or any nonzero
    attribute of another op."""
    if type(code) not in (int, OpCode) or code not in _OPCODES:
        raise ProgramError(f"unknown opcode {code!r} (known: 1..{len(_OPCODES)})")
    opcode = OpCode(code)
    cls, arity = _OPCODES[opcode]
    ids = tuple(inputs)
    if len(ids) != arity:
        raise ProgramError(f"{cls.name} takes {arity} input{'s' if arity > 1 else ''}, not {len(ids)}")
    if any(type(t) is not int or t < 0 for t in ids):
        raise ProgramError(f"{cls.name} inputs {ids} are not tensor ids")
    m, s, z = attrs.multiplier, attrs.shift, attrs.zero_point
    if any(type(v) is not int for v in (m, s, z)):
        raise ProgramError(f"{cls.name} attributes {attrs} are not integers")
    if opcode is OpCode.REQUANT:
        if not (-(2**31) <= m < 2**31 and 0 <= s <= MAX_SHIFT and -128 <= z <= 127):
            raise ProgramError(
                f"requant attributes {attrs} out of range (multiplier i32, shift 0..{MAX_SHIFT}, zero_point i8)"
            )
        return Requant(ids[0], m, s, z)
    if attrs != NO_ATTRS:
        raise ProgramError(f"{cls.name} has no attributes, got {attrs}")
    if opcode is OpCode.MATMUL_NT:
        return MatmulNT(ids[0], ids[1])
    if opcode is OpCode.ADD:
        return Add(ids[0], ids[1])
    if opcode is OpCode.RELU:
        return Relu(ids[0])
    return Argmax(ids[0])


def _fail(where: str, message: str) -> ProgramError:
    return ProgramError(f"{where}: {message}")


def _want(where: str, t: TensorType, dtype: str, ranks: Sequence[int], role: str) -> None:
    if t.dtype != dtype or len(t.shape) not in ranks:
        rank_text = " or ".join(f"rank {r}" for r in ranks)
        raise _fail(where, f"{role} must be {dtype} of {rank_text}, got {t.describe()}")


def _out(where: str, dtype: str, shape: tuple[int, ...]) -> TensorType:
    t = TensorType(dtype, shape)  # type: ignore[arg-type]
    if t.elements > MAX_TENSOR_ELEMENTS:
        raise _fail(where, f"output {t.describe()} exceeds {MAX_TENSOR_ELEMENTS} elements")
    return t


def infer(op: Op, types: Sequence[TensorType], where: str) -> TensorType:
    """The type of ``op``'s output given its operands' types; :class:`ProgramError` if the
    operands do not fit the op. ``types[i]`` is the type of tensor ``i``."""
    if isinstance(op, MatmulNT):
        a, b = types[op.a], types[op.b]
        _want(where, a, "int8", (2,), "A")
        _want(where, b, "int8", (2,), "B")
        if a.shape[1] != b.shape[1]:
            raise _fail(where, f"A {a.describe()} and B {b.describe()} differ in k")
        if a.shape[1] > MAX_K:
            raise _fail(where, f"k = {a.shape[1]} exceeds {MAX_K}")
        return _out(where, "int32", (a.shape[0], b.shape[0]))
    if isinstance(op, Add):
        x, y = types[op.x], types[op.y]
        _want(where, x, "int32", (1, 2), "X")
        _want(where, y, "int32", (1, 2), "Y")
        if y.shape != x.shape and not (len(x.shape) == 2 and y.shape == x.shape[1:]):
            raise _fail(where, f"Y {y.describe()} is neither X's shape {x.describe()} nor one row of it")
        return x
    if isinstance(op, Relu):
        x = types[op.x]
        _want(where, x, "int32", (1, 2), "X")
        return x
    if isinstance(op, Requant):
        x = types[op.x]
        _want(where, x, "int32", (1, 2), "X")
        _check_requant(op, where)
        return TensorType("int8", x.shape)
    x = types[op.x]
    _want(where, x, "int32", (2,), "X")
    return TensorType("int32", (x.shape[0],))


# -- wire form --------------------------------------------------------------------------------


def encode_op(op: Op) -> dict[str, Any]:
    """The op's map: ``{"op": name, "in": [ids...]}`` plus ``requant``'s attributes."""
    out: dict[str, Any] = {"op": op.name, "in": list(op.inputs)}
    if isinstance(op, Requant):
        out.update(multiplier=op.multiplier, shift=op.shift, zero_point=op.zero_point)
    return out


def _ids(value: Any, count: int, where: str) -> list[int]:
    if type(value) is not list or len(value) != count:
        raise _fail(where, f"'in' must be an array of {count} tensor ids")
    return [expect_int(v, f"{where} operand", 0, MAX_TENSOR_ID) for v in value]


def _requant(value: dict[str, Any], ids: list[int], where: str) -> Requant:
    return Requant(
        ids[0],
        multiplier=expect_int(value["multiplier"], f"{where} multiplier", -(2**31), 2**31 - 1),
        shift=expect_int(value["shift"], f"{where} shift", 0, MAX_SHIFT),
        zero_point=expect_int(value["zero_point"], f"{where} zero_point", -128, 127),
    )


def _check_requant(op: Requant, where: str) -> None:
    """The decoder's attribute checks, for a :class:`Requant` built in code (``make_program``)."""
    try:
        _requant({"multiplier": op.multiplier, "shift": op.shift, "zero_point": op.zero_point}, [op.x], where)
    except WireError as exc:
        raise ProgramError(str(exc)) from None


_DECODERS: dict[str, tuple[frozenset[str], int, Callable[[dict[str, Any], list[int], str], Op]]] = {
    "matmul_nt": (frozenset({"op", "in"}), 2, lambda v, i, w: MatmulNT(i[0], i[1])),
    "add": (frozenset({"op", "in"}), 2, lambda v, i, w: Add(i[0], i[1])),
    "relu": (frozenset({"op", "in"}), 1, lambda v, i, w: Relu(i[0])),
    "requant": (frozenset({"op", "in", "multiplier", "shift", "zero_point"}), 1, _requant),
    "argmax": (frozenset({"op", "in"}), 1, lambda v, i, w: Argmax(i[0])),
}


def decode_op(value: Any, where: str) -> Op:
    """Decode one op map strictly (exact key set, integer ids and attributes in range)."""
    if type(value) is not dict:
        raise _fail(where, f"an op must be a map, got a {type(value).__name__}")
    if any(type(k) is not str for k in value):
        raise _fail(where, "an op has a key that is not a string")
    name = value.get("op")
    if type(name) is not str or name not in _DECODERS:
        raise _fail(where, f"unknown op {name!r} (known: {', '.join(OP_NAMES)})")
    keys, arity, build = _DECODERS[name]
    if set(value) != keys:
        extra, missing = sorted(set(value) - keys), sorted(keys - set(value))
        raise _fail(where, f"{name} keys: extra {extra}, missing {missing}")
    try:
        return build(value, _ids(value["in"], arity, where), where)
    except ProgramError:
        raise
    except WireError as exc:
        raise ProgramError(str(exc)) from None
