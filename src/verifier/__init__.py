"""The GCX verifier, run by challengers: audits capacity, re-executes sampled jobs and shows
where a provider's committed run is wrong (DESIGN §6).

* :mod:`.cli` — ``gcx verifier audit``: a capacity audit of one provider (:mod:`gcx.audit`).
* :mod:`.sampling` — which jobs to re-execute: an HMAC coin per job under the verifier's secret.
* :mod:`.compare` — the first differing op and row between a provider's committed run and the
  verifier's own, as a :class:`~verifier.compare.Mismatch` that anyone checks from the program.

The network side of job verification (following results, fetching inputs and proofs,
reporting) and the on-chain game come with issues 13 and 14.
"""
