"""``gcx chain up|deploy|fund|grant-auditor``: the local chain, contract deployment and the
deployer's administration of a deployment."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Local chain (anvil) and deployment of the GCX contracts.", no_args_is_help=True)

# The options of the deployer's commands (fund, grant-auditor).
RpcUrl = Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL of the deployment's chain.")]
DeployerKey = Annotated[
    str, typer.Option(help="Key name of the deployer (the contracts' admin, the tokens' minter).")
]
DeploymentFile = Annotated[
    Path | None, typer.Option(help="Deployment file (default $GCX_HOME/chain/deployment.json).")
]


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


@app.command("fund")
def fund(
    address: Annotated[str, typer.Argument(help="The account to fund (0x…).")],
    rpc_url: RpcUrl,
    key: DeployerKey = "deployer",
    deployment: DeploymentFile = None,
    gcx: Annotated[int, typer.Option(min=0, help="Whole GCX tokens to mint (to stake).")] = 10_000,
    usd: Annotated[int, typer.Option(min=0, help="Whole mock USD to mint (collateral, escrow).")] = 100_000,
    eth: Annotated[int, typer.Option(min=0, help="Whole ETH to send from the deployer (gas).")] = 1,
) -> None:
    """Test chains only: mint GCX and mock USD to ADDRESS and send it ETH, from the deployer's key."""
    from gcx.chain import read_deployment
    from gcx.chain.deploy import TOKEN, USD, faucet

    address = _check_address(address)
    faucet(
        rpc_url, read_deployment(deployment), _deployer_key(key), address,
        eth=eth * TOKEN, gcx=gcx * TOKEN, usd=usd * USD, send_eth=True,
    )  # fmt: skip
    typer.echo(json.dumps({"funded": address, "gcx": gcx, "usd": usd, "eth": eth}))


@app.command("grant-auditor")
def grant_auditor(
    address: Annotated[str, typer.Argument(help="The coordinator's address (0x…), which signs its audits.")],
    rpc_url: RpcUrl,
    key: DeployerKey = "deployer",
    deployment: DeploymentFile = None,
) -> None:
    """Grant ADDRESS AUDITOR_ROLE on the AuditSlasher, so that the coordinator with that key can
    post failed capacity audits' evidence on chain (docs/audits.md); signed by the deployer."""
    from gcx.chain import Chain, read_deployment
    from gcx.chain.audit_slasher import AUDITOR_ROLE
    from gcx.chain.audit_slasher import grant_auditor as grant

    address = _check_address(address)
    chain = Chain(read_deployment(deployment), _deployer_key(key), rpc_url=rpc_url)
    grant(chain, address)
    granted = bool(chain.call("AuditSlasher", "hasRole", AUDITOR_ROLE, address))
    typer.echo(
        json.dumps(
            {"auditor": address, "granted": granted, "contract": chain.deployment.address("AuditSlasher")}
        )
    )


def _check_address(address: str) -> str:
    """``address`` checksummed, or a :class:`ConfigError` (a command-line mistake: exit 2)."""
    from web3 import Web3

    from gcx.errors import ConfigError

    if not Web3.is_address(address):
        raise ConfigError(f"{address!r} is not an Ethereum address")
    return str(Web3.to_checksum_address(address))


def _deployer_key(name: str) -> bytes:
    from gcx.cli.common import prompt_passphrase
    from gcx.keys import load_key

    return load_key(name, prompt_passphrase).private_key
