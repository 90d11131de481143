"""Helpers of the p2p tests: fresh secp256k1 keys and several real hosts on 127.0.0.1."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from gcx.p2p import Host, open_host


def new_raw_key() -> bytes:
    """A random valid secp256k1 private key (any 32 random bytes are valid with overwhelming odds)."""
    return secrets.token_bytes(32)


@asynccontextmanager
async def running_hosts(n: int) -> AsyncIterator[list[Host]]:
    """``n`` started hosts on loopback, closed (in reverse order) on exit."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(open_host(new_raw_key())) for _ in range(n)]
