"""Logging for the GCX programs: one format on stderr, libp2p's loggers routed into ours."""

from __future__ import annotations

import logging
import sys

from .errors import ConfigError

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


#: The levels ``--log-level`` takes (any case).
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_level(level: str) -> int:
    """The numeric level of ``level`` (one of :data:`LEVELS`, any case); :class:`ConfigError` else."""
    name = level.strip().upper()
    if name not in LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LEVELS)}, not {level!r}")
    numeric: int = getattr(logging, name)
    return numeric


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once for a long-running program (daemon, coordinator, devnet).

    Raises :class:`ConfigError` for a level that is not one of :data:`LEVELS`.
    """
    numeric = parse_level(level)
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
