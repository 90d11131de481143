"""A local GCX network on one machine: a coordinator and N node agents, each its own process,
talking over loopback (DESIGN §8). Used by ``gcx devnet up``, ``make demo`` and end-to-end tests.

Layout under ``$GCX_HOME/devnet``: one home folder per participant (``coordinator/``,
``node-1/`` …) with its own key, settings and logs (``<name>/log.txt``), and ``state.json``
(endpoints and process ids) for ``gcx devnet status``. Every child prints one JSON line on stdout
when it is up; the supervisor waits for those, then for the registry to list every node.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from .errors import GCXError
from .paths import ensure_home

STOP_GRACE_S = 10.0


class DevnetError(GCXError):
    """The devnet could not start (a child failed or did not become ready in time)."""

    exit_code = 1


# Settings every devnet node gets: a quick CPU-sized benchmark and frequent adverts so the
# network is ready in seconds. Real providers keep the defaults.
NODE_ENV = {
    "GCX_NODE__BENCH_MODE": '"quick"',
    "GCX_BENCH__QUICK_REPEATS": "3",
    "GCX_BENCH__QUICK_TARGET_SAMPLE_MS": "5.0",
    "GCX_NODE__ADVERT_INTERVAL_S": "5.0",
    "GCX_NODE__ADVERT_TTL_S": "30",
    "GCX_NODE__HEARTBEAT_INTERVAL_S": "2.0",
}
COORDINATOR_ENV = {"GCX_COORDINATOR__UPTIME_SLOT_S": "5"}


@dataclass(slots=True)
class Child:
    name: str
    home: Path
    proc: subprocess.Popen[str]
    log: IO[str]
    info: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def devnet_dir() -> Path:
    return ensure_home() / "devnet"


def _gcx(*args: str) -> list[str]:
    return [sys.executable, "-m", "gcx", *args]


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env.update({"GCX_HOME": str(home), **extra})
    return env


def _make_key(home: Path, name: str) -> str:
    """Create (or reuse) key ``name`` in ``home`` with the real CLI; return its address."""
    proc = subprocess.run(
        _gcx("keys", "new", "--name", name, "--exist-ok", "--json"),
        env=_env(home, {}),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DevnetError(f"cannot create key {name} in {home}: {proc.stderr.strip()}")
    address: str = json.loads(proc.stdout)["address"]
    return address


def _start(name: str, home: Path, args: list[str], extra_env: dict[str, str]) -> Child:
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "log.txt").open("a", encoding="utf-8")
    proc = subprocess.Popen(
        _gcx(*args),
        env=_env(home, extra_env),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    return Child(name, home, proc, log)


def _await_ready(child: Child, deadline: float) -> dict[str, Any]:
    """Read the child's ready line (blocking, bounded by ``deadline`` via a watchdog kill)."""
    assert child.proc.stdout is not None
    import threading

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), child.proc.kill)
    timer.start()
    try:
        line = child.proc.stdout.readline()
    finally:
        timer.cancel()
    if not line:
        tail = (child.home / "log.txt").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise DevnetError(f"{child.name} exited or timed out before it was ready; its log ends with:\n{tail}")
    child.info = json.loads(line)
    return child.info


class Devnet:
    """Start, watch and stop a local network. Use as a context manager."""

    def __init__(
        self,
        nodes: int,
        api_port: int = 0,
        base: Path | None = None,
        node_env: dict[str, str] | None = None,
        coordinator_env: dict[str, str] | None = None,
    ) -> None:
        if not 1 <= nodes <= 64:
            raise DevnetError("--nodes must be between 1 and 64")
        self.nodes, self.api_port = nodes, api_port
        self.base = base or devnet_dir()
        self.node_env = {**NODE_ENV, **(node_env or {})}
        self.coordinator_env = {**COORDINATOR_ENV, **(coordinator_env or {})}
        self.children: list[Child] = []
        self.chain: dict[str, Any] = {}
        self._anvil: Any = None
        self._deployer = b""
        self.summary: dict[str, Any] = {}

    def __enter__(self) -> Devnet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, timeout_s: float | None = None) -> dict[str, Any]:
        timeout_s = timeout_s or 60.0 + 5.0 * self.nodes
        deadline = time.monotonic() + timeout_s
        if self.base.exists():
            shutil.rmtree(self.base)  # a devnet is ephemeral: fresh registry, fresh nodes
        self._start_chain()
        coord_home = self.base / "coordinator"
        _make_key(coord_home, "coordinator")
        # Fixed ports, so a restarted coordinator is found where the nodes expect it.
        self.api_port = self.api_port or free_port()
        self.coordinator_env["GCX_NETWORK__LISTEN"] = f'["/ip4/127.0.0.1/tcp/{free_port()}"]'
        coord = _start(
            "coordinator",
            coord_home,
            ["coordinator", "run", "--json", "--api-port", str(self.api_port)],
            self.coordinator_env,
        )
        self.children.append(coord)
        info = _await_ready(coord, deadline)
        bootstrap = info["multiaddrs"][0]
        for i in range(1, self.nodes + 1):
            self.children.append(self.start_node(i, bootstrap))
        nodes = [_await_ready(c, deadline) for c in self.children[1:]]
        self._await_listed(info["api"], {n["peer_id"] for n in nodes}, deadline)
        self.summary = {
            "api": info["api"],
            "coordinator": {
                "peer_id": info["peer_id"],
                "address": info["address"],
                "multiaddrs": info["multiaddrs"],
            },
            "nodes": [{"name": c.name, "pid": c.proc.pid, **c.info} for c in self.children[1:]],
            "home": str(self.base),
            "chain": self.chain,
        }
        self._write_state()
        return self.summary

    def _write_state(self) -> None:
        """``state.json``: endpoints and live process ids, for ``gcx devnet status``."""
        state = {
            **self.summary,
            "pids": {c.name: c.proc.pid for c in self.children},
            "supervisor": os.getpid(),
        }
        tmp = self.base / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(tmp, self.base / "state.json")

    def _start_chain(self) -> None:
        """Start anvil, deploy every contract from a fresh deployer key, and point every child at it."""
        from eth_account import Account

        from gcx.chain import DeployParams, deploy_all, run_anvil, write_deployment

        chain_dir = self.base / "chain"
        chain_dir.mkdir(parents=True, exist_ok=True)
        self._anvil = run_anvil(log=chain_dir / "anvil.log")
        node = self._anvil.__enter__()
        self._deployer = bytes(Account.create().key)
        deployment = deploy_all(node.rpc_url, self._deployer, DeployParams(unbonding_delay_s=60))
        path = write_deployment(deployment, chain_dir / "deployment.json")
        self.chain = {
            "rpc_url": node.rpc_url,
            "chain_id": node.chain_id,
            "deployment": str(path),
            "anvil_pid": node.process.pid,
        }
        env = {"GCX_CHAIN__RPC_URL": node.rpc_url, "GCX_CHAIN__DEPLOYMENT": str(path)}
        self.node_env.update(env)
        self.coordinator_env.update(env)
        self.coordinator_env.setdefault("GCX_CHAIN__STAKE_REFRESH_S", "1.0")

    def start_node(self, i: int, bootstrap: str) -> Child:
        """Start node ``i`` (its home and key are kept across restarts); fund it from the faucet
        the first time, so that it can stake."""
        from gcx.chain import faucet, read_deployment

        home = self.base / f"node-{i}"
        first = not (home / "keys" / "node.json").exists()
        address = _make_key(home, "node")
        if first:
            deployment = read_deployment(Path(self.chain["deployment"]))
            faucet(self.chain["rpc_url"], deployment, self._deployer, address)
        return _start(f"node-{i}", home, ["node", "run", "--json", "--bootstrap", bootstrap], self.node_env)

    def restart(self, name: str, sig: int = signal.SIGTERM) -> Child:
        """Stop one child with ``sig`` and start it again with the same home; wait until it is ready."""
        index = next(i for i, c in enumerate(self.children) if c.name == name)
        old = self.children[index]
        old.proc.send_signal(sig)
        old.proc.wait(timeout=STOP_GRACE_S)
        old.log.close()
        if name == "coordinator":
            new = _start(
                "coordinator",
                old.home,
                ["coordinator", "run", "--json", "--api-port", str(self.api_port)],
                self.coordinator_env,
            )
        else:
            new = self.start_node(int(name.removeprefix("node-")), self.children[0].info["multiaddrs"][0])
        self.children[index] = new
        _await_ready(new, time.monotonic() + 60)
        self._write_state()
        return new

    def _await_listed(self, api: str, peers: set[str], deadline: float) -> None:
        with httpx.Client(timeout=5.0) as client:
            while True:
                try:
                    listed = {p["peer_id"] for p in client.get(f"{api}/v1/providers").json()["providers"]}
                except (httpx.HTTPError, ValueError, KeyError):
                    listed = set()
                if peers <= listed:
                    return
                self.check_alive()
                if time.monotonic() > deadline:
                    raise DevnetError(
                        f"the registry lists {len(listed & peers)} of {len(peers)} nodes after the timeout"
                    )
                time.sleep(0.25)

    def check_alive(self) -> None:
        dead = [f"{c.name} (exit {c.proc.returncode})" for c in self.children if c.proc.poll() is not None]
        if dead:
            raise DevnetError(f"process(es) exited: {', '.join(dead)}; logs under {self.base}")

    def stop(self) -> None:
        """SIGTERM every child (nodes first), wait, then SIGKILL what is left."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            child.log.close()
            if child.proc.stdout:
                child.proc.stdout.close()
        self.children.clear()
        if self._anvil is not None:
            self._anvil.__exit__(None, None, None)
            self._anvil = None


def read_state(base: Path | None = None) -> dict[str, Any]:
    path = (base or devnet_dir()) / "state.json"
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DevnetError(f"no devnet state at {path}: start one with `gcx devnet up`") from None
    return state


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
