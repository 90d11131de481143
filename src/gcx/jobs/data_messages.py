"""The ``/gcx/data/1`` messages and their codec (docs/protocol.md, "`/gcx/data/1`").

Every request and every reply body is a canonical msgpack map with ``type`` and ``v`` (1) and
exactly the fields of its type. Each message type is a frozen dataclass; :data:`_FIELDS` holds,
per type, a check for each of its dataclass fields (a ``TensorHeader`` is spread over the five
header keys). :func:`encode` writes any message from that table, :func:`decode` reads one
strictly (exact key set, exact types, ranges) and raises only :class:`gcx.errors.WireError`
(:class:`~gcx.errors.SchemaError` for a well-formed map that is not a message of the
expected types). The codec is pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from gcx.errors import SchemaError
from gcx.tp.commit import HASH_SIZE, CommitmentError, DType, TensorHeader, tensor_root_of
from gcx.tp.tensor import MAX_TENSOR_ELEMENTS
from gcx.wire import canonical_bytes, expect_bytes, expect_int, unpack

__all__ = [
    "DATA_PROTOCOL",
    "MAX_DATA",
    "MAX_FRAME",
    "UPLOAD_ID_SIZE",
    "DataMessage",
    "ElementProofRequest",
    "HeaderReply",
    "HeaderRequest",
    "OpProofRequest",
    "ProofReply",
    "PutAbort",
    "PutAbortReply",
    "PutBegin",
    "PutBeginReply",
    "PutFinish",
    "PutFinishReply",
    "PutRows",
    "PutRowsReply",
    "Reply",
    "Request",
    "RowProofRequest",
    "RowsReply",
    "RowsRequest",
    "decode",
    "decode_reply",
    "decode_request",
    "encode",
]

DATA_PROTOCOL: Final = "/gcx/data/1"
MAX_DATA: Final = 8 * 1024 * 1024
"""Most data bytes in one ``rows`` reply or ``put_rows`` request."""
MAX_FRAME: Final = MAX_DATA + 4096
"""The protocol's frame limit, both directions (data plus its envelope)."""
UPLOAD_ID_SIZE: Final = 16
VERSION: Final = 1
_DTYPES: Final = {"int8": DType.INT8, "int32": DType.INT32}
_DTYPE_NAMES: Final = {v: k for k, v in _DTYPES.items()}
_HEADER_KEYS: Final = ("tensor_id", "dtype", "rank", "rows", "cols")
_U32: Final = 0xFFFF_FFFF
_U64: Final = 2**64 - 1


class DataMessage:
    """Base of every ``/gcx/data/1`` message: ``TYPE`` names it on the wire."""

    __slots__ = ()
    TYPE: ClassVar[str]

    def encode(self) -> bytes:
        """Canonical msgpack (:func:`encode`)."""
        return encode(self)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class HeaderRequest(DataMessage):
    """``gcx.data.header``: the header and tree root of ``root``."""

    TYPE: ClassVar[str] = "gcx.data.header"
    root: bytes


@dataclass(frozen=True, slots=True)
class RowsRequest(DataMessage):
    """``gcx.data.rows``: at most ``length`` bytes of rows ``start .. start+count-1`` from byte
    ``offset`` of them (the server sends fewer when its cap is lower or the rows end first)."""

    TYPE: ClassVar[str] = "gcx.data.rows"
    root: bytes
    start: int
    count: int
    offset: int = 0
    length: int = MAX_DATA


@dataclass(frozen=True, slots=True)
class RowProofRequest(DataMessage):
    """``gcx.data.row_proof``: row ``index`` with its Merkle path."""

    TYPE: ClassVar[str] = "gcx.data.row_proof"
    root: bytes
    index: int


@dataclass(frozen=True, slots=True)
class ElementProofRequest(DataMessage):
    """``gcx.data.element_proof``: element ``[index, col]`` with its row's path."""

    TYPE: ClassVar[str] = "gcx.data.element_proof"
    root: bytes
    index: int
    col: int


@dataclass(frozen=True, slots=True)
class OpProofRequest(DataMessage):
    """``gcx.data.op_proof``: op ``index``'s leaf in the result ``result_root`` with its path."""

    TYPE: ClassVar[str] = "gcx.data.op_proof"
    result_root: bytes
    index: int


@dataclass(frozen=True, slots=True)
class PutBegin(DataMessage):
    """``gcx.data.put_begin``: upload the tensor of ``header`` whose root is ``root``."""

    TYPE: ClassVar[str] = "gcx.data.put_begin"
    root: bytes
    header: TensorHeader


@dataclass(frozen=True, slots=True)
class PutRows(DataMessage):
    """``gcx.data.put_rows``: ``data`` at byte ``offset`` of upload ``upload``'s tensor."""

    TYPE: ClassVar[str] = "gcx.data.put_rows"
    upload: bytes
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class PutFinish(DataMessage):
    """``gcx.data.put_finish``: hash the upload and make it visible if it matches its root."""

    TYPE: ClassVar[str] = "gcx.data.put_finish"
    upload: bytes


@dataclass(frozen=True, slots=True)
class PutAbort(DataMessage):
    """``gcx.data.put_abort``: discard the upload."""

    TYPE: ClassVar[str] = "gcx.data.put_abort"
    upload: bytes


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class HeaderReply(DataMessage):
    """``gcx.data.header.reply``: the tensor's header and tree root."""

    TYPE: ClassVar[str] = "gcx.data.header.reply"
    root: bytes
    header: TensorHeader
    tree_root: bytes

    @property
    def authentic(self) -> bool:
        """Whether the header and tree root hash to the root."""
        return tensor_root_of(self.header, self.tree_root) == self.root


@dataclass(frozen=True, slots=True)
class RowsReply(DataMessage):
    """``gcx.data.rows.reply``: the request's fields and the bytes from its offset."""

    TYPE: ClassVar[str] = "gcx.data.rows.reply"
    root: bytes
    start: int
    count: int
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ProofReply(DataMessage):
    """``gcx.data.proof.reply``: an encoded GCX-TP proof (row, element or op) under ``root``
    (the tensor root, or the result root of an op proof)."""

    TYPE: ClassVar[str] = "gcx.data.proof.reply"
    root: bytes
    proof: bytes


@dataclass(frozen=True, slots=True)
class PutBeginReply(DataMessage):
    """``gcx.data.put_begin.reply``: an upload id, or ``exists`` (already stored: nothing to send)."""

    TYPE: ClassVar[str] = "gcx.data.put_begin.reply"
    upload: bytes | None
    exists: bool

    def __post_init__(self) -> None:
        if (self.upload is None) != self.exists:
            raise SchemaError("a put_begin reply has an upload id exactly when the tensor does not exist")


@dataclass(frozen=True, slots=True)
class PutRowsReply(DataMessage):
    """``gcx.data.put_rows.reply``: how many bytes were written where."""

    TYPE: ClassVar[str] = "gcx.data.put_rows.reply"
    upload: bytes
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PutFinishReply(DataMessage):
    """``gcx.data.put_finish.reply``: the tensor is visible under ``root``."""

    TYPE: ClassVar[str] = "gcx.data.put_finish.reply"
    root: bytes


@dataclass(frozen=True, slots=True)
class PutAbortReply(DataMessage):
    """``gcx.data.put_abort.reply``."""

    TYPE: ClassVar[str] = "gcx.data.put_abort.reply"


Request = (
    HeaderRequest
    | RowsRequest
    | RowProofRequest
    | ElementProofRequest
    | OpProofRequest
    | PutBegin
    | PutRows
    | PutFinish
    | PutAbort
)
Reply = HeaderReply | RowsReply | ProofReply | PutBeginReply | PutRowsReply | PutFinishReply | PutAbortReply

# --------------------------------------------------------------------------- the field table

Check = Callable[[Any], Any]


def _bin(what: str, lo: int, hi: int) -> Check:
    return lambda v: expect_bytes(v, what, lo, hi)


def _int(what: str, lo: int, hi: int) -> Check:
    return lambda v: expect_int(v, what, lo, hi)


def _bool(what: str) -> Check:
    def check(v: Any) -> bool:
        if type(v) is not bool:
            raise SchemaError(f"{what} must be a boolean")
        return v

    return check


def _opt(check: Check) -> Check:
    return lambda v: None if v is None else check(v)


def _header(m: dict[str, Any]) -> TensorHeader:
    """The header spread over :data:`_HEADER_KEYS` of the map ``m`` (the one check that reads
    the whole map rather than one value)."""
    dtype = m["dtype"]
    if type(dtype) is not str or dtype not in _DTYPES:
        raise SchemaError(f"dtype must be one of {sorted(_DTYPES)}")
    rank = expect_int(m["rank"], "rank", 1, 2)
    rows, cols = expect_int(m["rows"], "rows", 1, _U32), expect_int(m["cols"], "cols", 1, _U32)
    if rows * cols > MAX_TENSOR_ELEMENTS:
        raise SchemaError(f"a tensor of {rows}x{cols} exceeds {MAX_TENSOR_ELEMENTS} elements")
    try:
        return TensorHeader(
            expect_int(m["tensor_id"], "tensor_id", 0, _U32), _DTYPES[dtype], rank, rows, cols
        )
    except CommitmentError as exc:
        raise SchemaError(str(exc)) from None


_ROOT: Final = _bin("root", HASH_SIZE, HASH_SIZE)
_UPLOAD: Final = _bin("upload", UPLOAD_ID_SIZE, UPLOAD_ID_SIZE)
_DATA: Final = _bin("data", 1, MAX_DATA)
_START: Final = _int("start", 0, _U32)
_COUNT: Final = _int("count", 1, _U32)
_INDEX: Final = _int("index", 0, _U32)
_OFFSET: Final = _int("offset", 0, _U64)

_FIELDS: Final[dict[type[DataMessage], dict[str, Check]]] = {
    HeaderRequest: {"root": _ROOT},
    RowsRequest: {
        "root": _ROOT,
        "start": _START,
        "count": _COUNT,
        "offset": _OFFSET,
        "length": _int("length", 1, _U32),
    },
    RowProofRequest: {"root": _ROOT, "index": _INDEX},
    ElementProofRequest: {"root": _ROOT, "index": _INDEX, "col": _int("col", 0, _U32)},
    OpProofRequest: {"result_root": _bin("result_root", HASH_SIZE, HASH_SIZE), "index": _INDEX},
    PutBegin: {"root": _ROOT, "header": _header},
    PutRows: {"upload": _UPLOAD, "offset": _OFFSET, "data": _DATA},
    PutFinish: {"upload": _UPLOAD},
    PutAbort: {"upload": _UPLOAD},
    HeaderReply: {"root": _ROOT, "header": _header, "tree_root": _bin("tree_root", HASH_SIZE, HASH_SIZE)},
    RowsReply: {"root": _ROOT, "start": _START, "count": _COUNT, "offset": _OFFSET, "data": _DATA},
    ProofReply: {"root": _ROOT, "proof": _bin("proof", 1, MAX_FRAME)},
    PutBeginReply: {"upload": _opt(_UPLOAD), "exists": _bool("exists")},
    PutRowsReply: {"upload": _UPLOAD, "offset": _OFFSET, "length": _int("length", 0, _U64)},
    PutFinishReply: {"root": _ROOT},
    PutAbortReply: {},
}
_BY_TYPE: Final = {cls.TYPE: cls for cls in _FIELDS}
_REQUESTS: Final = (
    HeaderRequest,
    RowsRequest,
    RowProofRequest,
    ElementProofRequest,
    OpProofRequest,
    PutBegin,
    PutRows,
    PutFinish,
    PutAbort,
)
_REPLY_TYPES: Final = {cls.TYPE: cls for cls in _FIELDS if cls not in _REQUESTS}


def _keys(cls: type[DataMessage]) -> frozenset[str]:
    keys = {"type", "v"}
    for name, check in _FIELDS[cls].items():
        keys.update(_HEADER_KEYS if check is _header else (name,))
    return frozenset(keys)


_KEYS: Final = {cls: _keys(cls) for cls in _FIELDS}

# --------------------------------------------------------------------------- encode / decode


def encode(msg: DataMessage) -> bytes:
    """The canonical msgpack bytes of ``msg``: ``type``, ``v`` and its fields from the table."""
    out: dict[str, Any] = {"type": msg.TYPE, "v": VERSION}
    for name, check in _FIELDS[type(msg)].items():
        value = getattr(msg, name)
        if check is _header:
            out.update(
                tensor_id=value.tensor_id,
                dtype=_DTYPE_NAMES[value.dtype],
                rank=value.rank,
                rows=value.rows,
                cols=value.cols,
            )
        else:
            out[name] = value
    return canonical_bytes(out)


def decode(data: bytes, expected: tuple[type[DataMessage], ...]) -> DataMessage:
    """One message of one of the ``expected`` types, strictly; :class:`gcx.errors.WireError`
    for anything else (:class:`SchemaError` once the bytes are well-formed msgpack)."""
    m = unpack(data, MAX_FRAME)
    if type(m) is not dict:
        raise SchemaError(f"a /gcx/data/1 message is a map, not a {type(m).__name__}")
    kind = m.get("type")
    if type(kind) is not str:
        raise SchemaError("a /gcx/data/1 message needs a string 'type'")
    cls = _BY_TYPE.get(kind)
    if cls is None or cls not in expected:
        known = ", ".join(sorted(c.TYPE for c in expected))
        raise SchemaError(f"not the /gcx/data/1 message expected: {kind[:64]!r} (expected: {known})")
    version = m.get("v")
    if type(version) is not int or version != VERSION:
        raise SchemaError(f"{kind}: version must be the integer {VERSION}")
    want = _KEYS[cls]
    if m.keys() != want:
        extra, missing = sorted(set(m) - want), sorted(want - set(m))
        raise SchemaError(f"{kind}: unexpected fields {extra[:8]}, missing {missing}")
    args = {name: check(m) if check is _header else check(m[name]) for name, check in _FIELDS[cls].items()}
    return cls(**args)


def decode_request(data: bytes) -> Request:
    """One ``/gcx/data/1`` request; :class:`gcx.errors.WireError` for anything else."""
    msg = decode(data, _REQUESTS)
    assert isinstance(msg, Request)
    return msg


def decode_reply(data: bytes, type_name: str) -> Reply:
    """A reply that must be of ``type_name``; :class:`gcx.errors.WireError` otherwise."""
    cls = _REPLY_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown reply type {type_name}")
    msg = decode(data, (cls,))
    assert isinstance(msg, Reply)
    return msg
