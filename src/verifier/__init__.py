"""The GCX verifier, run by challengers: audits capacity, re-executes sampled jobs and shows
where a provider's committed run is wrong (DESIGN §6).

* :mod:`.cli` — ``gcx verifier audit``: a capacity audit of one provider (:mod:`gcx.audit`).
* :mod:`.sampling` — which jobs to re-execute: an HMAC coin per job under the verifier's secret.
* :mod:`.compare` — the first differing op and row between a provider's committed run and the
  verifier's own, as a :class:`~verifier.compare.Mismatch` that anyone checks from the program.

* :mod:`.run` — ``gcx verifier run``: follows the coordinator's job feed, re-executes sampled
  jobs, locates a wrong result's first bad op and row with the provider's proofs over
  ``/gcx/data/1`` and reports it, signed (docs/jobs-verifier.md).
* :mod:`.state` — its SQLite state: the feed cursor and every job's outcome, across restarts.

The on-chain challenge game comes with issue 14.
"""
