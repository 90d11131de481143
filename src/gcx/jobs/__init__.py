"""GCX jobs: what moves a GCX-TP job's tensors between buyers, the coordinator, providers and
verifiers (DESIGN §6, docs/protocol.md "`/gcx/data/1`").

* :mod:`gcx.jobs.store` — :class:`TensorStore`, an on-disk store of committed tensors
  addressed by their **tensor root** (content addressing): each tensor's raw row-major
  little-endian bytes with its commitment levels, so rows, row proofs and element proofs are
  served by memory-mapped reads without rehashing; and runs' op leaves by **result root**
  (op proofs). Writes are crash-safe (temporary file, fsync, rename); an upload becomes visible
  only once its bytes hash to the root it declared.
* :mod:`gcx.jobs.data` — the ``/gcx/data/1`` request/response protocol on
  :mod:`gcx.p2p.reqresp`: :class:`DataServer` (serves a store, accepts uploads under per-peer and
  total quotas, may withhold roots), re-exporting the strict message codec
  (:mod:`gcx.jobs.data_messages`) and :class:`DataClient` (:mod:`gcx.jobs.data_client`:
  pipelined, verified tensor downloads; row, element and op proofs verified against their root;
  uploads).
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
