"""``gcx coordinator …``: the exchange operator's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Coordinator: provider registry and API (the exchange operator's service).", no_args_is_help=True
)


@app.command("run")
def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Settings file.")] = None,
    api_port: Annotated[int | None, typer.Option(help="HTTP API port (0: any free port).")] = None,
    ready_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line with the endpoints once ready.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR or CRITICAL.")] = "INFO",
) -> None:
    """Run the coordinator until SIGTERM or SIGINT."""
    import trio

    from gcx.cli.common import prompt_passphrase, ready_announcer
    from gcx.keys import load_key
    from gcx.logs import setup_logging
    from gcx.reference import load_profile
    from gcx.settings import load_settings, with_overrides
    from gcx.signals import run_until_signalled

    from .daemon import run_coordinator

    setup_logging(log_level)
    settings = load_settings(config)
    if api_port is not None:
        settings = with_overrides(settings, {"coordinator": {"api_port": api_port}}, "--api-port")
    key = load_key(settings.coordinator.key, prompt_passphrase)
    profile = load_profile(settings.reference.profile)

    ready = ready_announcer(
        ready_json, lambda i: f"coordinator ready: API {i['api']}, p2p {i['multiaddrs'][0]}"
    )
    trio.run(run_until_signalled, lambda: run_coordinator(settings, key, profile, ready))


@app.command("audit-journal")
def audit_journal_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Settings file.")] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Journal file (default: exchange.journal, else the home's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check every journaled order's signature and nonce order, and replay the journal.

    Exits 1 when any entry fails or the file is damaged (naming the first bad sequence number);
    prints the state hash the replay reaches (compare it with ``GET /v1/exchange``). Reads the
    file without writing to it.
    """
    import json
    import sys

    from gcx.paths import configs_dir, gcx_home
    from gcx.settings import load_settings

    from .exchange.audit import audit_journal
    from .exchange.core.state import ExchangeState
    from .exchange.errors import JournalAuditError, JournalError
    from .exchange.instruments_file import load_instruments
    from .exchange.journal import Journal
    from .exchange.service import domain_from_settings

    settings = load_settings(config)
    x = settings.exchange
    path = journal or x.journal or gcx_home() / "coordinator" / "exchange.sqlite"
    instruments = load_instruments(x.instruments or configs_dir() / "instruments.toml")
    try:  # a missing file, a directory or a missing parent: ConfigError (exit 2)
        opened = Journal(path, read_only=True)
    except JournalError as exc:  # there, but not a journal that can be read at all
        raise JournalAuditError(f"{exc}; no entry can be read (first bad seq 1)") from None
    with opened:
        report = audit_journal(
            opened,
            domain_from_settings(settings),
            lambda: ExchangeState(instruments, credit_limit=x.credit_limit, history_limit=x.history_limit),
            progress=lambda seq: print(f"... seq {seq}", file=sys.stderr, flush=True),
        )
    if as_json:
        print(json.dumps({"ok": report.ok, **{k: getattr(report, k) for k in report.__slots__}}))
    else:
        print(
            f"{path}: {report.entries} entries (last seq {report.last_seq}), {report.accounts} accounts, "
            f"state {report.state_hash}"
        )
        for text in report.problems:
            print(f"  FAIL {text}")
        print("every entry is signed by its account, nonces in order" if report.ok else "audit FAILED")
    if report.damage:
        if report.first_bad_seq is None:
            checked = f"all {report.entries} entries could be read and were checked; the damage is elsewhere"
        else:
            checked = (
                f"first bad seq {report.first_bad_seq}; the {report.entries} entries before it were checked"
            )
        raise JournalAuditError(f"{report.damage} ({checked})")
    if not report.ok:
        raise typer.Exit(1)
