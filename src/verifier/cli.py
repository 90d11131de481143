"""``gcx verifier …``: the verifier's commands (capacity audits; job sampling comes later)."""

from __future__ import annotations

import json
import math
import secrets
from typing import Annotated

import typer

from gcx.errors import ConfigError

app = typer.Typer(help="Verifier: audit providers' claimed capacity.", no_args_is_help=True)


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
