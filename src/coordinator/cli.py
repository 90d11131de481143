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
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run the coordinator until SIGTERM or SIGINT."""
    import trio

    from gcx.cli.common import prompt_passphrase, ready_announcer
    from gcx.keys import load_key
    from gcx.lifecycle import run_until_signalled
    from gcx.logs import setup_logging
    from gcx.reference import load_profile
    from gcx.settings import load_settings

    from .service import run_coordinator

    setup_logging(log_level)
    settings = load_settings(config)
    if api_port is not None:
        settings = settings.model_copy(
            update={"coordinator": settings.coordinator.model_copy(update={"api_port": api_port})}
        )
    key = load_key(settings.coordinator.key, prompt_passphrase)
    profile = load_profile(settings.reference.profile)

    ready = ready_announcer(
        ready_json, lambda i: f"coordinator ready: API {i['api']}, p2p {i['multiaddrs'][0]}"
    )
    trio.run(run_until_signalled, lambda: run_coordinator(settings, key, profile, ready))
