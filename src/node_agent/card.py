"""The graded capacity card: a report rendered for a human on a terminal.

Every value from the report is escaped before rich renders it: a device name or reason with
brackets (``[gpu]``) is text, not markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table


def _fmt(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def results_table(results: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (
        ("benchmark", "left"),
        ("median", "right"),
        ("unit", "left"),
        ("p10", "right"),
        ("p90", "right"),
        ("CV", "right"),
        ("n", "right"),
        ("working set", "left"),
        ("check", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in results:
        table.add_row(
            escape(r["name"]),
            _fmt(r["median"]),
            escape(r["unit"]),
            _fmt(r["p10"]),
            _fmt(r["p90"]),
            f"{r['cv'] * 100:.2f}%",
            str(r["repeats"]),
            escape(r["shape"]),
            escape(r["check"]),
        )
    return table


def render_card(report: dict[str, Any], console: Console) -> None:
    """Print the capacity card of a signed report."""
    dev, ref, tel = report["device"], report["reference"], report["telemetry"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    grades = report["grades"]
    head.add_row(
        "grade",
        f"[bold]{escape(report['grade'])}[/]  "
        + escape(
            f"(performance {grades['performance']}, reliability {grades['reliability']}, "
            f"energy {grades['energy']})"
        ),
    )
    classes = ", ".join(f"{c} {v:,.4f}" for c, v in report["ch_per_hour_by_class"].items())
    head.add_row(
        "CH rate",
        f"[bold]{report['ch_per_hour']:,.6f} CH/h[/] "
        + escape(f"in class {report['market_class']} (all classes: {classes})"),
    )
    head.add_row(
        "device",
        escape(f"{dev['name']} ({dev['kind']}, backend {report['backend']}, {report['mode']} run)"),
    )
    if report.get("fallback_reason"):
        head.add_row("no GPU", escape(report["fallback_reason"]))
    head.add_row("reference", escape(f"{ref['name']} v{ref['version']} ({ref['digest'][:12]}…)"))
    jpc = report.get("joules_per_ch")
    power = tel.get("power_w_avg")
    head.add_row(
        "energy",
        (f"{jpc:,.0f} J/CH" if jpc else "unmeasured (no power telemetry)")
        + (f", {power:,.0f} W average" if power else ""),
    )
    if tel.get("throttle_reasons"):
        head.add_row("throttling", escape(", ".join(tel["throttle_reasons"])))
    head.add_row("node", escape(report["node"]))
    head.add_row("run time", f"{report['duration_s']:.1f} s")
    console.print(
        Panel(
            Group(head, "", results_table(report["results"])),
            title="GCX capacity card",
            subtitle="signed " + escape(report["signature"][:18]) + "…",
        )
    )
