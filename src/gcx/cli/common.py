"""Small pieces shared by the long-running commands' CLIs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer


def prompt_passphrase() -> str:
    """Ask for the passphrase of an encrypted key (only called when one is needed)."""
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
