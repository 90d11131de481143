"""``/gcx/data/1``: tensors, rows and their proofs between buyers, the coordinator's data store,
providers and verifiers (docs/protocol.md, "`/gcx/data/1`").

Theory of operation
-------------------
Tensors are addressed by their GCX-TP **tensor root** (:mod:`gcx.tp.commit`), which binds the
tensor id, dtype, shape and every row: anyone holding the bytes can serve them, and the fetcher
trusts nothing but the root it asked for. One request per stream (:mod:`gcx.p2p.reqresp`), each
a canonical msgpack map with ``type`` and ``v``; every reply's body is one too.

* ``header {root}`` answers the header and the **tree root**; the client checks
  ``H(TAG_TENSOR ‖ header ‖ tree root) == root`` before anything else, so the shape it then
  downloads is authentic.
* ``rows {root, start, count, offset}`` answers bytes of rows ``start .. start+count-1`` from
  byte ``offset`` of that range, at most :data:`MAX_DATA` of them (the server caps each reply to
  fit the frame; a client continues from where a short reply stopped). :meth:`DataClient.fetch_tensor`
  plans the tensor as chunks of whole rows (a row wider than a chunk is fetched in parts), keeps
  :data:`DEFAULT_DEPTH` requests in flight, then hashes what it received: a tree root other than
  the header's raises :class:`DataMismatch` naming the first bad row, found by walking down the
  tree with the peer's own row proofs (each verified against the root), and nothing is kept.
* ``row_proof {root, index}`` / ``element_proof {root, index, col}`` answer the GCX-TP proof
  encoding; the client verifies it against the root (:func:`gcx.tp.commit.verify_row`).
* ``put_begin / put_rows / put_finish / put_abort`` upload a tensor into the peer's store (a
  buyer leaving inputs at the coordinator): the server reserves the whole size under a per-peer
  and a total quota, takes bytes in any order, and makes the tensor visible only if it hashes to
  the root declared at ``put_begin``. An upload idle for :data:`UPLOAD_IDLE_S` is discarded.

The message codecs are pure functions (strict: exact field sets, exact types, ranges); the
server's refusals are typed errors whose class name is the error code (:mod:`gcx.jobs.errors`,
:mod:`gcx.errors`), mapped back to the same classes by the client.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from gcx.errors import SchemaError
from gcx.p2p.errors import ProtocolError, RemoteError
from gcx.p2p.reqresp import Server, request, serve
from gcx.tp.commit import (
    HASH_SIZE,
    CommitmentError,
    DType,
    ElementProof,
    OpProof,
    ProofError,
    RowProof,
    TensorCommitment,
    TensorHeader,
    commit_tensor,
    decode_element_proof,
    decode_op_proof,
    decode_row_proof,
    row_pads,
    tensor_root_of,
    verify_element,
    verify_op,
    verify_row,
)
from gcx.tp.tensor import MAX_TENSOR_ELEMENTS
from gcx.wire import canonical_bytes, expect_bytes, expect_int, unpack

from .errors import (
    DataError,
    DataMismatch,
    DataNotFound,
    DataRangeError,
    QuotaExceeded,
    StoreFull,
    UploadError,
)
from .store import TensorStore, Upload, data_size, file_size

__all__ = [
    "DATA_PROTOCOL",
    "DEFAULT_DEPTH",
    "DEFAULT_PEER_QUOTA",
    "MAX_DATA",
    "MAX_FRAME",
    "MAX_TENSOR_BYTES",
    "DataClient",
    "DataServer",
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
    "Request",
    "RowProofRequest",
    "RowsReply",
    "RowsRequest",
    "decode_reply",
    "decode_request",
]

log = logging.getLogger(__name__)

DATA_PROTOCOL: Final = "/gcx/data/1"
MAX_DATA: Final = 8 * 1024 * 1024
"""Most data bytes in one ``rows`` reply or ``put_rows`` request."""
MAX_FRAME: Final = MAX_DATA + 4096
"""The protocol's frame limit, both directions (data plus its envelope)."""
MAX_TENSOR_BYTES: Final = MAX_TENSOR_ELEMENTS * 4
"""The largest tensor (2**26 int32 elements: 256 MiB), the client's default download bound."""
DEFAULT_DEPTH: Final = 2
"""Requests a client keeps in flight per transfer (the server takes 8 per peer)."""
DEFAULT_TIMEOUT_S: Final = 30.0
DEFAULT_PEER_QUOTA: Final = 1024**3
"""Bytes of tensor files (finished and in progress) one peer may leave in a server's store."""
MAX_UPLOADS_PER_PEER: Final = 4
UPLOAD_IDLE_S: Final = 120.0
SERVER_MAX_CONCURRENT: Final = 16
SERVER_MAX_PER_PEER: Final = 8
UPLOAD_ID_SIZE: Final = 16
_V: Final = 1
_DTYPES: Final = {"int8": DType.INT8, "int32": DType.INT32}
_DTYPE_NAMES: Final = {v: k for k, v in _DTYPES.items()}
_NUMPY: Final[dict[DType, np.dtype[Any]]] = {DType.INT8: np.dtype("i1"), DType.INT32: np.dtype("<i4")}
_U32: Final = 0xFFFF_FFFF
_U64: Final = 2**64 - 1


# --------------------------------------------------------------------------- codecs


def _fields(value: Any, type_name: str | None, keys: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """Check one decoded message map strictly: ``type`` a string (equal to ``type_name`` if
    given), ``v`` the integer 1, exactly ``keys`` besides them."""
    if type(value) is not dict:
        raise SchemaError(f"a /gcx/data/1 message is a map, not a {type(value).__name__}")
    kind, version = value.get("type"), value.get("v")
    if type(kind) is not str:
        raise SchemaError("a /gcx/data/1 message needs a string 'type'")
    if type_name is not None and kind != type_name:
        raise SchemaError(f"expected a {type_name} message, got {kind[:64]!r}")
    if type(version) is not int or version != _V:
        raise SchemaError(f"{kind[:64]}: version must be the integer {_V}")
    want = {"type", "v", *keys}
    if set(value) != want:
        extra, missing = sorted(set(value) - want), sorted(want - set(value))
        raise SchemaError(f"{kind[:64]}: unexpected fields {extra[:8]}, missing {missing}")
    return kind, value


def _root(value: Any, what: str = "root") -> bytes:
    return expect_bytes(value, what, HASH_SIZE, HASH_SIZE)


def _u32(value: Any, what: str, lo: int = 0) -> int:
    return expect_int(value, what, lo, _U32)


def _u64(value: Any, what: str) -> int:
    return expect_int(value, what, 0, _U64)


def _header(m: dict[str, Any]) -> TensorHeader:
    dtype = m["dtype"]
    if type(dtype) is not str or dtype not in _DTYPES:
        raise SchemaError(f"dtype must be one of {sorted(_DTYPES)}")
    rank = expect_int(m["rank"], "rank", 1, 2)
    rows, cols = _u32(m["rows"], "rows", 1), _u32(m["cols"], "cols", 1)
    if rows * cols > MAX_TENSOR_ELEMENTS:
        raise SchemaError(f"a tensor of {rows}x{cols} exceeds {MAX_TENSOR_ELEMENTS} elements")
    try:
        return TensorHeader(_u32(m["tensor_id"], "tensor_id"), _DTYPES[dtype], rank, rows, cols)
    except CommitmentError as exc:
        raise SchemaError(str(exc)) from None


def _header_map(header: TensorHeader) -> dict[str, Any]:
    return {
        "tensor_id": header.tensor_id,
        "dtype": _DTYPE_NAMES[header.dtype],
        "rank": header.rank,
        "rows": header.rows,
        "cols": header.cols,
    }


_HEADER_KEYS: Final = ("tensor_id", "dtype", "rank", "rows", "cols")


def _encode(type_name: str, fields: dict[str, Any]) -> bytes:
    return canonical_bytes({"type": type_name, "v": _V, **fields})


@dataclass(frozen=True, slots=True)
class HeaderRequest:
    """``gcx.data.header``: the header and tree root of ``root``."""

    TYPE: ClassVar[str] = "gcx.data.header"
    root: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"root": self.root})


@dataclass(frozen=True, slots=True)
class RowsRequest:
    """``gcx.data.rows``: at most ``length`` bytes of rows ``start .. start+count-1`` from byte
    ``offset`` of them (the server sends fewer when its cap is lower or the rows end first)."""

    TYPE: ClassVar[str] = "gcx.data.rows"
    root: bytes
    start: int
    count: int
    offset: int = 0
    length: int = MAX_DATA

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(
            self.TYPE,
            {
                "root": self.root,
                "start": self.start,
                "count": self.count,
                "offset": self.offset,
                "length": self.length,
            },
        )


@dataclass(frozen=True, slots=True)
class RowProofRequest:
    """``gcx.data.row_proof``: row ``index`` with its Merkle path."""

    TYPE: ClassVar[str] = "gcx.data.row_proof"
    root: bytes
    index: int

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"root": self.root, "index": self.index})


@dataclass(frozen=True, slots=True)
class ElementProofRequest:
    """``gcx.data.element_proof``: element ``[index, col]`` with its row's path."""

    TYPE: ClassVar[str] = "gcx.data.element_proof"
    root: bytes
    index: int
    col: int

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"root": self.root, "index": self.index, "col": self.col})


@dataclass(frozen=True, slots=True)
class OpProofRequest:
    """``gcx.data.op_proof``: op ``index``'s leaf in the result ``result_root`` with its path."""

    TYPE: ClassVar[str] = "gcx.data.op_proof"
    result_root: bytes
    index: int

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"result_root": self.result_root, "index": self.index})


@dataclass(frozen=True, slots=True)
class PutBegin:
    """``gcx.data.put_begin``: upload the tensor of ``header`` whose root is ``root``."""

    TYPE: ClassVar[str] = "gcx.data.put_begin"
    root: bytes
    header: TensorHeader

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"root": self.root, **_header_map(self.header)})


@dataclass(frozen=True, slots=True)
class PutRows:
    """``gcx.data.put_rows``: ``data`` at byte ``offset`` of upload ``upload``'s tensor."""

    TYPE: ClassVar[str] = "gcx.data.put_rows"
    upload: bytes
    offset: int
    data: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"upload": self.upload, "offset": self.offset, "data": self.data})


@dataclass(frozen=True, slots=True)
class PutFinish:
    """``gcx.data.put_finish``: hash the upload and make it visible if it matches its root."""

    TYPE: ClassVar[str] = "gcx.data.put_finish"
    upload: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"upload": self.upload})


@dataclass(frozen=True, slots=True)
class PutAbort:
    """``gcx.data.put_abort``: discard the upload."""

    TYPE: ClassVar[str] = "gcx.data.put_abort"
    upload: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"upload": self.upload})


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


def _upload_id(value: Any) -> bytes:
    return expect_bytes(value, "upload", UPLOAD_ID_SIZE, UPLOAD_ID_SIZE)


def _decode_header_request(m: dict[str, Any]) -> Request:
    return HeaderRequest(_root(m["root"]))


def _decode_rows(m: dict[str, Any]) -> Request:
    return RowsRequest(
        _root(m["root"]),
        _u32(m["start"], "start"),
        _u32(m["count"], "count", 1),
        _u64(m["offset"], "offset"),
        _u32(m["length"], "length", 1),
    )


def _decode_row_proof(m: dict[str, Any]) -> Request:
    return RowProofRequest(_root(m["root"]), _u32(m["index"], "index"))


def _decode_element_proof(m: dict[str, Any]) -> Request:
    return ElementProofRequest(_root(m["root"]), _u32(m["index"], "index"), _u32(m["col"], "col"))


def _decode_op_proof(m: dict[str, Any]) -> Request:
    return OpProofRequest(_root(m["result_root"], "result_root"), _u32(m["index"], "index"))


def _decode_put_begin(m: dict[str, Any]) -> Request:
    return PutBegin(_root(m["root"]), _header(m))


def _decode_put_rows(m: dict[str, Any]) -> Request:
    data = expect_bytes(m["data"], "data", 1, MAX_DATA)
    return PutRows(_upload_id(m["upload"]), _u64(m["offset"], "offset"), data)


def _decode_put_finish(m: dict[str, Any]) -> Request:
    return PutFinish(_upload_id(m["upload"]))


def _decode_put_abort(m: dict[str, Any]) -> Request:
    return PutAbort(_upload_id(m["upload"]))


_REQUESTS: Final[dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Request]]]] = {
    HeaderRequest.TYPE: (("root",), _decode_header_request),
    RowsRequest.TYPE: (("root", "start", "count", "offset", "length"), _decode_rows),
    RowProofRequest.TYPE: (("root", "index"), _decode_row_proof),
    ElementProofRequest.TYPE: (("root", "index", "col"), _decode_element_proof),
    OpProofRequest.TYPE: (("result_root", "index"), _decode_op_proof),
    PutBegin.TYPE: (("root", *_HEADER_KEYS), _decode_put_begin),
    PutRows.TYPE: (("upload", "offset", "data"), _decode_put_rows),
    PutFinish.TYPE: (("upload",), _decode_put_finish),
    PutAbort.TYPE: (("upload",), _decode_put_abort),
}


def decode_request(data: bytes) -> Request:
    """One ``/gcx/data/1`` request; :class:`gcx.errors.WireError` for anything else."""
    value = unpack(data, MAX_FRAME)
    kind = value.get("type") if type(value) is dict else None
    if type(kind) is not str or kind not in _REQUESTS:
        shown = kind[:64] if type(kind) is str else kind if kind is None else type(kind).__name__
        raise SchemaError(
            f"not a /gcx/data/1 request type: {shown!r} (known: {', '.join(sorted(_REQUESTS))})"
        )
    keys, build = _REQUESTS[kind]
    _, m = _fields(value, kind, keys)
    return build(m)


@dataclass(frozen=True, slots=True)
class HeaderReply:
    """``gcx.data.header.reply``: the tensor's header and tree root."""

    TYPE: ClassVar[str] = "gcx.data.header.reply"
    root: bytes
    header: TensorHeader
    tree_root: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(
            self.TYPE, {"root": self.root, "tree_root": self.tree_root, **_header_map(self.header)}
        )

    @property
    def authentic(self) -> bool:
        """Whether the header and tree root hash to the root."""
        return tensor_root_of(self.header, self.tree_root) == self.root


@dataclass(frozen=True, slots=True)
class RowsReply:
    """``gcx.data.rows.reply``: the request's fields and the bytes from its offset."""

    TYPE: ClassVar[str] = "gcx.data.rows.reply"
    root: bytes
    start: int
    count: int
    offset: int
    data: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(
            self.TYPE,
            {
                "root": self.root,
                "start": self.start,
                "count": self.count,
                "offset": self.offset,
                "data": self.data,
            },
        )


@dataclass(frozen=True, slots=True)
class ProofReply:
    """``gcx.data.row_proof.reply`` / ``gcx.data.element_proof.reply``: an encoded GCX-TP proof."""

    TYPE: ClassVar[str] = "gcx.data.proof.reply"
    root: bytes
    proof: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"root": self.root, "proof": self.proof})


@dataclass(frozen=True, slots=True)
class PutBeginReply:
    """``gcx.data.put_begin.reply``: an upload id, or ``exists`` (already stored: nothing to send)."""

    TYPE: ClassVar[str] = "gcx.data.put_begin.reply"
    upload: bytes | None
    exists: bool

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"upload": self.upload, "exists": self.exists})


@dataclass(frozen=True, slots=True)
class PutRowsReply:
    """``gcx.data.put_rows.reply``: how many bytes were written where."""

    TYPE: ClassVar[str] = "gcx.data.put_rows.reply"
    upload: bytes
    offset: int
    length: int

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"upload": self.upload, "offset": self.offset, "length": self.length})


@dataclass(frozen=True, slots=True)
class PutFinishReply:
    """``gcx.data.put_finish.reply``: the tensor is visible under ``root``."""

    TYPE: ClassVar[str] = "gcx.data.put_finish.reply"
    root: bytes

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {"root": self.root})


@dataclass(frozen=True, slots=True)
class PutAbortReply:
    """``gcx.data.put_abort.reply``."""

    TYPE: ClassVar[str] = "gcx.data.put_abort.reply"

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return _encode(self.TYPE, {})


Reply = HeaderReply | RowsReply | ProofReply | PutBeginReply | PutRowsReply | PutFinishReply | PutAbortReply


def _decode_header_reply(m: dict[str, Any]) -> Reply:
    return HeaderReply(_root(m["root"]), _header(m), _root(m["tree_root"], "tree_root"))


def _decode_rows_reply(m: dict[str, Any]) -> Reply:
    return RowsReply(
        _root(m["root"]),
        _u32(m["start"], "start"),
        _u32(m["count"], "count", 1),
        _u64(m["offset"], "offset"),
        expect_bytes(m["data"], "data", 1, MAX_DATA),
    )


def _decode_proof_reply(m: dict[str, Any]) -> Reply:
    return ProofReply(_root(m["root"]), expect_bytes(m["proof"], "proof", 1, MAX_FRAME))


def _decode_put_begin_reply(m: dict[str, Any]) -> Reply:
    exists = m["exists"]
    if type(exists) is not bool:
        raise SchemaError("exists must be a boolean")
    upload = None if m["upload"] is None else _upload_id(m["upload"])
    if (upload is None) != exists:
        raise SchemaError("a put_begin reply has an upload id exactly when the tensor does not exist")
    return PutBeginReply(upload, exists)


def _decode_put_rows_reply(m: dict[str, Any]) -> Reply:
    return PutRowsReply(_upload_id(m["upload"]), _u64(m["offset"], "offset"), _u64(m["length"], "length"))


def _decode_put_finish_reply(m: dict[str, Any]) -> Reply:
    return PutFinishReply(_root(m["root"]))


def _decode_put_abort_reply(m: dict[str, Any]) -> Reply:
    return PutAbortReply()


_REPLIES: Final[dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Reply]]]] = {
    HeaderReply.TYPE: (("root", "tree_root", *_HEADER_KEYS), _decode_header_reply),
    RowsReply.TYPE: (("root", "start", "count", "offset", "data"), _decode_rows_reply),
    ProofReply.TYPE: (("root", "proof"), _decode_proof_reply),
    PutBeginReply.TYPE: (("upload", "exists"), _decode_put_begin_reply),
    PutRowsReply.TYPE: (("upload", "offset", "length"), _decode_put_rows_reply),
    PutFinishReply.TYPE: (("root",), _decode_put_finish_reply),
    PutAbortReply.TYPE: ((), _decode_put_abort_reply),
}


def decode_reply(data: bytes, type_name: str) -> Reply:
    """A reply that must be of ``type_name``; :class:`gcx.errors.WireError` otherwise."""
    if type_name not in _REPLIES:
        raise ValueError(f"unknown reply type {type_name}")
    keys, build = _REPLIES[type_name]
    _, m = _fields(unpack(data, MAX_FRAME), type_name, keys)
    return build(m)


# --------------------------------------------------------------------------- server


@dataclass
class _Pending:
    upload: Upload
    peer: str
    root: bytes
    touched: float


@dataclass
class DataServer:
    """Serves a :class:`TensorStore` on ``/gcx/data/1`` and takes uploads into it.

    Uploads: each peer may hold at most ``peer_quota`` bytes of tensor files in the store
    (finished uploads plus those in progress, whose full size is reserved at ``put_begin``) and
    ``max_uploads_per_peer`` uploads in progress (:class:`QuotaExceeded`); the store's own cap
    applies to all together (:class:`StoreFull`). Only the peer that began an upload can write,
    finish or abort it; one idle for ``upload_idle_s`` is discarded.

    ``withhold`` (a fault, the node's ``fault.withhold_data``): when it returns true for the root
    of a read (a tensor root, or a result root for ``op_proof``), that read is refused with
    :class:`DataNotFound` as if the data were not held.
    """

    store: TensorStore
    peer_quota: int = DEFAULT_PEER_QUOTA
    max_uploads_per_peer: int = MAX_UPLOADS_PER_PEER
    upload_idle_s: float = UPLOAD_IDLE_S
    max_data: int = MAX_DATA
    clock: Callable[[], float] = time.monotonic
    io_threads: int = 4
    withhold: Callable[[bytes], bool] | None = None
    _uploads: dict[bytes, _Pending] = field(default_factory=dict, init=False)
    _io: trio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.max_data <= MAX_DATA:
            raise ValueError(f"max_data must be 1..{MAX_DATA}")
        self._io = trio.CapacityLimiter(self.io_threads)

    def register(
        self,
        host: IHost,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_concurrent: int = SERVER_MAX_CONCURRENT,
        max_per_peer: int = SERVER_MAX_PER_PEER,
    ) -> Server:
        """Serve ``/gcx/data/1`` on ``host`` (frames up to :data:`MAX_FRAME`)."""
        return serve(
            host,
            DATA_PROTOCOL,
            self.handle,
            max_size=MAX_FRAME,
            timeout_s=timeout_s,
            max_concurrent=max_concurrent,
            max_per_peer=max_per_peer,
        )

    async def _io_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args, limiter=self._io)

    async def handle(self, peer: ID, data: bytes) -> bytes:
        """Answer one request (the :func:`gcx.p2p.reqresp.serve` handler)."""
        req = decode_request(data)
        if isinstance(req, OpProofRequest):
            self._check_withheld(req.result_root, "result")
            oproof = await self._io_call(self.store.op_proof, req.result_root, req.index)
            return ProofReply(req.result_root, oproof.encode()).encode()
        if isinstance(req, HeaderRequest | RowsRequest | RowProofRequest | ElementProofRequest):
            self._check_withheld(req.root)
        if isinstance(req, HeaderRequest):
            header = self.store.header(req.root)
            tree_root = await self._io_call(self.store.tree_root, req.root)
            return HeaderReply(req.root, header, tree_root).encode()
        if isinstance(req, RowsRequest):
            return await self._rows(req)
        if isinstance(req, RowProofRequest):
            proof = await self._io_call(self.store.row_proof, req.root, req.index)
            return ProofReply(req.root, proof.encode()).encode()
        if isinstance(req, ElementProofRequest):
            eproof = await self._io_call(self.store.element_proof, req.root, req.index, req.col)
            return ProofReply(req.root, eproof.encode()).encode()
        self.expire_uploads()
        if isinstance(req, PutBegin):
            return self._put_begin(str(peer), req).encode()
        pending = self._pending(str(peer), req.upload)
        pending.touched = self.clock()
        if isinstance(req, PutRows):
            await self._io_call(pending.upload.write, req.offset, req.data)
            return PutRowsReply(req.upload, req.offset, len(req.data)).encode()
        del self._uploads[req.upload]
        if isinstance(req, PutAbort):
            pending.upload.abort()
            return PutAbortReply().encode()
        root = await self._io_call(pending.upload.finish, pending.root)
        log.info("upload from %s stored as %s", peer, root.hex())
        return PutFinishReply(root).encode()

    def _check_withheld(self, root: bytes, what: str = "tensor") -> None:
        if self.withhold is not None and self.withhold(root):
            raise DataNotFound(root, f"no {what} with root {root.hex()}")

    async def _rows(self, req: RowsRequest) -> bytes:
        header = self.store.header(req.root)
        if req.start + req.count > header.rows:
            raise DataRangeError(
                f"rows {req.start}..{req.start + req.count - 1} are outside 0..{header.rows - 1}"
            )
        span = req.count * header.row_size
        if req.offset >= span:
            raise DataRangeError(f"offset {req.offset} is past the {span} bytes of those rows")
        length = min(self.max_data, req.length, span - req.offset)
        chunk = await self._io_call(
            self.store.read, req.root, req.start * header.row_size + req.offset, length
        )
        return RowsReply(req.root, req.start, req.count, req.offset, chunk).encode()

    def _put_begin(self, peer: str, req: PutBegin) -> PutBeginReply:
        if self.store.has(req.root):
            return PutBeginReply(None, True)
        mine = [p for p in self._uploads.values() if p.peer == peer]
        if len(mine) >= self.max_uploads_per_peer:
            raise QuotaExceeded(f"{len(mine)} uploads in progress (at most {self.max_uploads_per_peer})")
        size, used = file_size(req.header), self.store.usage(peer)
        if used + size > self.peer_quota:
            raise QuotaExceeded(
                f"{size} more bytes would exceed the peer quota of {self.peer_quota} ({used} used)"
            )
        upload = self.store.begin(req.header, owner=peer)
        upload_id = bytes.fromhex(upload.upload_id)
        self._uploads[upload_id] = _Pending(upload, peer, req.root, self.clock())
        return PutBeginReply(upload_id, False)

    def _pending(self, peer: str, upload_id: bytes) -> _Pending:
        pending = self._uploads.get(upload_id)
        if pending is None or pending.peer != peer:
            raise UploadError(f"no upload {upload_id.hex()} of yours in progress")
        return pending

    def expire_uploads(self) -> int:
        """Discard uploads idle for ``upload_idle_s``; how many."""
        now = self.clock()
        stale = [k for k, p in self._uploads.items() if now - p.touched > self.upload_idle_s]
        for k in stale:
            log.info("discarding upload %s of %s: idle", k.hex(), self._uploads[k].peer)
            self._uploads.pop(k).upload.abort()
        return len(stale)

    def close(self) -> None:
        """Discard every upload in progress."""
        for pending in self._uploads.values():
            pending.upload.abort()
        self._uploads.clear()


# --------------------------------------------------------------------------- client

_REMOTE: Final[dict[str, type[DataError]]] = {
    "DataRangeError": DataRangeError,
    "StoreFull": StoreFull,
    "QuotaExceeded": QuotaExceeded,
    "UploadError": UploadError,
    "DataError": DataError,
}


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    count: int
    offset: int  # within the rows' bytes
    length: int
    position: int  # within the tensor's bytes


def _plan(header: TensorHeader, first: int, count: int, chunk: int) -> Iterator[_Piece]:
    """Rows ``first .. first+count-1`` as pieces of at most ``chunk`` bytes: whole rows where a
    row fits, a wide row in parts otherwise."""
    size = header.row_size
    base = first * size
    if size <= chunk:
        per = chunk // size
        for start in range(first, first + count, per):
            n = min(per, first + count - start)
            yield _Piece(start, n, 0, n * size, start * size - base)
        return
    for row in range(first, first + count):
        for offset in range(0, size, chunk):
            yield _Piece(row, 1, offset, min(chunk, size - offset), row * size + offset - base)


@dataclass
class DataClient:
    """Fetches and uploads tensors over ``/gcx/data/1`` from ``host``.

    Every fetched tensor and proof is checked against the root asked for; a failure to match
    is a :class:`DataMismatch`. A peer's refusal arrives as the typed error it names
    (:class:`DataNotFound`, :class:`DataRangeError`, :class:`QuotaExceeded`, :class:`StoreFull`,
    :class:`UploadError`, :class:`DataMismatch`, with ``remote=True``), any other as
    :class:`gcx.p2p.RemoteError`; network trouble as the other :class:`gcx.p2p.P2PError`s.
    """

    host: IHost
    timeout_s: float = DEFAULT_TIMEOUT_S
    depth: int = DEFAULT_DEPTH
    chunk: int = MAX_DATA

    def __post_init__(self) -> None:
        if self.depth < 1 or not 1 <= self.chunk <= MAX_DATA:
            raise ValueError(f"depth must be >= 1 and chunk 1..{MAX_DATA}")

    async def _call(self, peer: ID | str, req: Request, reply_type: str, root: bytes) -> Reply:
        try:
            body = await request(
                self.host, peer, DATA_PROTOCOL, req.encode(), timeout_s=self.timeout_s, max_size=MAX_FRAME
            )
        except RemoteError as exc:
            if exc.code == "DataNotFound":
                raise DataNotFound(root, f"peer: {exc.message}", remote=True) from None
            if exc.code == "DataMismatch":
                raise DataMismatch(root, None, f"peer: {exc.message}", remote=True) from None
            cls = _REMOTE.get(exc.code)
            if cls is not None:
                raise cls(f"peer: {exc.message}", remote=True) from None
            raise
        try:
            return decode_reply(body, reply_type)
        except SchemaError as exc:
            raise ProtocolError(f"malformed {reply_type}: {exc}") from None
        except DataError:
            raise
        except Exception as exc:  # WireError subclasses other than SchemaError
            raise ProtocolError(f"malformed {reply_type}: {exc}") from None

    async def fetch_header(self, peer: ID | str, root: bytes) -> tuple[TensorHeader, bytes]:
        """The tensor's header and tree root, checked to hash to ``root``."""
        reply = await self._call(peer, HeaderRequest(root), HeaderReply.TYPE, root)
        assert isinstance(reply, HeaderReply)
        if reply.root != root:
            raise ProtocolError("a header reply for another root")
        if not reply.authentic:
            raise DataMismatch(root, None, "the peer's header and tree root do not hash to the root")
        return reply.header, reply.tree_root

    async def _fetch_piece(self, peer: ID | str, root: bytes, piece: _Piece, out: memoryview) -> None:
        got = 0
        while got < piece.length:
            req = RowsRequest(root, piece.start, piece.count, piece.offset + got, piece.length - got)
            reply = await self._call(peer, req, RowsReply.TYPE, root)
            assert isinstance(reply, RowsReply)
            if (reply.root, reply.start, reply.count, reply.offset) != (
                root,
                req.start,
                req.count,
                req.offset,
            ):
                raise ProtocolError("a rows reply for another range")
            n = len(reply.data)
            if n > piece.length - got:
                raise ProtocolError(f"a rows reply of {n} bytes, at most {piece.length - got} expected")
            out[piece.position + got : piece.position + got + n] = reply.data
            got += n

    async def _fetch_range(
        self, peer: ID | str, root: bytes, header: TensorHeader, first: int, count: int
    ) -> bytearray:
        buf = bytearray(count * header.row_size)
        view = memoryview(buf)
        pieces = _plan(header, first, count, self.chunk)
        errors: list[BaseException] = []

        async def worker() -> None:
            try:
                for piece in pieces:  # one shared iterator: each piece goes to one worker
                    await self._fetch_piece(peer, root, piece, view)
            except Exception as exc:  # carried out of the nursery: callers see our typed errors
                errors.append(exc)
                nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            for _ in range(self.depth):
                nursery.start_soon(worker)
        view.release()
        if errors:
            raise errors[0]
        return buf

    async def fetch_rows(self, peer: ID | str, root: bytes, start: int, count: int) -> bytes:
        """The bytes of rows ``start .. start+count-1`` (their shape checked against the root,
        the bytes themselves **not**: use :meth:`fetch_tensor` or :meth:`fetch_row_proof` for
        authenticated data)."""
        header, _ = await self.fetch_header(peer, root)
        if start < 0 or count < 1 or start + count > header.rows:
            raise DataRangeError(f"rows {start}..{start + count - 1} are outside 0..{header.rows - 1}")
        return bytes(await self._fetch_range(peer, root, header, start, count))

    async def fetch_tensor(
        self, peer: ID | str, root: bytes, *, max_bytes: int = MAX_TENSOR_BYTES
    ) -> npt.NDArray[np.generic]:
        """The tensor whose root is ``root``, in pipelined chunks, verified: its commitment equals
        the root, or :class:`DataMismatch` names the first bad row and nothing is kept.
        :class:`DataRangeError` if the tensor has more than ``max_bytes`` bytes."""
        array, _ = await self.fetch_committed(peer, root, max_bytes=max_bytes)
        return array

    async def fetch_committed(
        self, peer: ID | str, root: bytes, *, max_bytes: int = MAX_TENSOR_BYTES
    ) -> tuple[npt.NDArray[np.generic], TensorCommitment]:
        """:meth:`fetch_tensor` with the commitment computed on the way (e.g. for
        :meth:`TensorStore.put`, which then does not rehash)."""
        header, tree_root = await self.fetch_header(peer, root)
        size = data_size(header)
        if size > max_bytes:
            raise DataRangeError(f"the tensor has {size} bytes, more than the {max_bytes} accepted")
        buf = await self._fetch_range(peer, root, header, 0, header.rows)
        flat = np.frombuffer(buf, dtype=_NUMPY[header.dtype])
        array = flat.reshape((header.cols,) if header.rank == 1 else (header.rows, header.cols))
        commitment = await trio.to_thread.run_sync(commit_tensor, header.tensor_id, array)
        if commitment.tree_root != tree_root:
            row, how = await self._first_bad_row(peer, root, header, commitment, buf)
            del array, flat, buf
            raise DataMismatch(root, row, how)
        return array, commitment

    async def fetch_into(
        self, store: TensorStore, peer: ID | str, root: bytes, *, max_bytes: int = MAX_TENSOR_BYTES
    ) -> bytes:
        """Fetch the tensor (verified, as :meth:`fetch_tensor`) into ``store`` unless it is already
        there; return the root. A tensor that does not match leaves nothing in the store."""
        if store.has(root):
            return root
        array, commitment = await self.fetch_committed(peer, root, max_bytes=max_bytes)
        put = await trio.to_thread.run_sync(
            lambda: store.put(commitment.header.tensor_id, array, commitment=commitment)
        )
        return put

    async def _first_bad_row(
        self, peer: ID | str, root: bytes, header: TensorHeader, ours: TensorCommitment, buf: bytearray
    ) -> tuple[int, str]:
        """Walk down from the root with the peer's verified row proofs to the first row whose
        bytes differ; ``(row, explanation)``."""
        pads = row_pads(header.depth)
        lo, height = 0, header.depth  # the subtree [lo, lo + 2**height) holds a bad row
        size = header.row_size
        while True:
            try:
                proof = await self.fetch_row_proof(peer, root, lo)
            except DataMismatch:
                return lo, f"rows from {lo} do not match and the peer's proof of row {lo} does not verify"
            if proof.row != bytes(buf[lo * size : (lo + 1) * size]):
                return lo, f"row {lo} differs from the peer's own proven row"
            for h in range(height):
                idx = (lo >> h) ^ 1
                mine = ours.levels[h][idx] if idx < len(ours.levels[h]) else pads[h]
                if mine != proof.siblings[h]:
                    lo, height = lo + (1 << h), h
                    break
            else:
                return lo, "the received rows do not hash to the tree root"

    async def fetch_row_proof(self, peer: ID | str, root: bytes, index: int) -> RowProof:
        """Row ``index``'s proof, verified against ``root`` (:class:`DataMismatch` if it does not)."""
        reply = await self._call(peer, RowProofRequest(root, index), ProofReply.TYPE, root)
        assert isinstance(reply, ProofReply)
        try:
            proof = decode_row_proof(reply.proof)
        except ProofError as exc:
            raise ProtocolError(f"malformed row proof: {exc}") from None
        if reply.root != root or proof.index != index or not verify_row(root, proof):
            raise DataMismatch(root, index, f"the peer's proof of row {index} does not verify")
        return proof

    async def fetch_element_proof(self, peer: ID | str, root: bytes, index: int, col: int) -> ElementProof:
        """Element ``[index, col]``'s proof, verified against ``root``; the value is ``.value``."""
        reply = await self._call(peer, ElementProofRequest(root, index, col), ProofReply.TYPE, root)
        assert isinstance(reply, ProofReply)
        try:
            proof = decode_element_proof(reply.proof)
        except ProofError as exc:
            raise ProtocolError(f"malformed element proof: {exc}") from None
        ok = reply.root == root and proof.row_proof.index == index and proof.col == col
        if not ok or not verify_element(root, proof):
            raise DataMismatch(root, index, f"the peer's proof of element [{index}, {col}] does not verify")
        return proof

    async def fetch_op_proof(self, peer: ID | str, result_root: bytes, index: int) -> OpProof:
        """Op ``index``'s leaf in the result ``result_root`` with its path, verified against the
        result root (:class:`DataMismatch` if it does not verify or is of another op)."""
        reply = await self._call(peer, OpProofRequest(result_root, index), ProofReply.TYPE, result_root)
        assert isinstance(reply, ProofReply)
        try:
            proof = decode_op_proof(reply.proof)
        except ProofError as exc:
            raise ProtocolError(f"malformed op proof: {exc}") from None
        if reply.root != result_root or proof.leaf.op_index != index or not verify_op(result_root, proof):
            raise DataMismatch(result_root, None, f"the peer's proof of op {index} does not verify")
        return proof

    async def upload(
        self,
        peer: ID | str,
        tensor_id: int,
        array: npt.NDArray[np.generic],
        *,
        commitment: TensorCommitment | None = None,
    ) -> bytes:
        """Leave ``array`` (as tensor ``tensor_id``) in ``peer``'s store; return its root. A tensor
        the peer already holds is not sent again. ``commitment``: as for :meth:`TensorStore.put`."""
        header = TensorHeader.of(tensor_id, array)
        if commitment is None:
            commitment = await trio.to_thread.run_sync(commit_tensor, tensor_id, array)
        elif commitment.header != header:
            raise CommitmentError(f"the commitment is of {commitment.header}, the array is {header}")
        root = commitment.root
        begun = await self._call(peer, PutBegin(root, header), PutBeginReply.TYPE, root)
        assert isinstance(begun, PutBeginReply)
        if begun.exists:
            return root
        assert begun.upload is not None
        upload_id = begun.upload
        raw = np.ascontiguousarray(array, dtype=_NUMPY[header.dtype]).reshape(-1).view(np.uint8).data
        total = len(raw)
        offsets = iter(range(0, total, self.chunk))
        errors: list[BaseException] = []

        async def worker() -> None:
            try:
                for offset in offsets:
                    piece = bytes(raw[offset : offset + self.chunk])
                    reply = await self._call(peer, PutRows(upload_id, offset, piece), PutRowsReply.TYPE, root)
                    assert isinstance(reply, PutRowsReply)
                    if (reply.upload, reply.offset, reply.length) != (upload_id, offset, len(piece)):
                        raise ProtocolError("a put_rows reply for another write")
            except Exception as exc:
                errors.append(exc)
                nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            for _ in range(min(self.depth, math.ceil(total / self.chunk))):
                nursery.start_soon(worker)
        if errors:
            with trio.move_on_after(self.timeout_s):
                try:
                    await self._call(peer, PutAbort(upload_id), PutAbortReply.TYPE, root)
                except Exception:
                    log.debug("could not abort upload %s", upload_id.hex(), exc_info=True)
            raise errors[0]
        done = await self._call(peer, PutFinish(upload_id), PutFinishReply.TYPE, root)
        assert isinstance(done, PutFinishReply)
        if done.root != root:
            raise ProtocolError("a put_finish reply for another root")
        return root
