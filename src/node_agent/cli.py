"""``gcx node …``: the provider's commands (benchmark, verify a report)."""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

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


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


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
    from gcx.keys import load_key
    from gcx.paths import ensure_home
    from gcx.reference import load_profile
    from gcx.settings import load_settings

    from .backends import select_backend
    from .backends.base import BenchPlan
    from .capacity import build_report
    from .card import render_card, results_table
    from .progress import progress_display
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
    key = (
        None
        if subset
        else load_key(settings.node.key, lambda: str(typer.prompt("Key passphrase", hide_input=True)))
    )
    err = Console(stderr=True)
    engine, reason = select_backend(choice, settings.node.device_index)  # type: ignore[arg-type]
    if reason:
        err.print(f"[yellow]no usable GPU[/]: {reason}; benchmarking the CPU with NumPy")
    b = settings.bench
    plan = BenchPlan(
        quick=quick,
        repeats=b.quick_repeats if quick else b.repeats,
        target_sample_s=(b.quick_target_sample_ms if quick else b.target_sample_ms) / 1000,
        only=subset,
    )
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
    if out is not None:
        _write_json(out, report)
    _write_json(ensure_home() / "reports" / "latest.json", report)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        render_card(report, _stdout_console())


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
