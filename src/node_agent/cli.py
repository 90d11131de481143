"""``gcx node …``: the provider's commands (benchmark, verify a report)."""

from __future__ import annotations

import dataclasses
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gcx.errors import ConfigError, ReportError

app = typer.Typer(
    help="Node agent: benchmark and grade this host, verify capacity reports.", no_args_is_help=True
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (default: $GCX_CONFIG or $GCX_HOME/config.toml)."),
]
ReferenceOpt = Annotated[Path | None, typer.Option(help="Reference profile TOML (default: the shipped one).")]


def _only(spec: str | None) -> frozenset[str] | None:
    from .backends.base import ALIASES, BENCHMARK_UNITS

    if spec is None:
        return None
    names = set()
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name = ALIASES.get(item, item)
        if name not in BENCHMARK_UNITS:
            known = ", ".join(sorted(ALIASES) + sorted(BENCHMARK_UNITS))
            raise ConfigError(f"unknown benchmark or precision {item!r} (known: {known})")
        names.add(name)
    if not names:
        raise ConfigError("--only needs at least one benchmark name")
    return frozenset(names)


def _stdout_console() -> Console:
    """Rich console for stdout: a wide fixed layout when piped (rich would assume 80 columns)."""
    return Console() if sys.stdout.isatty() else Console(width=120)


@app.command("bench")
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="CI-sized run (seconds); not for grading real capacity.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the signed report as one JSON object.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the report to FILE.")] = None,
    backend: Annotated[str | None, typer.Option(help="auto, cupy or numpy (default from settings).")] = None,
    only: Annotated[
        str | None,
        typer.Option(
            help="Diagnostic: run only these benchmarks (e.g. fp16,triad); prints results, no report."
        ),
    ] = None,
    config: ConfigOpt = None,
    reference: ReferenceOpt = None,
) -> None:
    """Benchmark this host, grade it in Compute Hours and print the signed capacity report."""
    from gcx.cli.common import prompt_passphrase
    from gcx.keys import load_key
    from gcx.reference import load_profile
    from gcx.settings import load_settings, with_overrides

    from .backends import select_backend
    from .capacity import build_report
    from .card import render_card, results_table
    from .progress import progress_display
    from .reports import bench_plan, latest_report_path, save_report
    from .runner import run_benchmarks

    settings = load_settings(config)
    profile = load_profile(reference or settings.reference.profile)
    market_class = settings.node.market_class or profile.profile.default_class
    if market_class not in profile.classes:
        raise ConfigError(
            f"node.market_class {market_class!r} is not a class of the reference profile "
            f"(classes: {', '.join(profile.classes)})"
        )
    choice = backend or settings.node.backend
    if choice not in ("auto", "cupy", "numpy"):
        raise ConfigError(f"--backend must be auto, cupy or numpy, not {choice!r}")
    subset = _only(only)
    key = None if subset else load_key(settings.node.key, prompt_passphrase)
    err = Console(stderr=True)
    engine, reason = select_backend(choice, settings.node.device_index)  # type: ignore[arg-type]
    if reason:
        err.print(f"[yellow]no usable GPU[/]: {escape(reason)}; benchmarking the CPU with NumPy")
    mode = with_overrides(settings, {"node": {"bench_mode": "quick" if quick else "full"}}, "--quick")
    plan = dataclasses.replace(bench_plan(mode), only=subset)
    show_progress = sys.stderr.isatty()
    with progress_display(err) if show_progress else nullcontext(None) as progress:
        run = run_benchmarks(engine, plan, progress)
    if subset:
        from .capacity import _results

        results = _results(run)
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "schema": "gcx.bench-results/1",
                        "backend": run.backend,
                        "device": run.device.name,
                        "results": results,
                    }
                )
            )
        else:
            _stdout_console().print(results_table(results))
        return
    assert key is not None
    report = build_report(run, profile, key, market_class, reason)
    try:
        if out is not None:
            save_report(out, report)
        save_report(latest_report_path(), report)
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc}") from None
    if as_json:
        typer.echo(json.dumps(report))
    else:
        render_card(report, _stdout_console())


@app.command("run")
def run_daemon(
    config: ConfigOpt = None,
    bootstrap: Annotated[
        list[str] | None, typer.Option("--bootstrap", "-b", help="Bootstrap peer multiaddr (repeatable).")
    ] = None,
    ready_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line once the node is up.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR or CRITICAL.")] = "INFO",
) -> None:
    """Run the node agent daemon until SIGTERM or SIGINT: benchmark (or reuse a fresh report), join
    the network, advertise signed capacity, heartbeat, answer report and liveness requests."""
    import trio

    from gcx.cli.common import prompt_passphrase, ready_announcer
    from gcx.keys import load_key
    from gcx.logs import setup_logging
    from gcx.reference import load_profile
    from gcx.settings import load_settings, with_overrides
    from gcx.signals import run_until_signalled

    from .daemon import NodeDaemon

    setup_logging(log_level)
    settings = load_settings(config)
    if bootstrap:
        settings = with_overrides(settings, {"network": {"bootstrap": list(bootstrap)}}, "--bootstrap")
    key = load_key(settings.node.key, prompt_passphrase)
    profile = load_profile(settings.reference.profile)

    ready = ready_announcer(
        ready_json, lambda i: f"node ready: {i['node']} grade {i['grade']}, listening on {i['addrs'][0]}"
    )
    daemon = NodeDaemon(settings, key, profile)
    trio.run(run_until_signalled, lambda: daemon.run(ready))


@app.command("jobs")
def jobs_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the jobs as one JSON object.")] = False,
) -> None:
    """List this node's jobs from its job table ($GCX_HOME/node/jobs.sqlite): state, job id,
    result root and whether the escrow paid."""
    from .jobs.state import JobTable, default_table_path

    path = default_table_path()
    records = []
    if path.exists():
        table = JobTable(path)
        try:
            records = table.jobs()
        finally:
            table.close()
    if as_json:
        typer.echo(json.dumps({"jobs": [r.to_json() for r in records]}))
        return
    if not records:
        typer.echo(f"no jobs yet ({path})")
        return
    # one line a job (hex ids and roots do not fit a terminal-wide table)
    typer.echo(f"{'state':<10} {'job id':<66} {'paid':<4} {'amount':>10}  result root")
    for r in records:
        view = r.to_json()
        line = f"{r.state:<10} {view['job_id']} {'yes' if r.paid else 'no':<4} {view['amount']:>10}  "
        typer.echo(line + (view["result_root"] or "-") + (f"  ({r.error[:80]})" if r.error else ""))


@app.command("doctor")
def doctor(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Pre-flight checks (config, key, GPU and NVML, ports, clock, bootstrap peers, cached report);
    exits 1 if any check fails."""
    from rich.table import Table

    from .doctor import run_checks

    checks = run_checks(config)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(c) for c in checks]))
    else:
        table = Table(header_style="bold", show_lines=False)
        for col in ("check", "status", "detail", "fix"):
            table.add_column(col)
        colour = {"pass": "green", "warn": "yellow", "fail": "red"}
        for c in checks:
            table.add_row(
                escape(c.name), f"[{colour[c.status]}]{escape(c.status)}[/]", escape(c.detail), escape(c.fix)
            )
        _stdout_console().print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


@app.command("verify-report")
def verify_report_cmd(
    file: Annotated[
        Path, typer.Argument(help="A report written by `gcx node bench --out FILE` or its --json output.")
    ],
    reference: ReferenceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check a report's signature and recompute its CH rate and grades; exit 1 on any mismatch."""
    from gcx.reference import load_profile
    from gcx.report import verify_report

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no such report file: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{file} is not JSON: {exc}") from None
    verified = verify_report(document, load_profile(reference))
    r = verified.report
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "node": r.node,
                    "grade": r.grade,
                    "ch_per_hour": r.ch_per_hour,
                    "reference": r.reference.model_dump(),
                }
            )
        )
    else:
        typer.echo(
            f"OK: report signed by {r.node}; {r.ch_per_hour:.6f} CH/h ({r.market_class}), grade {r.grade}, "
            f"reference {r.reference.name} v{r.reference.version}"
        )
