"""``--client raw``: the lean load client, on asyncio protocols. Requests are framed (and WebSocket
frames masked) before the clock starts; answers are parsed in the read callback, and the requests
that each read frees go out in one write.

:class:`_WsLoad` is the client side of RFC 6455 (text frames only) on ``/v1/ws/orders``;
:class:`_HttpLoad` a keep-alive HTTP/1.1 connection with one request in flight."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Sequence

from websockets.utils import accept_key, apply_mask

from .lanes import Lane, Tally, Unit


def ws_frame(text: str) -> bytes:
    """``text`` as one masked client text frame (RFC 6455 §5.2), with a fresh random mask."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + apply_mask(payload, mask)


def http_request(host: str, path: str, body: bytes) -> bytes:
    """A keep-alive ``POST`` of ``body`` (JSON) to ``path``."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class _Load(asyncio.Protocol):
    """One connection of the load generator. Everything happens in the protocol's callbacks (no
    task, no lock per request): answers are parsed where they arrive, and each unit fully answered
    lets the next unit of the connection go out, in one write with the others freed by that read."""

    def __init__(self, window: int) -> None:
        loop = asyncio.get_running_loop()
        self.window = window  # units in flight
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.done.set_result(None)
        self.units: Sequence[Unit] = ()
        self.unit_of: dict[int, int] = {}
        self.left: list[int] = []  # unanswered requests of each unit
        self.next = 0  # units sent
        self.pending = 0  # requests unanswered
        self.tally = Tally(range(0))
        self.error: str | None = None
        self.reconnects = 0
        self.closed = False  # by us

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = self.error or f"connection lost ({exc or 'closed by the server'})"
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.error))
        if not self.done.done():
            self.done.set_result(None)

    def _begin(self, lane: Lane, tally: Tally) -> None:
        self.units, self.unit_of, self.tally = lane.units, lane.unit_of, tally
        self.left = [len(u.ids) for u in lane.units]
        self.next, self.pending = 0, lane.requests
        self.done = asyncio.get_running_loop().create_future()

    def start(self, lane: Lane, tally: Tally) -> asyncio.Future[None]:
        """Send ``lane``'s units in order, at most ``window`` of them unanswered; the future is
        done when every request is answered or the connection is lost."""
        self._begin(lane, tally)
        if not self.pending or self.transport is None or self.transport.is_closing():
            self.done.set_result(None)
        else:
            self._send(self.window)
        return self.done

    def _send(self, count: int) -> None:
        """The next ``count`` units, in one write."""
        assert self.transport is not None
        chunk = self.units[self.next : self.next + count]
        if not chunk:
            return
        self.next += len(chunk)
        first, sent_ns = self.tally.part.start, self.tally.sent_ns
        now = time.perf_counter_ns()
        for unit in chunk:
            for i in unit.ids:
                sent_ns[i - first] = now
        self.transport.write(b"".join([unit.data for unit in chunk]))

    def _answered(self, now: int, reply_id: object, status: object, body: object) -> int:
        """Record one answer; 1 if it was the last of its unit (which frees a place), else 0."""
        tally = self.tally
        j = reply_id - tally.part.start if type(reply_id) is int else -1
        if (
            type(status) is not int
            or not 0 <= j < len(tally.latency_ns)
            or tally.latency_ns[j] >= 0
            or not tally.sent_ns[j]
        ):
            tally.bad_replies += 1
            return 0
        tally.record(j, now, status, body)
        self.pending -= 1
        k = self.unit_of[j + tally.part.start]
        self.left[k] -= 1
        return 1 if self.left[k] == 0 else 0

    def _finish_read(self, freed: int) -> None:
        if self.pending == 0:
            if not self.done.done():
                self.done.set_result(None)
        elif freed:
            self._send(freed)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _WsLoad(_Load):
    """A WebSocket connection to ``/v1/ws/orders`` (client side of RFC 6455, text frames only)."""

    def __init__(self, host: str, path: str, window: int) -> None:
        super().__init__(window)
        key = base64.b64encode(os.urandom(16)).decode()
        self.accept = accept_key(key)
        self.handshake = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(self.handshake)

    def _control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        mask = os.urandom(4)
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + apply_mask(payload, mask))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._control(0x8, (1000).to_bytes(2, "big"))
        super().close()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.ready.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            lines = head.split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
            }
            if lines[0].split(" ")[1:2] != ["101"] or headers.get("sec-websocket-accept") != self.accept:
                self.error = f"WebSocket handshake refused: {lines[0]!r}"
                self.ready.set_exception(ConnectionError(self.error))
                self.close()
                return
            self.ready.set_result(None)
        now = time.perf_counter_ns()
        frames, used = _parse_frames(buf)
        del buf[:used]
        freed = 0
        for opcode, fin, payload in frames:
            if opcode in (0x0, 0x1, 0x2):
                if not fin:  # a fragment: the message continues
                    self.fragments.append(payload)
                    continue
                message = b"".join([*self.fragments, payload]) if self.fragments else payload
                self.fragments.clear()
                try:
                    reply = json.loads(message)
                    for answer in reply if type(reply) is list else (reply,):  # a batch's answers
                        freed += self._answered(
                            now, answer.get("id"), answer.get("status"), answer.get("body")
                        )
                except (ValueError, AttributeError):
                    self.tally.bad_replies += 1
            elif opcode == 0x9:
                self._control(0xA, payload)
            elif opcode == 0x8 or opcode < 0:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.error = (
                    "the server sent a masked frame"
                    if opcode < 0
                    else f"the server closed the WebSocket (code {code})"
                )
                self.close()
                break
        self._finish_read(freed)


def _parse_frames(buf: bytearray) -> tuple[list[tuple[int, bool, bytes]], int]:
    """The complete frames at the start of ``buf`` as ``(opcode, fin, payload)`` and the bytes they
    take; opcode -1 for a masked frame, which a server must not send (RFC 6455 §5.1)."""
    frames: list[tuple[int, bool, bytes]] = []
    pos, size = 0, len(buf)
    while size - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
        length, start = b1 & 0x7F, pos + 2
        if length == 126:
            if size - pos < 4:
                break
            length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
        elif length == 127:
            if size - pos < 10:
                break
            length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
        if b1 & 0x80:
            frames.append((-1, True, b""))
            return frames, size
        end = start + length
        if end > size:
            break
        frames.append((b0 & 0x0F, bool(b0 & 0x80), bytes(buf[start:end])))
        pos = end
    return frames, pos


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """The body of a chunked HTTP/1.1 message at ``buf[start:]`` and where it ends; None if partial."""
    parts: list[bytes] = []
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)
            if end < 0:
                return None
            return b"".join(parts), end + 4
        if len(buf) < eol + 2 + size + 2:
            return None
        parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
        pos = eol + 2 + size + 2


class _HttpLoad(_Load):
    """A keep-alive HTTP/1.1 connection with one request in flight (``window`` is 1).

    A server may end a keep-alive connection between two requests (hypercorn does after 1000
    requests, saying ``Connection: close`` in the last answer, or when it is idle): then the
    next request goes on a new connection, as any HTTP client does (counted in ``reconnects``).
    A connection lost with a request in flight is an error.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(1)
        self.ready.set_result(None)
        self.address = (host, port)
        self.received = 0
        self.closing = False  # the last answer said "Connection: close"
        self.reconnecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.buf.clear()
        self.closing = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.received == self.next and self.error is None:  # nothing in flight
            self.transport = None
            if self.pending and not self.closed:
                self._reconnect()
            return
        super().connection_lost(exc)

    def _reconnect(self) -> None:
        async def reconnect() -> None:
            try:
                await asyncio.get_running_loop().create_connection(lambda: self, *self.address)
            except OSError as exc:
                super(_HttpLoad, self).connection_lost(exc)
                return
            self.reconnects += 1
            self._send(self.window)

        self.reconnecting = asyncio.get_running_loop().create_task(reconnect())

    def start(self, lane: Lane, tally: Tally) -> asyncio.Future[None]:
        self.received = 0
        if self.transport is not None or not lane.requests or self.error is not None:
            return super().start(lane, tally)
        self._begin(lane, tally)
        self._reconnect()
        return self.done

    def _send(self, count: int) -> None:
        if self.transport is not None and not self.closing:
            super()._send(count)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        now = time.perf_counter_ns()
        freed = 0
        while self.received < self.next:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buf[:end]).lower()
            status_line, _, fields = head.partition(b"\r\n")
            at = fields.find(b"content-length:")
            if at >= 0:
                length = int(fields[at + 15 :].split(b"\r\n", 1)[0])
                if len(buf) < end + 4 + length:
                    break
                body, stop = bytes(buf[end + 4 : end + 4 + length]), end + 4 + length
            elif b"transfer-encoding: chunked" in fields:
                got = _dechunk(buf, end + 4)
                if got is None:
                    break
                body, stop = got
            else:
                body, stop = b"", end + 4
            del buf[:stop]
            if b"connection: close" in fields:
                self.closing = True
            try:
                answer: object = json.loads(body)
            except ValueError:
                answer = None
            i = self.units[self.received].ids[0]  # HTTP/1.1 answers in order
            self.received += 1
            self._answered(now, i, int(status_line.split(b" ")[1]), answer)
            freed += 1
        self._finish_read(freed)


async def _open(make: Callable[[], _Load], host: str, port: int, timeout_s: float) -> _Load:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(make, host, port)
    try:
        async with asyncio.timeout(timeout_s):
            await conn.ready
    except BaseException:
        conn.close()
        raise
    return conn
