"""Fuzzing the exchange's three record decoders — engine commands, journal entries, state
snapshots — which all decode through the one strict decoder, :mod:`gcx.wire`.

Random bytes and mutated valid encodings must raise only each decoder's typed error (never
another exception), and a valid record with one field swapped for a value of another type (a
bool for an integer among them) must be refused. Positive controls show that the checks catch
a decoder that lets another exception escape or that takes a bool for an integer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.exchange.core.commands import (
    Cancel,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    Replace,
    Side,
    decode_command,
    encode_command,
)
from coordinator.exchange.core.entry import CANCEL, ORDER, REPLACE, Entry, decode_entry, encode_entry
from coordinator.exchange.core.instruments import Spot
from coordinator.exchange.core.state import ExchangeState
from coordinator.exchange.errors import CommandDecodeError, EntryDecodeError, StateSnapshotError
from gcx.errors import WireError

INSTRUMENTS = {
    "X": Spot(
        kind="spot", grade="A", tick_size=1000, lot_size=100, price_band_ticks=50, reference_price_ticks=100
    )
}


def _restore(data: bytes) -> None:
    ExchangeState(INSTRUMENTS).restore(data)


def _snapshot() -> bytes:
    state = ExchangeState(INSTRUMENTS)
    a, b = b"\x11" * 20, b"\x22" * 20
    for seq, e in enumerate(
        [
            Entry(ORDER, 1, "X", a, 1, 1, 1, 0, 101, 5, 9, 1),
            Entry(ORDER, 2, "X", b, 2, 1, 0, 0, 101, 2, 9, 2),
            Entry(ORDER, 3, "X", b, 3, 2, 0, 0, 99, 3, 9, 3),
            Entry(REPLACE, 4, "X", a, 4, 1, price=102, qty=2),
            Entry(CANCEL, 5, "X", b, 5, 7),
        ],
        1,
    ):
        state.apply(seq, e)
    return state.snapshot()


COMMANDS = [
    encode_command(c)
    for c in (
        PlaceLimit(1, 2, Side.BUY, 100, 5, OrderType.POST_ONLY),
        PlaceMarket(3, 4, Side.SELL, 7),
        Cancel(1, 2),
        Replace(1, 2, 2**40, 2**62),
    )
]
ENTRIES = [
    encode_entry(
        Entry(ORDER, 1_700_000_000_000, "CH-A-SPOT", b"\x01" * 20, 5, 6, 1, 3, 2000, 4, 99, 12, b"\x1b" * 65)
    ),
    encode_entry(Entry(CANCEL, 1, "X", b"\x02" * 20, 2**64 - 1, 0)),
    encode_entry(Entry(REPLACE, 1, "CH-A-F-2027Q1", b"\x03" * 20, 1, 1, price=10, qty=2)),
]
SNAPSHOTS = [_snapshot()]

Decoder = tuple[Callable[[bytes], Any], type[Exception], list[bytes]]
DECODERS: dict[str, Decoder] = {
    "command": (decode_command, CommandDecodeError, COMMANDS),
    "entry": (decode_entry, EntryDecodeError, ENTRIES),
    "snapshot": (_restore, StateSnapshotError, SNAPSHOTS),
}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _escaped(decode: Callable[[bytes], Any], error: type[Exception], data: bytes) -> Exception | None:
    """What ``decode(data)`` raised other than ``error`` (which must also be a WireError or a
    journal error: typed), or None."""
    try:
        decode(data)
    except error:
        return None
    except Exception as exc:  # the defect these tests look for
        return exc
    return None


def test_the_seeds_decode() -> None:
    """The valid encodings the fuzzers start from are valid (else they would test nothing)."""
    for decode, _, seeds in DECODERS.values():
        for data in seeds:
            decode(data)
    assert issubclass(CommandDecodeError, WireError) and issubclass(EntryDecodeError, WireError)


@pytest.mark.parametrize("name", list(DECODERS))
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_raise_only_the_typed_error(name: str, data: bytes) -> None:
    decode, error, _ = DECODERS[name]
    assert _escaped(decode, error, data) is None


_BYTES = [
    0x00,
    0x7F,
    0x80,
    0x90,
    0xA0,
    0xC0,
    0xC1,
    0xC2,
    0xC3,
    0xC4,
    0xC7,
    0xCB,
    0xCF,
    0xD4,
    0xDC,
    0xDD,
    0xDF,
    0xFF,
]


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "append"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[i] = draw(st.sampled_from(_BYTES))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[i : i + draw(st.integers(1, 4))]
        elif op == "truncate":
            del data[i:]
        elif op == "append":
            data += draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@pytest.mark.parametrize("name", list(DECODERS))
@FUZZ
@given(data=st.data())
def test_mutated_valid_encodings_raise_only_the_typed_error(name: str, data: st.DataObject) -> None:
    decode, error, seeds = DECODERS[name]
    assert _escaped(decode, error, data.draw(_mutated(seeds))) is None


# A value of every msgpack type but the one a field has (a bool is not an integer).
_ANY: dict[type, st.SearchStrategy[Any]] = {
    int: st.integers(-(2**63), 2**64 - 1),
    bool: st.booleans(),
    float: st.floats(allow_nan=False),
    str: st.text(max_size=8),
    bytes: st.binary(max_size=8),
    type(None): st.none(),
    list: st.lists(st.integers(0, 3), max_size=3),
    dict: st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
    msgpack.ExtType: st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)),
}


def _other_than(kind: type) -> st.SearchStrategy[Any]:
    return st.one_of(*(s for t, s in _ANY.items() if t is not kind))


def _swap_field(raw: list[Any], index: int, value: Any) -> bytes:
    swapped = [*raw[:index], value, *raw[index + 1 :]]
    return msgpack.packb(swapped, use_bin_type=True)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", list(DECODERS))
@FUZZ
@given(data=st.data())
def test_a_field_of_the_wrong_type_is_refused(name: str, data: st.DataObject) -> None:
    decode, error, seeds = DECODERS[name]
    raw = msgpack.unpackb(data.draw(st.sampled_from(seeds)), raw=False)
    index = data.draw(st.integers(0, len(raw) - 1))
    value = data.draw(_other_than(type(raw[index])))
    with pytest.raises(error):
        decode(_swap_field(raw, index, value))


@pytest.mark.parametrize("name", ["command", "entry"])
def test_a_bool_is_not_an_integer(name: str) -> None:
    """``True == 1`` in Python: every integer field set to ``True``/``False`` is refused."""
    decode, error, seeds = DECODERS[name]
    for seed in seeds:
        raw = msgpack.unpackb(seed, raw=False)
        for i, v in enumerate(raw):
            if type(v) is int and v in (0, 1):
                with pytest.raises(error):
                    decode(_swap_field(raw, i, bool(v)))


def test_extension_types_trailing_bytes_and_oversize_are_refused() -> None:
    raw = msgpack.unpackb(ENTRIES[0], raw=False)
    with pytest.raises(EntryDecodeError, match="ext"):  # max_ext_len 0, or the ext hook
        decode_entry(_swap_field(raw, 4, msgpack.ExtType(1, b"\x01" * 20)))
    with pytest.raises(EntryDecodeError, match="trailing"):
        decode_entry(ENTRIES[0] + b"\x00")
    with pytest.raises(CommandDecodeError, match="exceeds"):
        decode_command(msgpack.packb([3, 1, 2, "x" * 200]))


# -- positive controls: the checks above catch a lax decoder -----------------------------------


def _lax_decode_command(data: bytes) -> Cancel:
    """A hand-rolled decoder of the kind gcx.wire replaced: no typed wrapping, isinstance."""
    raw = msgpack.unpackb(data, raw=False)
    if not all(isinstance(v, int) for v in raw) or raw[0] != 3:
        raise CommandDecodeError("not a cancel")
    return Cancel(raw[1], raw[2])


def test_the_checks_catch_a_lax_decoder() -> None:
    escaped = _escaped(_lax_decode_command, CommandDecodeError, b"\xc1")  # msgpack's own error
    assert escaped is not None and not isinstance(escaped, CommandDecodeError)
    assert _escaped(_lax_decode_command, CommandDecodeError, b"\x93\x03\x01") is not None  # IndexError
    lax = _lax_decode_command(_swap_field([3, 1, 2], 2, True))  # takes a bool for an order id
    assert lax == Cancel(1, True)
    with pytest.raises(CommandDecodeError):  # ... which the real decoder refuses
        decode_command(_swap_field([3, 1, 2], 2, True))
