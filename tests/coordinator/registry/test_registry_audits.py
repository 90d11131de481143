"""Capacity audits in the registry (issue 13.5): the pure schedule and verification policy with an
injected clock and RNG, and the registry over a real SQLite store — unverified until an audit
sized to the claim passes, records kept as evidence, restart-safe."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.registry import Registry
from coordinator.registry.audits import (
    MAX_CLAIM,
    AuditPolicy,
    AuditState,
    after_audit,
    claim_of,
    due,
    on_claim,
)
from coordinator.registry.store import RegistryStore
from gcx.advert import make_advert
from gcx.audit import AuditConfig, AuditRecord, Verdict, claimed_int8_ops_per_s, decode_record
from gcx.audit.core import make_challenge
from gcx.keys import ParticipantKey
from gcx.p2p import peer_id_of
from gcx.reference import load_profile

PROFILE = load_profile()
NOW = 1_800_000_000.0
POLICY = AuditPolicy(first_within_s=10.0, interval_s=900.0, failures_to_flag=3, min_gap_s=2.0, keep=5)


# --- the pure policy -------------------------------------------------------------------------------


@given(seed=st.integers(0, 2**32), now=st.floats(0, 2e9), claim=st.integers(1, MAX_CLAIM))
@settings(max_examples=200, deadline=None)
def test_a_new_claim_is_due_within_first_within_s_and_unverified(seed: int, now: float, claim: int) -> None:
    state = on_claim(None, "p", claim, "0xd", now, random.Random(seed), POLICY)
    assert now <= state.due_at <= now + POLICY.first_within_s
    assert not state.verified and state.audits == 0 and state.last_verdict is None
    assert not state.slashable(POLICY)


def test_a_pass_sized_to_the_claim_verifies_and_a_smaller_one_does_not() -> None:
    rng = random.Random(1)
    state = on_claim(None, "p", 1000, "0xd", NOW, rng, POLICY)
    assert after_audit(state, "passed", 1000, NOW + 5, rng, POLICY).verified
    assert after_audit(state, "passed", 5000, NOW + 5, rng, POLICY).verified  # audited above the claim
    assert not after_audit(state, "passed", 999, NOW + 5, rng, POLICY).verified  # sized below it
    assert not after_audit(state, "late", 1000, NOW + 5, rng, POLICY).verified


@given(seed=st.integers(0, 2**32))
@settings(max_examples=100, deadline=None)
def test_a_raised_claim_loses_verification_and_is_audited_soon(seed: int) -> None:
    rng = random.Random(seed)
    state = after_audit(on_claim(None, "p", 1000, "0xa", NOW, rng, POLICY), "passed", 1000, NOW, rng, POLICY)
    assert state.verified and state.due_at >= NOW + POLICY.min_gap_s
    t = NOW + 1.0  # within the minimum gap: the new audit waits for it
    raised = on_claim(state, "p", 500_000, "0xb", t, rng, POLICY)
    assert not raised.verified and raised.claim == 500_000 and raised.audited_claim == 1000
    assert NOW + POLICY.min_gap_s <= raised.due_at <= max(t + POLICY.first_within_s, NOW + POLICY.min_gap_s)
    assert raised.due_at <= state.due_at
    lowered = on_claim(state, "p", 10, "0xc", t, rng, POLICY)  # a lower claim stays covered
    assert lowered.verified and lowered.due_at == state.due_at
    same = on_claim(state, "p", 1000, "0xd", t, rng, POLICY)
    assert same.due_at == state.due_at and same.report_digest == "0xd"


def test_audits_repeat_at_exponential_random_intervals_with_the_configured_mean() -> None:
    rng = random.Random(7)
    state = on_claim(None, "p", 1000, "0xd", NOW, rng, POLICY)
    gaps, t = [], NOW
    for _ in range(4000):
        state = after_audit(state, "passed", 1000, t, rng, POLICY)
        gaps.append(state.due_at - t)
        t = state.due_at
    assert min(gaps) >= POLICY.min_gap_s
    assert abs(statistics.fmean(gaps) - POLICY.interval_s) < 0.06 * POLICY.interval_s
    assert statistics.pstdev(gaps) > 0.8 * POLICY.interval_s  # exponential, not a fixed period
    assert len({round(g, 3) for g in gaps}) > 3900  # unpredictable to the provider
    other = [after_audit(state, "passed", 1000, t, random.Random(8), POLICY).due_at for _ in range(2)]
    assert other[0] == other[1]  # the injected RNG alone decides (reproducible in tests)


def test_consecutive_failures_make_a_provider_slashable_and_a_pass_resets_them() -> None:
    rng = random.Random(3)
    state = on_claim(None, "p", 1000, "0xd", NOW, rng, POLICY)
    for i, verdict in enumerate(["late", "no_answer"]):
        state = after_audit(state, verdict, 1000, NOW + i, rng, POLICY)
        assert not state.slashable(POLICY)
    state = after_audit(state, "passed", 1000, NOW + 3, rng, POLICY)
    assert state.consecutive_failures == 0 and state.failures == 2 and state.audits == 3
    for i, verdict in enumerate(["late", "wrong_row", "bad_proof"]):
        state = after_audit(state, verdict, 1000, NOW + 10 + i, rng, POLICY)
    assert state.slashable(POLICY) and state.consecutive_failures == 3 and state.failures == 5
    summary = state.summary(POLICY)
    assert summary["slashable"] is True and summary["last_verdict"] == "bad_proof"
    assert summary["consecutive_failures"] == 3 and summary["last_at"] == int(NOW + 12)


def test_due_lists_the_most_overdue_first() -> None:
    states = {
        p: AuditState(p, 1, "0x", at)
        for p, at in (("a", NOW + 5), ("b", NOW - 1), ("c", NOW - 9), ("d", NOW))
    }
    assert due(states, NOW) == ["c", "b", "d"]
    assert due(states, NOW - 100) == []


def test_policy_bounds() -> None:
    with pytest.raises(ValueError):
        AuditPolicy(failures_to_flag=30, keep=20)  # the evidence of a slashable run must be kept
    with pytest.raises(ValueError):
        AuditPolicy(interval_s=0)


def test_the_claim_is_the_reports_int8_rate_and_a_500x_report_claims_500x(
    make_key: Callable[[str], ParticipantKey], make_report: Callable[..., dict[str, Any]]
) -> None:
    key = make_key("node")
    honest, boastful = make_report(key, 0.01), make_report(key, 5.0)
    assert claim_of(honest, 10_000, PROFILE) == round(0.01 * 175e12)
    assert claim_of(boastful, 5_000_000, PROFILE) == round(claimed_int8_ops_per_s(boastful) or 0)
    assert claim_of(boastful, 5_000_000, PROFILE) == pytest.approx(500 * claim_of(honest, 10_000, PROFILE))
    without = {**honest, "results": [r for r in honest["results"] if r["name"] != "gemm_int8"]}
    assert claim_of(without, 2_000_000, PROFILE) == round(2 * 175e12)  # from the CH rate
    huge = {**honest, "results": [{"name": "gemm_int8", "median": 1e300, "unit": "TOP/s"}]}
    assert claim_of(huge, 1, PROFILE) == MAX_CLAIM


# --- the registry with audits on, over a real SQLite store ----------------------------------------


def _advert(
    key: ParticipantKey, report: dict[str, Any], peer: str, nonce: int = 1, ttl_s: int = 600
) -> bytes:
    return make_advert(
        key, peer, report, price_per_ch=400_000, hours=24, nonce=nonce, now=int(NOW), ttl_s=ttl_s,
        listen_addrs=["/ip4/127.0.0.1/tcp/4001"],
    )  # fmt: skip


def _record(
    verdict: Verdict, claim: int, coordinator: bytes, provider: ParticipantKey, peer: str, detail: str = ""
) -> AuditRecord:
    challenge = make_challenge(
        coordinator,
        verifier_peer=str(peer_id_of(coordinator)),
        provider_peer=peer,
        provider=provider.address,
        claimed_ops_per_s=claim,
        config=AuditConfig(target_s=0.3),
        now_ms=int(NOW * 1000),
        rng=random.Random(claim),
    )
    elapsed = 120 if verdict is not Verdict.LATE else -1
    return AuditRecord(
        verdict, challenge.encode(), b"", (), elapsed, -1, int(NOW * 1000), detail or str(verdict)
    )


@pytest.fixture
def node(make_key: Callable[[str], ParticipantKey]) -> ParticipantKey:
    return make_key("node")


@pytest.fixture
def coordinator_key() -> bytes:
    return bytes(range(1, 33))


def _registry(path: Path, policy: AuditPolicy | None = POLICY, seed: int = 5) -> Registry:
    return Registry(RegistryStore(path), PROFILE, audit_policy=policy, rng=random.Random(seed))


def test_a_claim_is_unverified_until_an_audit_sized_to_it_passes(
    tmp_path: Path, node: ParticipantKey, coordinator_key: bytes, make_report: Callable[..., dict[str, Any]]
) -> None:
    registry = _registry(tmp_path / "r.sqlite")
    report = make_report(node)  # the reference machine: grade C, 1 CH/h
    claim = claim_of(report, 1_000_000, PROFILE)
    assert registry.ingest_advert(_advert(node, report, "peer-a"), "peer-a", node.address, now=NOW)
    (view,) = registry.listing(now=NOW)
    assert view["verified"] is False and view["grade"] == "???" and view["grades"]["performance"] == "?"
    assert view["ch_per_hour"] == 0 and view["ch_per_hour_micro"] == 0 and view["claimed_ch_per_hour"] == 1.0
    assert view["audit"]["last_verdict"] is None and view["audit"]["claimed_ops_per_s"] == claim
    assert view["listed"] is True  # listed, but its grade counts only once verified
    assert registry.audits_due(now=NOW - 1) == []
    (target,) = registry.audits_due(now=NOW + POLICY.first_within_s)
    assert target.peer_id == "peer-a" and target.claim == claim
    assert registry.audits_due(now=NOW + 20, skip=frozenset({"peer-a"})) == []  # one in flight each

    registry.record_audit(
        "peer-a", _record(Verdict.PASSED, claim, coordinator_key, node, "peer-a"), now=NOW + 3
    )
    (view,) = registry.listing(now=NOW + 4)
    assert view["verified"] is True and view["grade"] == "C??" and view["ch_per_hour_micro"] == 1_000_000
    assert view["audit"]["last_verdict"] == "passed" and view["audit"]["audited_ops_per_s"] == claim
    assert registry.audits_due(now=NOW + 4) == []  # next one at a random time at least min_gap later

    # a failure lowers it at once: unverified again, with the reason shown
    registry.record_audit(
        "peer-a", _record(Verdict.LATE, claim, coordinator_key, node, "peer-a"), now=NOW + 9
    )
    detail = registry.provider("peer-a", now=NOW + 10)
    assert detail is not None and detail["verified"] is False and detail["grade"] == "???"
    assert [a["verdict"] for a in detail["audits"]] == ["late", "passed"]  # newest first
    late = detail["audits"][0]
    assert late["measured_s"] is None and late["claimed_ops_per_s"] == claim and not late["recheckable"]
    assert decode_record(bytes.fromhex(late["record"][2:])).verdict is Verdict.LATE


def test_an_advert_raising_its_claim_is_unverified_until_audited_again(
    tmp_path: Path, node: ParticipantKey, coordinator_key: bytes, make_report: Callable[..., dict[str, Any]]
) -> None:
    registry = _registry(tmp_path / "r.sqlite")
    report = make_report(node)
    claim = claim_of(report, 1_000_000, PROFILE)
    registry.ingest_advert(_advert(node, report, "peer-a"), "peer-a", node.address, now=NOW)
    registry.record_audit("peer-a", _record(Verdict.PASSED, claim, coordinator_key, node, "peer-a"), now=NOW)
    assert registry.listing(now=NOW + 1)[0]["verified"]
    inflated = make_report(node, 500.0)  # every sample × 500, re-signed
    assert registry.ingest_advert(
        _advert(node, inflated, "peer-a", nonce=2), "peer-a", node.address, now=NOW + 30
    )
    (view,) = registry.listing(now=NOW + 31)
    assert view["verified"] is False and view["ch_per_hour"] == 0 and view["claimed_ch_per_hour"] == 500.0
    (target,) = registry.audits_due(now=NOW + 30 + POLICY.first_within_s)
    assert target.claim == claim_of(inflated, 500_000_000, PROFILE)


def test_audit_state_and_records_survive_a_restart_and_only_the_latest_are_kept(
    tmp_path: Path, node: ParticipantKey, coordinator_key: bytes, make_report: Callable[..., dict[str, Any]]
) -> None:
    path = tmp_path / "r.sqlite"
    registry = _registry(path)
    report = make_report(node)
    claim = claim_of(report, 1_000_000, PROFILE)
    registry.ingest_advert(_advert(node, report, "peer-a"), "peer-a", node.address, now=NOW)
    verdicts = [Verdict.PASSED, Verdict.LATE, Verdict.NO_ANSWER, Verdict.PASSED, Verdict.LATE, Verdict.LATE,
                Verdict.WRONG_ROW]  # fmt: skip
    for i, v in enumerate(verdicts):
        registry.record_audit(
            "peer-a", _record(v, claim, coordinator_key, node, "peer-a", f"#{i}"), now=NOW + i
        )
    before = registry.provider("peer-a", now=NOW + 100)
    registry.store.close()

    again = _registry(path, seed=99)  # another process: another RNG
    after = again.provider("peer-a", now=NOW + 100)
    assert after is not None and before is not None
    assert (after["audit"], after["audits"], after["verified"]) == (before["audit"], before["audits"], False)
    assert [a["detail"] for a in after["audits"]] == ["#6", "#5", "#4", "#3", "#2"]  # keep = 5, newest first
    assert after["audit"]["consecutive_failures"] == 3 and after["audit"]["slashable"] is True
    assert after["audit"]["audits"] == 7 and after["audit"]["failures"] == 5
    assert after["audits"][0]["recheckable"] is True  # wrong_row: a fraud proof anyone re-checks
    assert again.audits_due(now=after["audit"]["next_at"]) != []  # the schedule survived too


def test_a_registry_written_before_audits_audits_its_providers_first(
    tmp_path: Path, node: ParticipantKey, make_report: Callable[..., dict[str, Any]]
) -> None:
    path = tmp_path / "r.sqlite"
    believed = _registry(path, policy=None)
    believed.ingest_advert(_advert(node, make_report(node), "peer-a"), "peer-a", node.address, now=NOW)
    (view,) = believed.listing(now=NOW)
    assert view["verified"] is True and view["grade"] == "C??" and view["audit"] is None
    assert believed.audits_due(now=NOW + 1e6) == []  # audits off: nothing is ever due
    believed.store.close()

    audited = _registry(path)
    (view,) = audited.listing(now=NOW + 1)
    assert view["verified"] is False and view["audit"]["audits"] == 0
    assert [t.peer_id for t in audited.audits_due(now=NOW + 1 + POLICY.first_within_s)] == ["peer-a"]


def test_expired_providers_are_not_audited(
    tmp_path: Path, node: ParticipantKey, make_report: Callable[..., dict[str, Any]]
) -> None:
    registry = _registry(tmp_path / "r.sqlite")
    registry.ingest_advert(
        _advert(node, make_report(node), "peer-a", ttl_s=60), "peer-a", node.address, now=NOW
    )
    assert registry.audits_due(now=NOW + 30) != []
    assert registry.audits_due(now=NOW + 61) == []
    registry.staked = set()  # with a chain: an unstaked provider is not listed, so not audited
    assert registry.audits_due(now=NOW + 30) == []
