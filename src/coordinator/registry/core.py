"""The provider registry: accepts adverts and heartbeats, answers listings (DESIGN §4).

Sans-I/O: the libp2p and HTTP adapters pass in bytes, the sender's identity and (optionally) the
time, and read listings out. The core is *given* everything it would otherwise reach for
(:mod:`.base`): its :class:`~.base.ProviderStore` (SQLite in production), its
:data:`~.base.Clock` (read only when a caller passes no ``now``) and a
:class:`~.base.RegistryObserver` that it tells what happened — the service around it
(:mod:`coordinator.daemon`) gives it :class:`~.metrics.Metrics`, which counts and logs. Nothing a
peer sends can raise out of :meth:`Registry.ingest_advert` or :meth:`Registry.ingest_heartbeat`:
every rejected input is reported to the observer with its reason.

Damage on disk is never an error answer: :meth:`Registry.check_stored` (the daemon calls it at
start) decodes every stored row and advert and checks that they agree; a provider whose record
does not (a :class:`~.errors.StoredRecordError`, found then or later) is reported to the observer
and left out — not listed, unknown to :meth:`Registry.provider` — until its next valid advert
replaces the record. Every other provider is served as before.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gcx import compute_hours as chm
from gcx import grading, wire
from gcx.advert import MAX_HEARTBEAT_BYTES, CapacityAdvert, Heartbeat, report_digest
from gcx.audit.core import AuditRecord
from gcx.errors import WireError
from gcx.reference import ReferenceProfile

from .adverts import AdvertPolicy, AdvertRejected, ReportCache, check_advert
from .audits import AuditPolicy, AuditState, StoredAudit, after_audit, claim_of, due, on_claim
from .base import Clock, HeartbeatOutcome, NullObserver, ProviderRecord, ProviderStore, RegistryObserver
from .errors import StoredRecordError
from .uptime import Session, UptimePolicy, uptime_percent


class TokenBucket:
    """``rate`` messages per second with bursts of ``burst``, per sending peer.

    Peer identities are free to make, so the table is bounded: beyond ``max_peers`` the least
    recently seen peer is forgotten (a forgotten peer starts again with a full bucket, which a
    flood of fresh identities cannot turn into more than ``burst`` messages each).
    """

    def __init__(self, rate: float, burst: float, max_peers: int = 65_536) -> None:
        self.rate, self.burst, self.max_peers = rate, burst, max_peers
        self.tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, peer: str, now: float) -> bool:
        level, last = self.tokens.pop(peer, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        allowed = level >= 1.0
        self.tokens[peer] = (level - 1.0 if allowed else level, now)
        if len(self.tokens) > self.max_peers:
            self.tokens.popitem(last=False)
        return allowed


@dataclass(frozen=True, slots=True)
class AuditTarget:
    """A provider due for a capacity audit: whom to dial and the claim to size the audit to."""

    peer_id: str
    claim: int
    listen_addrs: tuple[str, ...]


class Registry:
    """Validates and stores adverts, counts heartbeats, answers listings (see the module doc).

    ``clock`` gives unix seconds when a method is called without ``now``; without a clock every
    such call must pass ``now``. ``observer`` is told every outcome (default: ignored).

    ``audit_policy``: claims are audited before they are believed (:mod:`.audits`): a provider is
    listed unverified (performance grade ``?``, CH rate 0) until an audit sized to its claim has
    passed. None (the default): audits are off and every claim is believed, as before audits
    existed. ``rng`` draws the audit schedule (default: :class:`random.SystemRandom`).
    """

    def __init__(
        self,
        store: ProviderStore,
        profile: ReferenceProfile,
        *,
        clock: Clock | None = None,
        observer: RegistryObserver | None = None,
        advert_policy: AdvertPolicy | None = None,
        uptime_policy: UptimePolicy | None = None,
        rate: float = 2.0,
        burst: float = 20.0,
        audit_policy: AuditPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.profile = profile
        self.clock = clock
        self.observer: RegistryObserver = observer or NullObserver()
        self.advert_policy = advert_policy or AdvertPolicy()
        self.uptime = uptime_policy or UptimePolicy()
        self._cache = ReportCache()
        self._adverts_bucket = TokenBucket(rate, burst)
        self._heartbeat_bucket = TokenBucket(rate * 2, burst)
        # Lower-cased addresses whose on-chain provider stake covers the minimum; None when no
        # chain is configured (then every provider with a valid advert is listed).
        self.staked: set[str] | None = None
        # peer -> its last accepted advert and when it expires (for duplicates)
        self._last: dict[str, tuple[bytes, int]] = {}
        self._nonces: dict[str, int] = {}  # peer -> last accepted nonce (write-through cache of the store)
        self._damaged: dict[str, str] = {}  # peer -> what is wrong with its stored record
        self._session: float | None = None  # when this process started observing (see observe())
        self.audit_policy = audit_policy
        self._rng = rng or random.SystemRandom()

    def _now(self, now: float | None) -> float:
        if now is not None:
            return now
        if self.clock is None:
            raise TypeError("this Registry has no clock: pass now=")
        return self.clock()

    # -- input ----------------------------------------------------------------------------------

    def observe(self, now: float | None = None) -> None:
        """Record that the coordinator is observing at ``now`` (its first call starts this
        process's observation session). The coordinator calls it at start, every few seconds
        and on the way out; a gap between sessions is not counted against any provider."""
        now = self._now(now)
        if self._session is None:
            self._session = now
        self.store.mark_alive(self._session, now)

    def _observing(self, now: float) -> None:
        if self._session is None:  # input before observe(): the session starts with it
            self.observe(now)

    def ingest_advert(
        self, data: bytes, sender_peer_id: str, sender_address: str, now: float | None = None
    ) -> bool:
        """Validate and store one advert; True if accepted (or an exact duplicate of the last)."""
        return self.submit_advert(data, sender_peer_id, sender_address, now)[0]

    def submit_advert(
        self, data: bytes, sender_peer_id: str, sender_address: str, now: float | None = None
    ) -> tuple[bool, str | None]:
        """Validate and store one advert; return ``(accepted, rejection reason)``.

        An advert arrives twice when a node sends it directly *and* gossips it; the copy that
        is byte-for-byte the last accepted advert of that peer is acknowledged as a duplicate,
        not counted as a replay — while that advert is unexpired: a copy of an expired one is
        rejected as ``expired``. Duplicates pass the rate limiter like every other advert.
        """
        now = self._now(now)
        self._observing(now)
        observer = self.observer
        observer.before_advert(sender_peer_id)
        try:
            if not self._adverts_bucket.allow(sender_peer_id, now):
                raise AdvertRejected("rate_limited", f"more than {self._adverts_bucket.rate}/s")
            last = self._last.get(sender_peer_id)
            if last is not None and last[0] == data:
                if last[1] <= int(now):
                    raise AdvertRejected("expired", f"expired at {last[1]}, now {int(now)}")
                observer.advert_duplicate(sender_peer_id)
                return True, None
            advert, _ = check_advert(
                data,
                sender_peer_id=sender_peer_id,
                sender_address=sender_address,
                now=int(now),
                last_nonce=self._last_nonce(sender_peer_id),
                profile=self.profile,
                policy=self.advert_policy,
                cache=self._cache,
            )
        except AdvertRejected as exc:
            return False, self.reject_advert(sender_peer_id, exc.reason, exc.message)
        if self._damaged.pop(sender_peer_id, None) is None:
            self.store.upsert_advert(advert, bytes(data), int(now), self.uptime.slot_of(now))
        else:  # a fresh, valid advert replaces the damaged record
            self.store.replace_advert(advert, bytes(data), int(now), self.uptime.slot_of(now))
        self._last[sender_peer_id] = (bytes(data), advert.expires_at)
        self._nonces[sender_peer_id] = advert.nonce
        if self.audit_policy is not None:
            report = wire.unpack(advert.report, self.advert_policy.max_bytes)  # checked above
            self._learn_claim(sender_peer_id, advert.report_digest, report, advert.ch_per_hour_micro, now)
        observer.advert_accepted(sender_peer_id, advert.nonce)
        return True, None

    def reject_advert(self, sender_peer_id: str, reason: str, message: str) -> str:
        """Count and log one rejected advert; return the verdict's ``"<reason>: <message>"``.

        Also for adverts refused before :meth:`submit_advert` could see them: by the stream
        layer (``reason`` one of :data:`~coordinator.registry.adverts.STREAM_REASONS` or
        ``oversize``) or for a sender without a secp256k1 key (``identity``).
        """
        verdict = str(AdvertRejected(reason, message))
        self.observer.advert_rejected(sender_peer_id, reason, verdict)
        return verdict

    def reject_heartbeat(self, sender_peer_id: str, outcome: HeartbeatOutcome, message: str) -> None:
        """Report one heartbeat refused by the stream layer (``outcome`` one of
        :data:`~coordinator.registry.base.HEARTBEAT_OUTCOMES`)."""
        self.observer.heartbeat(sender_peer_id, outcome, message)

    def _last_nonce(self, peer_id: str) -> int | None:
        if peer_id in self._damaged:
            return None  # the damaged row's nonce cannot be trusted
        nonce = self._nonces.get(peer_id)
        if nonce is None:
            try:
                nonce = self.store.last_nonce(peer_id)
            except StoredRecordError as exc:
                self._flag(exc)
                return None
            if nonce is not None:
                self._nonces[peer_id] = nonce
        return nonce

    # -- damaged records ------------------------------------------------------------------------

    def _flag(self, exc: StoredRecordError) -> None:
        self._damaged[exc.peer_id] = exc.reason
        self._nonces.pop(exc.peer_id, None)
        self._last.pop(exc.peer_id, None)
        self.observer.stored_record_damaged(exc.peer_id, str(exc))

    def _records(self) -> list[ProviderRecord]:
        """Every stored record but the damaged ones (flagging any found now)."""
        while True:
            try:
                return self.store.providers(skip=self._damaged)
            except StoredRecordError as exc:
                self._flag(exc)

    def check_stored(self) -> dict[str, str]:
        """Decode every stored record and its advert; return the damaged ones (peer id: what is
        wrong), which are left out from now on (see the module docstring)."""
        for record in self._records():
            try:
                stored_report(record, self.advert_policy.max_bytes)
            except StoredRecordError as exc:
                self._flag(exc)
        return dict(self._damaged)

    def ingest_heartbeat(self, data: bytes, sender_peer_id: str, now: float | None = None) -> bool:
        """Record a heartbeat from a known provider; True if it counted."""
        now = self._now(now)
        self._observing(now)
        observer = self.observer
        if not self._heartbeat_bucket.allow(sender_peer_id, now):
            observer.heartbeat(sender_peer_id, "rate_limited", None)
            return False
        try:
            wire.validate(Heartbeat, wire.unpack(data, MAX_HEARTBEAT_BYTES))
        except WireError as exc:
            observer.heartbeat(sender_peer_id, "malformed", str(exc))
            return False
        if not self.store.mark_seen(sender_peer_id, int(now), self.uptime.slot_of(now)):
            observer.heartbeat(sender_peer_id, "unknown_peer", None)
            return False
        observer.heartbeat(sender_peer_id, "accepted", None)
        return True

    def prune(self, now: float | None = None) -> None:
        """Forget slots and observation sessions older than the uptime window."""
        now = self._now(now)
        before = self.uptime.slot_of(now) - self.uptime.window_slots - 1
        self.store.prune_slots(before)
        self.store.prune_sessions(before * self.uptime.slot_s)

    # -- capacity audits (see .audits) ----------------------------------------------------------

    def _learn_claim(
        self, peer_id: str, digest: str, report: dict[str, Any], ch_per_hour_micro: int, now: float
    ) -> AuditState:
        assert self.audit_policy is not None
        state = self.store.audit_state(peer_id)
        if state is not None and state.report_digest == digest:
            return state
        claim = claim_of(report, ch_per_hour_micro, self.profile)
        new = on_claim(state, peer_id, claim, digest, now, self._rng, self.audit_policy)
        self.store.put_audit_state(new)
        return new

    def _audit_states(self, records: list[ProviderRecord], now: float) -> dict[str, AuditState]:
        """Every record's audit state, learning the claims of records that have none yet (a
        registry written before audits, or an advert whose state write was lost)."""
        states = self.store.audit_states()
        for record in records:
            state = states.get(record.peer_id)
            if state is None or state.report_digest != record.report_digest:
                try:
                    report = stored_report(record, self.advert_policy.max_bytes)
                except StoredRecordError as exc:
                    self._flag(exc)
                    continue
                states[record.peer_id] = self._learn_claim(
                    record.peer_id, record.report_digest, report, record.ch_per_hour_micro, now
                )
        return states

    def _listed(self, record: ProviderRecord, now: float) -> bool:
        return record.expires_at > now and (self.staked is None or record.address.lower() in self.staked)

    def audits_due(self, now: float | None = None, skip: frozenset[str] = frozenset()) -> list[AuditTarget]:
        """Listed providers whose audit is due at ``now`` (most overdue first), but those in
        ``skip`` (audits in flight); always empty while audits are off."""
        if self.audit_policy is None:
            return []
        now = self._now(now)
        records = {r.peer_id: r for r in self._records() if self._listed(r, now)}
        states = self._audit_states(list(records.values()), now)
        return [
            AuditTarget(peer, states[peer].claim, records[peer].listen_addrs)
            for peer in due({p: states[p] for p in records if p in states}, now)
            if peer not in skip
        ]

    def record_audit(self, peer_id: str, record: AuditRecord, now: float | None = None) -> AuditState | None:
        """Store the coordinator's own audit ``record`` of ``peer_id`` (ended at ``now``) and
        reschedule the provider; returns its new state (None when audits are off or the
        provider is unknown)."""
        if self.audit_policy is None:
            return None
        now = self._now(now)
        state = self.store.audit_state(peer_id)
        if state is None:
            return None
        challenge = record.decoded_challenge()
        verdict = str(record.verdict)
        new = after_audit(state, verdict, challenge.claimed_ops_per_s, now, self._rng, self.audit_policy)
        stored = StoredAudit(
            peer_id, now, verdict, challenge.claimed_ops_per_s, record.elapsed_ms, challenge.deadline_ms,
            "0x" + challenge.id.hex(), record.detail, record.encode(),
        )  # fmt: skip
        self.store.put_audit_state(new, stored, keep=self.audit_policy.keep)
        return new

    # -- output ---------------------------------------------------------------------------------

    def sessions(self, now: float) -> list[Session]:
        """The coordinator's observation sessions that reach into the uptime window at ``now``;
        this process's own one is observing at ``now``."""
        since = (self.uptime.slot_of(now) - self.uptime.window_slots) * self.uptime.slot_s
        out = [Session(a, b) for a, b in self.store.sessions(since) if a != self._session]
        if self._session is not None:
            out.append(Session(self._session, max(now, self._session)))
        return out

    def view(
        self,
        record: ProviderRecord,
        now: float,
        sessions: list[Session] | None = None,
        states: dict[str, AuditState] | None = None,
    ) -> dict[str, Any]:
        """The public JSON view of one provider, with reliability measured here (``sessions``:
        :meth:`sessions` at ``now``, read once per listing; ``states``: the audit states, idem).

        With audits on, an unverified provider's performance letter is ``?`` and its CH rate 0;
        its claim is ``claimed_ch_per_hour``."""
        start, end = self.uptime.window(record.first_slot, now)
        uptime = uptime_percent(
            self.uptime,
            self.store.seen_slots(record.peer_id, start, end),
            record.first_slot,
            now,
            self.sessions(now) if sessions is None else sessions,
        )
        reliability = grading.reliability_grade(self.profile, uptime)
        policy, audit = self.audit_policy, None
        verified = True
        if policy is not None:
            if states is None:
                states = self._audit_states([record], now)
            state = states.get(record.peer_id)
            verified = state is not None and state.verified
            audit = None if state is None else state.summary(policy)
        performance = record.grade[0] if verified else "?"
        grade = performance + reliability + record.grade[2]
        rate_micro = record.ch_per_hour_micro if verified else 0
        return {
            "peer_id": record.peer_id,
            "address": record.address,
            "grade": grade,
            "grades": {"performance": performance, "reliability": reliability, "energy": record.grade[2]},
            "ch_per_hour": chm.from_micro(rate_micro),
            "ch_per_hour_micro": rate_micro,
            "claimed_ch_per_hour": chm.from_micro(record.ch_per_hour_micro),
            "verified": verified,
            "audit": audit,
            "uptime": uptime,
            "last_seen": record.last_seen,
            "first_seen": record.first_seen,
            "price": record.price_per_ch,
            "hours": record.hours,
            "expires_at": record.expires_at,
            "staked": None if self.staked is None else record.address.lower() in self.staked,
            "listed": self._listed(record, now),
            "nonce": record.nonce,
            "stake_address": record.stake_address,
            "report_digest": record.report_digest,
            "listen_addrs": list(record.listen_addrs),
        }

    def listing(self, now: float | None = None, include_expired: bool = False) -> list[dict[str, Any]]:
        """Providers with an unexpired advert and, with a chain, enough stake (all known providers
        with ``include_expired``)."""
        now = self._now(now)
        sessions = self.sessions(now)
        records = self._records()
        states = None if self.audit_policy is None else self._audit_states(records, now)
        views = [self.view(r, now, sessions, states) for r in records]
        listed = [v for v in views if v["listed"]]
        self.observer.providers_listed(len(listed))
        return views if include_expired else listed

    def provider(
        self, peer_id: str, now: float | None = None, audits_limit: int = 10
    ) -> dict[str, Any] | None:
        """One provider's view plus its latest advert's embedded report and its latest
        ``audits_limit`` audit records (``audits``, newest first, each with its canonical bytes as
        the evidence), or None if unknown (or if its stored record is damaged)."""
        if peer_id in self._damaged:
            return None
        try:
            record = self.store.provider(peer_id)
            if record is None:
                return None
            report = stored_report(record, self.advert_policy.max_bytes)
        except StoredRecordError as exc:
            self._flag(exc)
            return None
        view = self.view(record, self._now(now))
        view["report"] = report
        view["audits"] = [a.view() for a in self.store.audit_records(peer_id, max(0, audits_limit))]
        return view


def stored_report(record: ProviderRecord, max_bytes: int) -> dict[str, Any]:
    """The report embedded in ``record``'s stored advert, after checking that the advert decodes,
    that its report matches its digest and that it agrees with the row; else
    :class:`~.errors.StoredRecordError` (the advert's signature is not checked again)."""
    try:
        advert = wire.validate(CapacityAdvert, wire.unpack(record.advert, max_bytes))
        report = wire.unpack(advert.report, max_bytes)
    except WireError as exc:
        raise StoredRecordError(record.peer_id, f"its advert does not decode: {exc}") from None
    if report_digest(advert.report) != advert.report_digest or not isinstance(report, dict):
        raise StoredRecordError(record.peer_id, "its advert's report does not match the report digest")
    row = (
        record.peer_id, record.address, record.nonce, record.issued_at, record.expires_at,
        record.ch_per_hour_micro, record.grade, record.price_per_ch, record.hours,
        record.stake_address, record.report_digest, record.listen_addrs,
    )  # fmt: skip
    signed = (
        advert.peer_id, advert.node, advert.nonce, advert.issued_at, advert.expires_at,
        advert.ch_per_hour_micro, advert.grade, advert.price_per_ch, advert.hours,
        advert.stake_address, advert.report_digest, tuple(advert.listen_addrs),
    )  # fmt: skip
    differ = [name for name, a, b in zip(_ROW_FIELDS, row, signed, strict=True) if a != b]
    if differ:
        raise StoredRecordError(record.peer_id, f"its row disagrees with its advert on {', '.join(differ)}")
    return report


_ROW_FIELDS = (
    "peer_id", "address", "nonce", "issued_at", "expires_at", "ch_per_hour_micro", "grade",
    "price_per_ch", "hours", "stake_address", "report_digest", "listen_addrs",
)  # fmt: skip
