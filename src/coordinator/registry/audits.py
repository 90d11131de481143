"""Capacity audits in the registry, the pure policy: when each provider is audited and what its
audits mean for its listing (docs/audits.md, "In the registry").

Theory of operation. A provider's advert carries a signed benchmark report that the provider
signed itself: its *claim*. The claim is the report's int8 GEMM rate
(:func:`gcx.audit.claimed_int8_ops_per_s`, ops/s, rounded as a challenge rounds it), or for a
report without one the reference int8 rate scaled by the claimed CH rate (:func:`claim_of`).
Claims are audited before they are believed:

* a provider is **due** ``uniform(0, first_within_s)`` after the registry first learns its claim,
  and again as soon after its claim changes to one that its audits do not cover (a raised claim,
  or any new claim while it is not verified); after every audit it is due again after an
  exponential random interval of mean ``interval_s`` (a CSPRNG in production, an injected
  :class:`random.Random` in tests), never sooner than ``min_gap_s`` after the last audit (the
  node side refuses challenges that come faster, see :class:`gcx.audit.server.ServerLimits`);
* it is **verified** while its latest audit passed *and* was sized to a claim at least its current
  one; until then the registry lists it unverified (performance grade ``?``, CH rate 0);
* every failed audit adds one to its **consecutive failures** (a pass resets them); at
  ``failures_to_flag`` in a row it is **slashable**: its stored records are the evidence.

Pure: no clock, no randomness of its own, no I/O (the registry's store persists the
:class:`AuditState` and the records; :mod:`coordinator.daemon` runs the audits).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from gcx import compute_hours as chm
from gcx.audit.core import claimed_int8_ops_per_s
from gcx.reference import ReferenceProfile
from gcx.units import to_base

#: Verdicts whose evidence a third party re-derives with :func:`gcx.audit.recheck` (fraud proofs);
#: ``late`` and ``no_answer`` rest on the auditor's clock and word.
MAX_CLAIM: Final = 2**62
"""Claims are capped here (stored as SQLite integers); far above any GEMM rate there is."""
RECHECKABLE: Final = frozenset({"wrong_row", "bad_proof", "bad_signature", "wrong_root_format"})


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    """When providers are audited (``[audit]`` in the settings; docs/audits.md).

    ``first_within_s``: a provider with a claim its audits do not cover is audited within this
    long. ``interval_s``: the mean of the exponential interval between two audits.
    ``failures_to_flag``: consecutive failures that make a provider slashable. ``min_gap_s``: the
    least time between two audits of one provider (above the node side's per-peer minimum).
    ``keep``: audit records kept per provider (at least ``failures_to_flag``, so the evidence of
    a slashable run is never pruned).
    """

    first_within_s: float = 10.0
    interval_s: float = 900.0
    failures_to_flag: int = 3
    min_gap_s: float = 2.0
    keep: int = 20

    def __post_init__(self) -> None:
        ok = (
            0 < self.first_within_s <= 86_400
            and 0 < self.interval_s <= 30 * 86_400
            and 1 <= self.failures_to_flag <= 100
            and 0 <= self.min_gap_s <= 86_400
            and self.failures_to_flag <= self.keep <= 1000
        )
        if not ok:
            raise ValueError(f"audit policy out of range: {self!r}")


@dataclass(frozen=True, slots=True)
class AuditState:
    """What the registry knows about one provider's audits (one row of the store).

    ``claim``: ops/s claimed by its current report (``report_digest``); ``due_at``: unix seconds
    of its next audit; ``audited_claim``: the claim its latest audit was sized to (0: never
    audited); ``last_verdict`` / ``last_at``: that audit's verdict and end time (None: never);
    ``consecutive_failures``; ``audits`` / ``failures``: totals.
    """

    peer_id: str
    claim: int
    report_digest: str
    due_at: float
    audited_claim: int = 0
    last_verdict: str | None = None
    last_at: float | None = None
    consecutive_failures: int = 0
    audits: int = 0
    failures: int = 0

    @property
    def verified(self) -> bool:
        """The latest audit passed and was sized to at least the current claim."""
        return self.last_verdict == "passed" and self.audited_claim >= self.claim > 0

    def slashable(self, policy: AuditPolicy) -> bool:
        """``failures_to_flag`` or more failed audits in a row."""
        return self.consecutive_failures >= policy.failures_to_flag

    def summary(self, policy: AuditPolicy) -> dict[str, Any]:
        """The ``audit`` object of the provider's view."""
        return {
            "last_verdict": self.last_verdict,
            "last_at": None if self.last_at is None else int(self.last_at),
            "next_at": math.ceil(self.due_at),
            "claimed_ops_per_s": self.claim,
            "audited_ops_per_s": self.audited_claim,
            "consecutive_failures": self.consecutive_failures,
            "audits": self.audits,
            "failures": self.failures,
            "slashable": self.slashable(policy),
        }


def claim_of(report: Mapping[str, Any], ch_per_hour_micro: int, profile: ReferenceProfile) -> int:
    """The int8 GEMM rate (ops/s, rounded as a challenge rounds it, at least 1) a report claims:
    its ``gemm_int8`` result, or for a report without one the reference's int8 rate times its
    claimed CH rate (a machine claiming ``x`` reference machines is audited at ``x`` times the
    reference GEMM rate); at most :data:`MAX_CLAIM` (also the claim of an int8 figure that is
    not a finite rate)."""
    rate = claimed_int8_ops_per_s(report)
    results = report.get("results", [])
    if rate is None and any(isinstance(r, Mapping) and r.get("name") == "gemm_int8" for r in results):
        return MAX_CLAIM  # an int8 figure that is not a finite rate: audited at the largest claim
    if rate is None:
        ref = profile.benchmarks.get("gemm_int8")
        base = 175e12 if ref is None else to_base(ref.value, ref.unit)
        rate = base * chm.from_micro(ch_per_hour_micro)
    return min(MAX_CLAIM, max(1, round(rate))) if math.isfinite(rate) else MAX_CLAIM


def _soon(now: float, rng: random.Random, policy: AuditPolicy) -> float:
    return now + rng.uniform(0.0, policy.first_within_s)


def _floor(due: float, state: AuditState | None, policy: AuditPolicy) -> float:
    if state is None or state.last_at is None:
        return due
    return max(due, state.last_at + policy.min_gap_s)


def on_claim(
    state: AuditState | None,
    peer_id: str,
    claim: int,
    report_digest: str,
    now: float,
    rng: random.Random,
    policy: AuditPolicy,
) -> AuditState:
    """The state after the registry learns ``peer_id``'s claim from an accepted advert: a new
    provider is due within ``first_within_s``; so is one whose new claim its audits do not cover
    (unless it is due sooner already); an unchanged or covered claim keeps the schedule."""
    if state is None:
        return AuditState(peer_id, claim, report_digest, _soon(now, rng, policy))
    updated = replace(state, claim=claim, report_digest=report_digest)
    if claim == state.claim or updated.verified:
        return updated
    return replace(updated, due_at=_floor(min(state.due_at, _soon(now, rng, policy)), state, policy))


def after_audit(
    state: AuditState, verdict: str, audited_claim: int, at: float, rng: random.Random, policy: AuditPolicy
) -> AuditState:
    """The state after an audit sized to ``audited_claim`` ended at ``at`` with ``verdict``: the
    next one is due an exponential interval of mean ``interval_s`` later (at least
    ``min_gap_s``); a claim raised while the audit ran is due within ``first_within_s``."""
    passed = verdict == "passed"
    out = replace(
        state,
        audited_claim=audited_claim,
        last_verdict=verdict,
        last_at=at,
        consecutive_failures=0 if passed else state.consecutive_failures + 1,
        audits=state.audits + 1,
        failures=state.failures + (0 if passed else 1),
    )
    gap = max(policy.min_gap_s, rng.expovariate(1.0 / policy.interval_s))
    due = at + gap
    if state.claim != audited_claim and not out.verified:  # the claim changed meanwhile
        due = min(due, _soon(at, rng, policy))
    return replace(out, due_at=_floor(due, out, policy))


def due(states: Mapping[str, AuditState], now: float) -> list[str]:
    """The peers due at ``now``, the most overdue first (ties by peer id)."""
    ready = [s for s in states.values() if s.due_at <= now]
    return [s.peer_id for s in sorted(ready, key=lambda s: (s.due_at, s.peer_id))]


@dataclass(frozen=True, slots=True)
class StoredAudit:
    """One stored audit record: when it ended, its verdict and claim, the figures shown, and the
    record's canonical bytes (``gcx.audit.record`` v1, :func:`gcx.audit.decode_record`)."""

    peer_id: str
    at: float
    verdict: str
    claimed_ops_per_s: int
    elapsed_ms: int
    deadline_ms: int
    challenge_id: str
    detail: str
    record: bytes

    def view(self) -> dict[str, Any]:
        """One entry of ``audits`` in ``GET /v1/providers/{peer}``."""
        return {
            "time": int(self.at),
            "verdict": self.verdict,
            "passed": self.verdict == "passed",
            "detail": self.detail,
            "claimed_ops_per_s": self.claimed_ops_per_s,
            "measured_s": None if self.elapsed_ms < 0 else self.elapsed_ms / 1000,
            "deadline_s": self.deadline_ms / 1000,
            "challenge_id": self.challenge_id,
            "recheckable": self.verdict in RECHECKABLE,
            "record": "0x" + self.record.hex(),
        }
