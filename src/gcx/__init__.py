"""GCX core: what every GCX program shares.

* :mod:`gcx.compute_hours`, :mod:`gcx.grading`, :mod:`gcx.reference` — the Compute Hour standard;
* :mod:`gcx.report` — signed capacity reports and their verification;
* :mod:`gcx.keys`, :mod:`gcx.signing` — participant keys and EIP-191 signatures;
* :mod:`gcx.wire` — the canonical msgpack codec with strict validation;
* :mod:`gcx.settings`, :mod:`gcx.paths` — typed settings and the home folder;
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
