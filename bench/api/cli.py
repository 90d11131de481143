"""Benchmark: order entry through the exchange API, on loopback, journal durable (``synchronous=FULL``).

``python -m bench.api [--orders N] [--accounts K] [--connections C] [--window W]
[--mode ws|http] [--json]`` starts the real coordinator (``python -m gcx coordinator run --api-port 0
--json``) as a subprocess in a temporary ``GCX_HOME`` with a fresh coordinator key, reads the
EIP-712 domain from ``GET /v1/exchange`` and the instrument from ``GET /v1/instruments``
(``CH-A-SPOT``), then — before any timing — generates, signs (``auth.sign_order`` /
``sign_cancel`` by eth-account, in a process pool: ~0.7 ms a message) and JSON-encodes a mixed
flow from K fresh accounts (the mix: :mod:`bench.api.flow`).

Each account's nonces increase in the order its messages are sent, and every account is pinned
to one connection, so they arrive in order.

``--mode ws`` (default): C WebSocket connections to ``/v1/ws/orders``, each with up to W
requests in flight (tagged with ``id``, answers matched by ``id``); account ``a`` uses
connection ``a % C``. ``--mode http``: C clients of W keep-alive HTTP/1.1 connections each (C × W
in flight), ``POST /v1/orders`` and ``/v1/orders/cancel``; HTTP answers one request at a time per
connection and cannot keep two connections' requests in order, so account ``a`` is pinned to
connection ``(a // C) % W`` of client ``a % C`` (filling every connection needs K ≥ C × W).
``--batch B`` (ws only): each frame is a JSON array of B requests of the connection, answered by
one frame (the API's batch frames); W still counts requests, so W / B frames are in flight.

The load generator must not be what is measured on a 2-core machine that also runs the server:
``--client raw`` (default) is a lean client written here on asyncio protocols — requests framed
(and WebSocket frames masked) before the clock starts, answers parsed in the read callback, the
requests each read frees sent back in one write: 0.1–0.2 ms of CPU per order when each answer
wakes it alone (~1,000 orders/s), 14 µs when answers come together (74,000 orders/s against a
do-nothing server). ``--client lib`` does the same with the ``websockets`` and ``httpx``
libraries, to cross-check (websockets ~0.2 ms a request here; httpx ~2 ms: it measures httpx,
not the exchange).

The first ``--warmup`` messages are sent and answered before the clock starts and are left out
of every figure. The latency of a request is send → answer (``perf_counter_ns``). Every request
must be answered: a 5xx, a transport error or a missing answer is counted under ``errors`` and
makes ``ok`` false. CPU time of the client process and of the coordinator's process tree during
the timed part are reported per order, to tell which side is the bottleneck on a small machine.

Prints one JSON object (``--json``: on one line) on stdout, a summary on stderr::

    {"benchmark": "api_order_entry", "mode", "orders", "accounts", "connections", "window",
     "seconds", "orders_per_s", "latency_ms": {"p50", "p90", "p99", "max"}, "statuses",
     "codes", "outcomes", "errors", "ok", "journal": "FULL", "cpu_ms_per_order", "machine", ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

import httpx

from gcx.orders import Domain
from gcx.stats import percentile

from .coordinator_proc import JOURNAL, Coordinator, _tree_cpu_s
from .drive import Client, Mode, Timed, _drive
from .flow import INSTRUMENT, Flow, make_accounts, make_flow, sign_flow

BENCHMARK = "api_order_entry"
TARGET_ORDERS_PER_S = 5000
TARGET_P99_MS = 20.0
MAX_BATCH = 256  # requests in one batch frame, at most (docs/exchange-api.md)


def _machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}


def _report(
    flow: Flow,
    run: Timed,
    *,
    mode: Mode,
    client: Client,
    connections: int,
    window: int,
    batch: int,
    journal: str,
) -> dict[str, Any]:
    tally = run.timed
    answered = tally.answered_ms()
    count = len(tally.part)
    seconds = run.seconds
    statuses = dict(sorted(tally.statuses.items()))
    kinds = Counter(flow.messages[i].kind for i in tally.part)
    errors = tally.errors()
    warm_errors = run.warmup.errors()

    def ms(q: float) -> float | None:
        return round(percentile(answered, q), 3) if answered else None

    return {
        "benchmark": BENCHMARK,
        "mode": mode,
        "orders": count,
        "accounts": len(flow.accounts),
        "connections": connections,
        "window": window,
        "batch": batch,
        "client": client,
        "tcp_connections": connections * window if mode == "http" else connections,
        "seconds": round(seconds, 4),
        "orders_per_s": round(len(answered) / seconds) if seconds > 0 else None,
        "latency_ms": {
            "p50": ms(50),
            "p90": ms(90),
            "p99": ms(99),
            "max": round(max(answered), 3) if answered else None,
        },
        "statuses": statuses,
        "answered": len(answered),
        "codes": dict(sorted(tally.codes.items())),
        "outcomes": dict(sorted(tally.outcomes.items())),
        "mix": {k: kinds[k] for k in ("gtc", "ioc", "cancel")},
        "errors": errors,
        "connection_errors": run.connection_errors,
        "reconnects": run.reconnects,
        "warmup": {
            "orders": len(run.warmup.part),
            "statuses": dict(sorted(run.warmup.statuses.items())),
            "errors": warm_errors,
        },
        "ok": not any(errors.values()) and not any(warm_errors.values()) and sum(statuses.values()) == count,
        "cpu_ms_per_order": {
            "client": round(1000 * run.client_cpu_s / count, 4) if count else None,
            "server": round(1000 * run.server_cpu_s / count, 4) if count else None,
        },
        "cpu_busy": {  # cores kept busy during the timed part
            "client": round(run.client_cpu_s / seconds, 3) if seconds > 0 else None,
            "server": round(run.server_cpu_s / seconds, 3) if seconds > 0 else None,
        },
        "journal": journal,
        "target": {"orders_per_s": TARGET_ORDERS_PER_S, "p99_ms": TARGET_P99_MS},
        "machine": _machine(),
    }


def _summary(result: dict[str, Any]) -> str:
    lat = result["latency_ms"]
    cpu = result["cpu_ms_per_order"]
    busy = result["cpu_busy"]
    verdict = "ok" if result["ok"] else "ERRORS " + json.dumps(result["errors"])
    return (
        f"{result['mode']}: {result['orders']} orders, {result['accounts']} accounts, "
        f"{result['connections']} conn x window {result['window']}"
        f"{' batch ' + str(result['batch']) if result['batch'] > 1 else ''} ({result['client']} client): "
        f"{result['orders_per_s']} orders/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
        f"statuses {result['statuses']}; CPU/order client {cpu['client']} ms ({busy['client']} cores), "
        f"server {cpu['server']} ms ({busy['server']} cores); {verdict} "
        f"(target >= {TARGET_ORDERS_PER_S}/s, p99 <= {TARGET_P99_MS:g} ms)"
    )


def run_against(
    api: str,
    *,
    orders: int,
    accounts: int,
    connections: int,
    window: int,
    mode: Mode = "ws",
    batch: int = 1,
    warmup: int = 300,
    seed: int = 1,
    processes: int | None = None,
    timeout_s: float | None = None,
    server_cpu: Callable[[], float] | None = None,
    client: Client = "raw",
    journal: str = JOURNAL,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the benchmark against the coordinator API at ``api`` (``http://host:port``)."""
    if accounts < connections:
        raise ValueError(f"--accounts ({accounts}) must be at least --connections ({connections})")
    if batch > 1 and mode != "ws":
        raise ValueError("--batch needs --mode ws (batch frames are a WebSocket feature)")
    with httpx.Client(base_url=api, timeout=30) as http:
        exchange = http.get("/v1/exchange")
        exchange.raise_for_status()
        domain = Domain.from_dict(exchange.json()["domain"])
        listing = http.get("/v1/instruments")
        listing.raise_for_status()
    instrument = next((x for x in listing.json()["instruments"] if x["symbol"] == INSTRUMENT), None)
    if instrument is None:
        raise RuntimeError(f"the exchange does not list {INSTRUMENT}")
    flow = make_flow(
        make_accounts(accounts),
        warmup + orders,
        reference=int(instrument.get("reference_price_ticks") or 2000),
        min_lots=int(instrument.get("min_lots") or 1),
        max_lots=int(instrument.get("max_lots") or 10),
        seed=seed,
    )
    flow = sign_flow(flow, domain, processes, progress)
    timeout_s = timeout_s or 60.0 + orders / 500
    if progress:
        print(f"sending {warmup} + {orders} requests ({mode}, {client} client)", file=sys.stderr)
    outcome = asyncio.run(
        _drive(
            api,
            flow,
            mode,
            client,
            connections,
            window,
            batch,
            warmup,
            timeout_s,
            server_cpu or (lambda: 0.0),
        )
    )
    result = _report(
        flow,
        outcome,
        mode=mode,
        client=client,
        connections=connections,
        window=window,
        batch=batch,
        journal=journal,
    )
    result["instrument"] = {
        k: instrument.get(k)
        for k in ("symbol", "tick_size", "lot_size", "reference_price_ticks", "price_band_ticks")
    }
    return result


class Options(TypedDict, total=False):
    """The settings of a run that :func:`run` passes on to :func:`run_against`, with its defaults."""

    orders: Required[int]
    accounts: Required[int]
    connections: Required[int]
    window: Required[int]
    mode: Mode
    batch: int
    warmup: int
    seed: int
    processes: int | None
    client: Client
    progress: bool


def run(
    *,
    directory: Path | None = None,
    settings: dict[str, str] | None = None,
    **options: Unpack[Options],
) -> dict[str, Any]:
    """Start a coordinator in a temporary home under ``directory`` (with ``settings``, as
    ``GCX_...`` environment variables), run the benchmark, stop it."""
    if options.get("progress", False):
        print("starting the coordinator", file=sys.stderr)
    with (
        tempfile.TemporaryDirectory(prefix="gcx-bench-api-", dir=directory) as tmp,
        Coordinator.start(Path(tmp) / "home", settings=settings) as coordinator,
    ):
        return run_against(coordinator.api, server_cpu=coordinator.cpu_s, **options)


def _env_settings(items: list[str]) -> dict[str, str]:
    """``section.key=value`` options as the ``GCX_SECTION__KEY`` environment settings."""
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        section, dot, key = name.partition(".")
        if not (sep and dot and section and key):
            raise SystemExit(f"error: --set {item!r}: expected SECTION.KEY=VALUE")
        env[f"GCX_{section.upper()}__{key.upper()}"] = value
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=20_000, help="timed requests (after the warm-up)")
    parser.add_argument("--accounts", type=int, default=64)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--window", type=int, default=8, help="requests in flight per connection")
    parser.add_argument("--mode", choices=("ws", "http"), default="ws")
    parser.add_argument(
        "--batch", type=int, default=1, help="ws: requests per batch frame (JSON array; 1: plain frames)"
    )
    parser.add_argument("--warmup", type=int, default=300, help="requests sent first and not counted")
    parser.add_argument(
        "--client",
        choices=("raw", "lib"),
        default="raw",
        help="raw: this module's lean WebSocket / HTTP/1.1 client (default); lib: websockets / httpx",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=None, help="signing processes (default: all cores)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the temporary GCX_HOME (and journal) goes"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting of the started coordinator, e.g. exchange.verify_workers=0 (repeatable)",
    )
    parser.add_argument("--api", default=None, help="use this running coordinator instead of starting one")
    parser.add_argument("--api-pid", type=int, default=None, help="with --api: its process, for its CPU time")
    parser.add_argument("--json", action="store_true", help="print the JSON object on one line")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.accounts < 1 or args.connections < 1 or args.window < 1 or args.warmup < 0:
        parser.error(
            "--orders, --accounts, --connections and --window must be positive, --warmup not negative"
        )
    if args.accounts < args.connections:
        parser.error("--accounts must be at least --connections (each account uses one connection)")
    if not 1 <= args.batch <= MAX_BATCH or (args.batch > 1 and args.mode != "ws"):
        parser.error(f"--batch must be 1 to {MAX_BATCH}, and more than 1 only with --mode ws")
    common: Options = {
        "orders": args.orders,
        "accounts": args.accounts,
        "connections": args.connections,
        "window": args.window,
        "mode": args.mode,
        "batch": args.batch,
        "warmup": args.warmup,
        "seed": args.seed,
        "processes": args.processes,
        "client": args.client,
        "progress": sys.stderr.isatty(),
    }
    # SIGTERM too unwinds (stopping the coordinator and removing the temporary home), as Ctrl-C does
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.api:
        pid = args.api_pid
        result = run_against(
            args.api.rstrip("/"),
            journal="unknown (external coordinator)",
            server_cpu=(lambda: _tree_cpu_s(pid)) if pid else None,
            **common,
        )
    else:
        result = run(directory=args.dir, settings=_env_settings(args.set), **common)
        result["settings"] = args.set
    print(_summary(result), file=sys.stderr)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    if not result["ok"]:
        sys.exit(1)
