"""The GCX coordinator, run by the exchange operator (``gcx coordinator run``; DESIGN §4–5).

* :mod:`.daemon` — the process: a libp2p host taking adverts and heartbeats, the chain's stake
  checks, the HTTP server, the exchange service, the endpoint file; :func:`~.daemon.run_coordinator`.
* :mod:`.registry` — the provider registry (sans-I/O core, advert validation, uptime, store).
* :mod:`.exchange` — the exchange: a pure core (:mod:`.exchange.core`) and its adapters.
* :mod:`.http_app` — the HTTP API: registry routes, errors, metrics, the exchange's routes.
* :mod:`.http_server`, :mod:`.body_limit` — hypercorn on trio, request-size limits.
* :mod:`.cli` — the ``gcx coordinator`` commands (``run``, ``audit-journal``).

Importing this package imports nothing: each program pays only for what it uses.
"""
