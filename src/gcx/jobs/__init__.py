"""GCX jobs: what moves a GCX-TP job's tensors between buyers, the coordinator, providers and
verifiers (DESIGN §6, docs/protocol.md "`/gcx/data/1`").

* :mod:`gcx.jobs.store` — :class:`TensorStore`, an on-disk store of committed tensors
  addressed by their **tensor root** (content addressing): each tensor's raw row-major
  little-endian bytes with its commitment levels, so rows, row proofs and element proofs are
  served by memory-mapped reads without rehashing. Writes are crash-safe (temporary file, fsync,
  rename); an upload becomes visible only once its bytes hash to the root it declared.
* :mod:`gcx.jobs.data` — the ``/gcx/data/1`` request/response protocol on
  :mod:`gcx.p2p.reqresp`: strict message codecs, :class:`DataServer` (serves a store, accepts
  uploads under per-peer and total quotas) and :class:`DataClient` (pipelined, verified tensor
  downloads; proofs verified against the root; uploads).
* :mod:`gcx.jobs.errors` — their typed errors (:class:`DataNotFound`, :class:`DataMismatch`,
  :class:`StoreFull`, :class:`QuotaExceeded`, ...), all :class:`gcx.errors.GCXError`.

Whoever holds a tensor's bytes can serve them: a fetcher trusts nothing but the root it asked
for, and every byte it keeps hashes to that root.
"""

from __future__ import annotations

from .errors import (
    DataError,
    DataMismatch,
    DataNotFound,
    DataRangeError,
    QuotaExceeded,
    StoreFull,
    UploadError,
)

__all__ = [
    "DataError",
    "DataMismatch",
    "DataNotFound",
    "DataRangeError",
    "QuotaExceeded",
    "StoreFull",
    "UploadError",
]
