"""Exponential backoff, the one retry schedule GCX programs share (pure).

``Backoff().delay(n)`` is the wait before retry ``n`` (0-based): ``initial_s`` doubling
(``factor``) up to ``max_s``. The coordinator waits for its chain RPC with it, and
``gcx devnet`` restarts a dead process with it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial_s × factor**attempt`` seconds, at most ``max_s``."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """The wait before retry ``attempt`` (0 for the first retry)."""
        return min(self.max_s, self.initial_s * self.factor ** min(max(attempt, 0), 64))
