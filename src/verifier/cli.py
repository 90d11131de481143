"""``gcx verifier …``: the verifier's commands (capacity audits; following, re-executing and
reporting jobs: ``run`` and ``status``)."""

from __future__ import annotations

import json
import math
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from gcx.errors import ConfigError

app = typer.Typer(
    help="Verifier: audit providers' claimed capacity, re-execute sampled jobs and report mismatches.",
    no_args_is_help=True,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (default: $GCX_CONFIG or $GCX_HOME/config.toml)."),
]


@app.command("audit")
def audit_cmd(
    peer: Annotated[str, typer.Option("--peer", help="The provider's multiaddr, ending in /p2p/<peer id>.")],
    claimed_tops: Annotated[
        float,
        typer.Option("--claimed-tops", help="The int8 GEMM rate to audit, in TOP/s (its advert's claim)."),
    ],
    target_s: Annotated[
        float, typer.Option("--target-s", help="Seconds the GEMM takes at the claimed rate.")
    ] = 5.0,
    slack: Annotated[float, typer.Option(help="The deadline is expected time x slack + allowance.")] = 1.5,
    allowance_s: Annotated[
        float, typer.Option("--allowance-s", help="Network and hashing allowance, s.")
    ] = 2.0,
    rows: Annotated[int, typer.Option("--rows", help="Rows of the result to open and check.")] = 66,
    key: Annotated[
        str | None, typer.Option("--key", help="Sign the challenge with this key (default: a one-off key).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the audit record's summary as JSON.")
    ] = False,
) -> None:
    """Challenge a provider with a seeded int8 GEMM sized to its claim; exit 1 unless it passes."""
    import trio

    from gcx.audit import AuditConfig, AuditError
    from gcx.audit.client import run_audit
    from gcx.p2p import connect, open_host

    if not (math.isfinite(claimed_tops) and claimed_tops > 0):
        raise ConfigError(f"--claimed-tops must be a positive number, not {claimed_tops}")
    try:
        config = AuditConfig(target_s=target_s, slack=slack, allowance_s=allowance_s, rows_to_open=rows)
    except AuditError as exc:
        raise ConfigError(str(exc)) from None
    if key is None:
        private_key = secrets.token_bytes(32)
    else:
        from gcx.cli.common import prompt_passphrase
        from gcx.keys import load_key

        private_key = load_key(key, prompt_passphrase).private_key

    async def main() -> dict[str, object]:
        async with open_host(private_key, ["/ip4/127.0.0.1/tcp/0"]) as host:
            provider = await connect(host, peer, timeout_s=10)
            record = await run_audit(host, provider, claimed_tops * 1e12, config, private_key=private_key)
            return record.summary()

    summary = trio.run(main)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        shape = summary["shape"]
        assert isinstance(shape, dict)
        typer.echo(
            f"{str(summary['verdict']).upper()}: {summary['provider_peer']} at {claimed_tops:g} TOP/s claimed; "
            f"{shape['blocks']}x{shape['m']} x {shape['n']} x {shape['k']} GEMM, root after "
            f"{summary['elapsed_ms']} ms (deadline {summary['deadline_ms']} ms); {summary['detail']}"
        )
    if not summary["passed"]:
        raise typer.Exit(1)


@app.command("run")
def run_cmd(
    config: ConfigOpt = None,
    ready_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line once the verifier is up.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR or CRITICAL.")] = "INFO",
) -> None:
    """Follow the coordinator's job feed until SIGTERM or SIGINT: re-execute a secret-sampled
    share of submitted jobs, compare result roots, locate the first wrong op and row of a wrong
    result with the provider's proofs and report it (docs/jobs-verifier.md)."""
    import trio

    from gcx.cli.common import prompt_passphrase, ready_announcer
    from gcx.keys import load_key
    from gcx.logs import setup_logging
    from gcx.settings import load_settings
    from gcx.signals import run_until_signalled

    from .run import Verifier, config_from_settings

    setup_logging(log_level)
    settings = load_settings(config)
    resolved = config_from_settings(settings)
    key = load_key(settings.verifier.key, prompt_passphrase)
    ready = ready_announcer(ready_json, lambda i: f"verifier ready: {i['verifier']} following {i['api']}")
    verifier = Verifier(resolved, key)
    trio.run(run_until_signalled, lambda: verifier.run(ready))


@app.command("status")
def status_cmd(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as one JSON object.")] = False,
) -> None:
    """Counts from the verifier's state file: jobs seen, sampled, verified, mismatches (with the
    provider and op), withheld, failed, skipped."""
    from gcx.paths import gcx_home
    from gcx.settings import load_settings

    from .state import VerifierState

    settings = load_settings(config)
    path = settings.verifier.state or gcx_home() / "verifier" / "state.sqlite"
    if not path.exists():
        raise ConfigError(f"no verifier state at {path}: run `gcx verifier run` first")
    with VerifierState(path) as state:
        summary: dict[str, Any] = {"state": str(path), **state.summary()}
    journal = settings.verifier.disputes or gcx_home() / "verifier" / "disputes.sqlite"
    if journal.exists():
        from gcx.game.journal import DisputeJournal

        with DisputeJournal(journal) as j:
            summary["disputes"] = {
                **j.summary(),
                "list": [
                    {"id": d.id, "job_id": d.job_id, "outcome": d.outcome, "moves": len(j.moves(d.id)),
                     "gas": sum(m.gas for m in j.moves(d.id))}
                    for d in j.disputes()
                ],
            }  # fmt: skip
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"{summary['seen']} jobs seen (feed cursor {summary['cursor']}), {summary['sampled']} sampled: "
        f"{summary['verified']} verified, {len(summary['mismatches'])} mismatches, "
        f"{summary['withheld']} withheld, {summary['failed']} failed, {summary['pending']} pending; "
        f"{summary['skipped']} skipped"
    )
    if "disputes" in summary:
        d = summary["disputes"]
        typer.echo(
            f"disputes: {d['disputes']} ({d['won']} won, {d['lost']} lost, {d['cancelled']} cancelled, "
            f"{d['live']} live); {d['moves']} moves, {d['gas']:,} gas"
        )
    for m in summary["mismatches"]:
        row = "" if m["row"] is None else f" row {m['row']}"
        report = m["report"] + (f" ({m['report_detail']})" if m["report_detail"] else "")
        typer.echo(
            f"  mismatch: job {m['job_id']} provider {m['provider']} op {m['op']}{row}; report {report}"
        )
