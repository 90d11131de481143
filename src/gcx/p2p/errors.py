"""Typed failures of the p2p layer; all are :class:`gcx.errors.GCXError` subclasses.

libp2p raises a zoo of its own exceptions (``SwarmException``, ``StreamReset``,
``MultiselectClientError``, ``trio.TooSlowError`` …). Nothing of that escapes
:mod:`gcx.p2p`: every public call translates them into one of the classes below, so callers
handle network trouble with ``except P2PError`` (or a narrower subclass).
"""

from __future__ import annotations

from gcx.errors import GCXError


class P2PError(GCXError):
    """Base class of every expected p2p failure (unreachable peer, timeout, bad frame …)."""

    exit_code = 1


class PeerIdentityError(P2PError):
    """A key or peer ID is unusable: not a valid secp256k1 key, or the peer ID embeds none."""


class ListenError(P2PError):
    """A host cannot listen where it was told to: the port is taken (also by a process that set
    ``SO_REUSEPORT``), the address is not local, or no transport supports it. A configuration
    error: the program must not run without its listener."""

    exit_code = 2

    def __init__(self, addr: str, reason: str) -> None:
        super().__init__(f"cannot listen on {addr}: {reason}")
        self.addr = addr
        self.reason = reason


class PeerUnreachable(P2PError):  # noqa: N818 - reads as a state, like gcx's BackendUnavailable
    """A peer could not be dialled: timeout, connection refused or failed security handshake."""

    def __init__(self, addr: str, reason: str) -> None:
        super().__init__(f"peer {addr} is unreachable: {reason}")
        self.addr = addr
        self.reason = reason


class RequestTimeout(P2PError):  # noqa: N818 - the name the API promises
    """A request did not complete (dial, send, handler, reply) within its deadline."""

    def __init__(self, protocol: str, peer: str, timeout_s: float) -> None:
        super().__init__(f"request {protocol} to {peer} timed out after {timeout_s:g} s")
        self.protocol = protocol
        self.peer = peer
        self.timeout_s = timeout_s


class FrameTooLarge(P2PError):  # noqa: N818 - the name the API promises
    """A frame or gossip message exceeds its size limit (checked before the body is read).

    ``limit`` is ``None`` when the remote side rejected the frame and did not say its limit.
    """

    def __init__(self, size: int | None, limit: int | None, *, remote: bool = False) -> None:
        who = "the peer's" if remote else "the"
        size_txt = "a frame" if size is None else f"a frame of {size} bytes"
        limit_txt = "size limit" if limit is None else f"limit of {limit} bytes"
        super().__init__(f"{size_txt} exceeds {who} {limit_txt}")
        self.size = size
        self.limit = limit
        self.remote = remote


class StreamClosed(P2PError):  # noqa: N818 - the name the API promises
    """The stream ended (EOF or reset) before a complete frame was exchanged."""


class ProtocolError(P2PError):
    """The peer broke the protocol: it does not speak it, or sent a malformed frame."""


class RemoteError(P2PError):
    """The peer's handler rejected the request and answered with an error frame.

    ``code`` is a short machine-readable string (e.g. ``"SchemaError"``, ``"internal"``,
    ``"timeout"``); ``message`` is the peer's human-readable text — untrusted input.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"peer rejected the request: {code}: {message}")
        self.code = code
        self.message = message


class MeshTimeout(P2PError):  # noqa: N818 - the name the API promises
    """Not enough gossip peers joined a topic's mesh within the wait."""

    def __init__(self, topic: str, wanted: int, have: int, timeout_s: float) -> None:
        super().__init__(
            f"topic {topic}: {have} of {wanted} mesh peers after {timeout_s:g} s",
        )
        self.topic = topic
        self.wanted = wanted
        self.have = have
        self.timeout_s = timeout_s


__all__ = [
    "FrameTooLarge",
    "ListenError",
    "MeshTimeout",
    "P2PError",
    "PeerIdentityError",
    "PeerUnreachable",
    "ProtocolError",
    "RemoteError",
    "RequestTimeout",
    "StreamClosed",
]
