"""``gcx devnet up|status``: a whole GCX network on this machine."""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Run a local network: a coordinator and N node agents on loopback.", no_args_is_help=True
)


def _providers_table(providers: list[dict[str, Any]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="providers", header_style="bold")
    for col in ("peer id", "address", "grade", "CH/h", "uptime", "price/CH", "hours", "staked", "last seen"):
        table.add_column(col)
    for p in providers:
        uptime = "—" if p["uptime"] is None else f"{p['uptime']:.1f}%"
        table.add_row(
            escape(p["peer_id"][:16]) + "…",
            escape(p["address"]),
            escape(p["grade"]),
            f"{p['ch_per_hour']:.6f}",
            uptime,
            f"{p['price'] / 1e6:.6f}",
            str(p["hours"]),
            {True: "yes", False: "no", None: "—"}[p.get("staked")],
            f"{max(0, int(time.time()) - p['last_seen'])} s ago",
        )
    return table


def exchange_demo(api: str) -> dict[str, Any]:
    """Two throwaway accounts trade on CH-A-SPOT through the SDK: a resting sell and a buy that
    takes part of it. Returns what happened (for the demo's printout and the tests)."""
    from pathlib import Path

    from eth_account import Account

    from gcx.keys import ParticipantKey
    from gcx.sdk import Client

    def trader(name: str) -> ParticipantKey:
        acct = Account.create()
        return ParticipantKey(name, acct.address, Path("-"), False, bytes(acct.key))

    symbol = "CH-A-SPOT"
    with Client(api, trader("demo-maker")) as maker, Client(api, trader("demo-taker")) as taker:
        spec = next(i for i in maker.instruments() if i["symbol"] == symbol)
        price = spec["reference_price_ticks"] or 1
        maker.place(symbol, "sell", 10, price=price)
        bought = taker.place(symbol, "buy", 4, price=price)
        return {
            "instrument": symbol,
            "price": price,
            "trade": bought["fills"],
            "book": maker.book(symbol),
            "exchange": maker.exchange_info(),
        }


def _print_exchange_demo(demo: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(width=160)
    fills = ", ".join(f"{f['qty']} lots @ {f['price']} ticks" for f in demo["trade"]) or "none"
    book = demo["book"]
    info = demo["exchange"]
    text = (
        f"on {demo['instrument']} a maker sold 10 lots at {demo['price']} ticks, "
        f"a taker bought 4: traded {fills}; book asks {book['asks']} bids {book['bids']}; "
        f"journal seq {info['last_seq']}, state {info['state_hash'][:16]}…, "
        f"orders signed for chain {info['domain']['chainId']} vault {info['domain']['verifyingContract']}"
    )
    console.print("[bold]exchange[/]: " + escape(text))


@app.command("up")
def up(
    nodes: Annotated[int, typer.Option(help="Number of node agents (1–64).")] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line when the network is ready.")
    ] = False,
    api_port: Annotated[int, typer.Option(help="Coordinator API port (0: any free port).")] = 0,
    once: Annotated[
        bool,
        typer.Option("--once", help="Print the providers and tear down instead of running until a signal."),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Delete the existing devnet (chain, keys, registry, exchange journal) and start a new one.",
        ),
    ] = False,
) -> None:
    """Start the network (resuming the devnet in $GCX_HOME/devnet unless --fresh), wait until the
    registry lists every node, then supervise it until SIGINT/SIGTERM: a process that exits is
    restarted with backoff; the chain (anvil) exiting stops the devnet."""
    import httpx
    from rich.console import Console
    from rich.markup import escape

    from gcx.devnet import Devnet
    from gcx.logs import FORMAT

    logging.basicConfig(format=FORMAT, level=logging.WARNING)  # the supervisor's restart lines, on stderr
    console = Console(stderr=True)
    net = Devnet(nodes, api_port, fresh=fresh)
    stop = {"now": False}

    def _stop(signum: int, frame: object) -> None:
        stop["now"] = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with console.status(f"starting a coordinator and {nodes} node(s)…") if not as_json else nullcontext():
            net.start()
        summary = net.summary
        if as_json:
            print(json.dumps(summary), flush=True)
        else:
            resumed = "resumed" if summary["resumed"] else "new"
            console.print(
                f"[bold]devnet ready[/] ({resumed}): "
                + escape(f"API {summary['api']}  ({nodes} nodes, home {summary['home']})")
            )
        if once or not as_json:
            providers = httpx.get(f"{summary['api']}/v1/providers", timeout=5).json()["providers"]
            Console(width=160).print(_providers_table(providers))
        if once:
            _print_exchange_demo(exchange_demo(summary["api"]))
            return
        console.print("running; a process that exits is restarted; Ctrl-C stops every process")
        while not stop["now"]:
            time.sleep(0.25)
            net.supervise()
    finally:
        net.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the running devnet: its processes and the registry's providers."""
    import httpx
    from rich.console import Console
    from rich.markup import escape

    from gcx.devnet import pid_alive, read_state

    state = read_state()
    procs = {name: pid_alive(pid) for name, pid in state["pids"].items()}
    try:
        providers = httpx.get(f"{state['api']}/v1/providers", timeout=5).json()["providers"]
        api_ok = True
    except httpx.HTTPError:
        providers, api_ok = [], False
    if as_json:
        typer.echo(
            json.dumps({"api": state["api"], "api_ok": api_ok, "processes": procs, "providers": providers})
        )
        return
    console = Console(width=160)
    console.print(escape(f"API {state['api']}: {'up' if api_ok else 'DOWN'}"))
    restarts = state.get("restarts", {})
    console.print(
        escape(
            "processes: "
            + ", ".join(
                f"{n} {'up' if ok else 'DOWN'}" + (f" (restarted {restarts[n]}×)" if restarts.get(n) else "")
                for n, ok in procs.items()
            )
        )
    )
    if state.get("given_up"):
        console.print(escape("given up on (they kept crashing): " + ", ".join(state["given_up"])))
    console.print(_providers_table(providers))
    try:
        info = httpx.get(f"{state['api']}/v1/exchange", timeout=5).json()
        console.print(
            escape(
                f"exchange: journal seq {info['last_seq']}, state {info['state_hash'][:16]}…, "
                f"matching engine {info.get('engine', '?')}"
            )
        )
    except (httpx.HTTPError, KeyError, ValueError):
        console.print("exchange: not answering")


scenario_app = typer.Typer(help="Scripted runs of the whole network, end to end.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")


def _print_jobs_scenario(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=160)
    table = Table(title="jobs", show_lines=False)
    for col in ("job", "node", "state", "µCH", "amount µUSDC", "paid µUSDC", "job id"):
        table.add_column(col)
    for j in out["per_job"]:
        table.add_row(
            j["name"],
            j["node"],
            j["state"],
            str(j["micro_ch"]),
            str(j["amount"]),
            str(j["paid"]),
            "…" + j["job_id"][-12:],
        )
    console.print(table)
    faulty = out["faulty"]
    lines = [
        f"{out['finalized']} of {out['jobs']} jobs finalized, {out['paid_micro_usdc']} micro-USDC paid for "
        f"{out['ch_metered']:.6f} CH",
        f"digits classifier (downloaded and verified by the buyer): accuracy {out['accuracy']:.2%}, "
        f"agreement with the float model {out['agreement']:.2%}",
        f"verifier: {out['verified_samples']} jobs re-executed, {len(out['mismatches'])} mismatch(es) "
        f"(faulty node {faulty['node']}, fault.wrong_op = {faulty['wrong_op']}; honest nodes blamed: "
        f"{out['honest_mismatches']})",
    ]
    lines += [
        f"  mismatch: job …{m['job_id'][-12:]} on {m['node']}: first wrong op {m['op']}, row {m['row']}"
        for m in out["mismatches"]
    ]
    lines.append(
        f"capacity audits: {out['audits']} ({out['audit_failures']} failed); {out['seconds']} s in all"
    )
    for line in lines:
        console.print(escape(line))


@scenario_app.command("jobs")
def scenario_jobs(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the figures.")] = False,
    nodes: Annotated[int, typer.Option(help="Node agents (at least 3; node 3 is the faulty one).")] = 3,
    timeout_s: Annotated[float, typer.Option(help="How long each job may take to finalize.")] = 600.0,
) -> None:
    """Start a fresh devnet with a verifier and one faulty node (fault.wrong_op), submit the
    digits classifier and a few GEMM jobs as a buyer, wait until every job is finalized and the
    verifier has reported the faulty node's results, print what happened, and tear down."""
    from gcx.devnet_jobs import run_jobs_scenario, scenario_devnet

    _run_scenario(
        scenario_devnet(nodes),
        lambda net: run_jobs_scenario(net, timeout_s=timeout_s),
        f"starting a coordinator, {nodes} node(s) and a verifier…",
        "running jobs…",
        _print_jobs_scenario if not as_json else None,
    )


def _run_scenario(
    net: Any,
    run: Callable[[Any], dict[str, Any]],
    starting: str,
    running: str,
    show: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Start ``net``, ``run(net)`` with a status line each (none with ``show`` None: ``--json``),
    stop everything (also on SIGTERM), then print the figures with ``show`` or as one JSON line."""
    from rich.console import Console

    from gcx.logs import FORMAT

    logging.basicConfig(format=FORMAT, level=logging.WARNING)
    console = Console(stderr=True)
    previous = {s: signal.signal(s, signal.default_int_handler) for s in (signal.SIGTERM,)}
    try:
        with console.status(starting) if show else nullcontext():
            net.start()
        with console.status(running) if show else nullcontext():
            out = run(net)
    finally:
        net.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if show is None:
        print(json.dumps(out), flush=True)
    else:
        show(out)


def _print_cheater_scenario(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=160)
    table = Table(title="jobs and disputes", show_lines=False)
    for col in ("job", "node", "state", "disputes (challenger: outcome, moves)", "job id"):
        table.add_column(col)
    for j in out["per_job"]:
        disputes = ", ".join(f"…{d['challenger'][-6:]}: {d['outcome']}, {d['moves']}" for d in j["disputes"])
        table.add_row(j["name"], j["node"], j["state"], disputes or "-", "…" + j["job_id"][-12:])
    console.print(table)
    gas = out["dispute_gas"]
    lines = [
        f"{out['finalized']} of {out['jobs']} jobs finalized, {out['refunded']} refunded; "
        f"{out['challenged']} job(s) challenged in {out['disputes']} dispute(s)",
        f"slashed on chain: {', '.join(out['slashed']) or 'nobody'} (cheater {out['cheater']['address']}, "
        f"fault.wrong_op = {out['cheater']['wrong_op']}); honest providers slashed: {out['honest_slashed']}",
        f"bonds forfeited by challengers who disputed honest results: {out['bonds_forfeited']} "
        f"({out['bonds_forfeited_wei']} wei)",
        f"longest dispute: {out['rounds']} rounds ({max(out['moves_per_dispute'], default=0)} moves); "
        f"dispute gas {gas['total']:,} in all: "
        + ", ".join(f"{k} {v:,}" for k, v in gas.items() if k != "total"),
        f"{out['seconds']} s in all",
    ]
    for line in lines:
        console.print(escape(line))


@scenario_app.command("cheater")
def scenario_cheater(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the figures.")] = False,
    nodes: Annotated[int, typer.Option(help="Node agents (at least 3; node 3 is the cheater).")] = 3,
    timeout_s: Annotated[float, typer.Option(help="How long jobs and disputes may take.")] = 900.0,
) -> None:
    """Start a fresh devnet with two honest nodes, one cheating node (fault.wrong_op), an honest
    verifier and a dishonest challenger; submit jobs to every node; wait until every job has
    ended and every dispute is decided on chain (the cheater slashed, the dishonest challenger's
    bonds forfeited); print what the chain says, and tear down."""
    from gcx.devnet_cheater import run_cheater_scenario, scenario_devnet

    _run_scenario(
        scenario_devnet(nodes),
        lambda net: run_cheater_scenario(net, timeout_s=timeout_s),
        f"starting a coordinator, {nodes} node(s) and two verifiers…",
        "running jobs and disputes…",
        _print_cheater_scenario if not as_json else None,
    )
