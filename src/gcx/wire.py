"""The msgpack wire codec: canonical encoding, strict decoding, typed errors (DESIGN §3).

Encoding is *canonical*: map keys sorted (by their UTF-8 bytes), floats always as float64,
integers in their shortest form, no extension types. The same value therefore always encodes to
the same bytes, which is what signatures and digests are computed over.

Decoding is *strict*: the size is checked before any parsing; msgpack's own container limits
are set from it; extension types, non-string map keys, trailing bytes, NaN/inf and anything
outside a message's schema are rejected. Messages are maps with ``type`` and ``v``; each
``(type, v)`` pair is registered with a pydantic model that validates every field. All failures
raise a subclass of :class:`gcx.errors.WireError`; nothing else escapes.

Fixed-position records (the exchange's journal entries, engine commands and state snapshots)
are arrays rather than maps: :func:`unpack_array` decodes one strictly (the same limits) and
checks its length, and :func:`expect_int`, :func:`expect_bytes` and :func:`expect_str` check a
field's exact type (a bool is not an integer) and range, naming the field. Those records call
these and nothing else to decode: one strict decoder for every msgpack the project reads. The
module is pure (no I/O, no clock), so the exchange's pure core may import it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

import msgpack
from pydantic import BaseModel, ValidationError

from .errors import DecodeError, OversizeError, SchemaError

DEFAULT_MAX_SIZE = 256 * 1024
MAX_DEPTH = 16

M = TypeVar("M", bound=BaseModel)
_REGISTRY: dict[tuple[str, int], type[BaseModel]] = {}


_SCALARS = (str, bytes, bool, type(None))


def _canonical(value: Any, depth: int = 0) -> Any:
    # Exact type checks first: this runs for every signed or hashed message, so the common
    # types take one comparison each. Sorting str keys by code point is sorting their UTF-8 bytes.
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise SchemaError("NaN and infinite floats are not allowed")
        return value
    if kind is int:
        if not -(2**63) <= value < 2**64:
            raise SchemaError("integers must fit in 64 bits")
        return value
    if kind in _SCALARS:
        return value
    if depth >= MAX_DEPTH:
        raise SchemaError(f"value nested deeper than {MAX_DEPTH} levels")
    if kind is dict:
        for key in value:
            if type(key) is not str:
                raise SchemaError("map keys must be strings")
        return {k: _canonical(value[k], depth + 1) for k in sorted(value)}
    if kind is list or kind is tuple:
        return [_canonical(v, depth + 1) for v in value]
    bases: tuple[Any, ...] = (bool, int, float, str, bytes, dict, list, tuple)
    for base in bases:  # subclasses (IntEnum, namedtuple...): normalise to the base type
        if isinstance(value, base):
            return _canonical(base(value), depth)
    raise SchemaError(f"cannot encode a {kind.__name__}")


def canonical_bytes(value: Any) -> bytes:
    """The canonical msgpack encoding of a JSON-like value (dict/list/str/bytes/int/float/bool/None)."""
    out: bytes = msgpack.packb(_canonical(value), use_bin_type=True, use_single_float=False)
    return out


def _reject_ext(code: int, data: bytes) -> Any:
    raise DecodeError(f"msgpack extension type {code} is not allowed")


def _check_depth_and_floats(value: Any, depth: int = 0) -> None:
    """Reject non-str map keys, NaN/inf and nesting beyond :data:`MAX_DEPTH` in decoded data.

    msgpack yields only dict, list, str, bytes, int, float, bool and None here, so exact type
    checks suffice; scalars are checked in the loop without a call per element.
    """
    if depth > MAX_DEPTH:
        raise DecodeError(f"message nested deeper than {MAX_DEPTH} levels")
    items: Iterable[Any]
    if type(value) is dict:
        for k in value:
            if type(k) is not str:
                raise DecodeError(f"map keys must be strings, got {type(k).__name__}")
        items = value.values()
    elif type(value) is list:
        items = value
    else:
        if type(value) is float and not math.isfinite(value):
            raise DecodeError("NaN and infinite floats are not allowed")
        return
    if value and depth + 1 > MAX_DEPTH:  # the elements themselves sit one level deeper
        raise DecodeError(f"message nested deeper than {MAX_DEPTH} levels")
    for v in items:
        kind = type(v)
        if kind is dict or kind is list:
            _check_depth_and_floats(v, depth + 1)
        elif kind is float and not math.isfinite(v):
            raise DecodeError("NaN and infinite floats are not allowed")


def unpack(data: bytes, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """Decode one msgpack value from ``data`` with strict limits; raise :class:`WireError`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_size:
        raise OversizeError(f"message of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_reject_ext,
            max_str_len=max_size,
            max_bin_len=max_size,
            max_array_len=max_size,
            max_map_len=max_size // 2,
            max_ext_len=0,
        )
    except DecodeError:
        raise
    except msgpack.ExtraData:
        raise DecodeError("trailing bytes after the message") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None
    _check_depth_and_floats(value)
    return value


def validate(model: type[M], value: Any) -> M:
    """Validate a decoded value against ``model``; raise :class:`SchemaError` naming the field."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(message)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise SchemaError(f"invalid {model.__name__}: {problems}") from None


def decode_as(model: type[M], data: bytes, max_size: int = DEFAULT_MAX_SIZE) -> M:
    """Decode bytes that must hold a ``model`` (no ``type`` dispatch)."""
    return validate(model, unpack(data, max_size))


def register(type_name: str, version: int) -> Any:
    """Class decorator: register a pydantic model as message ``(type_name, version)``."""

    def wrap(cls: type[M]) -> type[M]:
        key = (type_name, version)
        if key in _REGISTRY:
            raise ValueError(f"message type {key} registered twice")
        _REGISTRY[key] = cls
        return cls

    return wrap


def decode_message(data: bytes, max_size: int = DEFAULT_MAX_SIZE) -> BaseModel:
    """Decode a message map, dispatch on ``(type, v)`` and validate it against its model."""
    value = unpack(data, max_size)
    if not isinstance(value, dict):
        raise SchemaError(f"a message must be a map, got {type(value).__name__}")
    kind, version = value.get("type"), value.get("v")
    if not isinstance(kind, str) or type(version) is not int:
        raise SchemaError("a message needs a string 'type' and an integer 'v'")
    model = _REGISTRY.get((kind, version))
    if model is None:
        known = sorted(f"{t}/{v}" for t, v in _REGISTRY)
        raise SchemaError(f"unknown message type {kind}/{version} (known: {', '.join(known) or 'none'})")
    return validate(model, value)


def encode_message(message: BaseModel) -> bytes:
    """Canonical bytes of a message model (``type`` and ``v`` must be fields of the model)."""
    return canonical_bytes(message.model_dump(mode="python"))


# -- fixed-position records --------------------------------------------------------------------

UINT64_MAX = 2**64 - 1
INT64_MIN = -(2**63)


def _kind(value: Any) -> str:
    return type(value).__name__


def unpack_array(data: bytes, max_size: int, lengths: Collection[int]) -> list[Any]:
    """Decode ``data`` strictly (:func:`unpack`, at most ``max_size`` bytes) as an array whose
    length is one of ``lengths``; :class:`WireError` otherwise."""
    value = unpack(data, max_size)
    if type(value) is not list:
        raise SchemaError(f"expected an array, got a {_kind(value)}")
    if len(value) not in lengths:
        raise SchemaError(f"an array of {len(value)} elements, expected {sorted(lengths)}")
    return value


def expect_int(value: Any, what: str, lo: int = INT64_MIN, hi: int = UINT64_MAX) -> int:
    """``value`` if it is an integer in ``[lo, hi]`` (a bool is not one); :class:`SchemaError`
    naming ``what`` otherwise."""
    if type(value) is not int:
        raise SchemaError(f"{what} must be an integer, got a {_kind(value)}")
    if not lo <= value <= hi:
        raise SchemaError(f"{what} {value} is outside [{lo}, {hi}]")
    return value


def expect_ints(values: list[Any], names: tuple[str, ...], lo: int = INT64_MIN, hi: int = UINT64_MAX) -> None:
    """Check that every one of ``values`` is an integer in ``[lo, hi]`` (as :func:`expect_int`
    would, field by field, in one pass); :class:`SchemaError` naming the first bad one."""
    if all(type(v) is int and lo <= v <= hi for v in values):
        return
    for v, name in zip(values, names, strict=True):
        expect_int(v, name, lo, hi)


def expect_bytes(value: Any, what: str, min_len: int = 0, max_len: int = DEFAULT_MAX_SIZE) -> bytes:
    """``value`` if it is a byte string of ``min_len`` to ``max_len`` bytes; :class:`SchemaError`
    naming ``what`` otherwise."""
    if type(value) is not bytes:
        raise SchemaError(f"{what} must be bytes, got a {_kind(value)}")
    if not min_len <= len(value) <= max_len:
        raise SchemaError(f"{what} has {len(value)} bytes, expected {min_len} to {max_len}")
    return value


def expect_str(value: Any, what: str, min_len: int = 0, max_len: int = DEFAULT_MAX_SIZE) -> str:
    """``value`` if it is a string of ``min_len`` to ``max_len`` characters; :class:`SchemaError`
    naming ``what`` otherwise."""
    if type(value) is not str:
        raise SchemaError(f"{what} must be a string, got a {_kind(value)}")
    if not min_len <= len(value) <= max_len:
        raise SchemaError(f"{what} has {len(value)} characters, expected {min_len} to {max_len}")
    return value
