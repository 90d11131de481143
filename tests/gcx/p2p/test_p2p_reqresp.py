"""Request/response: round trip, typed errors, size limits, deadlines, concurrency limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.peer.id import ID
from p2p_helpers import running_hosts

from gcx.errors import SchemaError
from gcx.p2p import (
    REJECT_FRAME_TOO_LARGE,
    REJECT_PEER_BUSY,
    REJECT_TIMEOUT,
    REJECT_TRUNCATED,
    FrameTooLarge,
    Host,
    PeerUnreachable,
    ProtocolError,
    RemoteError,
    RequestTimeout,
    StreamClosed,
    connect,
    listen_addrs,
    peer_id_of,
    request,
    serve,
)
from gcx.wire import canonical_bytes, unpack

PROTO = "/gcx/test/1"


async def echo(peer: ID, data: bytes) -> bytes:
    """Answer with the caller's peer ID and the request, msgpack-encoded."""
    return canonical_bytes({"peer": str(peer), "echo": unpack(data)})


@asynccontextmanager
async def pair() -> AsyncIterator[tuple[Host, Host]]:
    """A connected (client, server) pair."""
    async with running_hosts(2) as (client, server):
        await connect(client, listen_addrs(server)[0], timeout_s=5)
        yield client, server


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_round_trip_sees_authenticated_peer() -> None:
    async with pair() as (client, server):
        serve(server, PROTO, echo, timeout_s=5, max_size=4096)
        for i in range(3):  # a fresh stream per request
            body = await request(
                client, server.get_id(), PROTO, canonical_bytes({"n": i}), timeout_s=5, max_size=4096
            )
            assert unpack(body) == {"peer": str(client.get_id()), "echo": {"n": i}}


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_handler_errors_become_remote_errors() -> None:
    async def fail(peer: ID, data: bytes) -> bytes:
        kind = data.decode()
        if kind == "schema":
            raise SchemaError("price: must be positive")
        if kind == "chosen":
            raise RemoteError("busy", "come back later")
        if kind == "not-bytes":
            return "text"  # type: ignore[return-value]
        raise RuntimeError("secret internal detail")

    async with pair() as (client, server):
        srv = serve(server, PROTO, fail, timeout_s=5)
        cases = {
            "schema": ("SchemaError", "price: must be positive"),
            "chosen": ("busy", "come back later"),
            "boom": ("internal", "internal error"),
            "not-bytes": ("internal", "internal error"),
        }
        for kind, (code, message) in cases.items():
            with pytest.raises(RemoteError) as info:
                await request(client, server.get_id(), PROTO, kind.encode(), timeout_s=5)
            assert (info.value.code, info.value.message) == (code, message)
            assert "secret" not in str(info.value)
        assert srv.stats.failed == 4


@pytest.mark.trio
@pytest.mark.timeout(30)
@pytest.mark.parametrize("size", [64 * 1024, 2 * 1024 * 1024])  # below and above yamux's 256 KiB window
async def test_oversize_request_is_rejected_and_server_survives(size: int) -> None:
    async with pair() as (client, server):
        srv = serve(server, PROTO, echo, timeout_s=5, max_size=1024)
        start = trio.current_time()
        with pytest.raises(FrameTooLarge) as info:
            await request(
                client, server.get_id(), PROTO, b"\x00" * size, timeout_s=5, max_size=4 * 1024 * 1024
            )
        assert info.value.remote
        assert trio.current_time() - start < 2  # rejected from the header, not after a timeout
        assert srv.stats.rejected_too_large == 1
        body = await request(client, server.get_id(), PROTO, canonical_bytes("next"), timeout_s=5)
        assert unpack(body)["echo"] == "next"


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_local_size_limits() -> None:
    async def big(peer: ID, data: bytes) -> bytes:
        return b"y" * 10_000

    async with pair() as (client, server):
        serve(server, PROTO, big, timeout_s=5, max_size=100_000)
        with pytest.raises(FrameTooLarge) as info:  # our own request limit: nothing is sent
            await request(client, server.get_id(), PROTO, b"x" * 2000, timeout_s=5, max_size=1000)
        assert not info.value.remote and info.value.limit == 1000
        with pytest.raises(FrameTooLarge):  # the reply announces more than we accept
            await request(client, server.get_id(), PROTO, b"x", timeout_s=5, max_size=1000)


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_slow_handler_times_out_and_server_survives() -> None:
    async def slow(peer: ID, data: bytes) -> bytes:
        if data == b"slow":
            await trio.sleep(30)
        return b"fast"

    async with pair() as (client, server):
        serve(server, PROTO, slow, timeout_s=10)
        start = trio.current_time()
        with pytest.raises(RequestTimeout):
            await request(client, server.get_id(), PROTO, b"slow", timeout_s=0.5)
        assert trio.current_time() - start < 1.5
        assert await request(client, server.get_id(), PROTO, b"quick", timeout_s=5) == b"fast"

        # With a server deadline shorter than the client's, the client hears "timeout".
        serve(server, "/gcx/test-strict/1", slow, timeout_s=0.3)
        with pytest.raises(RemoteError) as info:
            await request(client, server.get_id(), "/gcx/test-strict/1", b"slow", timeout_s=5)
        assert info.value.code == "timeout"


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_excess_concurrent_streams_are_reset() -> None:
    release = trio.Event()
    entered = trio.Event()

    async def gated(peer: ID, data: bytes) -> bytes:
        entered.set()
        await release.wait()
        return b"done"

    async with pair() as (client, server):
        srv = serve(server, PROTO, gated, timeout_s=10, max_concurrent=1)
        results: list[bytes] = []

        async def first() -> None:
            results.append(await request(client, server.get_id(), PROTO, b"1", timeout_s=10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            with trio.fail_after(5):
                await entered.wait()
            assert srv.active == 1
            with pytest.raises(StreamClosed):
                await request(client, server.get_id(), PROTO, b"2", timeout_s=5)
            release.set()
        assert results == [b"done"]
        assert srv.stats.rejected_busy == 1 and srv.active == 0


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_unknown_protocol_and_unknown_peer() -> None:
    async with pair() as (client, server):
        with pytest.raises(ProtocolError):
            await request(client, server.get_id(), "/gcx/nobody-serves-this/1", b"x", timeout_s=5)
        stranger = peer_id_of(b"\x07" * 32)  # never connected, no known address
        with pytest.raises(PeerUnreachable, match="No known addresses"):
            await request(client, stranger, PROTO, b"x", timeout_s=2)


async def half_written(client: Host, server: Host, protocol: str = PROTO) -> INetStream | None:
    """A stream whose request frame announces 100 bytes and carries 3 of them, then stalls
    (None if the server reset it before that: a refused stream can fail to open)."""
    try:
        stream = await client.new_stream(server.get_id(), [TProtocol(protocol)])
        await stream.write(b"\x00\x00\x00\x64abc")
    except BaseLibp2pError:
        return None
    return stream


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_every_refusal_before_the_handler_is_reported() -> None:
    seen: list[tuple[str, str]] = []
    async with pair() as (client, server):
        srv = serve(
            server,
            PROTO,
            echo,
            timeout_s=1.0,
            max_size=1024,
            on_reject=lambda peer, code: seen.append((str(peer), code)),
        )
        me = str(client.get_id())
        with pytest.raises(FrameTooLarge):
            await request(client, server.get_id(), PROTO, b"\x00" * 4096, timeout_s=5, max_size=8192)
        assert seen == [(me, REJECT_FRAME_TOO_LARGE)]

        cut = await half_written(client, server)
        assert cut is not None
        await cut.close()  # EOF half-way through the frame
        with trio.fail_after(5):
            while len(seen) < 2:
                await trio.sleep(0.02)
        assert seen[1] == (me, REJECT_TRUNCATED) and srv.stats.truncated == 1

        stalled = await half_written(client, server)  # never finished: the server's 1 s deadline
        assert stalled is not None
        with trio.fail_after(5):
            while len(seen) < 3:
                await trio.sleep(0.05)
        assert seen[2] == (me, REJECT_TIMEOUT) and srv.stats.timed_out == 1
        await stalled.reset()

        await request(client, server.get_id(), PROTO, canonical_bytes("ok"), timeout_s=5)  # not a refusal
        assert len(seen) == 3 and srv.stats.handled == 1


@pytest.mark.trio
@pytest.mark.timeout(60)
async def test_one_peer_holding_half_written_streams_does_not_starve_another() -> None:
    # Before the per-peer cap, peer A's 40 stalled streams took all 16 slots of the protocol and
    # every stream of B was reset until A's timed out.
    async with running_hosts(3) as (hog, honest, server):
        target = listen_addrs(server)[0]
        for host in (hog, honest):
            await connect(host, target, timeout_s=5)
        refused: list[str] = []
        srv = serve(
            server,
            PROTO,
            echo,
            timeout_s=20,
            max_concurrent=16,
            max_per_peer=4,
            on_reject=lambda peer, code: refused.append(code),
        )
        streams = []
        with trio.fail_after(20):
            for _ in range(40):
                streams.append(await half_written(hog, server))
            while srv.stats.rejected_peer_busy < 36:
                await trio.sleep(0.02)
        assert srv.active_from(hog.get_id()) == 4 and srv.active == 4
        assert refused == [REJECT_PEER_BUSY] * 36
        for i in range(3):  # the honest peer is served at once, while the hog's streams stall
            with trio.fail_after(5):
                body = await request(honest, server.get_id(), PROTO, canonical_bytes(i), timeout_s=5)
            assert unpack(body) == {"peer": str(honest.get_id()), "echo": i}
        assert srv.stats.rejected_busy == 0 and srv.stats.handled == 3
        for stream in streams:
            if stream is not None:
                with contextlib.suppress(BaseLibp2pError):
                    await stream.reset()
        with trio.fail_after(5):  # the hog's slots are released when its streams end
            while srv.active_from(hog.get_id()):
                await trio.sleep(0.02)
        assert srv.active == 0
