"""Running a long-lived trio program until SIGTERM or SIGINT, then shutting it down cleanly."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable

import trio

log = logging.getLogger("gcx.signals")


async def run_until_signalled(main: Callable[[], Awaitable[object]]) -> None:
    """Run ``main()`` until it returns or SIGTERM/SIGINT arrives, then cancel it (its ``finally``
    blocks and async context managers run: hosts close, databases close)."""
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("received %s: shutting down", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(watch)
        await main()
        nursery.cancel_scope.cancel()
