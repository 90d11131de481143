"""The ``/gcx/data/1`` client: verified, pipelined tensor downloads, proofs verified against
their roots, and uploads (docs/protocol.md, "`/gcx/data/1`"; the protocol's theory of operation
is in :mod:`gcx.jobs.data`, which re-exports everything here)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from gcx.errors import SchemaError
from gcx.p2p.errors import ProtocolError, RemoteError
from gcx.p2p.reqresp import request
from gcx.tp.commit import (
    TAG_ROW_NODE,
    CommitmentError,
    DType,
    ElementProof,
    OpProof,
    ProofError,
    RowProof,
    TensorCommitment,
    TensorHeader,
    commit_tensor,
    commitment_from_levels,
    decode_element_proof,
    decode_op_proof,
    decode_row_proof,
    row_leaf,
    row_pads,
    verify_element,
    verify_op,
    verify_row,
)
from gcx.tp.tensor import MAX_TENSOR_ELEMENTS

from .data_messages import (
    DATA_PROTOCOL,
    MAX_DATA,
    MAX_FRAME,
    ElementProofRequest,
    HeaderReply,
    HeaderRequest,
    OpProofRequest,
    ProofReply,
    PutAbort,
    PutAbortReply,
    PutBegin,
    PutBeginReply,
    PutFinish,
    PutFinishReply,
    PutRows,
    PutRowsReply,
    Reply,
    Request,
    RowProofRequest,
    RowsReply,
    RowsRequest,
    decode_reply,
)
from .errors import (
    DataError,
    DataMismatch,
    DataNotFound,
    DataRangeError,
    QuotaExceeded,
    StoreFull,
    UploadError,
)
from .store import TensorStore, data_size

__all__ = ["DEFAULT_DEPTH", "DEFAULT_TIMEOUT_S", "MAX_TENSOR_BYTES", "DataClient"]

log = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P", RowProof, ElementProof, OpProof)

MAX_TENSOR_BYTES: Final = MAX_TENSOR_ELEMENTS * 4
"""The largest tensor (2**26 int32 elements: 256 MiB), the client's default download bound."""
DEFAULT_DEPTH: Final = 2
"""Requests a client keeps in flight per transfer (the server takes 8 per peer)."""
DEFAULT_TIMEOUT_S: Final = 30.0
_OVERLAP_ROW_BYTES: Final = 2048
"""hashlib releases the GIL from this many bytes on: rows this wide are hashed as they arrive."""
_NUMPY: Final[dict[DType, np.dtype[Any]]] = {DType.INT8: np.dtype("i1"), DType.INT32: np.dtype("<i4")}

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


async def _pipelined(items: Iterator[T], work: Callable[[T], Awaitable[None]], depth: int) -> None:
    """Run ``work`` on every item, ``depth`` at a time (one shared iterator: each item goes to
    one worker); the first failure cancels the rest and is raised as itself (not wrapped in an
    exception group: callers see the typed errors)."""
    errors: list[Exception] = []

    async def worker() -> None:
        try:
            for item in items:
                await work(item)
        except Exception as exc:
            errors.append(exc)
            nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        for _ in range(depth):
            nursery.start_soon(worker)
    if errors:
        raise errors[0]


class _RowHasher:
    """A download's commitment, hashed while it arrives: :meth:`hash_rows` computes the leaves of
    rows already received (from a worker thread: SHA-256 releases the GIL on rows of at least
    :data:`_OVERLAP_ROW_BYTES`), :meth:`commitment` the rest and the tree. Rows narrower than
    that are hashed at the end by :func:`commit_tensor` (its loop is faster than per-row calls
    and a thread would hold the GIL anyway). Equal to :func:`commit_tensor` of the same bytes."""

    def __init__(self, header: TensorHeader) -> None:
        self.header = header
        self.buf = bytearray(data_size(header))
        self.leaves: list[bytes | None] = [None] * header.rows
        self.overlap = header.row_size >= _OVERLAP_ROW_BYTES

    def hash_rows(self, start: int, count: int) -> None:
        """The leaves of rows ``start .. start+count-1`` (their bytes are all in :attr:`buf`)."""
        header, size = self.header, self.header.row_size
        with memoryview(self.buf) as view:
            for i in range(start, start + count):
                self.leaves[i] = row_leaf(header, i, bytes(view[i * size : (i + 1) * size]))

    def array(self) -> npt.NDArray[np.generic]:
        """The received tensor (a view of :attr:`buf`)."""
        h = self.header
        flat = np.frombuffer(self.buf, dtype=_NUMPY[h.dtype])
        return flat.reshape((h.cols,) if h.rank == 1 else (h.rows, h.cols))

    def commitment(self) -> TensorCommitment:
        """Every leaf not hashed yet (rows fetched in parts), then the tree, level by level."""
        if not self.overlap:
            return commit_tensor(self.header.tensor_id, self.array())
        for i in [i for i, leaf in enumerate(self.leaves) if leaf is None]:
            self.hash_rows(i, 1)
        level = [leaf for leaf in self.leaves if leaf is not None]
        levels, pads = [level], row_pads(self.header.depth)
        for height in range(self.header.depth):
            odd = [*level, pads[height]] if len(level) % 2 else level  # a missing right end: padding
            level = [sha256(TAG_ROW_NODE + odd[i] + odd[i + 1]).digest() for i in range(0, len(odd), 2)]
            levels.append(level)
        return commitment_from_levels(self.header, levels)


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
        self,
        peer: ID | str,
        root: bytes,
        header: TensorHeader,
        first: int,
        count: int,
        hasher: _RowHasher | None = None,
    ) -> bytearray:
        buf = bytearray(count * header.row_size) if hasher is None else hasher.buf
        view = memoryview(buf)

        async def fetch(piece: _Piece) -> None:
            await self._fetch_piece(peer, root, piece, view)
            whole_rows = piece.offset == 0 and piece.length == piece.count * header.row_size
            if hasher is not None and hasher.overlap and whole_rows:
                # whole rows: hash them now, in a thread, while the other requests stay in flight
                await trio.to_thread.run_sync(hasher.hash_rows, piece.start, piece.count)

        try:
            await _pipelined(_plan(header, first, count, self.chunk), fetch, self.depth)
        finally:
            view.release()
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
        hasher = _RowHasher(header)
        buf = await self._fetch_range(peer, root, header, 0, header.rows, hasher)
        commitment = await trio.to_thread.run_sync(hasher.commitment)
        array = hasher.array()
        if commitment.tree_root != tree_root:
            row, how = await self._first_bad_row(peer, root, header, commitment, buf)
            del array, buf, hasher
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

    async def _proof(
        self, peer: ID | str, req: Request, root: bytes, decoder: Callable[[bytes], P]
    ) -> tuple[bytes, P]:
        """``(the root the reply names, its proof decoded)``; :class:`ProtocolError` if the proof
        does not decode. The caller checks what it proves."""
        reply = await self._call(peer, req, ProofReply.TYPE, root)
        assert isinstance(reply, ProofReply)
        try:
            return reply.root, decoder(reply.proof)
        except ProofError as exc:
            raise ProtocolError(f"malformed proof in reply to {req.TYPE}: {exc}") from None

    async def fetch_row_proof(self, peer: ID | str, root: bytes, index: int) -> RowProof:
        """Row ``index``'s proof, verified against ``root`` (:class:`DataMismatch` if it does not)."""
        under, proof = await self._proof(peer, RowProofRequest(root, index), root, decode_row_proof)
        if under != root or proof.index != index or not verify_row(root, proof):
            raise DataMismatch(root, index, f"the peer's proof of row {index} does not verify")
        return proof

    async def fetch_element_proof(self, peer: ID | str, root: bytes, index: int, col: int) -> ElementProof:
        """Element ``[index, col]``'s proof, verified against ``root``; the value is ``.value``."""
        req = ElementProofRequest(root, index, col)
        under, proof = await self._proof(peer, req, root, decode_element_proof)
        ok = under == root and proof.row_proof.index == index and proof.col == col
        if not ok or not verify_element(root, proof):
            raise DataMismatch(root, index, f"the peer's proof of element [{index}, {col}] does not verify")
        return proof

    async def fetch_op_proof(self, peer: ID | str, result_root: bytes, index: int) -> OpProof:
        """Op ``index``'s leaf in the result ``result_root`` with its path, verified against the
        result root (:class:`DataMismatch` if it does not verify or is of another op)."""
        req = OpProofRequest(result_root, index)
        under, proof = await self._proof(peer, req, result_root, decode_op_proof)
        if under != result_root or proof.leaf.op_index != index or not verify_op(result_root, proof):
            raise DataMismatch(
                result_root, None, f"the peer's proof of op {index} does not verify", what="result"
            )
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

        async def put(offset: int) -> None:
            piece = bytes(raw[offset : offset + self.chunk])
            reply = await self._call(peer, PutRows(upload_id, offset, piece), PutRowsReply.TYPE, root)
            assert isinstance(reply, PutRowsReply)
            if (reply.upload, reply.offset, reply.length) != (upload_id, offset, len(piece)):
                raise ProtocolError("a put_rows reply for another write")

        try:
            await _pipelined(iter(range(0, total, self.chunk)), put, self.depth)
        except Exception:
            with trio.move_on_after(self.timeout_s):
                try:
                    await self._call(peer, PutAbort(upload_id), PutAbortReply.TYPE, root)
                except Exception:
                    log.debug("could not abort upload %s", upload_id.hex(), exc_info=True)
            raise
        done = await self._call(peer, PutFinish(upload_id), PutFinishReply.TYPE, root)
        assert isinstance(done, PutFinishReply)
        if done.root != root:
            raise ProtocolError("a put_finish reply for another root")
        return root
