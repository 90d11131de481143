"""gcx.wire: canonical encoding, strict decoding, typed message dispatch, fuzzing."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path
from typing import Annotated, Any, Literal

import msgpack
import pytest
from eth_account import Account
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from gcx import wire
from gcx.errors import DecodeError, OversizeError, SchemaError, WireError
from gcx.keys import ParticipantKey
from gcx.reference import load_profile
from gcx.report import BenchReport
from gcx.stats import summarize
from gcx.wire import canonical_bytes, decode_as, decode_message, encode_message, unpack


@wire.register("gcx.test.ping", 1)
class Ping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: Literal["gcx.test.ping"]
    v: Literal[1]
    seq: Annotated[int, Field(ge=0)]
    note: Annotated[str, Field(max_length=32)]


PING = {"type": "gcx.test.ping", "v": 1, "seq": 7, "note": "hi"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list | tuple):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def nest(levels: int, inner: Any = 1) -> Any:
    for _ in range(levels):
        inner = [inner]
    return inner


def _report_bytes() -> bytes:
    from node_agent.backends.base import DeviceInfo, empty_telemetry
    from node_agent.capacity import build_report
    from node_agent.runner import BenchResult, BenchRun

    profile = load_profile()
    acct = Account.from_key(bytes(range(1, 33)))
    key = ParticipantKey("fuzz", acct.address, Path("/nonexistent"), False, bytes(acct.key))
    results = []
    for name in ("gemm_fp64", "gemm_fp32", "gemm_int8", "mem_triad"):
        fig = profile.benchmarks[name]
        s = (fig.value * 0.99, fig.value, fig.value * 1.01)
        results.append(BenchResult(name, fig.unit, s, summarize(s), "n", "exact", 2))
    run = BenchRun(
        "numpy", DeviceInfo("cpu", "cpu", "x", None, {}), True, tuple(results), empty_telemetry(), 1.0
    )
    return canonical_bytes(build_report(run, profile, key, now=1))


REPORT_BYTES = _report_bytes()
PING_BYTES = canonical_bytes(PING)


# --- canonical encoding ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=10), scalars, max_size=8), st.randoms(use_true_random=False))
def test_key_order_does_not_matter(d: dict[str, Any], rnd: Any) -> None:
    items = list(d.items())
    rnd.shuffle(items)
    assert canonical_bytes(dict(items)) == canonical_bytes(d)
    assert canonical_bytes({"outer": dict(items)}) == canonical_bytes({"outer": d})


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(max_size=10), st.integers(min_value=-(2**63), max_value=2**64 - 1), max_size=8)
)
def test_keys_are_encoded_sorted_by_utf8(d: dict[str, int]) -> None:
    assert list(unpack(canonical_bytes(d))) == sorted(d, key=lambda k: k.encode())


def test_canonical_scalar_forms() -> None:
    assert canonical_bytes(1.5) == b"\xcb" + struct.pack(">d", 1.5)  # always float64
    assert canonical_bytes(1) == b"\x01"  # shortest int
    assert canonical_bytes(1.0) != canonical_bytes(1)
    assert canonical_bytes(True) == b"\xc3"
    assert canonical_bytes(b"ab") == b"\xc4\x02ab"  # bin, not str
    assert canonical_bytes((1, 2)) == canonical_bytes([1, 2])


@settings(max_examples=150, deadline=None)
@given(values)
def test_round_trip(value: Any) -> None:
    assume(depth(value) <= wire.MAX_DEPTH)
    assert unpack(canonical_bytes(value)) == value
    assert canonical_bytes(unpack(canonical_bytes(value))) == canonical_bytes(value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_inf_rejected(bad: float) -> None:
    with pytest.raises(SchemaError):
        canonical_bytes(bad)
    with pytest.raises(SchemaError):
        canonical_bytes({"a": [1, {"b": bad}]})
    with pytest.raises(DecodeError, match="NaN"):
        unpack(msgpack.packb({"a": [bad]}))
    with pytest.raises(DecodeError):
        unpack(msgpack.packb(bad, use_single_float=True))


@pytest.mark.parametrize("value", [{1, 2}, object(), 1j, {"a": frozenset()}, [bytearray(b"x")]])
def test_unencodable_values(value: Any) -> None:
    with pytest.raises(SchemaError):
        canonical_bytes(value)


@pytest.mark.parametrize("big", [2**64, -(2**63) - 1])
def test_out_of_range_int_is_schema_error(big: int) -> None:
    with pytest.raises(SchemaError):
        canonical_bytes({"n": big})


def test_int_range_limits_encode() -> None:
    assert unpack(canonical_bytes([2**64 - 1, -(2**63)])) == [2**64 - 1, -(2**63)]


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb(msgpack.ExtType(5, b"abc")),
        msgpack.packb({"a": msgpack.ExtType(1, b"x")}),
        b"\xc7\x00\x05",  # ext8 of length 0
        msgpack.packb(msgpack.Timestamp(1, 0)),  # the built-in timestamp extension (-1)
        b"\xd4\xff\x00",  # fixext1 with type -1
    ],
)
def test_ext_types_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError):
        unpack(data)


def test_trailing_bytes_rejected() -> None:
    with pytest.raises(DecodeError, match="trailing"):
        unpack(PING_BYTES + b"\x00")
    with pytest.raises(DecodeError):
        unpack(b"\x01\x02")


def test_truncated_rejected() -> None:
    for cut in range(len(PING_BYTES)):
        with pytest.raises(DecodeError):
            unpack(PING_BYTES[:cut])


def test_oversize_rejected_before_parsing() -> None:
    assert unpack(canonical_bytes("x" * 90), max_size=92) == "x" * 90  # exactly at the limit
    with pytest.raises(OversizeError):
        unpack(canonical_bytes("x" * 91), max_size=92)
    # garbage that would be a DecodeError is an OversizeError when too large: no parsing happened
    with pytest.raises(OversizeError):
        unpack(b"\xc1" * 101, max_size=100)
    with pytest.raises(OversizeError):
        unpack(b"\xc1" * (wire.DEFAULT_MAX_SIZE + 1))
    with pytest.raises(OversizeError):
        decode_message(b"\x00" * 101, max_size=100)
    with pytest.raises(OversizeError):
        decode_as(Ping, b"\x00" * 101, max_size=100)


def test_declared_length_beyond_data_is_rejected() -> None:
    # a str32 header claiming 4 GiB: limits come from the size, nothing is allocated
    with pytest.raises(DecodeError):
        unpack(b"\xdb\xff\xff\xff\xff")
    with pytest.raises(DecodeError):
        unpack(b"\xdd\xff\xff\xff\xff")  # array32
    with pytest.raises(DecodeError):
        unpack(b"\xdf\xff\xff\xff\xff")  # map32


def test_non_string_map_keys_rejected() -> None:
    with pytest.raises(SchemaError):
        canonical_bytes({1: "a"})
    with pytest.raises(SchemaError):
        canonical_bytes({"ok": {b"k": 1}})
    with pytest.raises(DecodeError):
        unpack(msgpack.packb({1: "a"}))
    with pytest.raises(DecodeError):
        unpack(msgpack.packb({"a": {None: 1}}))


def test_bytes_map_keys_rejected_by_unpack() -> None:
    with pytest.raises(DecodeError):
        unpack(msgpack.packb({b"a": 1}, use_bin_type=True))


def test_deep_nesting() -> None:
    assert unpack(canonical_bytes(nest(wire.MAX_DEPTH))) == nest(wire.MAX_DEPTH)
    with pytest.raises(SchemaError, match="deeper"):
        canonical_bytes(nest(wire.MAX_DEPTH + 1))
    with pytest.raises(DecodeError, match="deeper"):
        unpack(msgpack.packb(nest(wire.MAX_DEPTH + 1)))
    deep_map: Any = 1
    for _ in range(wire.MAX_DEPTH + 1):
        deep_map = {"k": deep_map}
    with pytest.raises(DecodeError):
        unpack(msgpack.packb(deep_map))
    with pytest.raises(DecodeError):
        unpack(b"\x91" * 100_000 + b"\x90")  # beyond msgpack's own stack: still a DecodeError


@pytest.mark.parametrize("data", ["str", 5, None, [1]])
def test_unpack_rejects_non_bytes(data: Any) -> None:
    with pytest.raises(DecodeError):
        unpack(data)


def test_unpack_accepts_bytearray_and_memoryview() -> None:
    assert unpack(bytearray(PING_BYTES)) == PING
    assert unpack(memoryview(PING_BYTES)) == PING


def test_invalid_utf8_string_rejected() -> None:
    with pytest.raises(DecodeError):
        unpack(b"\xa2\xff\xfe")


# --- typed messages -------------------------------------------------------------------------


def test_decode_message_valid() -> None:
    msg = decode_message(PING_BYTES)
    assert isinstance(msg, Ping)
    assert (msg.seq, msg.note) == (7, "hi")
    assert encode_message(msg) == PING_BYTES


def test_decode_as() -> None:
    assert decode_as(Ping, PING_BYTES) == Ping(**PING)
    report = decode_as(BenchReport, REPORT_BYTES)
    assert report.schema_ == "gcx.bench/1"


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({**PING, "type": "gcx.test.pong"}, "unknown message type gcx.test.pong/1"),
        ({**PING, "v": 2}, "unknown message type gcx.test.ping/2"),
        ({**PING, "v": True}, "integer 'v'"),
        ({**PING, "v": 1.0}, "integer 'v'"),
        ({**PING, "v": "1"}, "integer 'v'"),
        ({**PING, "type": 5}, "string 'type'"),
        ({k: v for k, v in PING.items() if k != "type"}, "string 'type'"),
        ({k: v for k, v in PING.items() if k != "seq"}, "seq"),
        ({**PING, "seq": "7"}, "seq"),
        ({**PING, "seq": 7.0}, "seq"),
        ({**PING, "seq": -1}, "seq"),
        ({**PING, "note": "x" * 33}, "note"),
        ({**PING, "note": b"hi"}, "note"),
        ({**PING, "extra": 1}, "extra"),
    ],
)
def test_decode_message_schema_errors(message: dict[str, Any], match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        decode_message(canonical_bytes(message))


@pytest.mark.parametrize("value", [[PING], "ping", 1, None])
def test_decode_message_needs_a_map(value: Any) -> None:
    with pytest.raises(SchemaError, match="must be a map"):
        decode_message(canonical_bytes(value))


def test_register_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        wire.register("gcx.test.ping", 1)(Ping)


# --- fuzzing: only WireError subclasses ever escape -----------------------------------------


def _only_wire_errors(data: bytes) -> None:
    for decode in (unpack, decode_message, lambda d: decode_as(BenchReport, d), lambda d: decode_as(Ping, d)):
        with contextlib.suppress(WireError):
            decode(data)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _only_wire_errors(data)


@st.composite
def mutated(draw: Any, seeds: tuple[bytes, ...] = (PING_BYTES, REPORT_BYTES)) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        i = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "set" and data:
            data[i] = draw(
                st.sampled_from(
                    [0x00, 0x7F, 0x80, 0x90, 0xA0, 0xC0, 0xC1, 0xC4, 0xCB, 0xD4, 0xDC, 0xDF, 0xFF]
                )
            )
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[i : i + draw(st.integers(min_value=1, max_value=4))]
        elif op == "truncate":
            del data[i:]
    return bytes(data)


@FUZZ
@given(mutated())
def test_fuzz_mutated_valid_messages(data: bytes) -> None:
    _only_wire_errors(data)


@settings(max_examples=100, deadline=None)
@given(values)
def test_fuzz_well_formed_values_as_messages(value: Any) -> None:
    """Well-formed msgpack of any shape: decode_message/decode_as reject with a WireError only."""
    assume(depth(value) <= wire.MAX_DEPTH)
    _only_wire_errors(canonical_bytes(value))
    if isinstance(value, dict):
        _only_wire_errors(canonical_bytes({**value, "type": "gcx.test.ping", "v": 1}))


# -- fixed-position records -----------------------------------------------------------------------


def test_unpack_array_checks_shape_and_length() -> None:
    assert wire.unpack_array(msgpack.packb([1, b"x", "y"]), 64, (3,)) == [1, b"x", "y"]
    with pytest.raises(SchemaError, match="expected an array"):
        wire.unpack_array(msgpack.packb({"a": 1}), 64, (1,))
    with pytest.raises(SchemaError, match="2 elements"):
        wire.unpack_array(msgpack.packb([1, 2]), 64, (3, 5))
    with pytest.raises(OversizeError):
        wire.unpack_array(msgpack.packb([1, "x" * 100]), 64, (2,))
    with pytest.raises(DecodeError, match="trailing"):
        wire.unpack_array(msgpack.packb([1]) + b"\x01", 64, (1,))
    with pytest.raises(DecodeError, match="ext"):
        wire.unpack_array(msgpack.packb([msgpack.ExtType(5, b"ab")]), 64, (1,))


@pytest.mark.parametrize("value", [True, False, 1.0, "1", b"\x01", None, [1]])
def test_expect_int_refuses_everything_but_an_int_and_a_bool_above_all(value: Any) -> None:
    """A bool is refused although ``isinstance(True, int)`` and ``True == 1``."""
    with pytest.raises(SchemaError, match="nonce must be an integer"):
        wire.expect_int(value, "nonce")


def test_expect_int_bounds() -> None:
    assert wire.expect_int(0, "x", 0, 1) == 0 and wire.expect_int(2**64 - 1, "x") == 2**64 - 1
    assert wire.expect_int(-(2**63), "x") == -(2**63)
    for bad, lo, hi in ((-1, 0, 10), (11, 0, 10), (2**64, -(2**63), 2**64 - 1)):
        with pytest.raises(SchemaError, match="outside"):
            wire.expect_int(bad, "x", lo, hi)


def test_expect_bytes_and_str() -> None:
    assert wire.expect_bytes(b"ab", "sig", 2, 2) == b"ab" and wire.expect_str("ab", "sym", 1, 2) == "ab"
    for call in (
        lambda: wire.expect_bytes("ab", "sig"),
        lambda: wire.expect_bytes(bytearray(b"ab"), "sig"),
        lambda: wire.expect_bytes(b"abc", "sig", 0, 2),
        lambda: wire.expect_str(b"ab", "sym"),
        lambda: wire.expect_str("", "sym", 1, 2),
    ):
        with pytest.raises(SchemaError):
            call()


@FUZZ
@given(st.binary(max_size=200), st.sets(st.integers(0, 8), min_size=1, max_size=3))
def test_fuzz_unpack_array_raises_only_wire_errors(data: bytes, lengths: set[int]) -> None:
    with contextlib.suppress(WireError):
        for v in wire.unpack_array(data, 128, lengths):
            wire.expect_int(v, "field", 0, 2**32)
