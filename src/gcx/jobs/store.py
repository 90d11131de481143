"""An on-disk store of committed tensors, addressed by their tensor root.

Theory of operation
-------------------
A GCX-TP tensor (int8 or int32, rank 1 or 2) is held as one file ``tensors/<root hex>.gcxt``::

    preamble (128 bytes): magic "GCXTNS01" ‖ tensor header (14, gcx.tp.commit) ‖ tensor root (32)
                          ‖ owner length u8 ‖ owner (UTF-8, ≤ 72) ‖ zero padding
    data:   the tensor's row-major little-endian bytes (rows × cols × width)
    levels: every level of its row tree, leaves first, root last, 32 bytes a digest
            (level h holds ceil(rows / 2**h) digests; the padding is not stored)

so rows and proofs are read from the file (memory-mapped) without loading or rehashing it.
The name is the **tensor root**, which binds the header and every row: the same bytes always
land at the same name, anyone holding them can serve them, and a fetcher checks what it gets
against the root it asked for (content addressing).

Crash safety: a tensor is first written to ``tmp/<random>.part``, flushed to disk, then renamed
to its final name (and the directory flushed); only files under ``tensors/`` with the right
size are visible, and opening a store deletes whatever ``tmp/`` holds. A tensor is therefore
either wholly visible or absent, whatever the moment of a crash. Uploads (:meth:`TensorStore.begin`)
take bytes in any order; :meth:`Upload.finish` hashes the file and makes it visible only if it
hashes to the root the uploader declared (so a wrong or incomplete upload never becomes visible).

Results: :meth:`TensorStore.put_result` keeps a run's op leaves (GCX-TP, :func:`gcx.tp.commit.commit_result`)
as one file ``results/<result root hex>.gcxr``::

    magic "GCXRES01" ‖ program digest (32) ‖ n_ops u32 ‖ n_ops op leaf bodies (66 bytes each, op 0 first)

written the same crash-safe way (``tmp/``, flush, rename). Opening a store indexes a result file
only if its leaves recommit to the root its name says, so a damaged or foreign file is never
served; :meth:`TensorStore.op_proof` recommits the leaves (at most 1024 ops) and proves one.

Quota: ``max_bytes`` caps the files' total size (tensors and results), uploads in progress included (their full size is
reserved when they begin); beyond it :class:`StoreFull`. Per-owner usage (:meth:`usage`) lets a
server enforce per-peer quotas. The store is safe to call from several threads (a server hashes
uploads in worker threads).
"""

from __future__ import annotations

import logging
import mmap
import os
import secrets
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gcx.tp.commit import (
    HASH_SIZE,
    OP_BODY_SIZE,
    CommitmentError,
    DType,
    ElementProof,
    OpLeaf,
    OpProof,
    ResultCommitment,
    RowProof,
    TensorCommitment,
    TensorHeader,
    commit_result,
    commit_tensor,
    decode_op_leaf,
    prove_op,
    row_pads,
    tensor_root_of,
)

from .errors import DataError, DataMismatch, DataNotFound, DataRangeError, StoreFull, UploadError

__all__ = [
    "DATA_OFFSET",
    "DEFAULT_MAX_BYTES",
    "MAGIC",
    "MAX_OWNER_BYTES",
    "RESULT_MAGIC",
    "StoredTensor",
    "TensorStore",
    "Upload",
    "file_size",
    "levels_size",
]

log = logging.getLogger(__name__)

MAGIC = b"GCXTNS01"
DATA_OFFSET = 128
"""Where a file's data starts (the preamble's size)."""
MAX_OWNER_BYTES = 72
DEFAULT_MAX_BYTES = 4 * 1024**3
_PREAMBLE = struct.Struct(">8s14s32sB")  # magic, header, root, owner length (55 bytes)
_NUMPY: dict[DType, np.dtype[Any]] = {DType.INT8: np.dtype("i1"), DType.INT32: np.dtype("<i4")}
_SUFFIX = ".gcxt"
RESULT_MAGIC = b"GCXRES01"
_RESULT_HEAD = struct.Struct(">8s32sI")  # magic, program digest, op count (44 bytes)
_RESULT_SUFFIX = ".gcxr"


def _level_lengths(rows: int, depth: int) -> list[int]:
    return [(rows + (1 << h) - 1) >> h for h in range(depth + 1)]


def levels_size(header: TensorHeader) -> int:
    """Bytes of a tensor's stored tree levels."""
    return HASH_SIZE * sum(_level_lengths(header.rows, header.depth))


def data_size(header: TensorHeader) -> int:
    """Bytes of a tensor's row-major data."""
    return header.rows * header.row_size


def file_size(header: TensorHeader) -> int:
    """Bytes of a tensor's file: preamble, data and levels (what quotas count)."""
    return DATA_OFFSET + data_size(header) + levels_size(header)


def _shape(header: TensorHeader) -> tuple[int, ...]:
    return (header.cols,) if header.rank == 1 else (header.rows, header.cols)


def _encode_owner(owner: str) -> bytes:
    raw = owner.encode("utf-8")
    if len(raw) > MAX_OWNER_BYTES:
        raise DataError(f"an owner of {len(raw)} bytes (at most {MAX_OWNER_BYTES})")
    return raw


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode_result(result: ResultCommitment) -> bytes:
    head = _RESULT_HEAD.pack(RESULT_MAGIC, result.program_digest, len(result.leaves))
    return head + b"".join(leaf.body() for leaf in result.leaves)


def _decode_result(raw: bytes) -> ResultCommitment:
    """The commitment a result file holds; :class:`ValueError` / :class:`CommitmentError` if
    it is not exactly one."""
    if len(raw) < _RESULT_HEAD.size:
        raise ValueError("truncated before its op count")
    magic, digest, n_ops = _RESULT_HEAD.unpack_from(raw)
    if magic != RESULT_MAGIC:
        raise ValueError("bad magic")
    if len(raw) != _RESULT_HEAD.size + n_ops * OP_BODY_SIZE:
        raise ValueError(f"{len(raw)} bytes for {n_ops} ops")
    at = _RESULT_HEAD.size
    leaves = [decode_op_leaf(raw[at + k * OP_BODY_SIZE : at + (k + 1) * OP_BODY_SIZE]) for k in range(n_ops)]
    return commit_result(digest, leaves)


@dataclass(frozen=True, slots=True)
class StoredTensor:
    """A visible tensor: its root, header, owner (who stored it; ``""``: the store's holder) and
    the bytes its file takes."""

    root: bytes
    header: TensorHeader
    owner: str
    size: int

    @property
    def path_name(self) -> str:
        """Its file's name."""
        return self.root.hex() + _SUFFIX


class TensorStore:
    """Committed tensors under ``directory`` (created if missing), at most ``max_bytes`` in all.

    Opening it removes abandoned uploads (``tmp/``) and indexes the visible tensors from their
    preambles (a file whose size or preamble is wrong is ignored, with a warning, not served).
    """

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._tensors_dir = self.directory / "tensors"
        self._results_dir = self.directory / "results"
        self._tmp_dir = self.directory / "tmp"
        self._tensors_dir.mkdir(parents=True, exist_ok=True)
        self._results_dir.mkdir(parents=True, exist_ok=True)
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[bytes, StoredTensor] = {}
        self._results: dict[bytes, int] = {}  # result root -> file size
        self._writing = 0  # bytes of the result being written (reserved)
        self._result_lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}
        for leftover in self._tmp_dir.iterdir():
            log.info("removing abandoned upload %s", leftover.name)
            leftover.unlink(missing_ok=True)
        for path in sorted(self._tensors_dir.glob("*" + _SUFFIX)):
            entry = self._read_preamble(path)
            if entry is not None:
                self._index[entry.root] = entry
        for path in sorted(self._results_dir.glob("*" + _RESULT_SUFFIX)):
            try:
                result = _decode_result(path.read_bytes())
                if result.root.hex() + _RESULT_SUFFIX != path.name:
                    raise ValueError(f"its leaves commit to {result.root.hex()}")
            except (OSError, ValueError, struct.error, CommitmentError) as exc:
                log.warning("ignoring unreadable result file %s: %s", path, exc)
                continue
            self._results[result.root] = path.stat().st_size

    # ------------------------------------------------------------------ index

    def _read_preamble(self, path: Path) -> StoredTensor | None:
        try:
            with open(path, "rb") as f:
                raw = f.read(DATA_OFFSET)
            magic, head, root, owner_len = _PREAMBLE.unpack_from(raw)
            if magic != MAGIC or owner_len > MAX_OWNER_BYTES or root.hex() + _SUFFIX != path.name:
                raise ValueError("bad preamble")
            tensor_id, dtype, rank, rows, cols = struct.unpack(">IBBII", head)
            header = TensorHeader(tensor_id, DType(dtype), rank, rows, cols)
            owner = raw[_PREAMBLE.size : _PREAMBLE.size + owner_len].decode("utf-8")
            size = path.stat().st_size
            if size != file_size(header):
                raise ValueError(f"{size} bytes, expected {file_size(header)}")
        except (OSError, ValueError, struct.error, CommitmentError) as exc:
            log.warning("ignoring unreadable tensor file %s: %s", path, exc)
            return None
        return StoredTensor(root, header, owner, size)

    def _entry(self, root: bytes) -> StoredTensor:
        with self._lock:
            entry = self._index.get(bytes(root))
        if entry is None:
            raise DataNotFound(bytes(root))
        return entry

    def _path(self, root: bytes) -> Path:
        return self._tensors_dir / (root.hex() + _SUFFIX)

    def has(self, root: bytes) -> bool:
        """Whether the tensor with this root is visible."""
        with self._lock:
            return bytes(root) in self._index

    def info(self, root: bytes) -> StoredTensor:
        """The stored tensor's description; :class:`DataNotFound` if absent."""
        return self._entry(root)

    def header(self, root: bytes) -> TensorHeader:
        """The tensor's header; :class:`DataNotFound` if absent."""
        return self._entry(root).header

    def roots(self) -> list[bytes]:
        """Every visible tensor's root."""
        with self._lock:
            return list(self._index)

    @property
    def used_bytes(self) -> int:
        """Bytes of the visible tensors plus those reserved by uploads in progress."""
        with self._lock:
            return self._used_locked()

    def _used_locked(self) -> int:
        stored = sum(e.size for e in self._index.values()) + sum(self._results.values())
        reserved = sum(u.size for u in self._uploads.values()) + self._writing
        return stored + reserved

    def usage(self, owner: str) -> int:
        """Bytes stored by ``owner`` plus those its uploads in progress reserve."""
        with self._lock:
            stored = sum(e.size for e in self._index.values() if e.owner == owner)
            return stored + sum(u.size for u in self._uploads.values() if u.owner == owner)

    def uploads(self, owner: str | None = None) -> list[Upload]:
        """Uploads in progress (of ``owner``, or all)."""
        with self._lock:
            return [u for u in self._uploads.values() if owner is None or u.owner == owner]

    # ------------------------------------------------------------------ reads

    def _read(self, entry: StoredTensor, offset: int, length: int) -> bytes:
        with open(self._path(entry.root), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return mm[offset : offset + length]

    def read(self, root: bytes, offset: int, length: int) -> bytes:
        """``length`` bytes of the tensor's data from byte ``offset`` (memory-mapped, no full
        load); :class:`DataRangeError` outside the data."""
        entry = self._entry(root)
        size = data_size(entry.header)
        if offset < 0 or length < 0 or offset + length > size:
            raise DataRangeError(f"bytes {offset}..{offset + length} are outside the tensor's {size}")
        return self._read(entry, DATA_OFFSET + offset, length)

    def rows(self, root: bytes, start: int, count: int) -> bytes:
        """The bytes of rows ``start .. start + count - 1``; :class:`DataRangeError` outside."""
        header = self._entry(root).header
        if start < 0 or count < 1 or start + count > header.rows:
            raise DataRangeError(f"rows {start}..{start + count - 1} are outside 0..{header.rows - 1}")
        return self.read(root, start * header.row_size, count * header.row_size)

    def tree_root(self, root: bytes) -> bytes:
        """The Merkle root over the tensor's rows (the last stored level)."""
        entry = self._entry(root)
        end = file_size(entry.header)
        return self._read(entry, end - HASH_SIZE, HASH_SIZE)

    def row_proof(self, root: bytes, index: int) -> RowProof:
        """Row ``index`` with its Merkle path, read from the stored levels (no hashing)."""
        entry = self._entry(root)
        header = entry.header
        if not 0 <= index < header.rows:
            raise DataRangeError(f"row {index} is outside 0..{header.rows - 1}")
        pads = row_pads(header.depth)
        lengths = _level_lengths(header.rows, header.depth)
        base = DATA_OFFSET + data_size(header)
        with open(self._path(root), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            row_at = DATA_OFFSET + index * header.row_size
            row = mm[row_at : row_at + header.row_size]
            siblings = []
            i = index
            for height in range(header.depth):
                sib = i ^ 1
                if sib < lengths[height]:
                    at = base + HASH_SIZE * sib
                    siblings.append(mm[at : at + HASH_SIZE])
                else:
                    siblings.append(pads[height])
                base += HASH_SIZE * lengths[height]
                i >>= 1
        return RowProof(header, index, row, tuple(siblings))

    def element_proof(self, root: bytes, index: int, col: int) -> ElementProof:
        """Element ``[index, col]`` with its row's proof."""
        proof = self.row_proof(root, index)
        if not 0 <= col < proof.header.cols:
            raise DataRangeError(f"column {col} is outside 0..{proof.header.cols - 1}")
        return ElementProof(proof, col)

    def load(self, root: bytes) -> npt.NDArray[np.generic]:
        """The whole tensor as a new array of its dtype and shape (rank 1: ``(cols,)``)."""
        entry = self._entry(root)
        header = entry.header
        dtype = _NUMPY[header.dtype]
        count = header.rows * header.cols
        array = np.fromfile(self._path(root), dtype=dtype, count=count, offset=DATA_OFFSET)
        if array.size != count:
            raise DataError(f"tensor file {entry.path_name} is truncated")
        return array.reshape(_shape(header))

    def verify(self, root: bytes) -> bool:
        """Rehash the stored tensor: whether its bytes still hash to ``root`` (disk rot)."""
        array = self.load(root)
        return commit_tensor(self._entry(root).header.tensor_id, array).root == bytes(root)

    # ------------------------------------------------------------------ results

    def _result_path(self, root: bytes) -> Path:
        return self._results_dir / (root.hex() + _RESULT_SUFFIX)

    def has_result(self, root: bytes) -> bool:
        """Whether the result with this result root is visible."""
        with self._lock:
            return bytes(root) in self._results

    def results(self) -> list[bytes]:
        """Every visible result's root."""
        with self._lock:
            return list(self._results)

    def put_result(self, program_digest: bytes, leaves: Sequence[OpLeaf]) -> bytes:
        """Keep a run's op leaves (leaf ``k`` of op ``k``) under the program's digest; return the
        result root (``commit_result(program_digest, leaves).root``). Crash-safe (temporary file,
        flush, rename); already there: nothing is written. :class:`StoreFull` beyond ``max_bytes``,
        :class:`CommitmentError` for leaves that do not commit."""
        result = commit_result(program_digest, leaves)
        root = result.root
        blob = _encode_result(result)
        with self._result_lock:  # one result write at a time: a second caller sees it visible
            with self._lock:
                if root in self._results:
                    return root
                used = self._used_locked()
                if used + len(blob) > self.max_bytes:
                    raise StoreFull(
                        f"{len(blob)} more bytes would exceed the store's {self.max_bytes} ({used} used)"
                    )
                self._writing = len(blob)
            part = self._tmp_dir / f"{secrets.token_hex(16)}.part"
            try:
                with open(part, "wb") as f:
                    f.write(blob)
                    f.flush()
                    os.fsync(f.fileno())
                final = self._result_path(root)
                os.replace(part, final)
                _fsync_dir(final.parent)
                with self._lock:
                    self._results[root] = len(blob)
            except OSError as exc:
                raise DataError(f"cannot write result {root.hex()}: {exc}") from None
            finally:
                part.unlink(missing_ok=True)
                with self._lock:
                    self._writing = 0
        return root

    def result(self, root: bytes) -> ResultCommitment:
        """The stored result's commitment (its leaves recommitted); :class:`DataNotFound` if absent."""
        if not self.has_result(root):
            raise DataNotFound(bytes(root), f"no result with root {bytes(root).hex()}")
        try:
            result = _decode_result(self._result_path(root).read_bytes())
        except FileNotFoundError:
            raise DataNotFound(bytes(root), f"no result with root {bytes(root).hex()}") from None
        except (OSError, ValueError, struct.error, CommitmentError) as exc:
            raise DataError(f"result file {root.hex()} is damaged: {exc}") from None
        if result.root != bytes(root):
            raise DataError(f"result file {root.hex()} commits to {result.root.hex()}")
        return result

    def op_proof(self, result_root: bytes, k: int) -> OpProof:
        """Op ``k``'s leaf in the stored result with its Merkle path; :class:`DataNotFound` if the
        result is absent, :class:`DataRangeError` outside its ops."""
        result = self.result(result_root)
        n = len(result.leaves)
        if not 0 <= k < n:
            raise DataRangeError(f"op {k} is outside 0..{n - 1}")
        return prove_op(result, k)

    def delete_result(self, root: bytes) -> bool:
        """Remove a result; whether it was there."""
        with self._lock:
            size = self._results.pop(bytes(root), None)
        if size is None:
            return False
        self._result_path(bytes(root)).unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------------ writes

    def delete(self, root: bytes) -> bool:
        """Remove a tensor; whether it was there."""
        with self._lock:
            entry = self._index.pop(bytes(root), None)
        if entry is None:
            return False
        self._path(entry.root).unlink(missing_ok=True)
        return True

    def begin(self, header: TensorHeader, *, owner: str = "") -> Upload:
        """Start an upload of a tensor of ``header``: its full file size is reserved now
        (:class:`StoreFull` beyond ``max_bytes``); nothing is visible before :meth:`Upload.finish`."""
        _encode_owner(owner)
        size = file_size(header)
        upload_id = secrets.token_hex(16)
        path = self._tmp_dir / f"{upload_id}.part"
        with self._lock:
            used = self._used_locked()
            if used + size > self.max_bytes:
                raise StoreFull(f"{size} more bytes would exceed the store's {self.max_bytes} ({used} used)")
            upload = Upload(self, upload_id, header, owner, size, path)
            self._uploads[upload_id] = upload
        try:
            with open(path, "wb") as f:
                f.truncate(size)
        except OSError as exc:
            self._drop(upload)
            raise DataError(f"cannot create an upload file: {exc}") from None
        return upload

    def upload(self, upload_id: str) -> Upload:
        """An upload in progress by its id; :class:`UploadError` if unknown."""
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None:
            raise UploadError(f"no upload {upload_id[:32]!r} in progress")
        return upload

    def _drop(self, upload: Upload) -> None:
        with self._lock:
            self._uploads.pop(upload.upload_id, None)
        upload.path.unlink(missing_ok=True)

    def put(
        self,
        tensor_id: int,
        array: npt.NDArray[np.generic],
        *,
        commitment: TensorCommitment | None = None,
        owner: str = "",
    ) -> bytes:
        """Store ``array`` as tensor ``tensor_id``; return its root (already there: nothing is
        written). ``commitment`` (e.g. hashed on a GPU) saves rehashing: the caller vouches that
        it is ``commit_tensor(tensor_id, array)`` (its header is checked)."""
        header = TensorHeader.of(tensor_id, array)
        if commitment is None:
            commitment = commit_tensor(tensor_id, array)
        elif commitment.header != header:
            raise CommitmentError(f"the commitment is of {commitment.header}, the array is {header}")
        if self.has(commitment.root):
            return commitment.root
        upload = self.begin(header, owner=owner)
        try:
            data = np.ascontiguousarray(array, dtype=_NUMPY[header.dtype])
            upload.write(0, data.reshape(-1).view(np.uint8).data)
            upload._seal()
            return upload._publish(commitment)
        finally:
            upload.abort()


class Upload:
    """An upload in progress (:meth:`TensorStore.begin`): bytes written at any offset, in any
    order; nothing visible until :meth:`finish` finds that they hash to the expected root."""

    def __init__(
        self, store: TensorStore, upload_id: str, header: TensorHeader, owner: str, size: int, path: Path
    ) -> None:
        self.store = store
        self.upload_id = upload_id
        self.header = header
        self.owner = owner
        self.size = size
        self.path = path
        self.done = False
        self._lock = threading.Lock()

    @property
    def data_size(self) -> int:
        """Bytes of the tensor's data."""
        return data_size(self.header)

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Write ``data`` at byte ``offset`` of the tensor's data; :class:`UploadError` outside
        it or after :meth:`finish` / :meth:`abort`."""
        n = len(data)
        if offset < 0 or offset + n > self.data_size:
            raise UploadError(f"bytes {offset}..{offset + n} are outside the tensor's {self.data_size}")
        with self._lock:
            if self.done:
                raise UploadError(f"upload {self.upload_id} is finished")
            fd = os.open(self.path, os.O_WRONLY)
            try:
                view = memoryview(data).cast("B")
                while view:
                    written = os.pwrite(fd, view, DATA_OFFSET + offset)
                    view, offset = view[written:], offset + written
            finally:
                os.close(fd)

    def write_rows(self, start: int, data: bytes | memoryview) -> None:
        """Write whole rows from row ``start``."""
        if len(data) % self.header.row_size:
            raise UploadError(f"{len(data)} bytes are not whole rows of {self.header.row_size}")
        self.write(start * self.header.row_size, data)

    def finish(self, expected_root: bytes) -> bytes:
        """Hash what was written; make it visible under ``expected_root`` if it hashes to it
        (:class:`DataMismatch` otherwise: the upload is then discarded). Returns the root."""
        self._seal()
        try:
            if self.store.has(expected_root):
                return bytes(expected_root)
            with open(self.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                count = self.header.rows * self.header.cols
                view = np.frombuffer(mm, dtype=_NUMPY[self.header.dtype], count=count, offset=DATA_OFFSET)
                commitment = commit_tensor(self.header.tensor_id, view.reshape(_shape(self.header)))
                del view
            if commitment.root != bytes(expected_root):
                raise DataMismatch(
                    bytes(expected_root), None, f"the uploaded bytes hash to {commitment.root.hex()}"
                )
            return self._publish(commitment)
        finally:
            self.abort()

    def _seal(self) -> None:
        """Refuse every later write (before hashing: what is hashed is what is published)."""
        with self._lock:
            if self.done:
                raise UploadError(f"upload {self.upload_id} is finished")
            self.done = True

    def _publish(self, commitment: TensorCommitment) -> bytes:
        """Write the preamble and levels, flush, rename into place, index it (once sealed)."""
        header, root = self.header, commitment.root
        if tensor_root_of(header, commitment.tree_root) != root or commitment.header != header:
            raise DataError("commitment does not describe this upload")
        owner = _encode_owner(self.owner)
        preamble = _PREAMBLE.pack(MAGIC, header.encode(), root, len(owner)) + owner
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.pwrite(fd, preamble.ljust(DATA_OFFSET, b"\x00"), 0)
                at = DATA_OFFSET + data_size(header)
                for level in commitment.levels:
                    blob = b"".join(level)
                    os.pwrite(fd, blob, at)
                    at += len(blob)
                os.fsync(fd)
            finally:
                os.close(fd)
            final = self.store._path(root)
            os.replace(self.path, final)
            _fsync_dir(final.parent)
        entry = StoredTensor(root, header, self.owner, self.size)
        with self.store._lock:
            self.store._uploads.pop(self.upload_id, None)
            self.store._index[root] = entry
        return root

    def abort(self) -> None:
        """Discard the upload (a no-op once it is published)."""
        with self._lock:
            self.done = True
        self.store._drop(self)
