"""The coordinator's job book (docs/jobs-api.md): quotes, escrowed jobs, delivery to providers,
results, the chain's settlement, lost providers, refunds and verifiers' mismatches.

* :mod:`.core` — pure: job states and transitions, pricing, deadlines, provider selection, the
  escrow and result checks, :class:`~.core.JobsError`;
* :mod:`.store` — the SQLite file (:class:`~.store.JobStore`);
* :mod:`.service` — :class:`~.service.JobBook`, the trio service run by ``gcx coordinator run``;
* :mod:`.api` — the ``/v1/jobs`` HTTP routes.
"""
