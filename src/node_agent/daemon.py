"""``gcx node run``: the provider daemon (DESIGN §1, §4).

Theory of operation: the daemon loads its key and a capacity report (a fresh cached one, or it
benchmarks first), starts a libp2p host with the node key as its identity, joins the network
through the bootstrap peers (redialling any it loses, with backoff) and then, until SIGTERM or
SIGINT:

* sends a signed capacity advert to each connected coordinator on ``/gcx/advert/1`` (which
  answers with its verdict: a rejection is logged with its reason) and gossips it on
  ``gcx/capacity/1``, when it joins, on every (re)connection and every ``node.advert_interval_s``
  (an advert expires after ``node.advert_ttl_s``, so a node that stops advertising leaves the
  listings);
* sends a heartbeat to each coordinator on ``/gcx/heartbeat/1`` every
  ``node.heartbeat_interval_s``;
* answers ``/gcx/report/1`` (its full signed report) and ``/gcx/liveness/1`` on direct streams;
* answers capacity audits on ``/gcx/audit/1`` (:class:`gcx.audit.server.AuditServer`, on the
  GCX-TP backend named by ``node.backend``, opened at the first challenge; docs/audits.md);
* with a chain configured, takes jobs on ``/gcx/job/1`` and serves their data on ``/gcx/data/1``
  (:class:`node_agent.jobs.JobExecutor`, its table in ``$GCX_HOME/node/jobs.sqlite``, resumed on
  start; docs/jobs-provider.md). The advertised ``hours`` are ``node.hours`` less the hours of
  the accepted, unsubmitted jobs, re-advertised at once whenever they change.

Advert nonces come from the clock in microseconds, never below the last one used (kept in
``$GCX_HOME/node/state.json``), so they increase across restarts.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from gcx import wire
from gcx.advert import (
    ADVERT_PROTOCOL,
    CAPACITY_TOPIC,
    HEARTBEAT_PROTOCOL,
    MAX_ADVERT_BYTES,
    make_advert,
    make_heartbeat,
    report_digest,
)
from gcx.audit.server import AuditServer
from gcx.errors import GCXError
from gcx.files import write_atomic
from gcx.keys import ParticipantKey
from gcx.p2p import (
    P2PError,
    connect,
    listen_addrs,
    open_host,
    open_pubsub,
    request,
    serve,
)
from gcx.paths import ensure_home
from gcx.reference import ReferenceProfile
from gcx.settings import Settings

from .jobs import JobExecutor, JobTable, advertised_hours
from .jobs.state import default_table_path
from .reports import current_report

log = logging.getLogger("gcx.node")

REPORT_PROTOCOL = "/gcx/report/1"
LIVENESS_PROTOCOL = "/gcx/liveness/1"
MAX_BACKOFF_S = 30.0


class NonceSource:
    """Strictly increasing advert nonces that survive restarts."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path, self.clock = path, clock
        try:
            self.last = int(json.loads(path.read_text(encoding="utf-8"))["last_nonce"])
        except (OSError, ValueError, KeyError, TypeError):
            self.last = 0

    def next(self) -> int:
        self.last = max(self.last + 1, int(self.clock() * 1_000_000))
        write_atomic(self.path, json.dumps({"last_nonce": self.last}).encode())
        return self.last


class NodeDaemon:
    def __init__(self, settings: Settings, key: ParticipantKey, profile: ReferenceProfile) -> None:
        self.settings, self.key, self.profile = settings, key, profile
        self.report: dict[str, Any] = {}
        self.digest = ""
        self.nonces = NonceSource(ensure_home() / "node" / "state.json")
        self.coordinators: dict[str, Any] = {}  # bootstrap multiaddr -> peer ID, while connected
        self.adverts_accepted = 0
        self.stake: int | None = None  # bonded provider stake, when a chain is configured
        self.heartbeats_sent = 0
        self._republish = trio.Event()
        self.audits = AuditServer(key.private_key, settings.node.backend)
        self.chain: Any = None  # gcx.chain.Chain, when a chain is configured
        self.jobs: JobExecutor | None = None
        self._advertised_hours: int | None = None

    async def run(self, ready: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Run until cancelled (the CLI cancels on SIGTERM/SIGINT)."""
        self.report = await trio.to_thread.run_sync(current_report, self.key, self.profile, self.settings)
        self.digest = report_digest(self.report)
        if self.settings.chain.rpc_url:
            self.stake = await trio.to_thread.run_sync(self._ensure_stake)
            self.jobs = self._open_jobs()
        else:
            log.info("no chain configured (chain.rpc_url): this node takes no jobs")
        log.info(
            "report %s: %.6f CH/h, grade %s",
            self.digest[:12],
            self.report["ch_per_hour"],
            self.report["grade"],
        )
        net = self.settings.network
        async with open_host(self.key.private_key, net.listen) as host:
            self.peer_id = host.get_id().to_base58()
            self.addrs = listen_addrs(host)
            serve(
                host,
                REPORT_PROTOCOL,
                self._answer_report,
                max_size=MAX_ADVERT_BYTES,  # the response is the whole report
                timeout_s=net.request_timeout_s,
                max_concurrent=16,
            )
            serve(
                host,
                LIVENESS_PROTOCOL,
                self._answer_liveness,
                max_size=1024,
                timeout_s=net.request_timeout_s,
                max_concurrent=64,
            )
            self.audits.register(host)
            if self.jobs is not None:
                self.jobs.register(host)
            async with (
                open_pubsub(host, [CAPACITY_TOPIC]) as pubsub,
                trio.open_nursery() as nursery,
            ):
                if self.jobs is not None:
                    await nursery.start(self.jobs.run, host)
                for addr in net.bootstrap:
                    nursery.start_soon(self._stay_connected, host, addr)
                nursery.start_soon(self._advertise, host, pubsub)
                nursery.start_soon(self._heartbeat, host)
                nursery.start_soon(self._warm_audits)
                log.info(
                    "node %s (%s) listening on %s", self.key.address, self.peer_id, ", ".join(self.addrs)
                )
                if ready:
                    ready(
                        {
                            "node": self.key.address,
                            "peer_id": self.peer_id,
                            "addrs": self.addrs,
                            "grade": self.report["grade"],
                            "ch_per_hour": self.report["ch_per_hour"],
                        }
                    )

    async def _warm_audits(self) -> None:
        """Open the audit backend in the background (a failure shows at the first challenge)."""
        try:
            await trio.to_thread.run_sync(self.audits.warm)
        except GCXError as exc:
            log.warning("capacity audits cannot run: %s", exc)

    def _ensure_stake(self) -> int:
        """Bond the provider minimum on first start (and top up after a slash)."""
        from gcx.chain import connect as connect_chain
        from gcx.chain import ensure_provider_stake

        chain = connect_chain(self.settings.chain.rpc_url or "", self.settings.chain.deployment, self.key)
        self.chain = chain
        return ensure_provider_stake(chain)

    def _open_jobs(self) -> JobExecutor:
        """The job executor on the node's job table and store (``node.job_store``)."""
        from typing import cast

        from gcx.chain import Chain
        from gcx.jobs.store import TensorStore

        node = self.settings.node
        store = TensorStore(
            node.job_store or ensure_home() / "node" / "data", max_bytes=node.job_store_max_bytes
        )
        return JobExecutor(
            self.settings, self.profile, JobTable(default_table_path()), store, cast(Chain, self.chain),
            on_change=self._jobs_changed,
        )  # fmt: skip

    def hours(self) -> int:
        """The hours to advertise: ``node.hours`` less those of the accepted, unsubmitted jobs."""
        if self.jobs is None:
            return self.settings.node.hours
        rate = float(self.report.get("ch_per_hour") or 0.0)
        return advertised_hours(self.settings.node.hours, self.jobs.pending_micro_ch(), rate)

    def _jobs_changed(self) -> None:
        """Re-advertise at once when the free hours changed."""
        if self.hours() != self._advertised_hours:
            self._republish.set()

    async def _stay_connected(self, host: Any, addr: str) -> None:
        """Dial a bootstrap peer, and redial with exponential backoff whenever it is lost."""
        backoff = 0.5
        while True:
            peer = self.coordinators.get(addr)
            if peer is None or not _connected(host, peer):
                self.coordinators.pop(addr, None)
                try:
                    peer = await connect(host, addr, self.settings.network.dial_timeout_s)
                except P2PError as exc:
                    log.warning("bootstrap peer %s unreachable (%s); retrying in %.1f s", addr, exc, backoff)
                    await trio.sleep(backoff)
                    backoff = min(MAX_BACKOFF_S, backoff * 2)
                    continue
                log.info("connected to bootstrap peer %s", addr)
                self.coordinators[addr] = peer
                backoff = 0.5
                self._republish.set()
            await trio.sleep(1.0)

    def _advert(self) -> bytes:
        node = self.settings.node
        self._advertised_hours = hours = self.hours()
        return make_advert(
            self.key, self.peer_id, self.report, price_per_ch=node.price_per_ch, hours=hours,
            nonce=self.nonces.next(), now=int(time.time()), ttl_s=node.advert_ttl_s,
            listen_addrs=self.addrs, stake_address=node.stake_address,
        )  # fmt: skip

    async def _advertise(self, host: Any, pubsub: Any) -> None:
        """Send the advert to every connected coordinator (which answers with its verdict) and
        gossip it, at start, on (re)connecting, and every ``node.advert_interval_s``."""
        while True:
            self._republish = trio.Event()
            if self.coordinators:
                advert = self._advert()
                async with trio.open_nursery() as nursery:
                    for peer in list(self.coordinators.values()):
                        nursery.start_soon(self._send_advert, host, peer, advert)
                try:
                    await pubsub.publish(CAPACITY_TOPIC, advert)
                except P2PError as exc:  # gossip is best effort
                    log.debug("advert not gossiped: %s", exc)
            with trio.move_on_after(self.settings.node.advert_interval_s):
                await self._republish.wait()

    async def _send_advert(self, host: Any, peer: Any, advert: bytes) -> None:
        try:
            answer = wire.unpack(
                await request(
                    host, peer, ADVERT_PROTOCOL, advert, timeout_s=self.settings.network.request_timeout_s
                )
            )
        except GCXError as exc:
            log.warning("advert not delivered to %s: %s", peer.to_base58(), exc)
            return
        if isinstance(answer, dict) and answer.get("accepted") is True:
            self.adverts_accepted += 1
            log.debug("advert accepted by %s", peer.to_base58())
        else:
            reason = answer.get("reason") if isinstance(answer, dict) else answer
            log.warning("coordinator %s rejected our advert: %s", peer.to_base58(), reason)

    async def _heartbeat(self, host: Any) -> None:
        seq = 0
        while True:
            await trio.sleep(self.settings.node.heartbeat_interval_s)
            seq += 1
            beat = make_heartbeat(seq, int(time.time()), self.digest)
            for peer in list(self.coordinators.values()):
                try:
                    await request(
                        host,
                        peer,
                        HEARTBEAT_PROTOCOL,
                        beat,
                        timeout_s=self.settings.network.request_timeout_s,
                    )
                    self.heartbeats_sent += 1
                except GCXError as exc:  # the redial loop deals with a lost coordinator
                    log.debug("heartbeat %d to %s failed: %s", seq, peer.to_base58(), exc)

    async def _answer_report(self, peer: Any, payload: bytes) -> bytes:
        return wire.canonical_bytes(self.report)

    async def _answer_liveness(self, peer: Any, payload: bytes) -> bytes:
        return wire.canonical_bytes(
            {"ok": True, "node": self.key.address, "report_digest": self.digest, "time": int(time.time())}
        )


def _connected(host: Any, peer: Any) -> bool:
    return peer in host.get_network().connections
