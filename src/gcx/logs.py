"""Logging for the GCX programs: one format on stderr, libp2p's loggers routed into ours."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once for a long-running program (daemon, coordinator, devnet)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    try:
        from gcx.p2p import configure_libp2p_logging
    except ImportError:  # pragma: no cover - libp2p is a hard dependency
        return
    # libp2p is chatty at INFO; keep it a level above ours unless we are debugging.
    configure_libp2p_logging(logging.DEBUG if numeric <= logging.DEBUG else max(numeric, logging.WARNING))
