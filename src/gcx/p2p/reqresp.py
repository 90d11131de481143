"""Request/response over libp2p streams: one fresh stream per request (DESIGN §4).

Used for everything that must arrive (``/gcx/job/1``, ``/gcx/audit/1``, ``/gcx/data/1``).

Wire format
-----------
Every frame is a 4-byte big-endian unsigned length followed by that many bytes. The client
sends one request frame (its payload, by convention canonical msgpack from :mod:`gcx.wire`);
the server answers with one response frame holding a msgpack map::

    {"ok": true,  "body": <bytes>}                      # success
    {"ok": false, "error": "<code>", "message": "<text>"}  # rejection -> RemoteError(code, message)

then both sides close the stream. A frame whose announced length exceeds the receiver's
``max_size`` is rejected from the 4-byte header alone, before any of the body is read.

Error codes sent by :func:`serve`: ``frame_too_large`` (the request exceeded the server's
limit; the client raises :class:`FrameTooLarge`), ``timeout`` (the handler missed the server's
deadline), ``response_too_large``, ``internal`` (an unexpected exception; details are only
logged), the class name of a :class:`gcx.errors.GCXError` raised by the handler (e.g.
``SchemaError``), or any code the handler chose by raising :class:`RemoteError` itself.

Streams: every stream is closed after a clean exchange and reset otherwise, in ``finally``.
Inbound streams beyond ``max_per_peer`` in flight from one peer, or beyond ``max_concurrent``
in flight from all peers together, are reset immediately (the client sees
:class:`StreamClosed`): a peer holding many half-written streams exhausts its own allowance,
not the protocol's.

Every request refused before the handler gave an answer is reported to ``on_reject`` with one of
:data:`REJECTIONS` (so that a service can count every rejection, not only its handler's).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.host.exceptions import StreamFailure
from libp2p.network.exceptions import SwarmException
from libp2p.network.stream.exceptions import StreamEOF, StreamReset
from libp2p.peer.id import ID
from libp2p.protocol_muxer.exceptions import ProtocolNotSupportedError as MultiselectProtocolNotSupported

from gcx.errors import GCXError, WireError
from gcx.wire import canonical_bytes, unpack

from .errors import (
    FrameTooLarge,
    P2PError,
    PeerUnreachable,
    ProtocolError,
    RemoteError,
    RequestTimeout,
    StreamClosed,
)
from .host import forget_dial_failure
from .identity import parse_peer_id

log = logging.getLogger(__name__)

Handler = Callable[[ID, bytes], Awaitable[bytes]]

#: Default largest frame (request or response, envelope included).
MAX_FRAME = 1024 * 1024
_HEADER = struct.Struct(">I")
#: Upper bound on the time spent closing/resetting a stream.
_CLEANUP_TIMEOUT_S = 1.0
#: Upper bound on writing a reply. Generous on purpose: cancelling a write half-way tears a
#: Noise frame and kills the whole connection, so this only fires for a peer that stopped
#: reading altogether (whose connection is then as good as dead anyway).
_REPLY_WRITE_TIMEOUT_S = 10.0

ERR_FRAME_TOO_LARGE = "frame_too_large"
ERR_TIMEOUT = "timeout"
ERR_RESPONSE_TOO_LARGE = "response_too_large"
ERR_INTERNAL = "internal"
_MAX_ERROR_TEXT = 1024

#: Why :func:`serve` refused a request before its handler answered (``on_reject``'s codes):
#: ``frame_too_large`` (announced length above ``max_size``), ``truncated`` (the stream ended
#: or was reset before the whole request frame arrived), ``timeout`` (not read and handled
#: within ``timeout_s``), ``busy`` (``max_concurrent`` streams in flight) and ``peer_busy``
#: (``max_per_peer`` streams in flight from that peer).
REJECT_FRAME_TOO_LARGE = ERR_FRAME_TOO_LARGE
REJECT_TRUNCATED = "truncated"
REJECT_TIMEOUT = ERR_TIMEOUT
REJECT_BUSY = "busy"
REJECT_PEER_BUSY = "peer_busy"
REJECTIONS = (REJECT_FRAME_TOO_LARGE, REJECT_TRUNCATED, REJECT_TIMEOUT, REJECT_BUSY, REJECT_PEER_BUSY)
#: Default in-flight streams per peer and protocol (far below the per-protocol default).
DEFAULT_MAX_PER_PEER = 8

OnReject = Callable[[ID, str], None]


# --------------------------------------------------------------------------- framing


async def _read_exactly(stream: INetStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = await stream.read(n - len(buf))
        except StreamReset:
            raise StreamClosed(f"stream reset by the peer after {len(buf)} of {n} bytes") from None
        except StreamEOF:
            chunk = b""
        except BaseLibp2pError as exc:
            raise StreamClosed(f"stream failed after {len(buf)} of {n} bytes: {exc}") from None
        if not chunk:
            raise StreamClosed(f"stream closed by the peer after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


async def read_frame(stream: INetStream, max_size: int) -> bytes:
    """Read one length-prefixed frame; :class:`FrameTooLarge` from the header alone if too big."""
    (length,) = _HEADER.unpack(await _read_exactly(stream, _HEADER.size))
    if length > max_size:
        raise FrameTooLarge(length, max_size)
    return await _read_exactly(stream, length) if length else b""


def encode_frame(payload: bytes, max_size: int) -> bytes:
    """The length-prefixed frame of ``payload``; :class:`FrameTooLarge` above ``max_size``."""
    if len(payload) > max_size:
        raise FrameTooLarge(len(payload), max_size)
    return _HEADER.pack(len(payload)) + payload


async def _write(stream: INetStream, data: bytes) -> None:
    try:
        await stream.write(data)
    except BaseLibp2pError as exc:
        raise StreamClosed(f"stream closed while writing: {exc}") from None


async def _finish(stream: INetStream | None, *, clean: bool) -> None:
    """Close (clean) or reset a stream, shielded and bounded; never raises."""
    if stream is None:
        return
    with trio.CancelScope(shield=True, deadline=trio.current_time() + _CLEANUP_TIMEOUT_S):
        try:
            if clean:
                await stream.close()
            else:
                await stream.reset()
        except Exception:
            log.debug("error while %s a stream", "closing" if clean else "resetting", exc_info=True)
            if clean:
                try:
                    await stream.reset()
                except Exception:
                    log.debug("error while resetting a stream", exc_info=True)


def _ok_frame(body: bytes) -> bytes:
    return canonical_bytes({"ok": True, "body": body})


def _error_frame(code: str, message: str) -> bytes:
    return canonical_bytes({"ok": False, "error": code[:64], "message": message[:_MAX_ERROR_TEXT]})


def _decode_response(frame: bytes, max_size: int, payload_size: int) -> bytes:
    try:
        value = unpack(frame, max_size)
    except WireError as exc:
        raise ProtocolError(f"malformed response frame: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("a response frame must be a map")
    ok = value.get("ok")
    if ok is True and set(value) == {"ok", "body"} and isinstance(value["body"], bytes):
        body: bytes = value["body"]
        return body
    if ok is False and isinstance(value.get("error"), str) and isinstance(value.get("message", ""), str):
        code, message = value["error"], value.get("message", "")
        if code == ERR_FRAME_TOO_LARGE:
            raise FrameTooLarge(payload_size, None, remote=True)
        raise RemoteError(code, message)
    raise ProtocolError("a response frame must be {ok: true, body} or {ok: false, error, message}")


# --------------------------------------------------------------------------- client


async def request(
    host: IHost,
    peer_id: ID | str,
    protocol: str,
    payload: bytes,
    *,
    timeout_s: float,
    max_size: int = MAX_FRAME,
) -> bytes:
    """Send ``payload`` to ``peer_id`` on ``protocol`` over a fresh stream; return the reply body.

    ``timeout_s`` bounds everything (dial if not connected, negotiation, send, the peer's
    handler, reply). ``max_size`` bounds the request frame and the response frame.

    Raises :class:`RequestTimeout`, :class:`PeerUnreachable` (no connection could be made),
    :class:`FrameTooLarge` (ours or the peer's limit), :class:`RemoteError` (the peer's handler
    rejected the request), :class:`StreamClosed` (the stream ended early, e.g. reset by an
    overloaded server) or :class:`ProtocolError` (protocol not supported, malformed reply).
    """
    peer = parse_peer_id(peer_id)
    frame = encode_frame(bytes(payload), max_size)
    stream: INetStream | None = None
    clean = False
    try:
        with trio.fail_after(timeout_s):
            stream = await _open_stream(host, peer, protocol)
            response = await _exchange(stream, frame, max_size)
            clean = True
    except trio.TooSlowError:
        raise RequestTimeout(protocol, str(peer), timeout_s) from None
    finally:
        await _finish(stream, clean=clean)
    return _decode_response(response, max_size, len(payload))


async def _open_stream(host: IHost, peer_id: ID, protocol: str) -> INetStream:
    try:
        return await host.new_stream(peer_id, [TProtocol(protocol)])
    except StreamFailure as exc:
        # new_stream wraps every failed multistream-select; only "not supported" is a protocol
        # mismatch. A stream reset during negotiation (e.g. an overloaded server) is not.
        cause = exc.__cause__
        if isinstance(cause, MultiselectProtocolNotSupported) or "protocol not supported" in str(cause):
            raise ProtocolError(f"peer {peer_id} does not speak {protocol}") from None
        raise StreamClosed(f"could not open a {protocol} stream to {peer_id}: {cause or exc}") from None
    except SwarmException as exc:
        forget_dial_failure(host, peer_id)
        raise PeerUnreachable(str(peer_id), str(exc)) from None
    except BaseLibp2pError as exc:
        raise StreamClosed(f"could not open a {protocol} stream to {peer_id}: {exc}") from None


async def _exchange(stream: INetStream, frame: bytes, max_size: int) -> bytes:
    """Write the request while reading the reply.

    A server may answer before taking the whole request (oversize, overload) while our write is
    blocked on yamux flow control. The writer is then stopped by *resetting the stream* — never
    by cancelling it: py-libp2p writes each yamux frame through Noise with ``send_all``, and a
    write cancelled half-way leaves a torn frame that corrupts the whole connection (the peer
    fails Noise authentication and drops it). Only the caller's overall deadline still cancels.
    """
    write_error: list[StreamClosed] = []
    read_error: list[P2PError] = []
    response = b""
    written = trio.Event()

    async def send() -> None:
        try:
            await _write(stream, frame)
        except StreamClosed as exc:
            write_error.append(exc)
        finally:
            written.set()

    # Errors are carried out of the nursery in lists (not raised inside it) so that callers see
    # our typed errors rather than an ExceptionGroup.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        try:
            response = await read_frame(stream, max_size)
        except P2PError as exc:
            read_error.append(exc)
        if not written.is_set():
            log.debug("peer replied before the request was fully sent; resetting the stream")
            await _finish(stream, clean=False)  # the writer stops at its next frame boundary
            with trio.move_on_after(_CLEANUP_TIMEOUT_S):
                await written.wait()
            nursery.cancel_scope.cancel()  # last resort only
    if read_error:
        if isinstance(read_error[0], StreamClosed) and write_error:
            raise write_error[0]
        raise read_error[0]
    return response


# --------------------------------------------------------------------------- server


@dataclass
class ServerStats:
    """Counters of one served protocol (for metrics and tests)."""

    handled: int = 0
    rejected_busy: int = 0
    rejected_peer_busy: int = 0
    rejected_too_large: int = 0
    truncated: int = 0
    timed_out: int = 0
    failed: int = 0


@dataclass
class Server:
    """Handle of a protocol registered with :func:`serve`."""

    host: IHost
    protocol: str
    max_size: int
    timeout_s: float
    max_concurrent: int
    max_per_peer: int = DEFAULT_MAX_PER_PEER
    on_reject: OnReject | None = None
    stats: ServerStats = field(default_factory=ServerStats)
    _limiter: trio.CapacityLimiter = field(init=False)
    _active: int = field(default=0, init=False)
    _per_peer: dict[ID, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._limiter = trio.CapacityLimiter(self.max_concurrent)

    @property
    def active(self) -> int:
        """Inbound requests being handled right now."""
        return self._active

    def active_from(self, peer: ID) -> int:
        """Inbound requests from ``peer`` being handled right now."""
        return self._per_peer.get(peer, 0)

    def _rejected(self, peer: ID, code: str) -> None:
        if self.on_reject is None:
            return
        try:
            self.on_reject(peer, code)
        except Exception:  # a counter must never take the server down
            log.exception("%s: on_reject failed for %s", self.protocol, code)

    def stop(self) -> None:
        """Stop accepting new streams for this protocol (in-flight requests finish)."""
        self.host.remove_stream_handler(TProtocol(self.protocol))


def serve(
    host: IHost,
    protocol: str,
    handler: Handler,
    *,
    max_size: int = MAX_FRAME,
    timeout_s: float,
    max_concurrent: int = 64,
    max_per_peer: int = DEFAULT_MAX_PER_PEER,
    on_reject: OnReject | None = None,
) -> Server:
    """Register ``handler`` for ``protocol`` on ``host``; return a :class:`Server` handle.

    ``handler(peer_id, request_bytes) -> response_bytes`` runs once per inbound stream, with the
    authenticated remote peer ID. It may raise :class:`RemoteError` to choose the error code,
    any :class:`GCXError` (code: its class name, message: ``str(err)``), or anything else (code
    ``internal``; the traceback is logged, not sent). ``timeout_s`` bounds reading the request
    plus the handler; ``max_size`` bounds request and response frames; streams beyond
    ``max_per_peer`` in flight from one peer, or ``max_concurrent`` from all peers, are reset
    at once. ``on_reject(peer_id, code)`` is called for every request refused before the
    handler answered, ``code`` one of :data:`REJECTIONS`.
    """
    if max_concurrent < 1 or max_per_peer < 1 or max_size < 1 or timeout_s <= 0:
        raise ValueError("max_concurrent, max_per_peer and max_size must be >= 1 and timeout_s > 0")
    server = Server(host, protocol, max_size, timeout_s, max_concurrent, max_per_peer, on_reject)

    async def stream_handler(stream: INetStream) -> None:
        peer = _peer_of(stream)
        # Checked and counted before any await: no other stream of this peer can slip in between.
        if server._per_peer.get(peer, 0) >= server.max_per_peer:
            server.stats.rejected_peer_busy += 1
            log.info(
                "%s: %d requests in flight from %s, resetting a new stream",
                protocol,
                server.max_per_peer,
                peer,
            )
            server._rejected(peer, REJECT_PEER_BUSY)
            await _finish(stream, clean=False)
            return
        try:
            server._limiter.acquire_on_behalf_of_nowait(stream)
        except trio.WouldBlock:
            server.stats.rejected_busy += 1
            log.warning("%s: %d requests in flight, resetting a new stream", protocol, max_concurrent)
            server._rejected(peer, REJECT_BUSY)
            await _finish(stream, clean=False)
            return
        server._active += 1
        server._per_peer[peer] = server._per_peer.get(peer, 0) + 1
        try:
            await _handle_inbound(server, handler, stream, peer)
        finally:
            server._active -= 1
            left = server._per_peer.pop(peer) - 1
            if left:
                server._per_peer[peer] = left
            server._limiter.release_on_behalf_of(stream)

    host.set_stream_handler(TProtocol(protocol), stream_handler)
    return server


def _peer_of(stream: INetStream) -> ID:
    peer: Any = stream.muxed_conn.peer_id
    return peer if isinstance(peer, ID) else ID(bytes(peer))


async def _handle_inbound(server: Server, handler: Handler, stream: INetStream, peer: ID) -> None:
    clean = False
    reply: bytes | None = None
    try:
        with trio.move_on_after(server.timeout_s) as scope:
            try:
                req = await read_frame(stream, server.max_size)
            except FrameTooLarge as exc:
                server.stats.rejected_too_large += 1
                log.info("%s: %s from %s", server.protocol, exc, peer)
                server._rejected(peer, REJECT_FRAME_TOO_LARGE)
                reply = _error_frame(ERR_FRAME_TOO_LARGE, f"limit is {server.max_size} bytes")
            except StreamClosed as exc:
                server.stats.truncated += 1
                log.info("%s: request from %s ended early: %s", server.protocol, peer, exc)
                server._rejected(peer, REJECT_TRUNCATED)
                return
            else:
                reply = await _call_handler(server, handler, peer, req)
        if scope.cancelled_caught:
            server.stats.timed_out += 1
            log.info("%s: request from %s timed out after %g s", server.protocol, peer, server.timeout_s)
            server._rejected(peer, REJECT_TIMEOUT)
            reply = _error_frame(ERR_TIMEOUT, f"not handled within {server.timeout_s:g} s")
        if reply is not None:
            with trio.move_on_after(_REPLY_WRITE_TIMEOUT_S):
                await _write(stream, _HEADER.pack(len(reply)) + reply)
                clean = True
    except StreamClosed as exc:
        server.stats.failed += 1
        log.info("%s: stream from %s ended early: %s", server.protocol, peer, exc)
    finally:
        await _finish(stream, clean=clean)


async def _call_handler(server: Server, handler: Handler, peer: ID, req: bytes) -> bytes:
    try:
        body = await handler(peer, req)
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"handler returned {type(body).__name__}, not bytes")
        frame = _ok_frame(bytes(body))
        if len(frame) > server.max_size:
            log.warning("%s: response of %d bytes exceeds %d", server.protocol, len(frame), server.max_size)
            return _error_frame(ERR_RESPONSE_TOO_LARGE, f"response exceeds {server.max_size} bytes")
        server.stats.handled += 1
        return frame
    except RemoteError as exc:
        server.stats.failed += 1
        return _error_frame(exc.code, exc.message)
    except GCXError as exc:
        server.stats.failed += 1
        return _error_frame(type(exc).__name__, str(exc))
    except Exception:
        server.stats.failed += 1
        log.exception("%s: handler failed on a request from %s", server.protocol, peer)
        return _error_frame(ERR_INTERNAL, "internal error")


__all__ = [
    "DEFAULT_MAX_PER_PEER",
    "MAX_FRAME",
    "REJECTIONS",
    "REJECT_BUSY",
    "REJECT_FRAME_TOO_LARGE",
    "REJECT_PEER_BUSY",
    "REJECT_TIMEOUT",
    "REJECT_TRUNCATED",
    "Handler",
    "OnReject",
    "Server",
    "ServerStats",
    "encode_frame",
    "read_frame",
    "request",
    "serve",
]
