"""A libp2p host the way GCX runs it: TCP, Noise only, Yamux only, identity from the node key.

py-libp2p's defaults are changed deliberately (see NOTES, "py-libp2p"):

* ``new_host()`` without ``sec_opt`` also accepts **plaintext and secio** peers (and TLS);
  :func:`open_host` offers Noise and nothing else, so an unauthenticated peer fails the
  security negotiation.
* The muxer is Yamux only (py-libp2p adds Mplex as a fallback).
* Outbound dials have no handshake timeout: :func:`connect` wraps every dial in
  ``trio.fail_after`` and translates every failure into :class:`PeerUnreachable`. A peer whose
  dial failed is put in the swarm's negative cache for 60 s; :func:`connect` clears that entry
  so a peer that comes back can be redialled at once.
* Listeners set ``SO_REUSEPORT``, so a second process could silently share a fixed port (and
  take some of its connections), and a listen failure is only logged: :func:`open_host` first
  binds each address itself without ``SO_REUSEPORT`` and raises :class:`ListenError` if that
  fails or if libp2p then starts no listener for it.
* Leaving ``host.run()`` does not close outbound connections: :func:`open_host` closes the
  host explicitly (``await host.close()``) on the way out, also when cancelled.
* The ``libp2p`` logger has no handler and does not propagate, so its warnings go to stderr
  through Python's last-resort handler: call :func:`configure_libp2p_logging` once at start-up.

Every connect costs a fixed 250 ms (py-libp2p's happy-eyeballs delay), so connect once and
reuse the connection; streams on an open connection are cheap.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from .errors import ListenError, P2PError, PeerUnreachable
from .identity import keypair_from_private_key

log = logging.getLogger(__name__)

DEFAULT_LISTEN: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
#: How long :func:`open_host` waits for ``host.close()`` on the way out.
CLOSE_TIMEOUT_S = 5.0


def build_host(private_key: bytes) -> IHost:
    """A new, not yet listening host: TCP, Noise only, Yamux only, identity from ``private_key``.

    Prefer :func:`open_host`, which also starts and closes it.
    """
    key_pair = keypair_from_private_key(private_key)
    # A fresh static X25519 key per host for the Noise handshake; the peer is authenticated by
    # its secp256k1 identity key signing this static key inside the handshake.
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
    )


def _parse_multiaddr(addr: str) -> Any:
    try:
        return multiaddr.Multiaddr(addr)
    except Exception as exc:  # multiaddr raises several unrelated types for bad input
        raise P2PError(f"invalid multiaddr {addr!r}: {exc}") from None


def _probe_listen(addr: str, maddr: Any) -> None:
    """Raise :class:`ListenError` unless ``maddr`` is ``/ip4|ip6/<ip>/tcp/<port>`` and this
    process can bind it without ``SO_REUSEPORT`` (which libp2p's own listener sets, so that it
    would share a port another process already listens on instead of failing)."""
    names = [p.name for p in maddr.protocols()]
    if len(names) != 2 or names[0] not in ("ip4", "ip6") or names[1] != "tcp":
        raise ListenError(
            addr, "unsupported address: GCX listens on TCP, /ip4/<ip>/tcp/<port> or /ip6/<ip>/tcp/<port>"
        )
    ip, port = maddr.value_for_protocol(names[0]), int(maddr.value_for_protocol("tcp"))
    family = socket.AF_INET if names[0] == "ip4" else socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: connections of a previous run in TIME_WAIT are no conflict, a listener is.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ListenError(
                    addr, f"port {port} is already in use (another process listens there)"
                ) from None
            raise ListenError(addr, exc.strerror or str(exc)) from None


@asynccontextmanager
async def open_host(private_key: bytes, listen: Sequence[str] = DEFAULT_LISTEN) -> AsyncIterator[IHost]:
    """Build a host (see :func:`build_host`), listen on ``listen``, yield it, close it on exit.

    ``listen`` are multiaddrs such as ``/ip4/0.0.0.0/tcp/4001`` (port 0 picks a free port; read
    the result with :func:`listen_addrs`). Raises :class:`P2PError` for a malformed address and
    :class:`ListenError` for one it cannot listen on alone: a fixed port another process holds
    (py-libp2p would share it through ``SO_REUSEPORT``), an address that is not local, or one
    that is not TCP.
    """
    addrs = [_parse_multiaddr(a) for a in listen]
    for text, maddr in zip(listen, addrs, strict=True):
        _probe_listen(text, maddr)
    host = build_host(private_key)
    missing: list[str] = []
    try:
        async with host.run(listen_addrs=addrs):
            listening = getattr(host.get_network(), "listeners", None)  # str(maddr) -> listener
            if listening is not None:
                missing = [t for t, maddr in zip(listen, addrs, strict=True) if str(maddr) not in listening]
            if not missing:
                try:
                    yield host
                finally:
                    with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_TIMEOUT_S):
                        await host.close()
        if missing:  # libp2p only logs a failed listener; it must not run without one
            raise ListenError(missing[0], "libp2p could not start a listener there")
    finally:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + CLOSE_TIMEOUT_S):
            await host.close()  # idempotent; covers a failure inside host.run() itself


def listen_addrs(host: IHost) -> list[str]:
    """The host's full listen multiaddrs, each ending in ``/p2p/<peer id>`` (dialable as is)."""
    suffix = f"/p2p/{host.get_id()}"
    out = []
    for addr in host.get_addrs():
        text = str(addr)
        out.append(text if "/p2p/" in text else text + suffix)
    return out


def forget_dial_failure(host: IHost, peer_id: ID) -> None:
    """Forget a failed dial: drop ``peer_id`` from the swarm's 60 s negative dial cache and its
    (evidently unusable) addresses from the peerstore, so the next dial starts afresh."""
    unblock = getattr(host.get_network(), "unblock_peer", None)
    if callable(unblock):
        unblock(peer_id)
    host.get_peerstore().clear_addrs(peer_id)


def _describe(exc: BaseException) -> str:
    """A one-line reason from a libp2p exception and its causes (innermost detail last)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        text = str(current).strip() or type(current).__name__
        if text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(parts)


async def connect(host: IHost, multiaddr: str, timeout_s: float) -> ID:
    """Dial ``multiaddr`` (which must end in ``/p2p/<peer id>``) and return the peer's ID.

    Returns at once if already connected; otherwise dials exactly this address (other
    addresses known for the peer are dropped from the peerstore, as after a failed dial). Raises :class:`PeerUnreachable` on timeout, refusal,
    a failed security handshake (e.g. a peer that does not speak Noise, or whose key does not
    match the ``/p2p/`` ID) or a malformed address.
    """
    try:
        info = info_from_p2p_addr(_parse_multiaddr(multiaddr))
    except P2PError as exc:
        raise PeerUnreachable(multiaddr, str(exc)) from None
    except Exception as exc:  # no /p2p/ component, bad peer ID
        raise PeerUnreachable(multiaddr, f"invalid peer address: {exc}") from None
    if not host.get_network().get_connections(info.peer_id):
        # Dial exactly this address: py-libp2p dials at most one known address per transport,
        # so a stale address left in the peerstore would otherwise be tried instead.
        host.get_peerstore().clear_addrs(info.peer_id)
    try:
        with trio.fail_after(timeout_s):
            await host.connect(info)
    except trio.TooSlowError:
        forget_dial_failure(host, info.peer_id)
        raise PeerUnreachable(multiaddr, f"no connection within {timeout_s:g} s") from None
    except Exception as exc:  # SwarmException, handshake errors, OSError …
        forget_dial_failure(host, info.peer_id)
        raise PeerUnreachable(multiaddr, _describe(exc)) from exc
    return info.peer_id


def configure_libp2p_logging(level: int | str = logging.WARNING) -> None:
    """Route py-libp2p's log records into the application's logging configuration.

    ``import libp2p`` leaves the ``libp2p`` logger without handlers and with
    ``propagate = False`` (with ``LIBP2P_DEBUG`` set it installs its own stderr/file queue
    handlers instead). This removes libp2p's handlers, stops its queue listener, sets ``level``
    on the ``libp2p`` logger and lets every ``libp2p.*`` record propagate to the root handlers.
    Idempotent.
    """
    try:
        from libp2p.utils import logging as libp2p_logging

        libp2p_logging.cleanup_logging()  # stops the QueueListener thread, closes its file
    except Exception:  # pragma: no cover - defensive: the helper is private-ish
        log.debug("could not stop libp2p's log listener", exc_info=True)
    root = logging.getLogger("libp2p")
    root.handlers.clear()
    root.propagate = True
    root.setLevel(level)
    for name, child in list(logging.root.manager.loggerDict.items()):
        if name.startswith("libp2p.") and isinstance(child, logging.Logger):
            child.handlers.clear()
            child.propagate = True
            child.setLevel(logging.NOTSET)


__all__ = [
    "DEFAULT_LISTEN",
    "build_host",
    "configure_libp2p_logging",
    "connect",
    "forget_dial_failure",
    "listen_addrs",
    "open_host",
]
