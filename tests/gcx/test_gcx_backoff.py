"""Retry schedules: backoff doubles to its cap; a supervised process is given up on only after
a streak of fast crashes, and a run that lasted resets the streak."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gcx.backoff import Backoff, RestartPolicy


def test_backoff_doubles_to_its_cap() -> None:
    b = Backoff(initial_s=0.5, max_s=10.0)
    assert [b.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.delay(10_000) == 10.0 and b.delay(-1) == 0.5  # no overflow, no negative waits


def test_restart_policy_gives_up_after_five_fast_crashes_in_a_row() -> None:
    p = RestartPolicy()
    streak, waits = 0, []
    for _ in range(5):
        streak, wait = p.after_exit(ran_s=1.0, streak=streak)
        waits.append(wait)
    assert waits == [1.0, 2.0, 4.0, 8.0, None]


def test_a_run_that_lasted_resets_the_streak() -> None:
    p = RestartPolicy()
    assert p.after_exit(ran_s=3600.0, streak=4) == (0, 0.5)  # killed after an hour: restart at once
    assert p.after_exit(ran_s=p.stable_after_s - 0.1, streak=0) == (1, 1.0)


@given(runs=st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=50))
def test_property_waits_are_bounded_and_giving_up_needs_the_whole_streak_fast(runs: list[float]) -> None:
    p = RestartPolicy()
    streak = 0
    for i, ran in enumerate(runs):
        streak, wait = p.after_exit(ran, streak)
        if wait is None:
            tail = runs[i + 1 - p.max_fast_crashes : i + 1]
            assert len(tail) == p.max_fast_crashes and all(r < p.stable_after_s for r in tail)
            return
        assert p.backoff.initial_s <= wait <= p.backoff.max_s
