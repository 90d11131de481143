"""The release wheel, installed as an operator installs it: built by ``scripts/dist.py`` (what
``make dist`` runs), installed into a fresh virtualenv in a temporary folder outside the checkout,
then only that install's ``gcx`` — in its own folder, with no ``PYTHONPATH`` and none of the
checkout's environment — deploys the contracts to an anvil from the repository's toolchain,
funds and benches a node, grants the coordinator its auditor role, and runs a coordinator and the
node, which stakes and is listed; and runs ``gcx devnet up`` (with its verifier) from the wheel."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gcx.chain import AnvilNode, run_anvil
from gcx.chain.anvil import anvil_binary
from gcx.chain.artifact_pack import DEPLOYED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = '["/ip4/127.0.0.1/tcp/0"]'


@dataclass(frozen=True)
class Install:
    wheel: Path
    venv: Path
    place: Path  # the folder the installed programs run in, outside the checkout

    @property
    def gcx(self) -> Path:
        return self.venv / "bin" / "gcx"

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of an installed program: nothing from the checkout's."""
        keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(PATH=f"{self.venv / 'bin'}:/usr/bin:/bin", GCX_HOME=str(home), **extra)
        return env

    def run(self, home: Path, *args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.gcx), *args], cwd=self.place, env=self.env(home, **extra),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if ok and done.returncode != 0:
            raise AssertionError(f"gcx {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done

    def start(
        self, children: list[subprocess.Popen[str]], home: Path, args: list[str], **extra: str
    ) -> dict[str, Any]:
        """Start the installed ``gcx *args`` (logging to ``home/log.txt``), add it to ``children``
        and return the JSON line it prints once ready."""
        home.mkdir(parents=True, exist_ok=True)
        child = subprocess.Popen(
            [str(self.gcx), *args], cwd=self.place, env=self.env(home, **extra),
            stdout=subprocess.PIPE, stderr=(home / "log.txt").open("w"), text=True,
        )  # fmt: skip
        children.append(child)
        assert child.stdout is not None
        ready: dict[str, Any] | None = json.loads(child.stdout.readline() or "null")
        assert ready, (home / "log.txt").read_text()[-3000:]
        return ready


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    base = tmp_path_factory.mktemp("install")
    assert not base.resolve().is_relative_to(ROOT)
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dist.py"), "--out", str(base / "dist")],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    wheel = Path(json.loads(built.stdout.splitlines()[-1])["wheel"])
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True, timeout=600,
    )  # fmt: skip
    place = base / "work"
    place.mkdir()
    return Install(wheel, venv, place)


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with run_anvil() as node:  # the repository's toolchain (contracts/node_modules)
        yield node


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rpc(url: str, method: str, *params: Any) -> Any:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
    assert "error" not in reply, reply
    return reply["result"]


def test_the_wheel_is_a_platform_wheel_with_the_contracts_and_the_engine(install: Install) -> None:
    assert install.wheel.name.startswith("gcx-") and "-cp311-cp311-" in install.wheel.name
    names = set(zipfile.ZipFile(install.wheel).namelist())
    for contract in DEPLOYED:
        assert f"gcx/chain/artifacts/{contract}.json" in names
    assert any(
        n.startswith("coordinator/exchange/core/engine.cpython-311") and n.endswith(".so") for n in names
    )
    assert "coordinator/exchange/core/engine.build.json" in names
    # the installed package is the wheel's, not the checkout's, and its engine is the compiled one
    probe = subprocess.run(
        [str(install.venv / "bin" / "python"), "-c",
         "import gcx, coordinator.exchange.native as n; print(gcx.__file__); print(n.status().describe())"],
        cwd=install.place, env=install.env(install.place), capture_output=True, text=True, check=True,
    )  # fmt: skip
    location, engine = probe.stdout.splitlines()
    assert Path(location).is_relative_to(install.venv)
    assert engine.startswith("matching engine: compiled (") and str(install.venv) in engine


def test_installed_artifacts_are_the_checkouts_build(install: Install) -> None:
    """The shipped ABI and bytecode are byte for byte Foundry's (so their keccak is the digest a
    deployment made from the checkout records)."""
    with zipfile.ZipFile(install.wheel) as wheel:
        for contract in DEPLOYED:
            shipped = json.loads(wheel.read(f"gcx/chain/artifacts/{contract}.json"))
            built = json.loads(
                (ROOT / "contracts" / "out" / f"{contract}.sol" / f"{contract}.json").read_text()
            )
            assert shipped["abi"] == built["abi"]
            assert shipped["bytecode"]["object"] == built["bytecode"]["object"]
        manifest = json.loads(wheel.read("gcx/chain/artifacts/manifest.json"))
    assert set(DEPLOYED) <= set(manifest["contracts"])
    assert manifest["contracts"]["JobEscrow"]["source"] == "src/JobEscrow.sol"


@dataclass(frozen=True)
class Deployed:
    operator: Path  # the operator's GCX_HOME: the deployer key and the deployment file
    deployment: str


@pytest.fixture(scope="module")
def deployed(install: Install, anvil: AnvilNode) -> Deployed:
    """The contracts deployed by the installed ``gcx chain deploy`` with the operator's key, given
    test ETH by the chain (anvil's faucet)."""
    operator = install.place / "hosts" / "operator"
    deployer = json.loads(install.run(operator, "keys", "new", "--name", "deployer", "--json").stdout)
    _rpc(anvil.rpc_url, "anvil_setBalance", deployer["address"], hex(100 * 10**18))
    done = json.loads(install.run(operator, "chain", "deploy", "--rpc-url", anvil.rpc_url).stdout)
    assert set(done["contracts"]) == set(DEPLOYED)
    assert Path(done["deployment"]).is_relative_to(operator)
    return Deployed(operator, done["deployment"])


def test_only_the_deployer_grants_the_auditor_role(
    install: Install, anvil: AnvilNode, deployed: Deployed
) -> None:
    home = install.place / "hosts" / "auditor"
    auditor = json.loads(install.run(home, "keys", "new", "--name", "coordinator", "--json").stdout)
    grant = ("chain", "grant-auditor", auditor["address"].lower(), "--rpc-url", anvil.rpc_url)
    granted = json.loads(install.run(deployed.operator, *grant).stdout)
    assert granted == {
        "auditor": auditor["address"], "granted": True,
        "contract": json.loads(Path(deployed.deployment).read_text())["contracts"]["AuditSlasher"]["address"],
    }  # fmt: skip
    # another funded key is refused with the contract's reason on one error line
    stranger = json.loads(
        install.run(deployed.operator, "keys", "new", "--name", "stranger", "--json").stdout
    )
    _rpc(anvil.rpc_url, "anvil_setBalance", stranger["address"], hex(10**18))
    refused = install.run(deployed.operator, *grant, "--key", "stranger", ok=False)
    assert refused.returncode != 0 and "AccessControlUnauthorizedAccount" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_deploy_bench_stake_and_be_listed_with_the_installed_gcx(
    install: Install, anvil: AnvilNode, deployed: Deployed
) -> None:
    base = install.place / "hosts"
    operator, node_home, coord_home = deployed.operator, base / "node", base / "coordinator"
    deployment = deployed.deployment
    node = json.loads(install.run(node_home, "keys", "new", "--json").stdout)
    install.run(operator, "chain", "fund", node["address"], "--rpc-url", anvil.rpc_url, "--gcx", "1000")
    report = node_home / "report.json"
    install.run(node_home, "node", "bench", "--quick", "--out", str(report))
    install.run(node_home, "node", "verify-report", str(report))

    install.run(coord_home, "keys", "new", "--name", "coordinator")
    chain_env = {"GCX_CHAIN__RPC_URL": anvil.rpc_url, "GCX_CHAIN__DEPLOYMENT": deployment}
    api_port = _free_port()
    children: list[subprocess.Popen[str]] = []
    try:
        ready = install.start(
            children, coord_home, ["coordinator", "run", "--json", "--api-port", str(api_port)],
            GCX_NETWORK__LISTEN=LOOPBACK, GCX_CHAIN__STAKE_REFRESH_S="1.0", **chain_env,
        )  # fmt: skip
        started = install.start(
            children, node_home, ["node", "run", "--json", "--bootstrap", ready["multiaddrs"][0]],
            GCX_NETWORK__LISTEN=LOOPBACK, GCX_NODE__ADVERT_INTERVAL_S="2.0", **chain_env,
        )  # fmt: skip
        assert started["node"] == node["address"]

        listed: dict[str, Any] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not listed.get("staked"):
            providers = httpx.get(f"{ready['api']}/v1/providers", timeout=5).json()["providers"]
            listed = next((p for p in providers if p["peer_id"] == started["peer_id"]), {})
            time.sleep(0.5)
        assert listed.get("staked") is True, (listed, (coord_home / "log.txt").read_text()[-3000:])
        assert listed["address"] == node["address"]
        assert listed["hours"] > 0  # grade and CH/h are shown once the first capacity audit passes
        assert "matching engine: compiled" in (coord_home / "log.txt").read_text()
        assert "bonded" in (node_home / "log.txt").read_text()
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def test_errors_name_paths_that_exist(install: Install, tmp_path: Path) -> None:
    """Outside a checkout, a missing anvil or artifact is explained without pointing into folders
    the install does not have."""
    up = install.run(tmp_path / "home", "chain", "up", ok=False, GCX_ANVIL=str(tmp_path / "no-anvil"))
    assert up.returncode == 2 and f"GCX_ANVIL={tmp_path / 'no-anvil'} is not an executable file" in up.stderr
    up = install.run(tmp_path / "home", "chain", "up", ok=False)  # PATH holds no anvil
    assert up.returncode != 0 and "put Foundry's anvil on the PATH or set GCX_ANVIL" in up.stderr
    assert "make contracts" not in up.stderr and "node_modules" not in up.stderr
    missing = subprocess.run(
        [str(install.venv / "bin" / "python"), "-c", "from gcx.chain.deployment import load_artifact; load_artifact('NoSuch')"],
        cwd=install.place, env=install.env(tmp_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode != 0
    message = missing.stderr.strip().splitlines()[-1]
    named = re.search(r"\(in (\S+)\)", message)
    assert named is not None and message.startswith("gcx.chain.errors.ChainError"), message
    folder = named.group(1)
    assert Path(folder).is_dir() and Path(folder).is_relative_to(install.venv), message


def test_devnet_up_with_a_verifier_from_the_installed_gcx(install: Install, tmp_path: Path) -> None:
    """`gcx devnet up` and the verifier it starts (`gcx verifier run`) from the wheel alone, with
    the anvil named by GCX_ANVIL (an installation has no contracts/node_modules)."""
    home = tmp_path / "devnet-home"
    done = install.run(
        home, "devnet", "up", "--once", "--fresh", "--nodes", "1", "--json", GCX_ANVIL=str(anvil_binary())
    )
    summary = json.loads(done.stdout.splitlines()[0])
    assert Path(summary["home"]).is_relative_to(home)
    assert summary["verifier"] and summary["verifier"]["verifier"].startswith("0x")
    assert summary["chain"]["rpc_url"].startswith("http://127.0.0.1:")
    devnet = Path(summary["home"])
    assert "matching engine: compiled" in (devnet / "coordinator" / "log.txt").read_text()
    assert "Traceback" not in (devnet / "verifier" / "log.txt").read_text()
    status = json.loads(install.run(home, "devnet", "status", "--json").stdout)
    assert {"coordinator", "node-1", "verifier"} <= set(status["processes"])
    assert not any(status["processes"].values())  # --once tore every process down
    with pytest.raises(ProcessLookupError):
        os.kill(summary["chain"]["anvil_pid"], 0)  # and the chain


def test_chain_fund_refuses_what_is_not_an_address(install: Install, tmp_path: Path) -> None:
    done = install.run(tmp_path, "chain", "fund", "0xnope", "--rpc-url", "http://127.0.0.1:9", ok=False)
    assert done.returncode != 0 and "'0xnope' is not an Ethereum address" in done.stderr
    assert "Traceback" not in done.stderr
