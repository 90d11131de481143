"""Request/response: round trip, typed errors, size limits, deadlines, concurrency limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from libp2p.peer.id import ID
from p2p_helpers import running_hosts

from gcx.errors import SchemaError
from gcx.p2p import (
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
