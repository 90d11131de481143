"""Uptime from heartbeats: the basis of the reliability grade (seed §7.3). Pure functions.

Time is cut into slots of ``slot_s`` seconds (twice the nodes' heartbeat interval, so ordinary
jitter never leaves a slot empty). A slot in which at least one heartbeat or advert arrived is
*up*. Uptime over the rolling window is the fraction of complete slots since the provider was
first seen (at most ``window_slots`` of them) that were up; the current slot, still open, does not
count. With fewer than ``min_slots`` complete slots observed, uptime is unknown and the
reliability grade reads ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UptimePolicy:
    slot_s: int = 10
    window_slots: int = 360  # one hour of 10 s slots
    min_slots: int = 6

    def slot_of(self, t: float) -> int:
        return int(t // self.slot_s)

    def window(self, first_slot: int, now: float) -> tuple[int, int]:
        """The complete slots ``[start, end)`` that count at time ``now``."""
        end = self.slot_of(now)
        return max(first_slot, end - self.window_slots), end


def uptime_percent(policy: UptimePolicy, up_slots: int, first_slot: int, now: float) -> float | None:
    """Percent of complete slots in the window that were up, or None while too few are observed.

    ``up_slots`` counts the up slots within :meth:`UptimePolicy.window`.
    """
    start, end = policy.window(first_slot, now)
    expected = end - start
    if expected < policy.min_slots:
        return None
    return 100.0 * min(up_slots, expected) / expected
