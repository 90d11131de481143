"""GCX core: what every GCX program shares. It depends on none of them (a test checks that only
the CLI shell, :mod:`gcx.cli`, imports the programs' packages, to mount their commands).

* :mod:`gcx.compute_hours`, :mod:`gcx.grading`, :mod:`gcx.reference` — the Compute Hour standard;
* :mod:`gcx.report`, :mod:`gcx.advert` — signed capacity reports and adverts, and their checks;
* :mod:`gcx.keys`, :mod:`gcx.signing` — participant keys and EIP-191 signatures;
* :mod:`gcx.orders` — the exchange's order protocol: EIP-712 schemas, signing, verification;
* :mod:`gcx.wire` — the canonical msgpack codec with strict validation;
* :mod:`gcx.p2p`, :mod:`gcx.chain`, :mod:`gcx.sdk` — the libp2p layer, the chain client, the
  exchange client;
* :mod:`gcx.settings`, :mod:`gcx.paths`, :mod:`gcx.tomlfiles`, :mod:`gcx.validation` — typed
  settings, the home folder, config files and their error messages;
* :mod:`gcx.signals`, :mod:`gcx.logs` — running a program until SIGTERM/SIGINT, logging;
* :mod:`gcx.devnet` — a whole local network of real processes (``gcx devnet``);
* :mod:`gcx.errors` — the exception hierarchy.
"""

from __future__ import annotations

from .errors import (
    BackendUnavailable,
    BenchmarkError,
    ConfigError,
    DecodeError,
    GCXError,
    KeyStoreError,
    OversizeError,
    ReportError,
    SchemaError,
    SignatureError,
    WireError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "BenchmarkError",
    "ConfigError",
    "DecodeError",
    "GCXError",
    "KeyStoreError",
    "OversizeError",
    "ReportError",
    "SchemaError",
    "SignatureError",
    "WireError",
    "__version__",
]
