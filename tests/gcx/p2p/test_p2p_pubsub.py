"""Gossipsub: three hosts in a line, signed messages reach everyone with the right sender."""

from __future__ import annotations

import pytest
import trio
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service
from p2p_helpers import running_hosts

from gcx.p2p import FrameTooLarge, GossipConfig, MeshTimeout, Received, connect, listen_addrs, open_pubsub

TOPIC = "gcx/test/1"


async def receive_n(ps_sub: object, n: int, timeout_s: float = 5) -> list[Received]:
    out: list[Received] = []
    with trio.fail_after(timeout_s):
        async for msg in ps_sub:  # type: ignore[attr-defined]
            out.append(msg)
            if len(out) == n:
                break
    return out


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_gossip_reaches_a_line_of_three_with_authentic_sender() -> None:
    async with (
        running_hosts(3) as (a, b, c),
        open_pubsub(a, [TOPIC]) as ps_a,
        open_pubsub(b, [TOPIC]) as ps_b,
        open_pubsub(c, [TOPIC]) as ps_c,
    ):
        # A - B - C: A and C are not connected to each other; B relays.
        await connect(a, listen_addrs(b)[0], timeout_s=5)
        await connect(c, listen_addrs(b)[0], timeout_s=5)
        await ps_a.wait_for_peers(TOPIC, 1, timeout_s=10)
        await ps_c.wait_for_peers(TOPIC, 1, timeout_s=10)
        assert set(await ps_b.wait_for_peers(TOPIC, 2, timeout_s=10)) == {a.get_id(), c.get_id()}
        assert c.get_id() not in a.get_connected_peers()

        await ps_a.publish(TOPIC, b"advert from a")
        (at_b,) = await receive_n(ps_b.subscription(TOPIC), 1)
        (at_c,) = await receive_n(ps_c.subscription(TOPIC), 1)
        for got in (at_b, at_c):
            assert got == Received(from_peer=a.get_id(), data=b"advert from a", topic=TOPIC)

        await ps_c.publish(TOPIC, b"advert from c")
        (at_a,) = await receive_n(ps_a.subscription(TOPIC), 1)
        assert at_a.from_peer == c.get_id() and at_a.data == b"advert from c"

        # A never sees its own message; B sees C's too.
        (at_b2,) = await receive_n(ps_b.subscription(TOPIC), 1)
        assert at_b2.from_peer == c.get_id()
        # Longer than the gossip heartbeat (1 s), so an echo sent on the next heartbeat would show;
        # the deliveries above are the positive control (they took milliseconds).
        with trio.move_on_after(1.5):
            extra = await ps_a.subscription(TOPIC).receive()
            pytest.fail(f"unexpected extra message at A: {extra}")


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_bursts_above_libp2p_default_rate_limit_arrive() -> None:
    """py-libp2p drops > 10 msg/s per peer and topic and queues 32 per subscription by default."""
    n = 60
    async with running_hosts(2) as (a, b), open_pubsub(a, [TOPIC]) as ps_a, open_pubsub(b, [TOPIC]) as ps_b:
        await connect(a, listen_addrs(b)[0], timeout_s=5)
        await ps_a.wait_for_peers(TOPIC, 1, timeout_s=10)
        for i in range(n):
            await ps_a.publish(TOPIC, f"hb {i}".encode())
        await trio.sleep(0.5)  # let everything arrive before consuming: exercises the queue size
        got = await receive_n(ps_b.subscription(TOPIC), n)
        assert sorted(m.data for m in got) == sorted(f"hb {i}".encode() for i in range(n))


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_publish_limits_and_misuse() -> None:
    cfg = GossipConfig(max_message_size=1000)
    async with running_hosts(1) as (a,), open_pubsub(a, [TOPIC], cfg) as ps:
        assert ps.topics == [TOPIC]
        with pytest.raises(FrameTooLarge):
            await ps.publish(TOPIC, b"x" * 1001)
        with pytest.raises(ValueError, match="not opened"):
            await ps.publish("gcx/other/1", b"x")
        with pytest.raises(MeshTimeout):
            await ps.wait_for_peers(TOPIC, 1, timeout_s=0.2)
        await ps.publish(TOPIC, b"nobody listens")  # fire-and-forget: no peers is not an error


HEARTBEAT_S = 1  # the gossip heartbeat of every router in these tests (GossipConfig's default)
DELIVERY_BOUND_S = 3 * HEARTBEAT_S
"""A message that should arrive does so within this (eager push, or IHAVE/IWANT gossip at one of
the next heartbeats); a message that must not arrive is waited for at least this long."""


async def _wait_for_mesh(router: GossipSub, topic: str, peers: set[object], timeout_s: float) -> None:
    with trio.fail_after(timeout_s):
        while not peers <= set(router.mesh.get(topic, ())):
            await trio.sleep(0.02)


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_unsigned_messages_are_dropped() -> None:
    """A peer running gossipsub without message signing cannot get messages to us; a signed
    message relayed by that same peer, over the same link, in the same window, does arrive
    (positive control: the path delivers, so silence means the forged message was dropped)."""
    assert GossipConfig().heartbeat_interval == HEARTBEAT_S
    async with (
        running_hosts(3) as (ours, theirs, honest),
        open_pubsub(ours, [TOPIC]) as ps,
        open_pubsub(honest, [TOPIC]) as ps_honest,
    ):
        router = GossipSub(
            protocols=[PROTOCOL_ID_V12],
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_interval=HEARTBEAT_S,
        )
        unsigned = Pubsub(theirs, router, strict_signing=False)
        async with background_trio_service(unsigned), background_trio_service(router):
            await unsigned.wait_until_ready()
            await unsigned.subscribe(TOPIC)
            # ours - theirs - honest: honest's messages reach us only through the unsigned peer
            await connect(theirs, listen_addrs(ours)[0], timeout_s=5)
            await connect(honest, listen_addrs(theirs)[0], timeout_s=5)
            await ps.wait_for_peers(TOPIC, 1, timeout_s=10)
            await ps_honest.wait_for_peers(TOPIC, 1, timeout_s=10)
            await _wait_for_mesh(router, TOPIC, {ours.get_id(), honest.get_id()}, timeout_s=10)
            assert honest.get_id() not in ours.get_connected_peers()

            await unsigned.publish(TOPIC, b"forged advert")
            await ps_honest.publish(TOPIC, b"signed advert")
            got: list[tuple[float, Received]] = []
            start = trio.current_time()
            with trio.move_on_after(DELIVERY_BOUND_S):  # the window for both, from the forgery on
                async for msg in ps.subscription(TOPIC):
                    got.append((trio.current_time() - start, msg))
            assert trio.current_time() - start >= DELIVERY_BOUND_S  # we waited the whole window
            assert [m for _, m in got] == [
                Received(from_peer=honest.get_id(), data=b"signed advert", topic=TOPIC)
            ]
            assert got[0][0] < DELIVERY_BOUND_S


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_iteration_ends_when_pubsub_closes() -> None:
    async with running_hosts(1) as (a,):
        seen: list[Received] = []
        async with trio.open_nursery() as nursery, open_pubsub(a, [TOPIC]) as ps:
            sub = ps.subscription(TOPIC)

            async def consume() -> None:
                seen.extend([msg async for msg in sub])

            nursery.start_soon(consume)
            await trio.sleep(0.05)
            # leaving open_pubsub ends the consumer's loop; the nursery then exits
        assert seen == []
