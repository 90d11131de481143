"""``--client lib``: what the raw client does, with the ``websockets`` and ``httpx`` libraries, to
cross-check it (websockets ~0.2 ms a request; httpx ~2 ms: it measures httpx, not the exchange)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence

import httpx
from websockets.asyncio.client import ClientConnection

from .lanes import Tally, TextLane


async def _lib_ws_phase(
    ws: ClientConnection, lane: TextLane, window: int, tally: Tally, timeout_s: float
) -> None:
    """``--client lib``: what :class:`_WsLoad` does, with the ``websockets`` library."""
    if not lane.units:
        return
    free = asyncio.Semaphore(window)
    first = tally.part.start
    sent_ns, latency = tally.sent_ns, tally.latency_ns
    left = [len(ids) for _, ids in lane.units]

    async def sender() -> None:
        for text, ids in lane.units:
            await free.acquire()
            now = time.perf_counter_ns()
            for i in ids:
                sent_ns[i - first] = now
            await ws.send(text)

    task = asyncio.create_task(sender())
    pending = lane.requests
    try:
        async with asyncio.timeout(timeout_s):
            while pending:
                frame = await ws.recv()
                now = time.perf_counter_ns()
                try:
                    reply = json.loads(frame)
                    answers = reply if type(reply) is list else [reply]
                except ValueError:
                    tally.bad_replies += 1
                    continue
                for answer in answers:
                    try:
                        i, status = answer["id"], answer["status"]
                        j = i - first
                        if not 0 <= j < len(latency) or latency[j] >= 0 or not sent_ns[j]:
                            raise ValueError(j)
                    except (ValueError, KeyError, TypeError):
                        tally.bad_replies += 1
                        continue
                    tally.record(j, now, status, answer.get("body"))
                    pending -= 1
                    k = lane.unit_of[i]
                    left[k] -= 1
                    if not left[k]:
                        free.release()
    except TimeoutError:
        pass  # the unanswered ones stay at -1: reported as missing
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _lib_http_phase(
    client: httpx.AsyncClient, idxs: Sequence[int], requests: Sequence[tuple[str, bytes]], tally: Tally
) -> None:
    """``--client lib``: what :class:`_HttpLoad` does, with ``httpx``."""
    first = tally.part.start
    headers = {"content-type": "application/json"}
    for i in idxs:
        path, body = requests[i]
        tally.sent_ns[i - first] = time.perf_counter_ns()
        try:
            response = await client.post(path, content=body, headers=headers)
        except httpx.HTTPError:
            tally.transport_errors += 1
            continue
        now = time.perf_counter_ns()
        try:
            answer: object = response.json()
        except ValueError:
            answer = None
        tally.record(i - first, now, response.status_code, answer)
