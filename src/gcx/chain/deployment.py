"""Foundry artifacts and the deployment file every GCX program reads.

The deployment file (JSON, default ``$GCX_HOME/chain/deployment.json``) records the chain id,
the RPC URL it was made on, and for each contract its address, the keccak of its artifact's
creation bytecode (which build was deployed) and the keccak of the code found at the address
right after deployment (so a reset chain or a wrong file is detected before any call).

Contracts are keyed by their Foundry artifact name: ``MockUSD``, ``GCXToken``,
``StakingRegistry``, ``InsuranceFund``, ``CollateralVault``, ``JobEscrow`` and the verification
game's ``JobSpecs``, ``GcxTpOneStep`` (the prover), ``GcxTpGameStep`` (its adapter) and
``VerificationGame``. A file written before the game existed simply lacks the last four (a client
that needs them fails with "the deployment has no ... contract"; deploy again).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from gcx.files import write_atomic
from gcx.paths import gcx_home

from .anvil import contracts_dir
from .errors import ChainError

DEPLOYMENT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes

    @property
    def digest(self) -> str:
        return "0x" + keccak(self.bytecode).hex()


def load_artifact(name: str, out_dir: Path | None = None) -> Artifact:
    """The compiled contract ``name`` from Foundry's ``out/<name>.sol/<name>.json``."""
    path = (out_dir or contracts_dir() / "out") / f"{name}.sol" / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        bytecode = bytes.fromhex(data["bytecode"]["object"].removeprefix("0x"))
    except FileNotFoundError:
        raise ChainError(f"no artifact for {name} at {path}: run `make contracts`") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ChainError(f"artifact {path} is unreadable: {exc}") from None
    return Artifact(name, data["abi"], bytecode)


@dataclass(frozen=True, slots=True)
class Deployed:
    address: str
    artifact: str  # keccak of the creation bytecode
    code_hash: str  # keccak of the runtime code at the address after deployment


@dataclass(frozen=True, slots=True)
class Deployment:
    chain_id: int
    rpc_url: str
    block: int
    contracts: dict[str, Deployed]
    version: int = DEPLOYMENT_VERSION

    def has(self, name: str) -> bool:
        """Whether the deployment holds contract ``name``."""
        return name in self.contracts

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ChainError(f"the deployment has no {name} contract") from None


def default_deployment_path() -> Path:
    return gcx_home() / "chain" / "deployment.json"


def write_deployment(deployment: Deployment, path: Path | None = None) -> Path:
    path = path or default_deployment_path()
    write_atomic(path, (json.dumps(asdict(deployment), indent=2) + "\n").encode("utf-8"))
    return path


def read_deployment(path: Path | None = None) -> Deployment:
    path = path or default_deployment_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != DEPLOYMENT_VERSION:
            raise ChainError(
                f"deployment file {path} has version {data.get('version')}, expected {DEPLOYMENT_VERSION}"
            )
        return Deployment(
            chain_id=int(data["chain_id"]),
            rpc_url=str(data["rpc_url"]),
            block=int(data["block"]),
            contracts={name: Deployed(**c) for name, c in data["contracts"].items()},
        )
    except FileNotFoundError:
        raise ChainError(
            f"no deployment file at {path}: deploy with `gcx chain up` (or `gcx devnet up`)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ChainError(f"deployment file {path} is corrupt: {exc}") from None
