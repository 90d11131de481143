"""The GCX exchange: matching, state and order entry for compute-hour contracts.

Two layers, by role:

* :mod:`.core` — the pure core (engine, commands, events, order lifecycle, instruments,
  admission rules, journal entries, the whole-exchange state, market data). Deterministic and
  sans-I/O; start reading there.
* The adapters around it, each one I/O concern:

  - :mod:`.journal` — the durable, CRC-checked command log with group commit (SQLite);
  - :mod:`.sequencer` — numbers commands and writes them to the journal in order;
  - :mod:`.service` — :class:`~.service.ExchangeService`, the trio service: admission in arrival
    order, group commit, application to the state, snapshots, the feed; :func:`~.service.open_exchange`;
  - :mod:`.api` — the HTTP and WebSocket routes (``docs/exchange-api.md``);
  - :mod:`.forked` — snapshots encoded in a forked child;
  - :mod:`.verifier_pool` — signature checks in worker processes;
  - :mod:`.native` — the compiled build of the engine (``make native``);
  - :mod:`.instruments_file` — the instruments file (``configs/instruments.toml``);
  - :mod:`.audit` — ``gcx coordinator audit-journal``.

* :mod:`.errors` — every error of the exchange, rooted in :class:`gcx.errors.GCXError`.

The order protocol that clients sign (EIP-712 schemas, signing, verification) is shared with
them and lives in :mod:`gcx.orders`. This ``__init__`` imports nothing, so importing the core does
not bring the adapters' libraries with it.
"""
