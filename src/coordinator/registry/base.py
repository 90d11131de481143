"""The registry core's narrow interfaces (httpcore's ``_backends/base.py`` style): what it is given.

* :class:`ProviderStore` — where providers, their latest advert and their uptime slots persist.
  :class:`~coordinator.registry.store.RegistryStore` (SQLite) implements it.
* :class:`RegistryObserver` — what the core reports as it works (adverts accepted, duplicated,
  rejected; heartbeats; providers listed; stored records found damaged), in the spirit of trio's
  ``Instrument``: the service around the core turns these into metrics and log lines
  (:class:`~coordinator.registry.metrics.Metrics`); the core itself neither counts nor logs.
* :data:`Clock` — unix seconds, read only when a caller passes no ``now``.

Pure: importing this module imports no I/O library.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from gcx.advert import CapacityAdvert

from .audits import AuditState, StoredAudit

Clock = Callable[[], float]

#: Outcomes of a heartbeat: counted, from a peer without an accepted advert, undecodable, over
#: its rate, or refused by the stream layer (too large, or one of
#: :data:`~coordinator.registry.adverts.STREAM_REASONS`).
HeartbeatOutcome = Literal[
    "accepted",
    "unknown_peer",
    "malformed",
    "rate_limited",
    "oversize",
    "peer_busy",
    "busy",
    "truncated",
    "timeout",
]
HEARTBEAT_OUTCOMES: tuple[HeartbeatOutcome, ...] = get_args(HeartbeatOutcome)


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """One provider as stored: the figures of its latest accepted advert, the advert's bytes and
    when the registry first and last saw it."""

    peer_id: str
    address: str
    nonce: int
    first_seen: int
    last_seen: int
    first_slot: int
    issued_at: int
    expires_at: int
    ch_per_hour_micro: int
    grade: str  # as advertised: reliability '?' (the registry fills it in)
    price_per_ch: int
    hours: int
    stake_address: str
    report_digest: str
    listen_addrs: tuple[str, ...]
    advert: bytes


class ProviderStore(Protocol):
    """Persistence of the registry. Every method is synchronous and fast (one thread uses it).

    Reads raise :class:`~coordinator.registry.errors.StoredRecordError` for a row that does not
    decode (damage on disk), naming its provider.
    """

    def last_nonce(self, peer_id: str) -> int | None:
        """The nonce of ``peer_id``'s latest accepted advert, or None for an unknown peer."""
        ...

    def upsert_advert(self, advert: CapacityAdvert, data: bytes, now: int, slot: int) -> None:
        """Store an accepted advert (replacing the provider's previous one) and mark ``slot`` up."""
        ...

    def replace_advert(self, advert: CapacityAdvert, data: bytes, now: int, slot: int) -> None:
        """Like :meth:`upsert_advert`, but the provider's row is written afresh (first seen now):
        for a provider whose stored row was damaged."""
        ...

    def mark_seen(self, peer_id: str, now: int, slot: int) -> bool:
        """Record a heartbeat from a known provider; False if the peer is unknown."""
        ...

    def seen_slots(self, peer_id: str, start: int, end: int) -> set[int]:
        """The slots in ``[start, end)`` ``peer_id`` was seen in."""
        ...

    def mark_alive(self, started_at: float, alive_at: float) -> None:
        """Record that the coordinator's observation session started at ``started_at`` was
        observing at ``alive_at``."""
        ...

    def sessions(self, alive_since: float) -> list[tuple[float, float]]:
        """``(started_at, alive_at)`` of the sessions alive at or after ``alive_since``."""
        ...

    def prune_sessions(self, alive_before: float) -> int:
        """Forget the sessions last alive before ``alive_before``; return how many were removed."""
        ...

    def prune_slots(self, before_slot: int) -> int:
        """Forget every slot before ``before_slot``; return how many were removed."""
        ...

    def providers(self, skip: Collection[str] = ()) -> list[ProviderRecord]:
        """Every stored provider but those in ``skip``, by peer id."""
        ...

    def provider(self, peer_id: str) -> ProviderRecord | None:
        """One stored provider, or None if unknown."""
        ...

    def audit_states(self) -> dict[str, AuditState]:
        """Every provider's audit state (:mod:`.audits`), by peer id."""
        ...

    def audit_state(self, peer_id: str) -> AuditState | None:
        """One provider's audit state, or None."""
        ...

    def put_audit_state(self, state: AuditState, record: StoredAudit | None = None, keep: int = 20) -> None:
        """Store ``state`` and, atomically with it, ``record`` (keeping the latest ``keep``)."""
        ...

    def audit_records(self, peer_id: str, limit: int = 20) -> list[StoredAudit]:
        """``peer_id``'s latest ``limit`` stored audit records, newest first."""
        ...

    def close(self) -> None:
        """Release the store; no method may be called after."""
        ...


class RegistryObserver(Protocol):
    """What the registry core reports while it works; implementations count and log.

    ``before_advert`` is called as an advert arrives and exactly one of ``advert_accepted``,
    ``advert_duplicate`` and ``advert_rejected`` follows it before the core returns (the core is
    synchronous), so an observer may time the advert between the two.
    """

    def before_advert(self, peer_id: str) -> None: ...

    def advert_accepted(self, peer_id: str, nonce: int) -> None: ...

    def advert_duplicate(self, peer_id: str) -> None: ...

    def advert_rejected(self, peer_id: str, reason: str, detail: str) -> None: ...

    def heartbeat(self, peer_id: str, outcome: HeartbeatOutcome, detail: str | None) -> None: ...

    def providers_listed(self, count: int) -> None: ...

    def stored_record_damaged(self, peer_id: str, detail: str) -> None: ...


class NullObserver:
    """An observer that ignores everything (the core's default)."""

    def before_advert(self, peer_id: str) -> None:
        pass

    def advert_accepted(self, peer_id: str, nonce: int) -> None:
        pass

    def advert_duplicate(self, peer_id: str) -> None:
        pass

    def advert_rejected(self, peer_id: str, reason: str, detail: str) -> None:
        pass

    def heartbeat(self, peer_id: str, outcome: HeartbeatOutcome, detail: str | None) -> None:
        pass

    def providers_listed(self, count: int) -> None:
        pass

    def stored_record_damaged(self, peer_id: str, detail: str) -> None:
        pass
