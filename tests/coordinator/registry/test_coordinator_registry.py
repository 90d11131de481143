"""Advert validation and the registry with a real SQLite store: every bad input is rejected,
counted by reason and never raises; uptime and reliability follow heartbeats."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.registry import Registry
from coordinator.registry.adverts import AdvertPolicy, AdvertRejected, ReportCache, check_advert
from coordinator.registry.metrics import Metrics
from coordinator.registry.store import RegistryStore
from coordinator.registry.uptime import UptimePolicy, uptime_percent
from gcx import signing, wire
from gcx.advert import Heartbeat, make_advert, make_heartbeat, report_digest
from gcx.errors import SchemaError
from gcx.keys import ParticipantKey
from gcx.reference import load_profile

PROFILE = load_profile()
NOW = 1_800_000_000


def advert(key: ParticipantKey, report: dict[str, Any], peer: str = "peer-a", **kw: Any) -> bytes:
    args: dict[str, Any] = {
        "price_per_ch": 400_000,
        "hours": 24,
        "nonce": 1,
        "now": NOW,
        "ttl_s": 120,
        "listen_addrs": ["/ip4/127.0.0.1/tcp/4001"],
    }
    args.update(kw)
    return make_advert(key, peer, report, **args)


def report_of(data: bytes) -> dict[str, Any]:
    """The report embedded in an encoded advert."""
    embedded: dict[str, Any] = wire.unpack(wire.unpack(data)["report"])
    return embedded


def resigned(data: bytes, key: ParticipantKey, **changes: Any) -> bytes:
    raw = wire.unpack(data)
    raw.update(changes)
    raw.pop("signature")
    raw["signature"] = signing.sign(raw, key.private_key)
    return wire.canonical_bytes(raw)


@pytest.fixture
def key(make_key: Callable[[str], ParticipantKey]) -> ParticipantKey:
    return make_key("node")


@pytest.fixture
def other(make_key: Callable[[str], ParticipantKey]) -> ParticipantKey:
    return make_key("other")


@pytest.fixture
def report(key: ParticipantKey, make_report: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return make_report(key)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(RegistryStore(tmp_path / "registry.sqlite"), PROFILE, observer=Metrics())


def metrics(registry: Registry) -> Metrics:
    assert isinstance(registry.observer, Metrics)
    return registry.observer


def check(data: bytes, key: ParticipantKey, peer: str = "peer-a", last_nonce: int | None = None) -> None:
    check_advert(
        data,
        sender_peer_id=peer,
        sender_address=key.address,
        now=NOW,
        last_nonce=last_nonce,
        profile=PROFILE,
        policy=AdvertPolicy(),
        cache=ReportCache(),
    )


def rejected(registry: Registry, reason: str) -> float:
    return metrics(registry).adverts_rejected.labels(reason=reason)._value.get()


def test_an_honest_advert_is_accepted_and_listed(
    registry: Registry, key: ParticipantKey, report: dict[str, Any]
) -> None:
    assert registry.ingest_advert(advert(key, report), "peer-a", key.address, now=NOW)
    (row,) = registry.listing(now=NOW)
    assert row["peer_id"] == "peer-a" and row["address"] == key.address
    assert row["ch_per_hour"] == 1.0 and row["grade"] == "C??" and row["price"] == 400_000
    assert row["hours"] == 24 and row["uptime"] is None and row["last_seen"] == NOW
    assert row["report_digest"] == report_digest(report)
    assert registry.provider("peer-a", now=NOW)["report"] == report  # type: ignore[index]


@pytest.mark.parametrize(
    ("reason", "forge"),
    [
        ("signature", lambda d, k, o: wire.canonical_bytes({**wire.unpack(d), "price_per_ch": 1})),
        ("peer_mismatch", lambda d, k, o: advert(k, report_of(d), peer="peer-b")),
        ("malformed", lambda d, k, o: d[:-3]),
        ("malformed", lambda d, k, o: b"\xc1" + d),
        ("schema", lambda d, k, o: wire.canonical_bytes({**wire.unpack(d), "hours": -1})),
        ("schema", lambda d, k, o: msgpack.packb([1, 2, 3])),
        ("oversize", lambda d, k, o: d + b"\x00" * 70_000),
        ("expired", lambda d, k, o: advert(k, report_of(d), now=NOW - 500)),
        ("future", lambda d, k, o: advert(k, report_of(d), now=NOW + 500)),
        ("ttl", lambda d, k, o: advert(k, report_of(d), ttl_s=10_000)),
        ("figures", lambda d, k, o: resigned(d, k, ch_per_hour_micro=5_000_000)),
        ("figures", lambda d, k, o: resigned(d, k, grade="A??")),
        ("report", lambda d, k, o: resigned(d, k, report_digest="0x" + "00" * 32)),
    ],
)
def test_bad_adverts_are_rejected_with_their_reason(
    registry: Registry,
    key: ParticipantKey,
    other: ParticipantKey,
    report: dict[str, Any],
    reason: str,
    forge: Any,
) -> None:
    bad = forge(advert(key, report), key, other)
    assert not registry.ingest_advert(bad, "peer-a", key.address, now=NOW)
    assert rejected(registry, reason) == 1
    assert registry.listing(now=NOW, include_expired=True) == []


def test_an_advert_signed_by_one_peer_claiming_another_key(
    registry: Registry, key: ParticipantKey, other: ParticipantKey, report: dict[str, Any]
) -> None:
    # `other` relays `key`'s genuine advert as its own: the sender's key is not the advert's node.
    genuine = advert(key, report)
    assert not registry.ingest_advert(genuine, "peer-a", other.address, now=NOW)
    assert rejected(registry, "peer_mismatch") == 1
    # `other` signs an advert of its own that embeds `key`'s report.
    stolen = advert(other, report)
    assert not registry.ingest_advert(stolen, "peer-a", other.address, now=NOW)
    assert rejected(registry, "report") == 1


def test_a_report_whose_rate_does_not_follow_from_its_results(
    registry: Registry, key: ParticipantKey, report: dict[str, Any]
) -> None:
    lying = dict(report, ch_per_hour=9.0, ch_per_hour_by_class={"hpc": 9.0, "ai": 9.0})
    lying.pop("signature")
    lying["signature"] = signing.sign(lying, key.private_key)
    lying["grade"] = lying["grade"]
    assert not registry.ingest_advert(advert(key, lying), "peer-a", key.address, now=NOW)
    assert rejected(registry, "report") == 1


def test_replays_and_stale_nonces_are_rejected(
    registry: Registry, key: ParticipantKey, report: dict[str, Any]
) -> None:
    first = advert(key, report, nonce=10)
    assert registry.ingest_advert(first, "peer-a", key.address, now=NOW)
    # The same bytes again (the gossiped copy of a directly sent advert): acknowledged, not stored.
    assert registry.submit_advert(first, "peer-a", key.address, now=NOW + 1) == (True, None)
    assert metrics(registry).adverts_duplicate._value.get() == 1
    assert registry.listing(now=NOW + 1)[0]["last_seen"] == NOW
    # A different advert with a stale nonce is a replay.
    stale = advert(key, report, nonce=10, price_per_ch=1)
    accepted, reason = registry.submit_advert(stale, "peer-a", key.address, now=NOW + 2)
    assert not accepted and reason is not None and reason.startswith("replay")
    assert not registry.ingest_advert(advert(key, report, nonce=9), "peer-a", key.address, now=NOW + 2)
    assert rejected(registry, "replay") == 2
    assert registry.ingest_advert(
        advert(key, report, nonce=11, price_per_ch=1), "peer-a", key.address, now=NOW + 3
    )
    assert registry.listing(now=NOW + 3)[0]["price"] == 1


def test_a_flood_from_one_peer_is_rate_limited_and_others_still_get_in(
    registry: Registry,
    key: ParticipantKey,
    other: ParticipantKey,
    report: dict[str, Any],
    make_report: Callable[..., dict[str, Any]],
) -> None:
    junk = b"\x93\x01\x02\x03"
    outcomes = [registry.ingest_advert(junk, "peer-x", other.address, now=NOW) for _ in range(1000)]
    assert not any(outcomes)
    assert rejected(registry, "rate_limited") >= 970
    assert registry.ingest_advert(advert(key, report), "peer-a", key.address, now=NOW)


def test_an_expired_advert_leaves_the_listing(
    registry: Registry, key: ParticipantKey, report: dict[str, Any]
) -> None:
    assert registry.ingest_advert(advert(key, report, ttl_s=60), "peer-a", key.address, now=NOW)
    assert len(registry.listing(now=NOW + 59)) == 1
    assert registry.listing(now=NOW + 60) == []
    assert len(registry.listing(now=NOW + 60, include_expired=True)) == 1


@pytest.mark.parametrize("version", [True, 1.0])
def test_a_version_that_merely_equals_1_is_a_schema_error(
    key: ParticipantKey, report: dict[str, Any], version: Any
) -> None:
    # bool is an int subclass and pydantic's Literal compares by equality: `"v": true` (or 1.0)
    # must not pass for v = 1, even correctly signed.
    forged = resigned(advert(key, report), key, v=version)
    with pytest.raises(AdvertRejected, match=r"^schema: .*v: Value error, must be an integer") as info:
        check(forged, key)
    assert info.value.reason == "schema"
    beat = {"type": "gcx.heartbeat", "v": version, "seq": 1, "sent_at": 1, "report_digest": "0x" + "00" * 32}
    with pytest.raises(SchemaError, match="v: Value error, must be an integer"):
        wire.validate(Heartbeat, beat)
    assert wire.validate(Heartbeat, {**beat, "v": 1}).v == 1


@pytest.mark.parametrize("flag", ["issued_at", "expires_at", "nonce", "hours", "price_per_ch"])
def test_integer_fields_refuse_booleans(key: ParticipantKey, report: dict[str, Any], flag: str) -> None:
    with pytest.raises(AdvertRejected, match=f"^schema: .*{flag}: Input should be a valid integer"):
        check(resigned(advert(key, report), key, **{flag: True}), key)


@pytest.mark.parametrize("lifetime", [-5, 0])
def test_an_advert_expiring_before_or_when_it_was_issued_is_rejected(
    registry: Registry, key: ParticipantKey, report: dict[str, Any], lifetime: int
) -> None:
    # Issued 10 s ahead (within the allowed clock skew) and expiring at or before that: not yet
    # expired, and `expires_at - issued_at` is not above the maximum TTL.
    bad = resigned(advert(key, report), key, issued_at=NOW + 10, expires_at=NOW + 10 + lifetime)
    with pytest.raises(AdvertRejected, match=r"^ttl: expires at .* not after it was issued") as info:
        check(bad, key)
    assert info.value.reason == "ttl"
    assert registry.submit_advert(bad, "peer-a", key.address, now=NOW)[0] is False
    assert rejected(registry, "ttl") == 1


def test_a_copy_of_an_expired_advert_is_rejected_as_expired(
    registry: Registry, key: ParticipantKey, report: dict[str, Any]
) -> None:
    data = advert(key, report, ttl_s=60)
    assert registry.submit_advert(data, "peer-a", key.address, now=NOW) == (True, None)
    assert registry.submit_advert(data, "peer-a", key.address, now=NOW + 59) == (True, None)
    assert metrics(registry).adverts_duplicate._value.get() == 1
    accepted, reason = registry.submit_advert(data, "peer-a", key.address, now=NOW + 60)
    assert accepted is False and reason is not None and reason.startswith("expired: ")
    assert rejected(registry, "expired") == 1
    assert metrics(registry).adverts_duplicate._value.get() == 1


def test_duplicates_pass_the_rate_limiter(
    tmp_path: Path, key: ParticipantKey, report: dict[str, Any]
) -> None:
    registry = Registry(
        RegistryStore(tmp_path / "r.sqlite"), PROFILE, rate=1.0, burst=5.0, observer=Metrics()
    )
    data = advert(key, report)
    outcomes = [registry.submit_advert(data, "peer-a", key.address, now=NOW) for _ in range(50)]
    assert outcomes[:5] == [(True, None)] * 5  # the advert, then 4 duplicates: the burst
    assert all(not ok and r is not None and r.startswith("rate_limited") for ok, r in outcomes[5:])
    assert rejected(registry, "rate_limited") == 45
    assert metrics(registry).adverts_duplicate._value.get() == 4
    assert registry.submit_advert(data, "peer-a", key.address, now=NOW + 1) == (True, None)  # refilled


def test_heartbeats_drive_uptime_and_the_reliability_grade(
    tmp_path: Path, key: ParticipantKey, report: dict[str, Any]
) -> None:
    policy = UptimePolicy(slot_s=10, window_slots=100, min_slots=6)
    registry = Registry(RegistryStore(tmp_path / "r.sqlite"), PROFILE, uptime_policy=policy)
    start = NOW - NOW % 10
    assert registry.ingest_advert(
        advert(key, report, now=start, ttl_s=3600), "peer-a", key.address, now=start
    )
    assert (
        registry.ingest_heartbeat(make_heartbeat(1, start, "0x" + "00" * 32), "unknown-peer", now=start)
        is False
    )
    for i in range(1, 100):  # a heartbeat every 5 s for 500 s: every slot up
        assert registry.ingest_heartbeat(
            make_heartbeat(i, start + 5 * i, "0x" + "00" * 32), "peer-a", now=start + 5 * i
        )
    row = registry.listing(now=start + 500)[0]
    assert row["uptime"] == 100.0 and row["grades"]["reliability"] == "1"
    # The node dies silently: uptime and the grade fall as empty slots enter the window.
    row = registry.listing(now=start + 550)[0]
    assert row["uptime"] == pytest.approx(50 / 55 * 100)
    assert row["grades"]["reliability"] == "4"


def test_the_core_reads_the_clock_it_is_given_and_reports_to_its_observer(
    tmp_path: Path, key: ParticipantKey, report: dict[str, Any]
) -> None:
    clock = [float(NOW)]
    observer = Metrics()
    registry = Registry(
        RegistryStore(tmp_path / "r.sqlite"), PROFILE, clock=lambda: clock[0], observer=observer
    )
    data = advert(key, report, ttl_s=60)
    assert registry.ingest_advert(data, "peer-a", key.address)  # no now: the given clock's NOW
    assert registry.ingest_advert(data, "peer-a", key.address)  # the duplicate is not timed
    assert [r["last_seen"] for r in registry.listing()] == [NOW]
    clock[0] = NOW + 60.0  # the advert expires by the injected clock, not the wall clock
    assert registry.listing() == []
    assert observer.adverts_accepted._value.get() == 1 and observer.adverts_duplicate._value.get() == 1
    assert observer.registry.get_sample_value("gcx_advert_ingest_seconds_count") == 1
    assert observer.listed._value.get() == 0
    clockless = Registry(RegistryStore(tmp_path / "r2.sqlite"), PROFILE)
    with pytest.raises(TypeError, match="no clock"):
        clockless.listing()


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE providers SET nonce='x' WHERE peer_id='peer-a'",  # a column of the wrong type
        "UPDATE providers SET listen_addrs='[' WHERE peer_id='peer-a'",  # not JSON
        "UPDATE providers SET price_per_ch=1 WHERE peer_id='peer-a'",  # disagrees with the advert
        "UPDATE providers SET advert=substr(advert, 1, 200) WHERE peer_id='peer-a'",  # truncated advert
    ],
)
def test_a_damaged_record_is_left_out_until_the_provider_advertises_again(
    tmp_path: Path,
    key: ParticipantKey,
    other: ParticipantKey,
    report: dict[str, Any],
    make_report: Callable[..., dict[str, Any]],
    damage: str,
) -> None:
    path = tmp_path / "r.sqlite"
    first = Registry(RegistryStore(path), PROFILE)
    assert first.ingest_advert(advert(key, report, nonce=5), "peer-a", key.address, now=NOW)
    assert first.ingest_advert(advert(other, make_report(other), "peer-b"), "peer-b", other.address, now=NOW)
    first.store.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(damage)
    registry = Registry(RegistryStore(path), PROFILE, observer=Metrics())
    assert list(registry.check_stored()) == ["peer-a"]
    assert metrics(registry).damaged_records._value.get() == 1
    assert [r["peer_id"] for r in registry.listing(now=NOW, include_expired=True)] == ["peer-b"]
    assert registry.provider("peer-a", now=NOW) is None  # unknown, not an error
    assert registry.provider("peer-b", now=NOW) is not None
    # Its next valid advert replaces the record (the damaged row's nonce is not trusted).
    assert registry.ingest_advert(advert(key, report, nonce=3), "peer-a", key.address, now=NOW + 1)
    assert registry.provider("peer-a", now=NOW + 1)["nonce"] == 3  # type: ignore[index]
    assert registry.check_stored() == {}
    assert metrics(registry).damaged_records._value.get() == 1


def test_uptime_policy_core() -> None:
    p = UptimePolicy(slot_s=10, window_slots=10, min_slots=3)
    assert uptime_percent(p, set(), first_slot=100, now=1015) is None  # one complete slot only
    assert uptime_percent(p, {100, 101, 102}, first_slot=100, now=1035) == 100.0
    assert uptime_percent(p, range(190, 195), first_slot=0, now=2000) == 50.0  # window of 10 slots
    assert uptime_percent(p, range(0, 200), first_slot=0, now=2000) == 100.0  # only the window counts


def test_the_registry_survives_a_restart(tmp_path: Path, key: ParticipantKey, report: dict[str, Any]) -> None:
    path = tmp_path / "registry.sqlite"
    first = Registry(RegistryStore(path), PROFILE)
    assert first.ingest_advert(advert(key, report, nonce=5), "peer-a", key.address, now=NOW)
    first.store.close()
    second = Registry(RegistryStore(path), PROFILE)
    assert [r["peer_id"] for r in second.listing(now=NOW)] == ["peer-a"]
    assert not second.ingest_advert(
        advert(key, report, nonce=5), "peer-a", key.address, now=NOW
    )  # nonce kept


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes_never_raise(data: bytes, key: ParticipantKey) -> None:
    with pytest.raises(AdvertRejected):
        check(data, key)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_fuzz_mutated_adverts_never_raise_anything_else(
    pos: int, flip: int, key: ParticipantKey, report: dict[str, Any]
) -> None:
    data = bytearray(advert(key, report))
    data[pos % len(data)] ^= flip
    with contextlib.suppress(AdvertRejected):
        check(bytes(data), key)


# -- CH rate to micro-CH: the node's advert and the registry convert alike (gcx.compute_hours) ----

# Exact halves of a micro-CH (round half to even), the smallest and largest rates, and 5e-7,
# where rounding by hand gives 0 micro-CH but to_micro gives 1 (any positive rate is >= 1).
BOUNDARY_RATES = [
    5e-7,
    1.5e-6,
    2.5e-6,
    1.25e-5,
    1.2345675,
    7.0000005,
    123.0000005,
    1e-12,
    1e9,
    999999999.9999995,
]
REFUSED_RATES = [0.0, -1.0, -2.5e-6, 1e9 * (1 + 2**-40), 1e303, float("nan"), float("inf"), float("-inf")]


def _registry_micro(
    monkeypatch: pytest.MonkeyPatch, key: ParticipantKey, report: dict[str, Any], rate: float
) -> int:
    """The registry's micro-CH figure for an embedded report claiming ``rate`` (its verification
    stubbed: a real report's rate must follow from its results, so it cannot sit on a boundary)."""
    from types import SimpleNamespace

    import coordinator.registry.adverts as registry_adverts

    claimed = SimpleNamespace(node=key.address, ch_per_hour=rate, grade=report["grade"])
    monkeypatch.setattr(
        registry_adverts, "verify_report", lambda _doc, _profile: SimpleNamespace(report=claimed)
    )
    return registry_adverts._verify_embedded(wire.canonical_bytes(report), PROFILE).ch_per_hour_micro


@pytest.mark.parametrize("rate", BOUNDARY_RATES)
def test_the_advert_and_the_registry_convert_a_rate_alike(
    rate: float, key: ParticipantKey, report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gcx.compute_hours import to_micro

    node_side = wire.unpack(advert(key, {**report, "ch_per_hour": rate}))["ch_per_hour_micro"]
    assert node_side == _registry_micro(monkeypatch, key, report, rate) == to_micro(rate)
    if rate == 5e-7:  # the values discriminate: the hand rounding both modules had differs here
        assert round(rate * 1_000_000) == 0 != node_side


@pytest.mark.parametrize("rate", REFUSED_RATES)
def test_the_advert_and_the_registry_refuse_a_rate_alike(
    rate: float, key: ParticipantKey, report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gcx.errors import GCXError

    with pytest.raises(GCXError) as refused:  # ReportError, or SchemaError for NaN/inf in the report
        advert(key, {**report, "ch_per_hour": rate})
    assert type(refused.value).__name__ in ("ReportError", "SchemaError")
    with pytest.raises(AdvertRejected) as rejected:
        _registry_micro(monkeypatch, key, report, rate)
    assert rejected.value.reason == "report" and "CH rate must be positive and at most" in str(rejected.value)
