"""The market-data feed's sequence rule, sans-I/O: one gap detector for every subscriber.

The exchange's feed (``/v1/feed``, docs/exchange-api.md) sends an ``l2snapshot`` first, then
``trade`` and ``l2update`` messages whose ``seq`` increases by exactly one. A subscriber that
sees any other ``seq`` has lost (or been sent again) a message, and must resubscribe from a new
snapshot. :class:`FeedSequence` is that rule, and the only implementation of it: the SDK's
``Client.feed`` (and so ``gcx trade watch``) and the exchange core's book-keeping
:class:`~coordinator.exchange.core.marketdata.FeedClient` both use it, and both raise its
:class:`FeedGapError`.

Usage::

    sequence = FeedSequence()
    for message in messages:       # decoded JSON objects
        sequence.check(message)    # FeedGapError on a gap, a stale or a duplicate message

Nothing here does I/O; it imports only :mod:`gcx.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import GCXError

__all__ = ["FeedError", "FeedGapError", "FeedSequence"]


class FeedError(GCXError):
    """A feed message cannot be used: malformed, for another instrument, or out of sequence."""

    exit_code = 1


class FeedGapError(FeedError):
    """The feed lost its sequence (a gap, or a stale or duplicate message): resubscribe from a
    new snapshot. ``expected`` is the ``seq`` the subscriber wanted, ``got`` the one it received
    (``expected`` is ``None`` when it is refusing everything until a snapshot)."""

    def __init__(self, message: str, expected: int | None = None, got: int | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got


def _seq_of(message: Mapping[str, Any]) -> int:
    seq = message.get("seq")
    if type(seq) is not int or seq < 0:
        raise FeedError(f"bad seq {seq!r}")
    return seq


class FeedSequence:
    """The ``seq`` bookkeeping of one instrument's feed: a snapshot, then exactly ``seq + 1``.

    A snapshot (:meth:`snapshot`) sets the position; each update or trade (:meth:`advance`) must
    carry the next number, else :class:`FeedGapError`, and from then on every update is refused
    until the next snapshot. :meth:`check` dispatches a decoded message by its ``type``.
    """

    __slots__ = ("_seq", "_synced")

    def __init__(self) -> None:
        self._seq = 0
        self._synced = False

    @property
    def seq(self) -> int:
        """The ``seq`` of the last message accepted (0 before any)."""
        return self._seq

    @property
    def synced(self) -> bool:
        """Whether a snapshot was accepted and no gap seen since."""
        return self._synced

    def snapshot(self, seq: int) -> None:
        """Accept a snapshot that reflects every message up to ``seq``."""
        self._seq = seq
        self._synced = True

    def advance(self, seq: int) -> None:
        """Accept an update or trade numbered ``seq``: :class:`FeedGapError` unless it is the next."""
        if not self._synced:
            raise FeedGapError("no snapshot since the last gap: resubscribe from a snapshot", None, seq)
        expected = self._seq + 1
        if seq != expected:
            self._synced = False
            what = "gap" if seq > expected else "stale or duplicate message"
            raise FeedGapError(f"feed {what}: expected seq {expected}, got {seq}; resubscribe", expected, seq)
        self._seq = seq

    def reflects(self, seq: int) -> bool:
        """Whether a message numbered ``seq`` is already reflected in the position (to skip
        messages buffered while a snapshot was fetched)."""
        return self._synced and seq <= self._seq

    def check(self, message: Mapping[str, Any]) -> int:
        """Accept a decoded ``l2snapshot``, ``l2update`` or ``trade`` message; its ``seq``.

        :class:`FeedError` for another type or a ``seq`` that is not a non-negative integer,
        :class:`FeedGapError` for an update out of sequence.
        """
        kind = message.get("type")
        seq = _seq_of(message)
        if kind == "l2snapshot":
            self.snapshot(seq)
        elif kind in ("l2update", "trade"):
            self.advance(seq)
        else:
            raise FeedError(f"unknown message type {kind!r}")
        return seq
