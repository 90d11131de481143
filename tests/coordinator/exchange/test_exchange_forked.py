"""Snapshots encoded in a forked child: the bytes of the state as it was at the fork."""

from __future__ import annotations

import os
import time

import pytest

from coordinator.exchange.errors import ForkedEncodingError
from coordinator.exchange.forked import fork_encode

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def test_the_child_encodes_the_state_as_it_was_at_the_fork() -> None:
    state = {"orders": list(range(200_000))}
    collect = fork_encode(lambda: repr(state).encode())
    assert collect is not None
    expected = repr(state).encode()
    state["orders"].clear()  # the parent moves on at once; the child's copy does not see it
    assert collect() == expected and len(expected) > 1 << 20  # more than one pipe read


def test_a_failing_child_is_a_typed_error() -> None:
    def broken() -> bytes:
        raise RuntimeError("encoder bug")

    collect = fork_encode(broken)
    assert collect is not None
    with pytest.raises(ForkedEncodingError, match="failed"):
        collect()


def test_a_stuck_child_is_killed_after_the_timeout() -> None:
    def stuck() -> bytes:
        time.sleep(60)
        return b"never"

    started = time.monotonic()
    collect = fork_encode(stuck, timeout_s=0.5)
    assert collect is not None
    with pytest.raises(ForkedEncodingError, match="killed"):
        collect()
    assert time.monotonic() - started < 10
