"""``gcx coordinator run``: the provider registry as a service (DESIGN §4).

Theory of operation: a libp2p host with the coordinator's key takes adverts on the direct
protocol ``/gcx/advert/1`` (answering each with its verdict) and on the gossip topic
``gcx/capacity/1``, and heartbeats on ``/gcx/heartbeat/1``. Each arrives with the sender's peer
ID, authenticated by Noise (streams) or by gossipsub's strict signing; the Ethereum address of
that peer's key is derived from the peer ID and handed, with the bytes, to the sans-I/O
:class:`Registry`, which validates and stores (the second copy of an advert that came both ways
is acknowledged as a duplicate). The HTTP API (FastAPI on hypercorn's trio worker) reads the same registry.
With ``[audit] enabled`` the coordinator also audits every listed provider's claimed capacity
(:func:`run_audits`, docs/audits.md): claims are listed unverified until an audit sized to them
has passed. Once everything listens, the endpoints are written to ``$GCX_HOME/coordinator/endpoint.json``
for local tools (``gcx devnet``) to find. With a chain and ``jobs.enabled``, the job book
(:mod:`coordinator.jobs`) runs on the same host and API.

Ready means ready: with a chain configured, the coordinator first waits for its RPC (retrying
with backoff, one log line per attempt, at most ``chain.connect_timeout_s``, then it stops with
one error) and only then serves, writes the endpoint file and announces itself; a listen address
it cannot own stops it at once (:class:`gcx.p2p.ListenError`).
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import trio

from gcx import __version__, wire
from gcx.advert import ADVERT_PROTOCOL, CAPACITY_TOPIC, HEARTBEAT_PROTOCOL, MAX_ADVERT_BYTES
from gcx.audit.core import AuditConfig
from gcx.backoff import Backoff
from gcx.errors import GCXError
from gcx.files import write_atomic
from gcx.keys import ParticipantKey
from gcx.p2p import (
    REJECT_BUSY,
    REJECT_FRAME_TOO_LARGE,
    REJECT_PEER_BUSY,
    REJECT_TIMEOUT,
    REJECT_TRUNCATED,
    P2PError,
    address_of_peer,
    connect,
    listen_addrs,
    open_host,
    open_pubsub,
    parse_peer_id,
    serve,
)
from gcx.paths import ensure_home
from gcx.reference import ReferenceProfile
from gcx.settings import Settings

from .audit_slash import start_audit_slasher
from .exchange.service import open_exchange
from .http_app import create_app
from .http_server import serve_api
from .jobs.service import JobBook, open_job_book
from .registry.adverts import AdvertPolicy
from .registry.audits import AuditPolicy
from .registry.base import HeartbeatOutcome
from .registry.core import AuditTarget, Registry
from .registry.metrics import Metrics
from .registry.store import RegistryStore
from .registry.uptime import UptimePolicy

log = logging.getLogger("gcx.coordinator")
PRUNE_EVERY_S = 60.0
#: Streams in flight per protocol, from all peers together and from one peer. A node has one
#: advert or heartbeat in flight at a time; the per-peer cap keeps one peer's stalled streams
#: from using up the protocol's.
MAX_STREAMS = 256
MAX_STREAMS_PER_PEER = 8
#: The stream layer's refusals (``gcx.p2p`` serve's ``on_reject`` codes) as rejection reasons.
_STREAM_REASONS: dict[str, HeartbeatOutcome] = {
    REJECT_FRAME_TOO_LARGE: "oversize",
    REJECT_TRUNCATED: "truncated",
    REJECT_TIMEOUT: "timeout",
    REJECT_BUSY: "busy",
    REJECT_PEER_BUSY: "peer_busy",
}
CHAIN_BACKOFF = Backoff(initial_s=0.5, max_s=10.0)
#: Capacity audits in flight at once (each provider has at most one).
MAX_AUDITS_IN_FLIGHT = 2
AUDIT_DIAL_TIMEOUT_S = 5.0
#: How often slashable providers' failures are posted to AuditSlasher and due slashes executed.
AUDIT_SLASH_POLL_S = 5.0


def audit_policy(settings: Settings) -> AuditPolicy | None:
    """The audit schedule of ``[audit]``, or None when audits are off (claims are believed)."""
    a = settings.audit
    if not a.enabled:
        return None
    return AuditPolicy(
        first_within_s=a.first_within_s,
        interval_s=a.interval_s,
        failures_to_flag=a.failures_to_flag,
        keep=max(20, a.failures_to_flag),
    )


def build_registry(settings: Settings, profile: ReferenceProfile, metrics: Metrics | None = None) -> Registry:
    """The registry over its SQLite store, on the wall clock, reporting to ``metrics``.

    A damaged registry file is refused (:class:`~.registry.errors.RegistryStoreError`); damaged
    records in an intact one are found here and left out until their providers advertise again.
    """
    c = settings.coordinator
    if c.database is None:  # the home's: its directory is ours to make
        path = ensure_home() / "coordinator" / "registry.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
    else:  # configured: a missing directory is a mistake, not a place for a new registry
        path = c.database
    registry = Registry(
        RegistryStore(path),
        profile,
        clock=time.time,
        observer=metrics or Metrics(),
        advert_policy=AdvertPolicy(max_ttl_s=c.max_advert_ttl_s, max_clock_skew_s=c.max_clock_skew_s),
        uptime_policy=UptimePolicy(
            slot_s=c.uptime_slot_s, window_slots=max(1, c.uptime_window_s // c.uptime_slot_s)
        ),
        rate=c.adverts_per_peer_per_s,
        audit_policy=audit_policy(settings),
    )
    try:
        damaged = registry.check_stored()
    except BaseException:
        registry.store.close()
        raise
    if damaged:
        log.warning(
            "registry %s: %d damaged provider record(s) left out until they advertise again",
            path,
            len(damaged),
        )
    return registry


async def _consume_adverts(pubsub: Any, registry: Registry) -> None:
    async for msg in pubsub.subscription(CAPACITY_TOPIC):
        peer_id = msg.from_peer.to_base58()
        try:
            address = address_of_peer(msg.from_peer)
        except P2PError as exc:
            registry.reject_advert(peer_id, "identity", str(exc))
            continue
        registry.ingest_advert(msg.data, peer_id, address)


def _stream_refusal(code: str, max_size: int, timeout_s: float) -> str:
    """Why the stream layer refused a request, for the log."""
    return {
        REJECT_FRAME_TOO_LARGE: f"request frame above {max_size} bytes",
        REJECT_TRUNCATED: "the stream ended before the whole request arrived",
        REJECT_TIMEOUT: f"request not received and handled within {timeout_s:g} s",
        REJECT_BUSY: f"{MAX_STREAMS} requests in flight",
        REJECT_PEER_BUSY: f"{MAX_STREAMS_PER_PEER} requests in flight from this peer",
    }.get(code, code)


def _serve_direct(host: Any, registry: Registry, timeout_s: float) -> None:
    """Serve ``/gcx/advert/1`` and ``/gcx/heartbeat/1``: each answers with a verdict and our clock.

    Every refusal is counted: the verdicts by :class:`Registry`, a sender whose key is not
    secp256k1 as ``identity`` (answered with a verdict too), and what the stream layer refuses
    before a request is read whole (too large, cut short, too slow, too many in flight: the
    peer gets an error frame or a reset stream, no verdict).
    """
    advert_limit, heartbeat_limit = MAX_ADVERT_BYTES + 1024, 1024

    async def on_advert(peer: Any, payload: bytes) -> bytes:
        peer_id = peer.to_base58()
        accepted: bool
        reason: str | None
        try:
            address = address_of_peer(peer)
        except P2PError as exc:
            accepted, reason = False, registry.reject_advert(peer_id, "identity", str(exc))
        else:
            accepted, reason = registry.submit_advert(payload, peer_id, address)
        return wire.canonical_bytes({"accepted": accepted, "reason": reason, "time": int(time.time())})

    async def on_heartbeat(peer: Any, payload: bytes) -> bytes:
        counted = registry.ingest_heartbeat(payload, peer.to_base58())
        return wire.canonical_bytes({"counted": counted, "time": int(time.time())})

    def advert_refused(peer: Any, code: str) -> None:
        text = _stream_refusal(code, advert_limit, timeout_s)
        registry.reject_advert(peer.to_base58(), _STREAM_REASONS.get(code, "malformed"), text)

    def heartbeat_refused(peer: Any, code: str) -> None:
        text = _stream_refusal(code, heartbeat_limit, timeout_s)
        registry.reject_heartbeat(peer.to_base58(), _STREAM_REASONS.get(code, "malformed"), text)

    serve(
        host,
        ADVERT_PROTOCOL,
        on_advert,
        max_size=advert_limit,
        timeout_s=timeout_s,
        max_concurrent=MAX_STREAMS,
        max_per_peer=MAX_STREAMS_PER_PEER,
        on_reject=advert_refused,
    )
    serve(
        host,
        HEARTBEAT_PROTOCOL,
        on_heartbeat,
        max_size=heartbeat_limit,
        timeout_s=timeout_s,
        max_concurrent=MAX_STREAMS,
        max_per_peer=MAX_STREAMS_PER_PEER,
        on_reject=heartbeat_refused,
    )


async def _connect_chain(settings: Settings) -> Any:
    """Connect to the configured chain, retrying an unreachable RPC with backoff (one log line
    per attempt) for at most ``chain.connect_timeout_s``; any other chain error (wrong chain id,
    stale deployment) fails at once. Returns a :class:`gcx.chain.Chain`."""
    from gcx.chain import ChainError, RpcUnreachable
    from gcx.chain import connect as connect_chain

    url, bound = settings.chain.rpc_url or "", settings.chain.connect_timeout_s
    deadline = trio.current_time() + bound
    attempt = 0
    while True:
        try:
            return await trio.to_thread.run_sync(connect_chain, url, settings.chain.deployment)
        except RpcUnreachable as exc:
            attempt += 1
            left = deadline - trio.current_time()
            if left <= 0:
                raise ChainError(
                    f"the chain RPC at {url} is still unreachable after {bound:g} s ({attempt} attempts, "
                    f"last: {exc.reason}): start the chain (e.g. `gcx chain up`) or fix chain.rpc_url"
                ) from exc
            wait = min(CHAIN_BACKOFF.delay(attempt - 1), left)
            log.warning(
                "chain RPC %s unreachable (attempt %d, %s); retrying in %.1f s (giving up in %.0f s)",
                url, attempt, exc.reason, wait, left,
            )  # fmt: skip
            await trio.sleep(wait)


async def _refresh_stakes(registry: Registry, settings: Settings, chain: Any) -> None:
    """Keep ``registry.staked`` current: who among known providers has enough bonded stake."""
    from gcx.chain import active_providers

    while True:
        addresses = [r.address for r in registry.store.providers()]
        try:
            registry.staked = await trio.to_thread.run_sync(active_providers, chain, addresses)
        except GCXError as exc:  # keep the last known set; the next round retries
            log.warning("cannot read stakes from the chain: %s", exc)
        await trio.sleep(settings.chain.stake_refresh_s)


async def _audit_one(
    registry: Registry, host: Any, private_key: bytes, config: AuditConfig, target: AuditTarget
) -> None:
    """Audit one provider at its claim and store the record (dialling its advertised addresses
    first if it is not connected; an unreachable provider's record says ``no_answer``)."""
    from gcx.audit.client import run_audit

    peer = target.peer_id
    if not host.get_network().get_connections(parse_peer_id(peer)):
        for addr in target.listen_addrs:
            try:
                await connect(host, addr if "/p2p/" in addr else f"{addr}/p2p/{peer}", AUDIT_DIAL_TIMEOUT_S)
                break
            except P2PError as exc:
                log.info("audit of %s: cannot dial %s: %s", peer, addr, exc)
    record = await run_audit(host, peer, float(target.claim), config, private_key=private_key)
    state = registry.record_audit(peer, record)
    log.log(
        logging.INFO if record.passed else logging.WARNING,
        "audit of %s at %.3g ops/s: %s (%s)%s",
        peer, target.claim, record.verdict, record.detail,
        f"; {state.consecutive_failures} failures in a row" if state and state.consecutive_failures else "",
    )  # fmt: skip


async def run_audits(
    registry: Registry,
    host: Any,
    private_key: bytes,
    config: AuditConfig,
    *,
    poll_s: float = 0.5,
    max_in_flight: int = MAX_AUDITS_IN_FLIGHT,
) -> None:
    """Audit every listed provider when it is due (:meth:`Registry.audits_due`), with ``host``
    and its key ``private_key``: at most one audit per provider and ``max_in_flight`` in all at
    a time. Runs until cancelled; an audit that fails on our side is logged and rescheduled by
    the next poll (its provider stays due)."""
    in_flight: set[str] = set()

    async def one(target: AuditTarget) -> None:
        try:
            await _audit_one(registry, host, private_key, config, target)
        except (GCXError, sqlite3.Error) as exc:
            log.warning("audit of %s could not run: %s", target.peer_id, exc)
            await trio.sleep(max(poll_s, 1.0))  # not straight back to a failing audit
        finally:
            in_flight.discard(target.peer_id)

    async with trio.open_nursery() as nursery:
        while True:
            free = max_in_flight - len(in_flight)
            if free > 0:
                for target in registry.audits_due(skip=frozenset(in_flight))[:free]:
                    in_flight.add(target.peer_id)
                    nursery.start_soon(one, target)
            await trio.sleep(poll_s)


async def _observe(registry: Registry, every_s: float) -> None:
    """Record the coordinator's own liveness, so that its downtime is not counted against
    providers' uptime (see :mod:`coordinator.registry.uptime`)."""
    while True:
        await trio.sleep(every_s)
        registry.observe()


async def _prune(registry: Registry) -> None:
    while True:
        await trio.sleep(PRUNE_EVERY_S)
        registry.prune()


def _write_endpoint(info: dict[str, Any]) -> None:
    path = ensure_home() / "coordinator" / "endpoint.json"
    write_atomic(path, json.dumps(info, indent=2).encode())


def _start_registry_tasks(
    n: trio.Nursery, registry: Registry, settings: Settings, chain: Any, host: Any, key: ParticipantKey
) -> None:
    """The registry's background work: its own liveness, pruning, stakes (with a chain) and
    capacity audits (with ``[audit] enabled``; with a chain too, slashable providers' failures
    are posted to ``AuditSlasher``, :mod:`.audit_slash`)."""
    n.start_soon(_observe, registry, max(1.0, min(5.0, settings.coordinator.uptime_slot_s / 2)))
    n.start_soon(_prune, registry)
    if chain is not None:
        registry.staked = set()  # nobody is listed until their stake has been read
        n.start_soon(_refresh_stakes, registry, settings, chain)
    if registry.audit_policy is not None:
        config = AuditConfig(target_s=settings.audit.target_s)
        poll_s = min(0.5, settings.audit.first_within_s / 4)
        n.start_soon(functools.partial(run_audits, registry, host, key.private_key, config, poll_s=poll_s))
        if chain is not None:  # failures on-chain, when the deployment has AuditSlasher and we audit for it
            url, deployment = settings.chain.rpc_url or "", settings.chain.deployment
            n.start_soon(start_audit_slasher, registry, url, deployment, key, AUDIT_SLASH_POLL_S)


async def run_coordinator(
    settings: Settings,
    key: ParticipantKey,
    profile: ReferenceProfile,
    ready: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Run the coordinator until cancelled."""
    metrics = Metrics()
    registry = build_registry(settings, profile, metrics)
    jobs: JobBook | None = None
    c = settings.coordinator
    try:
        exchange = open_exchange(settings) if settings.exchange.enabled else None
    except BaseException:
        registry.store.close()
        raise
    try:
        async with open_host(key.private_key, settings.network.listen) as host:
            chain = await _connect_chain(settings) if settings.chain.rpc_url else None
            if chain is not None and settings.jobs.enabled:
                jobs = await trio.to_thread.run_sync(open_job_book, settings, registry, key)
            info: dict[str, Any] = {
                "peer_id": host.get_id().to_base58(),
                "address": key.address,
                "multiaddrs": listen_addrs(host),
                "reference": profile.ident(),
                "version": __version__,
            }
            async with (
                open_pubsub(host, [CAPACITY_TOPIC]) as pubsub,
                trio.open_nursery() as n,
            ):
                if exchange is not None:
                    await n.start(exchange.run)
                if jobs is not None:
                    await n.start(jobs.run, host)
                app = create_app(registry, info=info, exchange=exchange, registry_metrics=metrics, jobs=jobs)
                port = await n.start(serve_api, app, c.api_host, c.api_port)
                info["api"] = f"http://{c.api_host}:{port}"
                registry.observe()  # this process's observation session starts
                n.start_soon(_consume_adverts, pubsub, registry)
                _serve_direct(host, registry, settings.network.request_timeout_s)
                _start_registry_tasks(n, registry, settings, chain, host, key)
                _write_endpoint(info)
                log.info(
                    "coordinator %s: API %s, p2p %s", key.address, info["api"], ", ".join(info["multiaddrs"])
                )
                if ready:
                    ready(info)
    finally:
        try:
            registry.observe()  # the session's last moment, for uptime after a restart
        except sqlite3.Error as exc:
            log.warning("cannot record the end of this observation session: %s", exc)
        registry.store.close()
        if exchange is not None:
            exchange.close()
        if jobs is not None:
            jobs.close()
