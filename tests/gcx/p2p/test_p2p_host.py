"""Hosts: Noise-only connections, refused plaintext peers, dial timeouts, clean shutdown."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.custom_types import TProtocol
from libp2p.network.exceptions import SwarmException
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from p2p_helpers import new_raw_key, running_hosts

from gcx.p2p import (
    ListenError,
    P2PError,
    PeerUnreachable,
    address_of_peer,
    connect,
    keypair_from_private_key,
    listen_addrs,
    open_host,
    peer_id_of,
)


@asynccontextmanager
async def plaintext_only_host() -> AsyncIterator[IHost]:
    """A host that speaks only libp2p's insecure (plaintext) transport."""
    key_pair = keypair_from_private_key(new_raw_key())
    host = new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
    )
    async with host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host
        finally:
            await host.close()


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_two_hosts_connect_over_noise() -> None:
    key_a, key_b = new_raw_key(), new_raw_key()
    async with open_host(key_a) as a, open_host(key_b) as b:
        assert a.get_id() == peer_id_of(key_a)
        addrs = listen_addrs(a)
        assert addrs and all(
            x.startswith("/ip4/127.0.0.1/tcp/") and x.endswith(f"/p2p/{a.get_id()}") for x in addrs
        )
        assert await connect(b, addrs[0], timeout_s=5) == a.get_id()
        assert a.get_id() in b.get_connected_peers()
        with trio.fail_after(5):
            while b.get_id() not in a.get_connected_peers():
                await trio.sleep(0.01)
        # The connection is secured with Noise and authenticates both identities.
        conn = b.get_network().get_connections(a.get_id())[0]
        secured = conn.muxed_conn.secured_conn  # type: ignore[attr-defined]
        assert "noise" in type(secured.conn).__module__  # the Noise encrypted read/writer
        assert address_of_peer(conn.muxed_conn.peer_id) == address_of_peer(peer_id_of(key_a))
        # Connecting again is a no-op.
        assert await connect(b, addrs[0], timeout_s=5) == a.get_id()


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_plaintext_peer_is_refused_both_ways() -> None:
    async with open_host(new_raw_key()) as ours, plaintext_only_host() as plain:
        # Our host dialling a plaintext-only peer: no common security protocol.
        plain_addr = f"{plain.get_addrs()[0]}"
        with pytest.raises(PeerUnreachable) as info:
            await connect(ours, plain_addr, timeout_s=5)
        assert info.value.addr == plain_addr
        # A plaintext-only peer dialling us is refused too.
        with trio.fail_after(10), pytest.raises(SwarmException):
            await plain.connect(info_from_p2p_addr(multiaddr.Multiaddr(listen_addrs(ours)[0])))
        assert plain.get_id() not in ours.get_connected_peers()
        assert ours.get_connected_peers() == []


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_dial_closed_port_fails_fast_and_peer_can_be_redialled() -> None:
    async with running_hosts(2) as (a, b):
        # Find a port nobody listens on: bind, note the port, close.
        sock = trio.socket.socket()
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        dead = f"/ip4/127.0.0.1/tcp/{port}/p2p/{a.get_id()}"
        start = trio.current_time()
        with pytest.raises(PeerUnreachable):
            await connect(b, dead, timeout_s=3)
        assert trio.current_time() - start < 3.5
        # The failure must not be cached: the same peer at its real address connects at once.
        assert await connect(b, listen_addrs(a)[0], timeout_s=5) == a.get_id()


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_silent_listener_times_out() -> None:
    """A TCP peer that accepts but never answers the handshake hits the dial deadline."""
    accepted: list[trio.SocketStream] = []

    async def hold(stream: trio.SocketStream) -> None:
        accepted.append(stream)
        await trio.sleep_forever()

    async with running_hosts(1) as (a,), trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, hold, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        silent = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_of(new_raw_key())}"
        start = trio.current_time()
        with pytest.raises(PeerUnreachable, match="no connection within"):
            await connect(a, silent, timeout_s=1.0)
        assert 0.9 < trio.current_time() - start < 2.5
        nursery.cancel_scope.cancel()


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_bad_addresses_are_typed_errors() -> None:
    async with running_hosts(1) as (a,):
        with pytest.raises(PeerUnreachable):
            await connect(a, "/ip4/127.0.0.1/tcp/1", timeout_s=1)  # no /p2p/ part
        with pytest.raises(PeerUnreachable):
            await connect(a, "not a multiaddr", timeout_s=1)
    with pytest.raises(P2PError):
        async with open_host(new_raw_key(), ["/nonsense/1"]):
            pass


def _held_port(reuseport: bool) -> socket.socket:
    """A listening socket on a loopback port, like another process's libp2p listener when
    ``reuseport`` (py-libp2p sets SO_REUSEADDR and SO_REUSEPORT)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_a_fixed_port_held_with_so_reuseport_is_refused_not_shared() -> None:
    with _held_port(reuseport=True) as other:
        addr = f"/ip4/127.0.0.1/tcp/{other.getsockname()[1]}"
        with pytest.raises(ListenError, match="already in use") as caught:
            async with open_host(new_raw_key(), [addr]):
                pass
    assert caught.value.addr == addr and caught.value.exit_code == 2


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_unsupported_and_foreign_listen_addresses_are_listen_errors() -> None:
    for addr, reason in [
        ("/ip4/127.0.0.1/udp/4001/quic", "unsupported address"),
        ("/dns4/localhost/tcp/4001", "unsupported address"),
        ("/ip4/10.254.254.1/tcp/4001", "Cannot assign requested address"),
    ]:
        with pytest.raises(ListenError, match=reason):
            async with open_host(new_raw_key(), [addr]):
                pass


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_a_listener_libp2p_fails_to_start_is_an_error_not_a_log_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the probe (a race with another process), libp2p only logs a failed listen: the host
    must not run without it."""
    import gcx.p2p.host as host_module

    monkeypatch.setattr(host_module, "_probe_listen", lambda *_: None)
    with _held_port(reuseport=False) as other:
        addr = f"/ip4/127.0.0.1/tcp/{other.getsockname()[1]}"
        with pytest.raises(ListenError, match="could not start a listener"):
            async with open_host(new_raw_key(), [addr]):
                pass


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_a_fixed_port_can_be_listened_on_again_right_after_a_host_closes() -> None:
    """A restarted coordinator keeps its fixed port: connections of the last run in TIME_WAIT
    are no conflict."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    addr = f"/ip4/127.0.0.1/tcp/{port}"
    for _ in range(2):
        async with open_host(new_raw_key(), [addr]) as server, running_hosts(1) as (client,):
            await connect(client, listen_addrs(server)[0], timeout_s=5)


@pytest.mark.trio
@pytest.mark.timeout(30)
async def test_hosts_close_cleanly_inside_a_nursery() -> None:
    """Connected hosts run in child tasks; when they leave, the nursery exits (no leaked tasks)."""
    ready = trio.Event()
    addrs: list[str] = []
    done = trio.Event()

    async def server() -> None:
        async with open_host(new_raw_key()) as host:
            addrs.extend(listen_addrs(host))
            ready.set()
            await done.wait()

    async def client() -> None:
        async with open_host(new_raw_key()) as host:
            await ready.wait()
            await connect(host, addrs[0], timeout_s=5)
        done.set()  # the client host (with an outbound connection) has closed

    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            nursery.start_soon(client)
    assert done.is_set()


def test_configure_libp2p_logging_propagates(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("libp2p.network.swarm")
    assert logging.getLogger("libp2p").propagate
    with caplog.at_level(logging.WARNING):
        logger.warning("hello from libp2p")
    assert any(r.name == "libp2p.network.swarm" and "hello" in r.message for r in caplog.records)
