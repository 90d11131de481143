"""Text from peers, the exchange or the host is printed as text by the ``gcx`` CLI: rich never
parses it as markup (``[gpu]`` would vanish, ``[red]`` would colour)."""

from __future__ import annotations

import time

from rich.console import Console

from gcx.cli.devnet import _providers_table
from gcx.cli.trade import _table

BRACKETED = "reason=[gpu] see [/] [red]x[/red]"


def _render(renderable: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_trade_tables_show_brackets_in_titles_and_cells() -> None:
    out = _render(_table("[bold]CH-[A]", ("col [x]",), [[BRACKETED], [None]]))
    assert "[bold]CH-[A]" in out and "col [x]" in out and BRACKETED in out and "—" in out


def test_devnet_provider_table_shows_brackets() -> None:
    provider = {
        "peer_id": "16Uiu2[gpu]AAAAAAAAAAAAAAAA",
        "address": "0x[red]",
        "grade": "[b]C??",
        "ch_per_hour": 1.0,
        "uptime": None,
        "price": 1,
        "hours": 1,
        "staked": None,
        "last_seen": int(time.time()),
    }
    out = _render(_providers_table([provider]))
    assert "16Uiu2[gpu]AAAAA" in out and "0x[red]" in out and "[b]C??" in out
