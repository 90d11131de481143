"""Fixtures of the capacity-audit tests: the p2p tests' helpers (real hosts on loopback)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "p2p"))

from gcx.p2p import configure_libp2p_logging


@pytest.fixture(autouse=True, scope="session")
def _libp2p_logs_into_logging() -> None:
    """Let libp2p's records reach pytest's log capture instead of raw stderr."""
    configure_libp2p_logging(logging.WARNING)
