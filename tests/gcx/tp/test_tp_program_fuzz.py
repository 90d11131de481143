"""Fuzzing the GCX-TP program decoder: random bytes, mutations of valid canonical programs and
random msgpack-like values. :func:`decode_program` either raises :class:`ProgramError` or
returns a program whose canonical bytes are exactly its input; :func:`program_from_wire` either
raises :class:`ProgramError` or returns a program whose canonical map is the value. No other
exception ever escapes (an escaping one fails the test with its own traceback).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcx.tp import (
    Add,
    Argmax,
    InputDecl,
    MatmulNT,
    OutputDecl,
    Program,
    ProgramError,
    Relu,
    Requant,
    TensorType,
    decode_program,
    make_program,
)
from gcx.tp.program import program_from_wire
from gcx.wire import canonical_bytes

SEEDS = [
    make_program(
        [InputDecl("x", TensorType("int8", (3, 40))), InputDecl("w", TensorType("int8", (5, 40)), b"\x01" * 32),
         InputDecl("bias", TensorType("int32", (5,)))],
        [MatmulNT(0, 1), Add(3, 2), Relu(4), Requant(5, 1 << 20, 24, -3), Argmax(4)],
        [OutputDecl("q", 6), OutputDecl("cls", 7)],
    ),
    make_program([InputDecl("a", TensorType("int32", (7,)))], [Relu(0)], [OutputDecl("y", 1)]),
    make_program(
        [InputDecl("m", TensorType("int32", (300, 2)), bytes(range(32)))],
        [Requant(0, -(2**31), 62, -128), MatmulNT(1, 1), Argmax(2)] + [Relu(2)] * 20,
        [OutputDecl(f"out_{k}", k) for k in range(24)],
    ),
]  # fmt: skip


def _check_bytes(data: bytes) -> Program | None:
    """The decoder's contract on ``data``; the program when it decoded."""
    try:
        p = decode_program(data)
    except ProgramError:
        return None
    assert p.canonical == data
    assert decode_program(p.canonical) == p
    return p


def test_seeds_decode() -> None:
    for p in SEEDS:
        assert _check_bytes(p.canonical) == p


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    _check_bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_after_a_map_header(tail: bytes) -> None:
    _check_bytes(b"\x85" + tail)  # a 5-entry map, as a program starts: more gets past msgpack


MARKERS = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xCA, 0xCB, 0xCC, 0xCD,
           0xCE, 0xCF, 0xD0, 0xD3, 0xD4, 0xD9, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xFF]  # fmt: skip


@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(original, mutated) for a seed program and one to three mutations."""
    original = draw(st.sampled_from(SEEDS)).canonical
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "marker", "truncate", "insert", "append", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "marker" and data:
            data[pos] = draw(st.sampled_from(MARKERS))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos : pos + draw(st.integers(1, 8))]
    return original, bytes(data)


@settings(max_examples=500, deadline=None)
@given(mutations())
def test_mutated_programs(case: tuple[bytes, bytes]) -> None:
    original, data = case
    p = _check_bytes(data)
    if p is not None and data != original:
        assert p.digest != decode_program(original).digest


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_every_bit_flip_and_truncation(seed: int) -> None:
    """Exhaustive over one seed: every single-bit flip, every truncation and every duplicated
    byte is refused or decodes to a different program with exactly those bytes."""
    original = SEEDS[seed].canonical
    variants = [original[:n] for n in range(len(original))]
    variants += [original[:n] + original[n - 1 :] for n in range(1, len(original) + 1)]
    for pos in range(len(original)):
        for bit in range(8):
            data = bytearray(original)
            data[pos] ^= 1 << bit
            variants.append(bytes(data))
    decoded = 0
    for data in variants:
        p = _check_bytes(data)
        if p is not None:
            decoded += 1
            assert p.digest != SEEDS[seed].digest
    assert 0 < decoded < len(variants) // 2  # e.g. a renamed output decodes; most damage is refused


# -- program_from_wire on msgpack-like values -------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        ["int8", "int32", "relu", "matmul_nt", "add", "requant", "argmax", "gcx-tp/program", "x"]
    ),
    st.binary(max_size=40),
)
KEYS = st.one_of(
    st.sampled_from(["type", "v", "inputs", "ops", "outputs", "name", "dtype", "shape", "root", "op", "in",
                     "multiplier", "shift", "zero_point", "tensor"]),
    st.text(max_size=4),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


def _check_value(value: Any) -> Program | None:
    try:
        p = program_from_wire(value)
    except ProgramError:
        return None
    assert canonical_bytes(value) == p.canonical  # bool is not 1, 1.0 is not 1: bytes tell
    return p


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_random_values(value: Any) -> None:
    _check_value(value)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if type(node) is dict:
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif type(node) is list:
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def near_programs(draw: st.DrawFn) -> Any:
    """A seed program's map with one to three nodes replaced, added or removed."""
    wire = draw(st.sampled_from(SEEDS)).to_wire()
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(wire)[1:]
        path = draw(st.sampled_from(paths))
        parent: Any = wire
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "add-key"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add-key" and type(parent) is dict:
            parent[draw(KEYS)] = draw(VALUES)
        else:
            parent[path[-1]] = draw(VALUES)
    return wire


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_programs())
def test_near_programs(value: Any) -> None:
    p = _check_value(value)
    if p is not None:
        assert _check_bytes(p.canonical) == p


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.one_of(st.integers(), st.binary(max_size=3), st.text(max_size=3)), VALUES, max_size=6)
)
def test_maps_with_keys_that_are_not_strings(value: dict[Any, Any]) -> None:
    """Regression: a map with both string and non-string extra keys made the key-set message's
    ``sorted`` raise TypeError out of ``program_from_wire``."""
    _check_value(value)
    wire = SEEDS[1].to_wire()
    wire["ops"][0] = {**wire["ops"][0], **value}
    _check_value(wire)


def test_mixed_key_types_refused() -> None:
    with pytest.raises(ProgramError, match="a program has a key that is not a string"):
        program_from_wire({1: 2, "a": "x"})
    wire = SEEDS[1].to_wire()
    wire["ops"][0][b"k"] = 1
    wire["ops"][0]["extra"] = 1
    with pytest.raises(ProgramError, match="op 0: an op has a key that is not a string"):
        program_from_wire(wire)
