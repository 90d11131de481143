"""Prometheus metrics and log lines of the registry (one set per coordinator instance).

:class:`Metrics` is the :class:`~.base.RegistryObserver` the coordinator gives its
:class:`~.core.Registry`: the core reports what happened, this adapter counts it, times advert
ingestion and logs rejections.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .adverts import REASONS
from .base import HEARTBEAT_OUTCOMES, HeartbeatOutcome

log = logging.getLogger("gcx.coordinator.registry")


class Metrics:
    """The registry's Prometheus metrics (in :attr:`registry`), fed as its observer."""

    def __init__(self) -> None:
        self._started = 0.0
        self.registry = CollectorRegistry()
        self.adverts_accepted = Counter(
            "gcx_adverts_accepted", "Capacity adverts accepted", registry=self.registry
        )
        self.adverts_duplicate = Counter(
            "gcx_adverts_duplicate",
            "Adverts received again (direct and gossiped copies of one advert)",
            registry=self.registry,
        )
        self.adverts_rejected = Counter(
            "gcx_adverts_rejected", "Capacity adverts rejected, by reason", ["reason"], registry=self.registry
        )
        for reason in REASONS:
            self.adverts_rejected.labels(reason=reason)
        self.heartbeats = Counter(
            "gcx_heartbeats", "Heartbeats received, by outcome", ["outcome"], registry=self.registry
        )
        for outcome in HEARTBEAT_OUTCOMES:
            self.heartbeats.labels(outcome=outcome)
        self.listed = Gauge(
            "gcx_providers_listed", "Providers with an unexpired advert", registry=self.registry
        )
        self.damaged_records = Counter(
            "gcx_registry_damaged_records",
            "Stored provider records found damaged (left out until the provider advertises again)",
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "gcx_advert_ingest_seconds",
            "Time to decode, verify and store one advert",
            buckets=(0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
            registry=self.registry,
        )

    # -- the registry's observer ----------------------------------------------------------------

    def before_advert(self, peer_id: str) -> None:
        self._started = time.perf_counter()

    def advert_accepted(self, peer_id: str, nonce: int) -> None:
        self.adverts_accepted.inc()
        self.ingest_seconds.observe(time.perf_counter() - self._started)
        log.debug("accepted advert %d from %s", nonce, peer_id)

    def advert_duplicate(self, peer_id: str) -> None:
        self.adverts_duplicate.inc()

    def advert_rejected(self, peer_id: str, reason: str, detail: str) -> None:
        self.adverts_rejected.labels(reason=reason).inc()
        log.info("rejected advert from %s: %s", peer_id, detail)

    def heartbeat(self, peer_id: str, outcome: HeartbeatOutcome, detail: str | None) -> None:
        self.heartbeats.labels(outcome=outcome).inc()
        if outcome == "malformed":
            log.info("malformed heartbeat from %s: %s", peer_id, detail)

    def providers_listed(self, count: int) -> None:
        self.listed.set(count)

    def stored_record_damaged(self, peer_id: str, detail: str) -> None:
        self.damaged_records.inc()
        log.warning("%s; provider %s is left out until it advertises again", detail, peer_id)
