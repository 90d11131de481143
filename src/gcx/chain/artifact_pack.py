"""The contracts' build as it ships inside the package: ABI and creation bytecode of every
contract under ``contracts/src``, copied from Foundry's ``out/`` when the wheel is built.

An installed GCX reads its artifacts from ``gcx/chain/artifacts/<Name>.json`` (the same
``abi`` / ``bytecode.object`` keys as Foundry's files, nothing else) and
``gcx/chain/artifacts/manifest.json`` (the compiler and, per contract, its source file and that
file's keccak-256 as solc recorded it). A source checkout has no such folder and reads
``contracts/out`` (see :func:`gcx.chain.deployment.load_artifact`).

This module imports only the standard library: the wheel's build hook (``hatch_build.py``)
loads it by file path in a build environment that has none of GCX's dependencies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: The package folder (under ``gcx/chain/``) that holds the shipped artifacts.
PACKAGED_DIR = "artifacts"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
#: Only contracts whose source is in the Foundry project's ``src/`` ship (not tests or scripts).
SOURCE_PREFIX = "src/"
#: What ``gcx chain deploy`` deploys (:func:`gcx.chain.deploy.deploy_all`): a build lacking one
#: of these is refused.
DEPLOYED = (
    "MockUSD",
    "GCXToken",
    "StakingRegistry",
    "InsuranceFund",
    "CollateralVault",
    "JobEscrow",
    "AuditSlasher",
    "JobSpecs",
    "GcxTpOneStep",
    "GcxTpGameStep",
    "VerificationGame",
)


class ArtifactPackError(Exception):
    """``contracts/out`` is missing, incomplete or unreadable."""


def _compact(path: Path) -> tuple[str, dict[str, Any], dict[str, str], str] | None:
    """(name, compact artifact, manifest entry, compiler) of one Foundry artifact, or None when
    it was not compiled from ``src/``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        targets: dict[str, str] = data["metadata"]["settings"]["compilationTarget"]
        (source, name), *_ = targets.items()
        if not source.startswith(SOURCE_PREFIX):
            return None
        compiler = str(data["metadata"]["compiler"]["version"])
        keccak = str(data["metadata"]["sources"][source]["keccak256"])
        compact = {"abi": data["abi"], "bytecode": {"object": data["bytecode"]["object"]}}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactPackError(f"Foundry artifact {path} is unreadable: {exc!r}") from None
    return name, compact, {"source": source, "source_keccak256": keccak}, compiler


def pack(out_dir: Path, dest: Path, required: tuple[str, ...] = DEPLOYED) -> dict[str, Any]:
    """Write the compact artifact of every ``src/`` contract in Foundry's ``out_dir`` and the
    manifest into ``dest`` (created); returns the manifest. Raises :class:`ArtifactPackError`
    when ``out_dir`` has no build or lacks one of ``required``."""
    files = sorted(out_dir.glob("*.sol/*.json"))
    if not files:
        raise ArtifactPackError(f"{out_dir} holds no Foundry build: run `make contracts` first")
    contracts: dict[str, dict[str, str]] = {}
    compilers: set[str] = set()
    dest.mkdir(parents=True, exist_ok=True)
    for path in files:
        found = _compact(path)
        if found is None:
            continue
        name, compact, entry, compiler = found
        compilers.add(compiler)
        contracts[name] = entry
        partial = dest / f".{name}.json.tmp"
        partial.write_text(json.dumps(compact, separators=(",", ":")) + "\n", encoding="utf-8")
        os.replace(partial, dest / f"{name}.json")
    missing = [n for n in required if n not in contracts]
    if missing:
        raise ArtifactPackError(f"{out_dir} lacks {', '.join(missing)}: run `make contracts` first")
    manifest = {"format": MANIFEST_FORMAT, "compiler": sorted(compilers), "contracts": contracts}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
