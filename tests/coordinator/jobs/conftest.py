"""Fixtures of the job tests."""

from __future__ import annotations

import logging

import pytest

from gcx.p2p import configure_libp2p_logging


@pytest.fixture(autouse=True, scope="session")
def _libp2p_logs_into_logging() -> None:
    """Let libp2p's records reach pytest's log capture instead of raw stderr."""
    configure_libp2p_logging(logging.WARNING)
