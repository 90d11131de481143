"""The provider registry (DESIGN §4): who offers what capacity, graded, and how reliably.

* :mod:`.core` — :class:`Registry`, the sans-I/O core: validates adverts and heartbeats, keeps
  providers and their uptime, answers listings; it is given its clock, its store and an observer.
* :mod:`.base` — the interfaces it is given: ``ProviderStore``, ``RegistryObserver``, ``Clock``.
* :mod:`.adverts` — pure advert validation with a closed set of typed rejection reasons.
* :mod:`.uptime` — the uptime grade from heartbeat slots.
* :mod:`.store` — the SQLite store of providers and uptime (``RegistryStore``).
* :mod:`.metrics` — the registry's Prometheus metrics and log lines (the observer the service
  gives the core).

The libp2p handlers that feed it and the HTTP routes that read it are in
:mod:`coordinator.daemon` and :mod:`coordinator.http_app`.
"""

from __future__ import annotations

from .core import Registry

__all__ = ["Registry"]
