"""Uptime from heartbeats: the basis of the reliability grade (seed §7.3). Pure functions.

Time is cut into slots of ``slot_s`` seconds (twice the nodes' heartbeat interval, so ordinary
jitter never leaves a slot empty). A slot in which at least one heartbeat or advert arrived is
*up*. Only slots the coordinator itself observed count: the coordinator records its own
observation *sessions* (from a start to its last sign of life, :class:`Session`), and a slot
counts for a provider if it was up, or if it lies wholly inside a session, past the session's
*restart grace* (``restart_grace_s`` after the session started, or the provider's first up slot
of that session if that came sooner: a restarted coordinator gives nodes time to redial it).
So a coordinator outage, and the nodes' reconnection after it, never count against a provider.
Uptime over the rolling window is the fraction of counted slots since the provider was first
seen (at most ``window_slots`` complete slots) that were up; the current slot, still open, does
not count. With fewer than ``min_slots`` counted slots, uptime is unknown and the reliability
grade reads ``?``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UptimePolicy:
    slot_s: int = 10
    window_slots: int = 360  # one hour of 10 s slots
    min_slots: int = 6
    restart_grace_s: float = 60.0  # after a coordinator (re)start: nodes redial with backoff ≤ 30 s

    def slot_of(self, t: float) -> int:
        return int(t // self.slot_s)

    def window(self, first_slot: int, now: float) -> tuple[int, int]:
        """The complete slots ``[start, end)`` that count at time ``now``."""
        end = self.slot_of(now)
        return max(first_slot, end - self.window_slots), end


@dataclass(frozen=True, slots=True)
class Session:
    """The coordinator observing: from its start to its last recorded sign of life (seconds)."""

    started_at: float
    alive_at: float


def observed_slots(
    policy: UptimePolicy, sessions: Iterable[Session], up_slots: Iterable[int], start: int, end: int
) -> set[int]:
    """The slots in ``[start, end)`` in which the coordinator was observing this provider: wholly
    inside a session, from the end of its restart grace or the provider's first up slot in it,
    whichever comes first."""
    up = sorted(s for s in up_slots if start <= s < end)
    out: set[int] = set()
    for session in sessions:
        last = min(end, math.floor(session.alive_at / policy.slot_s))  # exclusive: slots wholly inside
        if last <= start:
            continue
        opened = math.ceil(session.started_at / policy.slot_s)  # its first whole slot
        first = math.ceil((session.started_at + policy.restart_grace_s) / policy.slot_s)
        contact = next((s for s in up if opened <= s < last), None)
        if contact is not None:
            first = min(first, contact)
        out.update(range(max(start, first), last))
    return out


def uptime_percent(
    policy: UptimePolicy,
    up_slots: Iterable[int],
    first_slot: int,
    now: float,
    sessions: Iterable[Session] | None = None,
) -> float | None:
    """Percent of counted slots in the window that were up, or None while too few are counted.

    ``up_slots`` are the provider's up slots (those outside :meth:`UptimePolicy.window` are
    ignored); ``sessions`` the coordinator's observation sessions (None: it observed without a
    break, every slot of the window counts).
    """
    start, end = policy.window(first_slot, now)
    up = {s for s in up_slots if start <= s < end}
    observed = range(start, end) if sessions is None else observed_slots(policy, sessions, up, start, end)
    counted = len(up.union(observed))
    if counted < policy.min_slots:
        return None
    return 100.0 * min(len(up), counted) / counted
