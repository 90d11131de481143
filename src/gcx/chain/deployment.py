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
from .artifact_pack import PACKAGED_DIR
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


#: Where an installed wheel keeps the contracts' build (absent in a source checkout).
PACKAGED_ARTIFACTS = Path(__file__).resolve().parent / PACKAGED_DIR


def _artifact_path(name: str, out_dir: Path | None) -> Path:
    """The file of contract ``name``: in ``out_dir`` (a Foundry ``out/``) when given, else the
    installed package's artifacts, else the checkout's ``contracts/out``. A missing file is a
    :class:`ChainError` naming a folder that exists and what to do."""
    if out_dir is None and PACKAGED_ARTIFACTS.is_dir():
        path = PACKAGED_ARTIFACTS / f"{name}.json"
        if not path.is_file():
            raise ChainError(
                f"this installation ships no artifact for {name} (in {PACKAGED_ARTIFACTS}): "
                "it was built from other contracts; install the release the deployment was made with"
            )
        return path
    if out_dir is None:
        project = contracts_dir()
        if project is None:
            raise ChainError(
                f"this installation has no contract artifacts ({PACKAGED_ARTIFACTS.parent} has no "
                f"{PACKAGED_DIR}/ folder): install a wheel built by `make dist`"
            )
        out_dir = project / "out"
        if not out_dir.is_dir():
            raise ChainError(f"the contracts are not built: run `make contracts` in {project.parent}")
    path = out_dir / f"{name}.sol" / f"{name}.json"
    if not path.is_file():
        raise ChainError(f"{out_dir} has no artifact for {name}: rebuild the contracts (`make contracts`)")
    return path


def load_artifact(name: str, out_dir: Path | None = None) -> Artifact:
    """The compiled contract ``name``: its ABI and creation bytecode, from the installed package
    (``gcx/chain/artifacts/<name>.json``) or, in a source checkout, Foundry's
    ``contracts/out/<name>.sol/<name>.json`` (or ``out_dir``)."""
    path = _artifact_path(name, out_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        bytecode = bytes.fromhex(data["bytecode"]["object"].removeprefix("0x"))
        abi = data["abi"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChainError(f"artifact {path} is unreadable: {exc}") from None
    return Artifact(name, abi, bytecode)


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
            f"no deployment file at {path}: copy the deployer's file there (or set chain.deployment), "
            "or deploy: `gcx chain deploy --rpc-url URL` (`gcx chain up` for a local test chain)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ChainError(f"deployment file {path} is corrupt: {exc}") from None
