"""An ASGI middleware that refuses HTTP request bodies above a size, whatever their framing.

Bodies are read here first, up to the limit, and handed to the application only when complete.
One that goes past the limit is read to its end and discarded, up to ``drain`` bytes, and
answered 413 — so an oversized payload never reaches the application or its memory, and the
client gets an answer instead of a connection reset in the middle of its upload. A declared
``Content-Length`` above ``drain`` is answered 413 at once (and the connection closes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit"]

MAX_BODY_BYTES: Final = 256 * 1024
MAX_DRAIN_BYTES: Final = 16 * 1024 * 1024


class BodyLimit:
    """Wrap ``app``; bodies above ``limit`` bytes get ``413 {"error": "payload_too_large"}``.

    ``limit_for(path)`` may name a larger limit for some paths (e.g. job submissions, which carry
    a job file); their drain is at least that limit."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        drain: int = MAX_DRAIN_BYTES,
        limit_for: Callable[[str], int | None] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.drain = drain
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, drain = self.limit, self.drain
        if self.limit_for is not None and (larger := self.limit_for(str(scope.get("path", "")))) is not None:
            limit, drain = max(limit, larger), max(drain, larger)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > drain:
                await self._refuse(send, limit)  # not worth reading: the connection closes after this
                return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body = message.get("body", b"")
            seen += len(body)
            if seen <= limit:
                chunks.append(body)
            elif seen > drain:
                break
            if not message.get("more_body", False):
                break
        if seen > limit:
            await self._refuse(send, limit)
            return
        whole: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {"error": "payload_too_large", "message": f"request bodies are limited to {limit} bytes"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
