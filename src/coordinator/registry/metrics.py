"""Prometheus metrics of the coordinator (one registry per coordinator instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .adverts import REASONS, STREAM_REASONS

#: Outcomes of a heartbeat: counted, from a peer without an accepted advert, undecodable, over
#: its rate, or refused by the stream layer (too large, or one of the stream reasons).
HEARTBEAT_OUTCOMES = ("accepted", "unknown_peer", "malformed", "rate_limited", "oversize", *STREAM_REASONS)


class Metrics:
    def __init__(self) -> None:
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
        self.providers_listed = Gauge(
            "gcx_providers_listed", "Providers with an unexpired advert", registry=self.registry
        )
        self.ingest_seconds = Histogram(
            "gcx_advert_ingest_seconds",
            "Time to decode, verify and store one advert",
            buckets=(0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
            registry=self.registry,
        )
