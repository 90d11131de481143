"""Gossipsub for GCX discovery traffic: signed capacity adverts and heartbeats (DESIGN §4).

Usage (inside :func:`gcx.p2p.open_host`)::

    async with open_pubsub(host, ["gcx/capacity/1"]) as ps:
        await connect(host, bootstrap_addr, timeout_s=5)
        await ps.wait_for_peers("gcx/capacity/1", 1, timeout_s=10)
        await ps.publish("gcx/capacity/1", canonical_bytes(advert))
        async for msg in ps.subscription("gcx/capacity/1"):
            handle(msg.from_peer, msg.data)

What gossip guarantees
----------------------
* **Authenticity of the sender.** Strict message signing is always on: every message is signed
  with the publisher's libp2p key and verified on receipt against the key embedded in its
  ``from`` peer ID (py-libp2p ``pubsub/validators.py::signature_validator``), so
  :attr:`Received.from_peer` is the real originator, whoever relayed it. (It authenticates the
  *peer*; application payloads that carry value are still signed at the application layer.)
* **At most once per subscriber** (duplicates are suppressed by message ID for ``seen_ttl``).

What gossip does NOT guarantee
------------------------------
* **Delivery.** :meth:`PubSub.publish` is fire-and-forget: it returns once the message is queued
  for the current mesh peers. A message published before the mesh has formed, while a peer is
  reconnecting, above a rate limit, or into a full queue is silently dropped. Order is not
  preserved across publishers and not strictly within one either.
* Therefore gossip is for *discovery* only. Re-publish periodically (adverts every ~30 s,
  heartbeats every ~5 s) and treat a missing message as "not heard yet". Anything that must
  arrive (jobs, audit answers, results) uses :mod:`gcx.p2p.reqresp`.

Waiting for the mesh
--------------------
After connecting, subscriptions are exchanged and the peer is GRAFTed into the topic mesh
within a few milliseconds (event-driven) or at the latest by the next heartbeat. Use
:meth:`PubSub.wait_for_peers` (``n`` mesh peers for a topic, or :class:`MeshTimeout`) before
relying on a first publish; tests must do this, a production node just keeps re-publishing.

Messages this node publishes are *not* delivered back to its own subscriptions. Each topic has
a single receive queue: use one consumer per topic. When :func:`open_pubsub` exits, iteration
over its subscriptions ends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from .errors import FrameTooLarge, MeshTimeout, P2PError

log = logging.getLogger(__name__)

#: Gossipsub protocol versions offered, preferred first (v1.2 is go/js-libp2p's default).
GOSSIPSUB_PROTOCOLS = (PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID)


@dataclass(frozen=True)
class GossipConfig:
    """Gossipsub parameters, tuned for GCX traffic (see the field comments for the reasoning).

    Traffic model: up to a few hundred nodes; each publishes a capacity advert every ~30 s and a
    heartbeat every ~5 s. At 300 nodes that is ~10 adverts/s and ~60 heartbeats/s network-wide,
    and a single mesh neighbour may relay nearly all of a topic's traffic to us.
    """

    #: Mesh degree D / D_lo / D_hi: the go/js-libp2p defaults (6/4/12), a good
    #: redundancy/bandwidth trade-off for hundreds of peers (py-libp2p has no defaults).
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    #: Mesh maintenance heartbeat in whole seconds (py-libp2p default 120 s is far too slow to
    #: repair a mesh; go/js use 1 s).
    heartbeat_interval: int = 1
    heartbeat_initial_delay: float = 0.1
    #: Fanout TTL (s) for topics we publish to without subscribing.
    fanout_ttl: int = 60
    #: Message cache: IHAVE gossip about the last 3 heartbeats, keep 5 for IWANT replies.
    gossip_window: int = 3
    gossip_history: int = 5
    #: Duplicate suppression window (s): longer than any plausible propagation delay.
    seen_ttl: int = 120
    #: py-libp2p drops messages above 10/s per *forwarding* peer per topic (default). One mesh
    #: neighbour may relay ~60 heartbeats/s at 300 nodes, so allow 500/s: 8x headroom for the
    #: expected load and start-up bursts, still a bound on a flooding peer.
    max_messages_per_topic_per_second: float = 500.0
    #: Our per-topic receive queue (py-libp2p: 32). 1024 ≈ 17 s of heartbeats at 300 nodes
    #: before a stalled consumer starts losing messages.
    subscription_queue_size: int = 1024
    #: Per-peer outbound RPC queue (py-libp2p: 32). 256 ≈ 3-4 s of full-topic relay to one peer
    #: before a slow peer starts missing messages.
    peer_queue_size: int = 256
    #: Largest message payload we publish or accept. Adverts/heartbeats are well under 1 KiB.
    max_message_size: int = 64 * 1024
    #: Largest inbound gossipsub RPC frame (may batch several messages and control data).
    max_rpc_size: int = 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.degree_low <= self.degree <= self.degree_high:
            raise ValueError("need 0 < degree_low <= degree <= degree_high")
        if self.heartbeat_interval < 1:
            raise ValueError("heartbeat_interval is in whole seconds, at least 1")
        if self.max_message_size > self.max_rpc_size:
            raise ValueError("max_message_size must not exceed max_rpc_size")


@dataclass(frozen=True)
class Received:
    """One gossip message: its authenticated originator, payload and topic."""

    from_peer: ID
    data: bytes
    topic: str


class _GcxPubsub(Pubsub):
    """py-libp2p's Pubsub with a configurable per-peer outbound queue size.

    ``Pubsub._handle_new_peer`` creates each peer's ``RpcQueue()`` with the module default of 32
    entries (``libp2p/pubsub/pubsub.py`` ``queue = RpcQueue()``); we enlarge it right after.
    """

    def __init__(self, host: IHost, router: GossipSub, *, peer_queue_size: int, **kwargs: Any) -> None:
        super().__init__(host, router, **kwargs)
        self._gcx_peer_queue_size = peer_queue_size

    async def _handle_new_peer(self, peer_id: ID) -> None:
        await super()._handle_new_peer(peer_id)
        queue = self.peer_queues.get(peer_id)
        inner = getattr(queue, "_queue", None)
        if inner is not None and hasattr(inner, "max_size"):
            inner.max_size = max(inner.max_size, self._gcx_peer_queue_size)


class Subscription:
    """Async iterator over the messages of one topic (see :meth:`PubSub.subscription`)."""

    def __init__(self, topic: str, channel: trio.MemoryReceiveChannel[rpc_pb2.Message], own_id: ID) -> None:
        self.topic = topic
        self._channel = channel
        self._own = own_id.to_bytes()

    async def receive(self) -> Received:
        """Wait for the next message from another peer; :class:`P2PError` once pubsub closed."""
        while True:
            try:
                msg = await self._channel.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                raise P2PError(f"subscription to {self.topic} is closed") from None
            if msg.from_id == self._own:
                continue
            return Received(from_peer=ID(msg.from_id), data=bytes(msg.data), topic=self.topic)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Received:
        try:
            return await self.receive()
        except P2PError:
            raise StopAsyncIteration from None


class PubSub:
    """A running gossipsub instance joined to a fixed set of topics (from :func:`open_pubsub`)."""

    def __init__(self, pubsub: Pubsub, router: GossipSub, config: GossipConfig) -> None:
        self._pubsub = pubsub
        self._router = router
        self.config = config
        self._receivers: dict[str, trio.MemoryReceiveChannel[rpc_pb2.Message]] = {}
        self._senders: dict[str, trio.MemorySendChannel[rpc_pb2.Message]] = {}
        self._subscriptions: dict[str, Subscription] = {}

    @property
    def topics(self) -> list[str]:
        """The topics this node is subscribed to."""
        return list(self._receivers)

    def _check_topic(self, topic: str) -> None:
        if topic not in self._receivers:
            raise ValueError(f"topic {topic!r} was not opened (open_pubsub topics: {self.topics})")

    async def _join(self, topic: str) -> None:
        sub: Any = await self._pubsub.subscribe(topic)
        # Replace py-libp2p's 32-message subscription channel with our larger one. No checkpoint
        # between here and the swap, so nothing can be delivered into the old channel meanwhile;
        # anything already there is moved over.
        send, receive = trio.open_memory_channel[rpc_pb2.Message](self.config.subscription_queue_size)
        old_receive = getattr(sub, "receive_channel", None)
        self._pubsub.subscribed_topics_send[topic] = send
        while old_receive is not None:
            try:
                send.send_nowait(old_receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        limit = self.config.max_message_size

        def small_enough(_forwarder: ID, msg: rpc_pb2.Message) -> bool:
            return len(msg.data) <= limit

        self._pubsub.set_topic_validator(topic, small_enough, False)
        self._receivers[topic] = receive
        self._senders[topic] = send

    def _close(self) -> None:
        """End every subscription: consumers see the end of iteration instead of hanging."""
        for send in self._senders.values():
            send.close()

    async def publish(self, topic: str, data: bytes) -> None:
        """Sign and publish ``data`` on ``topic`` (fire-and-forget: no delivery guarantee).

        Raises :class:`FrameTooLarge` above ``config.max_message_size`` and :class:`P2PError`
        if py-libp2p refuses the message. ``ValueError`` if ``topic`` was not opened.
        """
        self._check_topic(topic)
        if len(data) > self.config.max_message_size:
            raise FrameTooLarge(len(data), self.config.max_message_size)
        try:
            await self._pubsub.publish(topic, bytes(data))
        except Exception as exc:
            raise P2PError(f"publish on {topic} failed: {exc}") from exc

    def subscription(self, topic: str) -> Subscription:
        """The async iterator of :class:`Received` messages for ``topic`` (one per topic)."""
        self._check_topic(topic)
        sub = self._subscriptions.get(topic)
        if sub is None:
            sub = Subscription(topic, self._receivers[topic], self._pubsub.my_id)
            self._subscriptions[topic] = sub
        return sub

    def mesh_peers(self, topic: str) -> list[ID]:
        """Peers currently in our mesh for ``topic`` (they receive our messages directly)."""
        return list(self._router.mesh.get(topic, ()))

    def topic_peers(self, topic: str) -> list[ID]:
        """Connected peers that announced a subscription to ``topic``."""
        return list(self._pubsub.peer_topics.get(topic, ()))

    async def wait_for_peers(self, topic: str, n: int, timeout_s: float) -> list[ID]:
        """Wait until at least ``n`` peers are in our mesh for ``topic``; return them.

        Raises :class:`MeshTimeout` if that does not happen within ``timeout_s``.
        """
        self._check_topic(topic)
        with trio.move_on_after(timeout_s):
            while len(peers := self.mesh_peers(topic)) < n:
                await trio.sleep(0.02)
            return peers
        raise MeshTimeout(topic, n, len(self.mesh_peers(topic)), timeout_s)


@asynccontextmanager
async def open_pubsub(
    host: IHost,
    topics: Sequence[str],
    config: GossipConfig | None = None,
) -> AsyncIterator[PubSub]:
    """Start gossipsub on a running ``host``, subscribe to ``topics``, yield a :class:`PubSub`.

    Must be entered inside :func:`gcx.p2p.open_host` (and left before it). Remote peers'
    subscriptions to other topics are ignored (``allowed_topics``), which bounds the state a
    stranger can make us keep.
    """
    cfg = config or GossipConfig()
    if not topics:
        raise ValueError("open_pubsub needs at least one topic")
    router = GossipSub(
        protocols=list(GOSSIPSUB_PROTOCOLS),
        degree=cfg.degree,
        degree_low=cfg.degree_low,
        degree_high=cfg.degree_high,
        time_to_live=cfg.fanout_ttl,
        gossip_window=cfg.gossip_window,
        gossip_history=cfg.gossip_history,
        heartbeat_initial_delay=cfg.heartbeat_initial_delay,
        heartbeat_interval=cfg.heartbeat_interval,
        spam_protection_enabled=True,
        max_messages_per_topic_per_second=cfg.max_messages_per_topic_per_second,
    )
    pubsub = _GcxPubsub(
        host,
        router,
        peer_queue_size=cfg.peer_queue_size,
        seen_ttl=cfg.seen_ttl,
        strict_signing=True,
        max_inbound_rpc_size=cfg.max_rpc_size,
        allowed_topics=frozenset(topics),
    )
    ps = PubSub(pubsub, router, cfg)
    try:
        async with background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            for topic in dict.fromkeys(topics):
                await ps._join(topic)
            yield ps
    finally:
        ps._close()
        # The host outlives us: stop accepting gossip streams, and make py-libp2p's connection
        # notifee (still registered on the network) see a closed channel instead of blocking.
        for protocol in GOSSIPSUB_PROTOCOLS:
            host.remove_stream_handler(protocol)
        pubsub.peer_receive_channel.close()
        pubsub.dead_peer_receive_channel.close()


__all__ = ["GOSSIPSUB_PROTOCOLS", "GossipConfig", "PubSub", "Received", "Subscription", "open_pubsub"]
