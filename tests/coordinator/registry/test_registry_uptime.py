"""Uptime counts only the slots the coordinator itself observed: its own downtime (and the
nodes' redial after it) never counts against a provider. Pure-core properties, then the
registry on a real SQLite file across a coordinator outage, with the clock injected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.registry import Registry
from coordinator.registry.store import RegistryStore
from coordinator.registry.uptime import Session, UptimePolicy, observed_slots, uptime_percent
from gcx.advert import make_advert, make_heartbeat
from gcx.keys import ParticipantKey
from gcx.reference import load_profile

PROFILE = load_profile()
POLICY = UptimePolicy(slot_s=10, window_slots=360, min_slots=6, restart_grace_s=60.0)
T0 = 1_800_000_000  # a slot boundary


# -- the pure core ----------------------------------------------------------------------------


def test_slots_of_a_coordinator_outage_do_not_count() -> None:
    # Observing 0–600 s, down 600–720 s, observing again from 720 s; the provider was heard in
    # every slot the coordinator was up (slots 0–59 and, after it redialled, 73–119).
    sessions = [Session(T0, T0 + 600), Session(T0 + 720, T0 + 1200)]
    first = T0 // 10
    up = set(range(first, first + 60)) | set(range(first + 73, first + 120))
    assert uptime_percent(POLICY, up, first, T0 + 1200, sessions) == 100.0
    # Without the sessions (the old rule: every slot counts) the outage cost it 13 slots.
    assert uptime_percent(POLICY, up, first, T0 + 1200) == pytest.approx(107 / 120 * 100)


def test_the_restart_grace_ends_at_the_first_contact_or_after_grace_s() -> None:
    first = T0 // 10
    restart = Session(T0 + 1000, T0 + 2000)  # slots 100–199 of the provider's history
    # Heard again at slot 103: counted from there (a node that redials and dies is counted down).
    assert min(observed_slots(POLICY, [restart], {first + 103}, first, first + 200)) == first + 103
    # Never heard again: counted down from the end of the grace, 60 s = 6 slots after the start.
    assert min(observed_slots(POLICY, [restart], set(), first, first + 200)) == first + 106
    # Partial slots at either end of a session are not observed.
    ragged = Session(T0 + 5, T0 + 95)
    assert observed_slots(
        UptimePolicy(slot_s=10, restart_grace_s=0), [ragged], set(), first, first + 20
    ) == set(range(first + 1, first + 9))


def test_a_provider_down_while_the_coordinator_observes_still_loses_uptime() -> None:
    first = T0 // 10
    sessions = [Session(T0 - 3600, T0 + 1000)]
    up = set(range(first, first + 50))  # silent for the last 50 of 100 slots
    assert uptime_percent(POLICY, up, first, T0 + 1000, sessions) == 50.0


@st.composite
def history(draw: st.DrawFn) -> tuple[list[Session], set[int], int, int]:
    """Coordinator sessions with gaps between them, and a provider healthy whenever the
    coordinator listened: heard in every whole slot of each session after a redial lag shorter
    than the grace."""
    slot = POLICY.slot_s
    t = T0 + draw(st.integers(0, slot - 1))
    sessions: list[Session] = []
    up: set[int] = set()
    for _ in range(draw(st.integers(1, 6))):
        length = draw(st.integers(1, 900))
        session = Session(t, t + length)
        sessions.append(session)
        lag = draw(st.integers(0, int(POLICY.restart_grace_s) - 1))
        heard_from = session.started_at + (lag if sessions[:-1] else 0)
        # every slot that overlaps [heard_from, alive_at) has a heartbeat (times in whole seconds)
        up.update(range(POLICY.slot_of(heard_from), POLICY.slot_of(session.alive_at - 1) + 1))
        t = session.alive_at + draw(st.integers(1, 1200))  # the outage
    now = t + draw(st.integers(0, 30))
    return sessions, up, POLICY.slot_of(T0), now


@settings(max_examples=400, deadline=None)
@given(history())
def test_property_a_healthy_provider_keeps_full_uptime_through_any_outages(
    case: tuple[list[Session], set[int], int, int],
) -> None:
    sessions, up, first_slot, now = case
    assert uptime_percent(POLICY, up, first_slot, now, sessions) in (None, 100.0)


@settings(max_examples=400, deadline=None)
@given(
    up=st.sets(st.integers(0, 400)),
    first_slot=st.integers(0, 200),
    now=st.integers(0, 5000),
    cuts=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 900)), max_size=4),
)
def test_property_uptime_is_a_percentage_and_one_long_session_is_the_plain_share(
    up: set[int], first_slot: int, now: int, cuts: list[tuple[int, int]]
) -> None:
    policy = UptimePolicy(slot_s=10, window_slots=60, min_slots=3, restart_grace_s=30)
    sessions = [Session(a, a + b) for a, b in cuts]
    got = uptime_percent(policy, up, first_slot, now, sessions)
    assert got is None or 0.0 <= got <= 100.0
    # A session that started before the window and is observing now: every slot counts.
    always = [Session(-10_000, now)]
    start, end = policy.window(first_slot, now)
    expected = None if end - start < 3 else 100.0 * len({s for s in up if start <= s < end}) / (end - start)
    assert uptime_percent(policy, up, first_slot, now, always) == expected


# -- the registry on a real SQLite file, across a coordinator outage --------------------------


def _advert(key: ParticipantKey, report: dict[str, Any], now: int) -> bytes:
    return make_advert(
        key, "peer-a", report, price_per_ch=400_000, hours=24, nonce=now, now=now, ttl_s=3600,
        listen_addrs=["/ip4/127.0.0.1/tcp/4001"],
    )  # fmt: skip


def _run(registry: Registry, key: ParticipantKey, report: dict[str, Any], start: int, stop: int) -> None:
    """The coordinator up from ``start`` to ``stop``: it marks itself alive every 5 s (as the
    daemon does) and hears the provider's heartbeat every 5 s."""
    registry.observe(start)
    assert registry.ingest_advert(_advert(key, report, start), "peer-a", key.address, now=start)
    for t in range(start, stop, 5):
        registry.observe(t)
        assert registry.ingest_heartbeat(make_heartbeat(t, t, "0x" + "00" * 32), "peer-a", now=t)
    registry.observe(stop)  # on the way out (SIGTERM)


def _uptime(path: Path, now: int) -> tuple[float | None, str]:
    registry = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    try:
        registry.observe(now)
        row = registry.listing(now=now, include_expired=True)[0]
        return row["uptime"], row["grades"]["reliability"]
    finally:
        registry.store.close()


@pytest.fixture
def key(make_key: Callable[[str], ParticipantKey]) -> ParticipantKey:
    return make_key("node")


def test_a_two_minute_coordinator_outage_leaves_a_healthy_provider_at_full_uptime(
    tmp_path: Path, key: ParticipantKey, make_report: Callable[..., dict[str, Any]]
) -> None:
    report, path = make_report(key), tmp_path / "registry.sqlite"
    first = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    _run(first, key, report, T0, T0 + 600)
    first.store.close()  # the coordinator stops at T0+600 …
    second = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    # … and is back two minutes later; the node redials it within 25 s (its backoff).
    second.observe(T0 + 720)
    _run(second, key, report, T0 + 745, T0 + 1200)
    row = second.listing(now=T0 + 1200)[0]
    assert row["uptime"] == 100.0 and row["grades"]["reliability"] == "1"
    second.store.close()
    # A third process reading the same file later sees the same history.
    assert _uptime(path, T0 + 1200) == (100.0, "1")


def test_a_provider_that_does_not_come_back_after_a_coordinator_restart_loses_uptime(
    tmp_path: Path, key: ParticipantKey, make_report: Callable[..., dict[str, Any]]
) -> None:
    report, path = make_report(key), tmp_path / "registry.sqlite"
    first = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    _run(first, key, report, T0, T0 + 600)
    first.store.close()
    # The coordinator is back at T0+720 and observes for 10 minutes; the node never returns:
    # after the 60 s grace, 54 of 114 counted slots are empty.
    second = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    second.observe(T0 + 720)
    for t in range(T0 + 720, T0 + 1320, 5):
        second.observe(t)
    row = second.listing(now=T0 + 1320, include_expired=True)[0]
    assert row["uptime"] == pytest.approx(60 / 114 * 100)
    assert row["grades"]["reliability"] == "4"
    second.store.close()


def test_a_coordinator_killed_without_goodbye_counts_up_to_its_last_alive_mark(
    tmp_path: Path, key: ParticipantKey, make_report: Callable[..., dict[str, Any]]
) -> None:
    """SIGKILL: no last mark on the way out; the session ends at the last periodic mark."""
    report, path = make_report(key), tmp_path / "registry.sqlite"
    first = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    first.observe(T0)
    first.ingest_advert(_advert(key, report, T0), "peer-a", key.address, now=T0)
    for t in range(T0, T0 + 600, 5):
        first.observe(t)
        first.ingest_heartbeat(make_heartbeat(t, t, "0x" + "00" * 32), "peer-a", now=t)
    first.store.close()  # killed at ~T0+598: the last mark was at T0+595
    assert [(a, b) for a, b in RegistryStore(path).sessions(0)] == [(T0, T0 + 595)]
    second = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    _run(second, key, report, T0 + 900, T0 + 1500)
    assert second.listing(now=T0 + 1500)[0]["uptime"] == 100.0
    second.store.close()


def test_a_registry_from_before_sessions_keeps_the_old_rule_for_its_history(
    tmp_path: Path, key: ParticipantKey, make_report: Callable[..., dict[str, Any]]
) -> None:
    import sqlite3

    report, path = make_report(key), tmp_path / "registry.sqlite"
    old = Registry(RegistryStore(path), PROFILE, uptime_policy=POLICY)
    _run(old, key, report, T0, T0 + 300)
    old.store.close()
    with sqlite3.connect(path) as db:  # as a coordinator of the previous version left it
        db.execute("DELETE FROM observer_sessions")
    store = RegistryStore(path)
    assert store.sessions(0) == [(T0 - 86_400.0, T0 + 295.0)]  # first_seen … last_seen, no grace
    store.close()
