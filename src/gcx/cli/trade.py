"""``gcx trade …``: trade on the exchange from the command line, through :mod:`gcx.sdk`.

Prices are integer ticks and quantities integer lots of the instrument (``gcx trade
instruments`` shows their sizes). Every command takes ``--api URL`` (default: the
``network.coordinator_api`` setting, else the coordinator running under this ``$GCX_HOME``,
else http://127.0.0.1:8600) and ``--json``; the commands that sign take ``--key NAME``
(default ``trader``; create it with ``gcx keys new --name trader``). An exchange refusal prints
``error: <code>: <message>`` and exits 1; bad input exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gcx.errors import KeyStoreError

if TYPE_CHECKING:
    from rich.table import Table

    from gcx.keys import ParticipantKey
    from gcx.sdk import Client

app = typer.Typer(
    help="Trade compute hours: books, orders, fills and the live feed (prices in ticks, sizes in lots).",
    no_args_is_help=True,
)

DEFAULT_KEY = "trader"


class SideArg(StrEnum):
    """Order side."""

    buy = "buy"
    sell = "sell"


class OrderTypeArg(StrEnum):
    """Order type."""

    gtc = "gtc"
    ioc = "ioc"
    fok = "fok"
    post_only = "post_only"
    market = "market"


ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="Exchange API URL (default: settings network.coordinator_api, else the running "
        "coordinator's $GCX_HOME/coordinator/endpoint.json, else http://127.0.0.1:8600).",
    ),
]
KeyOpt = Annotated[
    str, typer.Option("--key", "-k", help="Name of the signing key ($GCX_HOME/keys/NAME.json).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SymbolArg = Annotated[str, typer.Argument(help="Instrument symbol, e.g. CH-A-SPOT.", show_default=False)]
ClientIdArg = Annotated[int, typer.Argument(help="The order's client order id.", min=0, show_default=False)]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="At most this many, the latest.")]


# ------------------------------------------------------------------------------------ plumbing


def load_trader_key(name: str) -> ParticipantKey:
    """Load the signing key ``name``; a missing key says how to create it."""
    from gcx.keys import key_path, load_key

    from .common import prompt_passphrase

    path = key_path(name)
    if not path.exists():
        raise KeyStoreError(f"no key named {name!r} at {path}; create one with `gcx keys new --name {name}`")
    return load_key(name, prompt_passphrase)


def _client(api: str | None, key_name: str | None = None) -> Client:
    from gcx.sdk import Client, resolve_api_url

    url = resolve_api_url(api)
    key = load_trader_key(key_name) if key_name is not None else None
    return Client(url, key)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data))


def _print(*renderables: Any) -> None:
    """Print rich renderables; a plain string is printed as text (never parsed as markup)."""
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(*(escape(r) if isinstance(r, str) else r for r in renderables))


def _table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    """A table of values shown as text: brackets in a title or cell are not rich markup."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), header_style="bold")
    for column in columns:
        table.add_column(escape(column))
    for row in rows:
        table.add_row(*("—" if v is None else escape(str(v)) for v in row))
    return table


def _time_ms(ms: object) -> str | None:
    if not isinstance(ms, int) or isinstance(ms, bool):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _time_s(seconds: object) -> str | None:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fills_table(fills: list[dict[str, Any]], title: str = "fills") -> Table:
    return _table(
        title,
        ("time (UTC)", "instrument", "side", "price", "qty", "role", "client id", "trade id"),
        (
            (
                _time_ms(f.get("ts_ms")),
                f.get("instrument"),
                f.get("side"),
                f.get("price"),
                f.get("qty"),
                f.get("role"),
                f.get("client_order_id"),
                f.get("trade_id"),
            )
            for f in fills
        ),
    )


def _order_line(status: str, order: dict[str, Any]) -> str:
    return (
        f"{status}: {order.get('side')} {order.get('qty')} {order.get('instrument')} "
        f"@ {order.get('price')} ({order.get('type')}), client id {order.get('client_order_id')}, "
        f"order id {order.get('order_id')}, filled {order.get('filled')}, remaining {order.get('remaining')}"
    )


def _answer(answer: dict[str, Any], as_json: bool) -> None:
    """Print an order-entry answer (place, cancel, replace)."""
    if as_json:
        _echo_json(answer)
        return
    line = _order_line(str(answer.get("status")), answer.get("order") or {})
    if "kept_priority" in answer:
        line += f", kept priority: {'yes' if answer['kept_priority'] else 'no'}"
    typer.echo(line + f"  (seq {answer.get('seq')})")
    fills = answer.get("fills") or []
    if fills:
        _print(_fills_table(fills))


# ------------------------------------------------------------------------------- public reads


@app.command("instruments")
def instruments(api: ApiOpt = None, as_json: JsonOpt = False) -> None:
    """List the instruments with their tick and lot sizes and limits."""
    with _client(api) as client:
        listed = client.instruments()
    if as_json:
        _echo_json(listed)
        return
    _print(
        _table(
            "instruments",
            ("symbol", "kind", "tick (µUSDC/CH)", "lot (mCH)", "band (ticks)", "ref price", "lots", "about"),
            (
                (
                    i.get("symbol"),
                    i.get("kind"),
                    i.get("tick_size"),
                    i.get("lot_size"),
                    i.get("price_band_ticks"),
                    i.get("reference_price_ticks"),
                    f"{i.get('min_lots')}–{i.get('max_lots')}",
                    i.get("description") or "",
                )
                for i in listed
            ),
        )
    )


@app.command("book")
def book(
    symbol: SymbolArg,
    depth: Annotated[int | None, typer.Option("--depth", min=1, help="Price levels per side.")] = None,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the order book (aggregated price levels, best first)."""
    with _client(api) as client:
        snapshot = client.book(symbol, depth)
    if as_json:
        _echo_json(snapshot)
        return
    bids, asks = snapshot.get("bids") or [], snapshot.get("asks") or []
    rows = []
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else (None, None)
        ask = asks[i] if i < len(asks) else (None, None)
        rows.append((bid[1], bid[0], ask[0], ask[1]))
    _print(
        _table(f"{symbol} (seq {snapshot.get('seq')})", ("bid qty", "bid", "ask", "ask qty"), rows)
        if rows
        else f"{symbol}: the book is empty (seq {snapshot.get('seq')})"
    )


@app.command("trades")
def trades(symbol: SymbolArg, limit: LimitOpt = None, api: ApiOpt = None, as_json: JsonOpt = False) -> None:
    """Show the latest trades, oldest first."""
    with _client(api) as client:
        listed = client.trades(symbol, limit)
    if as_json:
        _echo_json(listed)
        return
    _print(
        _table(
            f"{symbol} trades",
            ("seq", "trade id", "price", "qty", "aggressor"),
            (
                (t.get("seq"), t.get("trade_id"), t.get("price"), t.get("qty"), t.get("aggressor"))
                for t in listed
            ),
        )
    )


@app.command("candles")
def candles(
    symbol: SymbolArg,
    interval: Annotated[int, typer.Option("--interval", help="Seconds: 60, 300 or 3600.")] = 60,
    since: Annotated[int | None, typer.Option("--since", help="From this Unix second.")] = None,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show OHLCV candles."""
    with _client(api) as client:
        rows = client.candles(symbol, interval, since)
    if as_json:
        _echo_json(rows)
        return
    _print(
        _table(
            f"{symbol} candles ({interval} s)",
            ("start (UTC)", "open", "high", "low", "close", "volume"),
            ((_time_s(r[0]) if r else None, *r[1:]) for r in rows),
        )
    )


# -------------------------------------------------------------------------------- order entry


@app.command("place")
def place(
    symbol: SymbolArg,
    side: Annotated[SideArg, typer.Argument(help="buy or sell.", show_default=False)],
    qty: Annotated[int, typer.Argument(help="Quantity in lots.", show_default=False)],
    price: Annotated[
        int | None, typer.Option("--price", help="Limit price in ticks (not for --type market).")
    ] = None,
    order_type: Annotated[OrderTypeArg, typer.Option("--type", help="Order type.")] = OrderTypeArg.gtc,
    client_id: Annotated[
        int | None, typer.Option("--client-id", min=0, help="Client order id (default: chosen for you).")
    ] = None,
    api: ApiOpt = None,
    key: KeyOpt = DEFAULT_KEY,
    as_json: JsonOpt = False,
) -> None:
    """Place an order; print what happened to it (resting, filled …) and its fills."""
    from gcx.sdk import InvalidRequest

    if order_type is OrderTypeArg.market and price is not None:
        raise InvalidRequest("a market order takes no --price")
    if order_type is not OrderTypeArg.market and price is None:
        raise InvalidRequest(
            f"a {order_type.value} order needs --price (integer ticks); use --type market for a market order"
        )
    with _client(api, key) as client:
        answer = client.place(symbol, side.value, qty, price, order_type.value, client_id)
    _answer(answer, as_json)


@app.command("cancel")
def cancel(
    symbol: SymbolArg,
    client_id: ClientIdArg,
    api: ApiOpt = None,
    key: KeyOpt = DEFAULT_KEY,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an open order by its client order id."""
    with _client(api, key) as client:
        answer = client.cancel(symbol, client_id)
    _answer(answer, as_json)


@app.command("replace")
def replace(
    symbol: SymbolArg,
    client_id: ClientIdArg,
    price: Annotated[int, typer.Option("--price", help="New price in ticks.", show_default=False)],
    qty: Annotated[int, typer.Option("--qty", help="New quantity in lots.", show_default=False)],
    api: ApiOpt = None,
    key: KeyOpt = DEFAULT_KEY,
    as_json: JsonOpt = False,
) -> None:
    """Give an open order a new price and quantity."""
    with _client(api, key) as client:
        answer = client.replace(symbol, client_id, price, qty)
    _answer(answer, as_json)


# ------------------------------------------------------------------------------ private reads


@app.command("orders")
def orders(api: ApiOpt = None, key: KeyOpt = DEFAULT_KEY, as_json: JsonOpt = False) -> None:
    """List your open orders."""
    with _client(api, key) as client:
        listed = client.open_orders()
    if as_json:
        _echo_json(listed)
        return
    _print(
        _table(
            "open orders",
            ("instrument", "client id", "order id", "side", "type", "price", "qty", "filled", "remaining"),
            (
                (
                    o.get("instrument"),
                    o.get("client_order_id"),
                    o.get("order_id"),
                    o.get("side"),
                    o.get("type"),
                    o.get("price"),
                    o.get("qty"),
                    o.get("filled"),
                    o.get("remaining"),
                )
                for o in listed
            ),
        )
    )


@app.command("fills")
def fills(
    limit: LimitOpt = None, api: ApiOpt = None, key: KeyOpt = DEFAULT_KEY, as_json: JsonOpt = False
) -> None:
    """List your fills, oldest first."""
    with _client(api, key) as client:
        listed = client.fills(limit)
    if as_json:
        _echo_json(listed)
        return
    _print(_fills_table(listed, "your fills"))


@app.command("history")
def history(
    limit: LimitOpt = None, api: ApiOpt = None, key: KeyOpt = DEFAULT_KEY, as_json: JsonOpt = False
) -> None:
    """List your order events (accepted, rejected, trade, cancelled, replaced), oldest first."""
    with _client(api, key) as client:
        listed = client.history(limit)
    if as_json:
        _echo_json(listed)
        return
    shown = ("seq", "ts_ms", "event")
    _print(
        _table(
            "your history",
            ("seq", "time (UTC)", "event", "details"),
            (
                (
                    e.get("seq"),
                    _time_ms(e.get("ts_ms")),
                    e.get("event"),
                    " ".join(f"{k}={v}" for k, v in e.items() if k not in shown),
                )
                for e in listed
            ),
        )
    )


# ------------------------------------------------------------------------------------- feed


def _feed_line(message: dict[str, Any]) -> str:
    kind, seq = message.get("type"), message.get("seq")
    if kind == "l2snapshot":
        bids, asks = message.get("bids") or [], message.get("asks") or []
        best_bid = f"{bids[0][1]} @ {bids[0][0]}" if bids else "none"
        best_ask = f"{asks[0][1]} @ {asks[0][0]}" if asks else "none"
        return f"seq {seq} snapshot: {len(bids)} bid / {len(asks)} ask levels, best bid {best_bid}, best ask {best_ask}"
    if kind == "trade":
        return (
            f"seq {seq} trade {message.get('trade_id')}: {message.get('qty')} @ {message.get('price')} "
            f"({message.get('aggressor')} aggressor)"
        )
    if kind == "l2update":
        changes = ", ".join(f"{c[0]} {c[1]} → {c[2]}" for c in message.get("changes") or [])
        return f"seq {seq} update: {changes}"
    return json.dumps(message)


@app.command("watch")
def watch(
    symbol: SymbolArg,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after this many messages.")
    ] = None,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the live market-data feed (a snapshot, then trades and book updates) until Ctrl-C."""
    with _client(api) as client:
        feed = client.feed(symbol)
        try:
            for n, message in enumerate(feed, start=1):
                typer.echo(json.dumps(message) if as_json else _feed_line(message))
                if count is not None and n >= count:
                    break
        finally:
            feed.close()
