"""``gcx job submit|status|list|result|resume``: buy a job's execution on the network (docs/jobs-buyer.md).

Registered on the ``gcx job`` app by :mod:`gcx.cli.job`. Every command takes ``--api URL``
(default: ``network.coordinator_api``, else the running coordinator's endpoint file, else
http://127.0.0.1:8600) and ``--json``; those that touch the chain read ``[chain]`` (``rpc_url``,
``deployment``) and sign with ``--key NAME`` (default ``buyer``). Prices are integer micro-USDC.
Failures print one ``error:`` line: exit 1, or 2 for configuration and bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gcx.errors import ConfigError

if TYPE_CHECKING:
    from gcx.sdk.jobs import JobsClient, JobView

DEFAULT_KEY = "buyer"

ApiOpt = Annotated[
    str | None,
    typer.Option("--api", help="Coordinator API URL (default: settings network.coordinator_api, …)."),
]
KeyOpt = Annotated[str, typer.Option("--key", "-k", help="The buyer's key name ($GCX_HOME/keys/NAME.json).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
JobIdArg = Annotated[str, typer.Argument(help="The job id (0x + 64 hex).", show_default=False)]


def _jobs_client(api: str | None, key_name: str | None, *, chain: bool) -> JobsClient:
    """A :class:`JobsClient` from the settings: the API URL, the key, the chain when needed."""
    from gcx.sdk import resolve_api_url
    from gcx.sdk.jobs import JobsClient
    from gcx.settings import load_settings

    from .trade import load_trader_key

    url = resolve_api_url(api)
    key = load_trader_key(key_name) if key_name is not None else None
    connected = None
    if chain:
        from gcx.chain import connect

        settings = load_settings()
        if not settings.chain.rpc_url:
            raise ConfigError(
                "no chain configured: set chain.rpc_url (or GCX_CHAIN__RPC_URL); jobs are paid through JobEscrow"
            )
        connected = connect(settings.chain.rpc_url, settings.chain.deployment, key)
    return JobsClient(url, key, connected)


def _view_json(view: JobView) -> dict[str, Any]:
    return view.raw


def _line(view: JobView) -> str:
    return (
        f"{view.job_id}  {view.state:<10} provider {view.provider.peer_id}  "
        f"amount {view.amount} micro-USDC  {view.micro_ch} micro-CH"
    )


def submit(
    file: Annotated[Path, typer.Argument(help="The job file (.gcxjob).")],
    max_price: Annotated[
        int,
        typer.Option(
            "--max-price", min=1, help="Most the whole job may cost, micro-USDC.", show_default=False
        ),
    ],
    grade: Annotated[
        str, typer.Option("--grade", help="Worst acceptable provider grade: A, B, C or D.")
    ] = "B",
    provider: Annotated[
        str | None, typer.Option("--provider", help="Ask for this provider (peer id).")
    ] = None,
    key: KeyOpt = DEFAULT_KEY,
    api: ApiOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the result is submitted (re-offering).")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="With --wait: give up after this many s.")
    ] = 3600.0,
    as_json: JsonOpt = False,
) -> None:
    """Quote a job, escrow its payment in JobEscrow and submit it to the coordinator."""
    from gcx.tp.jobfile import decode_job

    grade = grade.upper()
    if grade not in ("A", "B", "C", "D"):
        raise ConfigError(f"--grade must be A, B, C or D, not {grade!r}")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the job file {file}: {exc.strerror or exc}") from None
    decode_job(data)  # a bad file fails here (exit 2), before anything is asked or paid
    with _jobs_client(api, key, chain=True) as jobs:
        view = jobs.submit(data, grade, max_price, provider)
        if wait:
            view = jobs.wait(view.job_id, timeout_s=timeout)
    if as_json:
        typer.echo(json.dumps(_view_json(view)))
        return
    typer.echo(f"job {view.job_id}")
    typer.echo(f"  provider {view.provider.peer_id} ({view.provider.address})")
    typer.echo(f"  amount   {view.amount} micro-USDC for {view.micro_ch} micro-CH")
    typer.echo(f"  state    {view.state}")


def status(job_id: JobIdArg, api: ApiOpt = None, as_json: JsonOpt = False) -> None:
    """Show one job as the coordinator sees it."""
    with _jobs_client(api, None, chain=False) as jobs:
        view = jobs.status(job_id)
    if as_json:
        typer.echo(json.dumps(_view_json(view)))
        return
    typer.echo(_line(view))
    if view.result_root:
        typer.echo(f"  result root {view.result_root}")
    if view.reoffer_of:
        typer.echo(f"  re-offer of {view.reoffer_of}")
    for m in view.mismatches:
        typer.echo(f"  MISMATCH reported by {m.get('verifier')} at op {m.get('op')} row {m.get('row')}")
    for h in view.history:
        detail = f" ({h['detail']})" if h.get("detail") else ""
        typer.echo(f"  {h.get('time')}  {h.get('event')}{detail}")


def list_jobs(
    state: Annotated[str | None, typer.Option("--state", help="Only jobs in this state.")] = None,
    key: KeyOpt = DEFAULT_KEY,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List this buyer's jobs, newest first."""
    with _jobs_client(api, key, chain=False) as jobs:
        views = jobs.list(state)
    if as_json:
        typer.echo(json.dumps({"jobs": [_view_json(v) for v in views]}))
        return
    if not views:
        typer.echo("no jobs")
    for v in views:
        typer.echo(_line(v))


def result(
    job_id: JobIdArg,
    out: Annotated[Path | None, typer.Option("--out", help="Write the outputs here (.npz).")] = None,
    key: KeyOpt = DEFAULT_KEY,
    api: ApiOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a job's outputs from its provider, verified against the result root on chain;
    score them when the local job file has an evaluation."""
    import numpy as np

    with _jobs_client(api, key, chain=True) as jobs:
        outputs = jobs.result(job_id)
        score = jobs.score(job_id, outputs)
    path = out or Path(f"{job_id[:18]}.npz")
    with path.open("wb") as f:
        np.savez(f, **outputs)  # type: ignore[arg-type]
    info: dict[str, Any] = {
        "job_id": job_id,
        "out": str(path),
        "outputs": {n: {"dtype": str(a.dtype), "shape": list(a.shape)} for n, a in outputs.items()},
        "verified": True,
    }
    if score is not None:
        info |= {"accuracy": score.accuracy, "agreement": score.agreement, "images": score.images}
    if as_json:
        typer.echo(json.dumps(info))
        return
    typer.echo(f"verified against the on-chain result root; wrote {path}")
    for name, o in info["outputs"].items():
        typer.echo(f"  output {name:<10} {o['dtype']}{o['shape']}")
    if score is not None:
        typer.echo(
            f"accuracy {100 * score.accuracy:.2f} % on {score.images} test images; "
            f"agreement with the float model {100 * score.agreement:.2f} %"
        )


def resume(key: KeyOpt = DEFAULT_KEY, api: ApiOpt = None, as_json: JsonOpt = False) -> None:
    """Finish submissions interrupted after the escrow was opened (re-post them)."""
    with _jobs_client(api, key, chain=True) as jobs:
        outcomes = jobs.resume()
    rows = [{"job_id": o.job_id, "action": o.action, "error": o.error} for o in outcomes]
    if as_json:
        typer.echo(json.dumps({"resumed": rows}))
        return
    if not rows:
        typer.echo("nothing to resume")
    for r in rows:
        typer.echo(f"{r['job_id']}  {r['action']}{'  ' + r['error'] if r['error'] else ''}")


def register(app: typer.Typer) -> None:
    """Add the market commands to the ``gcx job`` app."""
    app.command("submit")(submit)
    app.command("status")(status)
    app.command("list")(list_jobs)
    app.command("result")(result)
    app.command("resume")(resume)
