"""One run of the load: the flow framed for its connections, the connections opened (raw or library
client), the warm-up, then the timed part on the same connections, with the CPU time of both
sides (:func:`_drive`)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import connect

from .flow import Flow, encode_http, encode_ws
from .lanes import Lane, Tally, TextLane, Unit, _chunks, _lanes, _unit_of, _ws_text
from .lib_client import _lib_http_phase, _lib_ws_phase
from .raw_client import _HttpLoad, _Load, _open, _WsLoad, http_request, ws_frame

WS_PATH = "/v1/ws/orders"

Mode = Literal["ws", "http"]
Client = Literal["raw", "lib"]


@dataclass
class Timed:
    warmup: Tally
    timed: Tally
    seconds: float
    client_cpu_s: float
    server_cpu_s: float
    connection_errors: list[str]
    reconnects: int


def _cpu_self_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(
    api: str,
    flow: Flow,
    mode: Mode,
    client: Client,
    connections: int,
    window: int,
    batch: int,
    warmup: int,
    timeout_s: float,
    server_cpu: Callable[[], float],
) -> Timed:
    """Frame everything, open the connections, run the warm-up, then the timed part on the same
    connections."""
    url = urlsplit(api)
    host, port, netloc = url.hostname or "127.0.0.1", url.port or 80, url.netloc
    parts = (range(warmup), range(warmup, len(flow.messages)))
    per_lane = window if mode == "http" else 1
    units_in_flight = max(1, window // batch) if mode == "ws" else 1
    split = [_lanes(flow, connections, part, per_lane) for part in parts]
    groups = [[_chunks(idxs, batch if mode == "ws" else 1) for idxs in lanes] for lanes in split]
    raw: list[_Load] = []
    phase: Callable[[int, Tally], Awaitable[None]]
    async with contextlib.AsyncExitStack() as stack:

        def close_all() -> None:
            for conn in raw:
                conn.close()

        stack.callback(close_all)
        if client == "raw":
            if mode == "ws":
                texts = encode_ws(flow)
                plans = [
                    [
                        Lane(
                            [Unit(ws_frame(_ws_text(texts, g, batch)), g) for g in lane],
                            _unit_of(lane),
                            len(lane_ids),
                        )
                        for lane, lane_ids in zip(lanes, split_lanes, strict=True)
                    ]
                    for lanes, split_lanes in zip(groups, split, strict=True)
                ]
                for _ in range(connections):
                    raw.append(
                        await _open(lambda: _WsLoad(netloc, WS_PATH, units_in_flight), host, port, timeout_s)
                    )
            else:
                bodies = [http_request(netloc, path, body) for path, body in encode_http(flow)]
                plans = [
                    [Lane([Unit(bodies[g[0]], g) for g in lane], _unit_of(lane), len(lane)) for lane in lanes]
                    for lanes in groups
                ]
                for _ in range(connections * window):
                    raw.append(await _open(lambda: _HttpLoad(host, port), host, port, timeout_s))

            async def phase(n: int, tally: Tally) -> None:
                await asyncio.wait(
                    [conn.start(lane, tally) for conn, lane in zip(raw, plans[n], strict=True)],
                    timeout=timeout_s,
                )

        elif mode == "ws":
            texts = encode_ws(flow)
            text_plans = [
                [
                    TextLane([(_ws_text(texts, g, batch), g) for g in lane], _unit_of(lane), len(lane_ids))
                    for lane, lane_ids in zip(lanes, split_lanes, strict=True)
                ]
                for lanes, split_lanes in zip(groups, split, strict=True)
            ]
            sockets = [
                await stack.enter_async_context(
                    connect(
                        f"ws://{netloc}{WS_PATH}",
                        compression=None,
                        max_size=None,
                        ping_interval=None,
                        open_timeout=timeout_s,
                    )
                )
                for _ in range(connections)
            ]

            async def phase(n: int, tally: Tally) -> None:
                await asyncio.gather(
                    *(
                        _lib_ws_phase(ws, lane, units_in_flight, tally, timeout_s)
                        for ws, lane in zip(sockets, text_plans[n], strict=True)
                    )
                )

        else:
            requests = encode_http(flow)
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=api, limits=limits, timeout=httpx.Timeout(timeout_s))
                )
                for _ in range(connections * window)
            ]

            async def phase(n: int, tally: Tally) -> None:
                try:
                    async with asyncio.timeout(timeout_s):
                        await asyncio.gather(
                            *(
                                _lib_http_phase(c, lane, requests, tally)
                                for c, lane in zip(clients, split[n], strict=True)
                            )
                        )
                except TimeoutError:
                    pass

        warm, timed = Tally(parts[0]), Tally(parts[1])
        await phase(0, warm)
        server0 = server_cpu()  # reading /proc is not the client's cost per order
        cpu0, t0 = _cpu_self_s(), time.perf_counter()
        await phase(1, timed)
        seconds, cpu = time.perf_counter() - t0, _cpu_self_s() - cpu0
        server = server_cpu() - server0
        errors = sorted({c.error for c in raw if c.error})
    return Timed(warm, timed, seconds, cpu, server, errors, sum(c.reconnects for c in raw))
