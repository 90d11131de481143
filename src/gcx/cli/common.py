"""Small pieces shared by the long-running commands' CLIs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer


def prompt_passphrase() -> str:
    """Ask for the passphrase of an encrypted key (only called when one is needed). Without a
    terminal (a systemd unit, a pipe) there is nobody to ask: a :class:`KeyStoreError` that names
    the variable to set, instead of click's bare "Aborted!"."""
    from gcx.errors import KeyStoreError
    from gcx.paths import PASSPHRASE_ENV

    if not sys.stdin.isatty():
        raise KeyStoreError(
            f"the key is encrypted and there is no terminal to ask its passphrase: set {PASSPHRASE_ENV} "
            "(under systemd: an EnvironmentFile= readable only by the service's user, see docs/operations.md)"
        )
    return str(typer.prompt("Key passphrase", hide_input=True))


def ready_announcer(
    as_json: bool, human: Callable[[dict[str, Any]], str]
) -> Callable[[dict[str, Any]], None]:
    """A ``ready`` callback: one JSON line on stdout (for supervisors such as ``gcx devnet``) or a
    human line on stderr."""

    def announce(info: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps(info), flush=True)
        else:
            print(human(info), file=sys.stderr, flush=True)

    return announce
