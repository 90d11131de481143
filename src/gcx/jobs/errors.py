"""Typed errors of the tensor store and of ``/gcx/data/1``; all are :class:`GCXError`.

A server raising one of them answers with an error frame whose code is the class name
(:func:`gcx.p2p.reqresp.serve`); :class:`gcx.jobs.data.DataClient` turns those codes back into
the same classes (``remote=True``), so callers handle a local and a remote refusal alike.
"""

from __future__ import annotations

from gcx.errors import GCXError


class DataError(GCXError):
    """Base class of tensor store and data protocol failures. ``remote`` is true when a peer
    reported it (its text is then the peer's: untrusted)."""

    exit_code = 1

    def __init__(self, message: str, *, remote: bool = False) -> None:
        super().__init__(message)
        self.remote = remote


class DataNotFound(DataError):  # noqa: N818 - the name the protocol's error code promises
    """No tensor (or upload) with that root or id is held here."""

    def __init__(self, root: bytes, message: str | None = None, *, remote: bool = False) -> None:
        super().__init__(message or f"no tensor with root {root.hex()}", remote=remote)
        self.root = root


class DataMismatch(DataError):  # noqa: N818 - the name the API promises
    """Bytes that do not hash to the root they were fetched or uploaded for.

    ``row`` is the first row proven wrong, or ``None`` when the header itself (or a peer's
    upload, or an op proof) is what does not match; ``detail`` says what was found; ``what``
    names the data (``"tensor"``, or ``"result"`` for an op proof under a result root).
    """

    def __init__(
        self, root: bytes, row: int | None, detail: str, *, remote: bool = False, what: str = "tensor"
    ) -> None:
        where = "" if row is None else f" at row {row}"
        super().__init__(f"{what} {root.hex()[:16]}… does not match its root{where}: {detail}", remote=remote)
        self.root = root
        self.row = row
        self.detail = detail


class DataRangeError(DataError):
    """A row, column or byte range outside the tensor, or a request larger than the limits."""


class StoreFull(DataError):  # noqa: N818 - reads as a state
    """The store's total size cap would be exceeded."""


class QuotaExceeded(DataError):  # noqa: N818 - reads as a state
    """A peer's upload quota (bytes or open uploads) would be exceeded."""


class UploadError(DataError):
    """An upload cannot proceed: unknown or expired upload id, another peer's upload, a write
    outside the tensor."""


__all__ = [
    "DataError",
    "DataMismatch",
    "DataNotFound",
    "DataRangeError",
    "QuotaExceeded",
    "StoreFull",
    "UploadError",
]
