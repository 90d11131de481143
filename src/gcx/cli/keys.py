"""``gcx keys new|show``: the participant's secp256k1 key."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from gcx.errors import KeyStoreError

from .common import prompt_passphrase

if TYPE_CHECKING:
    from gcx.keys import ParticipantKey

from gcx.paths import PASSPHRASE_ENV

app = typer.Typer(
    help="Create and show the participant key (Ethereum account and node identity).", no_args_is_help=True
)

NameOpt = Annotated[str, typer.Option("--name", "-n", help="Key name (file $GCX_HOME/keys/NAME.json).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _show(key: ParticipantKey, as_json: bool, created: bool | None = None) -> None:
    info = {"name": key.name, "address": key.address, "path": str(key.path), "encrypted": key.encrypted}
    if created is not None:
        info["created"] = created
    if as_json:
        typer.echo(json.dumps(info))
    else:
        typer.echo(f"{key.name}: {key.address}  ({'encrypted' if key.encrypted else 'plain'}, {key.path})")


@app.command("new")
def new(
    name: NameOpt = "node",
    encrypt: Annotated[
        bool, typer.Option("--encrypt", help=f"Encrypt with a passphrase (prompted, or ${PASSPHRASE_ENV}).")
    ] = False,
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Succeed and show the key if it already exists.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a new key (never overwrites an existing one)."""
    from gcx.keys import key_path, load_key, new_key

    if exist_ok and key_path(name).exists():
        _show(load_key(name, prompt_passphrase), as_json, created=False)
        return
    passphrase = None
    if encrypt:
        passphrase = os.environ.get(PASSPHRASE_ENV) or str(
            typer.prompt("New key passphrase", hide_input=True, confirmation_prompt=True)
        )
        if not passphrase:
            raise KeyStoreError("an empty passphrase cannot encrypt a key")
    _show(new_key(name, passphrase), as_json, created=True)


@app.command("show")
def show(name: NameOpt = "node", as_json: JsonOpt = False) -> None:
    """Show a key's address and file (never the private key)."""
    from gcx.keys import load_key

    _show(load_key(name, prompt_passphrase), as_json)
