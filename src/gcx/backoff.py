"""Retry schedules GCX programs share (pure).

* :class:`Backoff` — ``delay(n)`` is the wait before retry ``n`` (0-based): ``initial_s``
  doubling (``factor``) up to ``max_s``. The coordinator waits for its chain RPC with it.
* :class:`RestartPolicy` — when a supervised process exits, how long to wait before starting
  it again, and when to give up on it: only after ``max_fast_crashes`` exits in a row, each
  within ``stable_after_s`` of its start. ``gcx devnet`` supervises its processes with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial_s × factor**attempt`` seconds, at most ``max_s``."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """The wait before retry ``attempt`` (0 for the first retry)."""
        return min(self.max_s, self.initial_s * self.factor ** min(max(attempt, 0), 64))


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Restart a process that exited, with backoff over its streak of fast crashes."""

    backoff: Backoff = field(default_factory=lambda: Backoff(initial_s=0.5, max_s=10.0))
    stable_after_s: float = 10.0  # a run at least this long ends a streak of fast crashes
    max_fast_crashes: int = 5

    def after_exit(self, ran_s: float, streak: int) -> tuple[int, float | None]:
        """For a process that ran ``ran_s`` seconds and had ``streak`` fast crashes before this
        exit: its new streak and the wait before restarting it, or ``None``: give up."""
        streak = streak + 1 if ran_s < self.stable_after_s else 0
        if streak >= self.max_fast_crashes:
            return streak, None
        return streak, self.backoff.delay(streak)
