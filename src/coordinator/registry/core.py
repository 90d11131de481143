"""The provider registry: accepts adverts and heartbeats, answers listings (DESIGN §4).

Sans-I/O except for its :class:`~coordinator.registry.store.RegistryStore`: the libp2p and HTTP adapters
pass in bytes, the sender's identity and the time, and read listings out. Every rejected input is
counted by reason and logged; nothing a peer sends can raise out of :meth:`Registry.ingest_advert`
or :meth:`Registry.ingest_heartbeat`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from gcx import compute_hours as chm
from gcx import grading, wire
from gcx.advert import MAX_HEARTBEAT_BYTES, Heartbeat
from gcx.errors import WireError
from gcx.reference import ReferenceProfile

from .adverts import AdvertPolicy, AdvertRejected, ReportCache, check_advert
from .metrics import Metrics
from .store import ProviderRecord, RegistryStore
from .uptime import Session, UptimePolicy, uptime_percent

log = logging.getLogger("gcx.coordinator.registry")


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


class Registry:
    def __init__(
        self,
        store: RegistryStore,
        profile: ReferenceProfile,
        *,
        advert_policy: AdvertPolicy | None = None,
        uptime_policy: UptimePolicy | None = None,
        metrics: Metrics | None = None,
        rate: float = 2.0,
        burst: float = 20.0,
    ) -> None:
        self.store = store
        self.profile = profile
        self.advert_policy = advert_policy or AdvertPolicy()
        self.uptime = uptime_policy or UptimePolicy()
        self.metrics = metrics or Metrics()
        self._cache = ReportCache()
        self._adverts_bucket = TokenBucket(rate, burst)
        self._heartbeat_bucket = TokenBucket(rate * 2, burst)
        # Lower-cased addresses whose on-chain provider stake covers the minimum; None when no
        # chain is configured (then every provider with a valid advert is listed).
        self.staked: set[str] | None = None
        self._last: dict[str, bytes] = {}  # peer -> its last accepted advert (for duplicates)
        self._nonces: dict[str, int] = {}  # peer -> last accepted nonce (write-through cache of the store)
        self._session: float | None = None  # when this process started observing (see observe())

    # -- input ----------------------------------------------------------------------------------

    def observe(self, now: float | None = None) -> None:
        """Record that the coordinator is observing at ``now`` (its first call starts this
        process's observation session). The coordinator calls it at start, every few seconds
        and on the way out; a gap between sessions is not counted against any provider."""
        now = time.time() if now is None else now
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
        not counted as a replay.
        """
        now = time.time() if now is None else now
        self._observing(now)
        started = time.perf_counter()
        if self._last.get(sender_peer_id) == data:
            self.metrics.adverts_duplicate.inc()
            return True, None
        try:
            if not self._adverts_bucket.allow(sender_peer_id, now):
                raise AdvertRejected("rate_limited", f"more than {self._adverts_bucket.rate}/s")
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
            self.metrics.adverts_rejected.labels(reason=exc.reason).inc()
            log.info("rejected advert from %s: %s", sender_peer_id, exc)
            return False, str(exc)
        self.store.upsert_advert(advert, bytes(data), int(now), self.uptime.slot_of(now))
        self._last[sender_peer_id] = bytes(data)
        self._nonces[sender_peer_id] = advert.nonce
        self.metrics.adverts_accepted.inc()
        self.metrics.ingest_seconds.observe(time.perf_counter() - started)
        log.debug("accepted advert %d from %s", advert.nonce, sender_peer_id)
        return True, None

    def _last_nonce(self, peer_id: str) -> int | None:
        nonce = self._nonces.get(peer_id)
        if nonce is None:
            nonce = self.store.last_nonce(peer_id)
            if nonce is not None:
                self._nonces[peer_id] = nonce
        return nonce

    def ingest_heartbeat(self, data: bytes, sender_peer_id: str, now: float | None = None) -> bool:
        """Record a heartbeat from a known provider; True if it counted."""
        now = time.time() if now is None else now
        self._observing(now)
        if not self._heartbeat_bucket.allow(sender_peer_id, now):
            self.metrics.heartbeats.labels(outcome="rate_limited").inc()
            return False
        try:
            wire.validate(Heartbeat, wire.unpack(data, MAX_HEARTBEAT_BYTES))
        except WireError as exc:
            self.metrics.heartbeats.labels(outcome="malformed").inc()
            log.info("malformed heartbeat from %s: %s", sender_peer_id, exc)
            return False
        if not self.store.mark_seen(sender_peer_id, int(now), self.uptime.slot_of(now)):
            self.metrics.heartbeats.labels(outcome="unknown_peer").inc()
            return False
        self.metrics.heartbeats.labels(outcome="accepted").inc()
        return True

    def prune(self, now: float | None = None) -> None:
        """Forget slots and observation sessions older than the uptime window."""
        now = time.time() if now is None else now
        before = self.uptime.slot_of(now) - self.uptime.window_slots - 1
        self.store.prune_slots(before)
        self.store.prune_sessions(before * self.uptime.slot_s)

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
        self, record: ProviderRecord, now: float, sessions: list[Session] | None = None
    ) -> dict[str, Any]:
        """The public JSON view of one provider, with reliability measured here (``sessions``:
        :meth:`sessions` at ``now``, read once per listing)."""
        start, end = self.uptime.window(record.first_slot, now)
        uptime = uptime_percent(
            self.uptime,
            self.store.seen_slots(record.peer_id, start, end),
            record.first_slot,
            now,
            self.sessions(now) if sessions is None else sessions,
        )
        reliability = grading.reliability_grade(self.profile, uptime)
        grade = record.grade[0] + reliability + record.grade[2]
        return {
            "peer_id": record.peer_id,
            "address": record.address,
            "grade": grade,
            "grades": {"performance": record.grade[0], "reliability": reliability, "energy": record.grade[2]},
            "ch_per_hour": chm.from_micro(record.ch_per_hour_micro),
            "ch_per_hour_micro": record.ch_per_hour_micro,
            "uptime": uptime,
            "last_seen": record.last_seen,
            "first_seen": record.first_seen,
            "price": record.price_per_ch,
            "hours": record.hours,
            "expires_at": record.expires_at,
            "staked": None if self.staked is None else record.address.lower() in self.staked,
            "listed": record.expires_at > now
            and (self.staked is None or record.address.lower() in self.staked),
            "nonce": record.nonce,
            "stake_address": record.stake_address,
            "report_digest": record.report_digest,
            "listen_addrs": list(record.listen_addrs),
        }

    def listing(self, now: float | None = None, include_expired: bool = False) -> list[dict[str, Any]]:
        """Providers with an unexpired advert and, with a chain, enough stake (all known providers
        with ``include_expired``)."""
        now = time.time() if now is None else now
        sessions = self.sessions(now)
        views = [self.view(r, now, sessions) for r in self.store.providers()]
        listed = [v for v in views if v["listed"]]
        self.metrics.providers_listed.set(len(listed))
        return views if include_expired else listed

    def provider(self, peer_id: str, now: float | None = None) -> dict[str, Any] | None:
        """One provider's view plus its latest advert's embedded report, or None if unknown."""
        record = self.store.provider(peer_id)
        if record is None:
            return None
        view = self.view(record, time.time() if now is None else now)
        encoded = wire.unpack(record.advert, self.advert_policy.max_bytes)["report"]
        view["report"] = wire.unpack(encoded, self.advert_policy.max_bytes)
        return view
