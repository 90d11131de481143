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
* ``op_proof {result_root, index}`` answers op ``index``'s leaf in a stored result
  (:meth:`TensorStore.put_result`) with its path; the client checks it is of that op and
  verifies it against the result root (:func:`gcx.tp.commit.verify_op`).
* ``put_begin / put_rows / put_finish / put_abort`` upload a tensor into the peer's store (a
  buyer leaving inputs at the coordinator): the server reserves the whole size under a per-peer
  and a total quota, takes bytes in any order, and makes the tensor visible only if it hashes to
  the root declared at ``put_begin``. An upload idle for :data:`UPLOAD_IDLE_S` is discarded.

A server may **withhold** data (the node's ``fault.withhold_data``): every read of a root its
``withhold`` predicate names is refused as :class:`DataNotFound`.

Layout: the messages and their table-driven codec are :mod:`gcx.jobs.data_messages` (pure,
strict: exact field sets, exact types, ranges), the client :mod:`gcx.jobs.data_client`, the
server this module; every public name of all three is importable from here. The server's refusals are typed errors whose class name is the error code (:mod:`gcx.jobs.errors`,
:mod:`gcx.errors`), mapped back to the same classes by the client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from gcx.p2p.reqresp import Server, serve

from . import data_client
from . import data_messages as m
from .data_client import *  # noqa: F403 - every public name of the client is importable from here
from .data_client import DEFAULT_TIMEOUT_S
from .data_messages import *  # noqa: F403 - and every message and codec name
from .errors import DataNotFound, DataRangeError, QuotaExceeded, UploadError
from .store import TensorStore, Upload, file_size

__all__ = ["DEFAULT_PEER_QUOTA", "DataServer"]
__all__ += m.__all__
__all__ += data_client.__all__

log = logging.getLogger(__name__)

DEFAULT_PEER_QUOTA: Final = 1024**3
"""Bytes of tensor files (finished and in progress) one peer may leave in a server's store."""
MAX_UPLOADS_PER_PEER: Final = 4
UPLOAD_IDLE_S: Final = 120.0
SERVER_MAX_CONCURRENT: Final = 16
SERVER_MAX_PER_PEER: Final = 8


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
    max_data: int = m.MAX_DATA
    clock: Callable[[], float] = time.monotonic
    io_threads: int = 4
    withhold: Callable[[bytes], bool] | None = None
    _uploads: dict[bytes, _Pending] = field(default_factory=dict, init=False)
    _io: trio.CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.max_data <= m.MAX_DATA:
            raise ValueError(f"max_data must be 1..{m.MAX_DATA}")
        self._io = trio.CapacityLimiter(self.io_threads)

    def register(
        self,
        host: IHost,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_concurrent: int = SERVER_MAX_CONCURRENT,
        max_per_peer: int = SERVER_MAX_PER_PEER,
    ) -> Server:
        """Serve ``/gcx/data/1`` on ``host`` (frames up to :data:`m.MAX_FRAME`)."""
        return serve(
            host,
            m.DATA_PROTOCOL,
            self.handle,
            max_size=m.MAX_FRAME,
            timeout_s=timeout_s,
            max_concurrent=max_concurrent,
            max_per_peer=max_per_peer,
        )

    async def _io_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args, limiter=self._io)

    async def handle(self, peer: ID, data: bytes) -> bytes:
        """Answer one request (the :func:`gcx.p2p.reqresp.serve` handler)."""
        req = m.decode_request(data)
        if isinstance(req, m.PutBegin | m.PutRows | m.PutFinish | m.PutAbort):
            return (await self._write(str(peer), req)).encode()
        return (await self._read(req)).encode()

    async def _read(
        self,
        req: m.HeaderRequest | m.RowsRequest | m.RowProofRequest | m.ElementProofRequest | m.OpProofRequest,
    ) -> m.Reply:
        if isinstance(req, m.OpProofRequest):
            self._check_withheld(req.result_root, "result")
            op = await self._io_call(self.store.op_proof, req.result_root, req.index)
            return m.ProofReply(req.result_root, op.encode())
        self._check_withheld(req.root, "tensor")
        if isinstance(req, m.HeaderRequest):
            header = self.store.header(req.root)
            return m.HeaderReply(req.root, header, await self._io_call(self.store.tree_root, req.root))
        if isinstance(req, m.RowsRequest):
            return await self._rows(req)
        if isinstance(req, m.RowProofRequest):
            row = await self._io_call(self.store.row_proof, req.root, req.index)
            return m.ProofReply(req.root, row.encode())
        element = await self._io_call(self.store.element_proof, req.root, req.index, req.col)
        return m.ProofReply(req.root, element.encode())

    def _check_withheld(self, root: bytes, what: str) -> None:
        if self.withhold is not None and self.withhold(root):
            raise DataNotFound(root, f"no {what} with root {root.hex()}")

    async def _write(self, peer: str, req: m.PutBegin | m.PutRows | m.PutFinish | m.PutAbort) -> m.Reply:
        self.expire_uploads()
        if isinstance(req, m.PutBegin):
            return self._put_begin(peer, req)
        pending = self._pending(peer, req.upload)
        pending.touched = self.clock()
        if isinstance(req, m.PutRows):
            await self._io_call(pending.upload.write, req.offset, req.data)
            return m.PutRowsReply(req.upload, req.offset, len(req.data))
        del self._uploads[req.upload]
        if isinstance(req, m.PutAbort):
            pending.upload.abort()
            return m.PutAbortReply()
        root = await self._io_call(pending.upload.finish, pending.root)
        log.info("upload from %s stored as %s", peer, root.hex())
        return m.PutFinishReply(root)

    async def _rows(self, req: m.RowsRequest) -> m.RowsReply:
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
        return m.RowsReply(req.root, req.start, req.count, req.offset, chunk)

    def _put_begin(self, peer: str, req: m.PutBegin) -> m.PutBeginReply:
        if self.store.has(req.root):
            return m.PutBeginReply(None, True)
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
        return m.PutBeginReply(upload_id, False)

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
