"""``gcx chain up|deploy``: the local chain and contract deployment."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Local chain (anvil) and deployment of the GCX contracts.", no_args_is_help=True)


@app.command("up")
def up(
    port: Annotated[int, typer.Option(help="RPC port on 127.0.0.1 (0: any free port).")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Deployment file (default $GCX_HOME/chain/deployment.json).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line when ready.")] = False,
) -> None:
    """Start anvil, deploy every contract, write the deployment file, run until SIGINT/SIGTERM."""
    from eth_account import Account

    from gcx.chain import deploy_all, run_anvil, write_deployment

    stop = {"now": False}

    def _stop(signum: int, frame: object) -> None:
        stop["now"] = True

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, _stop)
    with run_anvil(port) as node:
        deployment = deploy_all(node.rpc_url, bytes(Account.create().key))
        path = write_deployment(deployment, out)
        addresses = {n: c.address for n, c in deployment.contracts.items()}
        info = {
            "rpc_url": node.rpc_url,
            "chain_id": node.chain_id,
            "deployment": str(path),
            "contracts": addresses,
        }
        if as_json:
            print(json.dumps(info), flush=True)
        else:
            typer.echo(
                f"anvil at {node.rpc_url} (chain {node.chain_id}); deployment written to {path}", err=True
            )
            for name, address in addresses.items():
                typer.echo(f"  {name:16} {address}", err=True)
        while not stop["now"] and node.process.poll() is None:
            time.sleep(0.2)


@app.command("deploy")
def deploy(
    rpc_url: Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL of the target chain.")],
    key: Annotated[str, typer.Option(help="Key name of the deployer (it needs ETH for gas).")] = "deployer",
    out: Annotated[
        Path | None, typer.Option(help="Deployment file (default $GCX_HOME/chain/deployment.json).")
    ] = None,
) -> None:
    """Deploy every contract to an existing chain with the deployer's key."""
    from gcx.chain import deploy_all, write_deployment
    from gcx.cli.common import prompt_passphrase
    from gcx.keys import load_key

    deployer = load_key(key, prompt_passphrase)
    deployment = deploy_all(rpc_url, deployer.private_key, fund_deployer=False)
    path = write_deployment(deployment, out)
    typer.echo(
        json.dumps(
            {
                "deployment": str(path),
                "chain_id": deployment.chain_id,
                "contracts": {n: c.address for n, c in deployment.contracts.items()},
            }
        )
    )
