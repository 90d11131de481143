"""The ``gcx`` command line. Sub-commands live beside the programs they drive.

Every expected failure is a :class:`gcx.errors.GCXError`: :func:`main` prints its message and
exits with its code (2 for bad input or configuration, 1 for failed checks). A traceback means a
bug.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gcx import __version__
from gcx.errors import GCXError

from .keys import app as keys_app

app = typer.Typer(
    name="gcx",
    help="GCX, the Global Compute Exchange: graded, tradable, verifiable GPU compute hours.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(keys_app, name="keys")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gcx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """GCX command line."""


def _register_programs() -> None:
    from coordinator.cli import app as coordinator_app
    from node_agent.cli import app as node_app
    from verifier.cli import app as verifier_app

    from .chain import app as chain_app
    from .devnet import app as devnet_app
    from .job import app as job_app
    from .trade import app as trade_app

    app.add_typer(node_app, name="node")
    app.add_typer(coordinator_app, name="coordinator")
    app.add_typer(chain_app, name="chain")
    app.add_typer(devnet_app, name="devnet")
    app.add_typer(trade_app, name="trade")
    app.add_typer(job_app, name="job")
    app.add_typer(verifier_app, name="verifier")


_register_programs()


def _first_gcx_error(group: BaseExceptionGroup[BaseException]) -> GCXError | None:
    """The first GCXError inside a (nested) exception group, as trio nurseries raise them."""
    for exc in group.exceptions:
        if isinstance(exc, GCXError):
            return exc
        if isinstance(exc, BaseExceptionGroup) and (found := _first_gcx_error(exc)) is not None:
            return found
    return None


def _fail(exc: GCXError) -> None:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except GCXError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BaseExceptionGroup as group:  # an expected error raised inside a trio nursery
        found = _first_gcx_error(group)
        if found is None:
            raise
        _fail(found)
