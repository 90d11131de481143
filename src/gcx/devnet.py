"""A local GCX network on one machine: anvil, a coordinator and N node agents, each its own
process, talking over loopback (DESIGN §8). Used by ``gcx devnet up``, ``make demo`` and
end-to-end tests.

Layout under ``$GCX_HOME/devnet``: one home folder per participant (``coordinator/``,
``node-1/`` …) with its own key, settings and logs (``<name>/log.txt``); ``chain/`` with the
deployment file, anvil's saved chain (``anvil-state.json``, written every second and on exit)
and its log; ``devnet.json`` (ports and the deployer key: what a later run needs to resume);
``state.json`` (endpoints and process ids) for ``gcx devnet status``. Every child prints one
JSON line on stdout when it is up; the supervisor waits for those, then for the registry to
list every node.

Theory of operation: :meth:`Devnet.start` resumes the devnet found in the folder (same keys,
chain, registry and exchange journal) or creates one (``fresh=True`` deletes it first); then
:meth:`Devnet.supervise`, called in a loop, restarts a child that exited, with backoff
(:class:`gcx.backoff.RestartPolicy`), logging one line per restart, and gives up on one only
after repeated fast crashes (a node stays down; the coordinator is fatal). Anvil's death is
fatal for the devnet (see docs/decisions.md): the chain saved up to the last second is resumed
by the next ``gcx devnet up``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from .backoff import RestartPolicy
from .errors import GCXError
from .files import write_atomic
from .paths import ensure_home

if TYPE_CHECKING:
    from gcx.chain import DeployParams

log = logging.getLogger("gcx.devnet")

STOP_GRACE_S = 10.0
RESTART_READY_S = 60.0
CONFIG_FILE = "devnet.json"
ANVIL_STATE = "anvil-state.json"


class DevnetError(GCXError):
    """The devnet could not start or go on (a child failed, the chain died, a devnet already
    runs in the folder, or the folder holds one that cannot be resumed)."""

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
AUDIT_WAIT_S = 30.0
"""How long starting a devnet waits for its nodes' first capacity audits."""
COORDINATOR_ENV = {
    "GCX_COORDINATOR__UPTIME_SLOT_S": "5",
    # Capacity audits: short challenges (0.3 s at the claim) soon after a node is listed, so a
    # devnet's providers are verified within seconds on a small machine.
    "GCX_AUDIT__TARGET_S": "0.3",
    "GCX_AUDIT__FIRST_WITHIN_S": "1",
    # Jobs: 10 s challenge windows (within the devnet's 5..120 s contract bounds), deadlines a
    # re-offer waits for kept short, a silent provider noticed in 10 s, the chain followed each second.
    "GCX_JOBS__CHALLENGE_WINDOW_S": "10",
    "GCX_JOBS__MIN_SUBMIT_S": "45",
    "GCX_JOBS__PROVIDER_TIMEOUT_S": "10",
    "GCX_JOBS__FOLLOW_S": "1.0",
}
# The devnet's verifier re-executes every job (a production verifier samples: verifier.sample_ppm).
VERIFIER_ENV = {"GCX_VERIFIER__SAMPLE_PPM": "1000000", "GCX_VERIFIER__POLL_S": "1.0"}
BLOCK_TIME_S = 1
"""anvil mines a block every second, so that time passes on chain as on a real one (a challenge
window ends, a deadline passes) even while nobody sends a transaction."""


def devnet_deploy_params() -> DeployParams:
    """The devnet's contract parameters: jobs use ~10 s challenge windows; the verification game
    plays on a seconds clock (:data:`gcx.chain.deploy.DEVNET_GAME`: disputes end within 255 s), so
    a dispute opened at the end of the longest window (120 s) ends before the escrow's 400 s
    dispute backstop; and unbonding must outlast the longest challenge window plus the longest
    dispute (the floor that JobEscrow sets in the StakingRegistry: 120 + 400 s)."""
    from gcx.chain import DeployParams
    from gcx.chain.deploy import DEVNET_GAME

    return DeployParams(
        unbonding_delay_s=600,
        min_challenge_window_s=5,
        max_challenge_window_s=120,
        max_dispute_s=400,
        game=DEVNET_GAME,
    )


@dataclass(slots=True)
class Child:
    """One supervised process and what it takes to start it again."""

    name: str
    home: Path
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[str]
    log: IO[str]
    started: float  # time.monotonic() at start
    info: dict[str, Any] = field(default_factory=dict)  # its ready line
    ready: threading.Event = field(default_factory=threading.Event)
    streak: int = 0  # fast crashes in a row (RestartPolicy)
    restarts: int = 0
    restart_at: float | None = None  # while it is down: when to start it again
    exit_text: str = ""  # how it last ended
    ran_s: float = 0.0  # how long its last run lasted
    failed: bool = False  # given up on


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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


def _read_ready(child: Child) -> None:
    """Reader thread: the child's first stdout line is its ready object; drain the rest."""
    stdout = child.proc.stdout
    assert stdout is not None
    try:
        for line in stdout:
            if not child.ready.is_set():
                try:
                    info = json.loads(line)
                except ValueError:
                    continue
                child.info.update(info)  # in place: a respawned Child shares this dict
                child.ready.set()
    except (OSError, ValueError):  # closed under us on the way out
        pass
    finally:
        stdout.close()


def _spawn(name: str, home: Path, args: list[str], env: dict[str, str]) -> Child:
    home.mkdir(parents=True, exist_ok=True)
    out = (home / "log.txt").open("a", encoding="utf-8")
    proc = subprocess.Popen(
        _gcx(*args),
        env=_env(home, env),
        stdout=subprocess.PIPE,
        stderr=out,
        text=True,
        start_new_session=True,
    )
    child = Child(name, home, args, env, proc, out, time.monotonic())
    threading.Thread(target=_read_ready, args=(child,), name=f"devnet-{name}", daemon=True).start()
    return child


def _log_tail(child: Child) -> str:
    return (child.home / "log.txt").read_text(encoding="utf-8", errors="replace")[-2000:]


def _await_ready(child: Child, deadline: float) -> dict[str, Any]:
    """Wait for the child's ready line (killing it at ``deadline``)."""
    if not child.ready.wait(max(0.0, deadline - time.monotonic())):
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.wait()
        raise DevnetError(
            f"{child.name} exited or timed out before it was ready; its log ends with:\n{_log_tail(child)}"
        )
    return child.info


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _ours(pid: int) -> bool:
    """``pid`` runs and is a GCX program or anvil (not a process that reused the id)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the id
    return b"gcx" in cmdline or b"anvil" in cmdline


class Devnet:
    """Start, supervise and stop a local network. Use as a context manager.

    ``fresh``: delete an existing devnet in ``base`` first; otherwise it is resumed (its keys,
    chain, registry and exchange journal are kept).
    """

    def __init__(
        self,
        nodes: int,
        api_port: int = 0,
        base: Path | None = None,
        node_env: dict[str, str] | None = None,
        coordinator_env: dict[str, str] | None = None,
        fresh: bool = False,
        restart_policy: RestartPolicy | None = None,
        node_envs: dict[int, dict[str, str]] | None = None,
        verifier: bool = True,
        extra_verifiers: dict[str, dict[str, str]] | None = None,
    ) -> None:
        if not 1 <= nodes <= 64:
            raise DevnetError("--nodes must be between 1 and 64")
        self.nodes, self.api_port, self.fresh = nodes, api_port, fresh
        self.base = base or devnet_dir()
        self.node_env = {**NODE_ENV, **(node_env or {})}
        self.coordinator_env = {**COORDINATOR_ENV, **(coordinator_env or {})}
        self.node_envs = node_envs or {}  # per node (1-based): e.g. {3: {"GCX_FAULT__WRONG_OP": "0"}}
        self.verifier_env = dict(VERIFIER_ENV)
        self.with_verifier = verifier
        # More verifiers by name, each with its own env (e.g. a dishonest challenger:
        # {"challenger-2": {"GCX_FAULT__WRONG_OP": "0"}}); they start after the first.
        self.extra_verifiers = extra_verifiers or {}
        self.policy = restart_policy or RestartPolicy()
        self.children: list[Child] = []
        self.chain: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.resumed = False
        self._anvil: Any = None
        self._anvil_node: Any = None
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

    # -- start ----------------------------------------------------------------------------------

    def start(self, timeout_s: float | None = None) -> dict[str, Any]:
        timeout_s = timeout_s or 60.0 + 5.0 * self.nodes
        deadline = time.monotonic() + timeout_s
        self._refuse_if_running()
        if self.fresh and self.base.exists():
            shutil.rmtree(self.base)
        self._load_or_create_config()
        self._start_chain()
        coord_home = self.base / "coordinator"
        coord_first = not (coord_home / "keys" / "coordinator.json").exists()
        coord_address = _make_key(coord_home, "coordinator")
        if coord_first:  # the coordinator pays the gas of refunds at jobs' deadlines
            self.fund(coord_address)
            self.grant_auditor(coord_address)
        # Fixed ports, so a restarted coordinator is found where the nodes expect it.
        self.coordinator_env["GCX_NETWORK__LISTEN"] = f'["/ip4/127.0.0.1/tcp/{self.config["p2p_port"]}"]'
        coord = _spawn(
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
        verifier: dict[str, Any] | None = None
        verifiers: dict[str, Any] = {}
        if self.with_verifier:
            started = [self.start_verifier(info["api"])]
            started += [
                self.start_verifier(info["api"], name, env) for name, env in self.extra_verifiers.items()
            ]
            self.children += started
            verifiers = {c.name: _await_ready(c, deadline) for c in started}
            verifier = verifiers["verifier"]
        self.summary = {
            "api": info["api"],
            "coordinator": {
                "peer_id": info["peer_id"],
                "address": info["address"],
                "multiaddrs": info["multiaddrs"],
            },
            "nodes": [],
            "verifier": verifier,
            "verifiers": verifiers,
            "home": str(self.base),
            "chain": self.chain,
            "resumed": self.resumed,
        }
        self._write_state()
        return self.summary

    def _refuse_if_running(self) -> None:
        """A devnet whose supervisor (or any of whose processes) still runs is not touched."""
        try:
            state = json.loads((self.base / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        supervisor = state.get("supervisor")
        if isinstance(supervisor, int) and supervisor != os.getpid() and _ours(supervisor):
            raise DevnetError(
                f"a devnet is already running in {self.base} (supervisor pid {supervisor}): "
                "stop it (Ctrl-C, or kill that pid) first"
            )
        pids = dict(state.get("pids", {}))
        if isinstance(state.get("chain", {}).get("anvil_pid"), int):
            pids["anvil"] = state["chain"]["anvil_pid"]
        alive = [f"{name} (pid {pid})" for name, pid in pids.items() if isinstance(pid, int) and _ours(pid)]
        if alive:
            raise DevnetError(
                f"processes of the devnet in {self.base} are still running: {', '.join(alive)}; stop them first"
            )

    def _load_or_create_config(self) -> None:
        """``devnet.json``: what a later run needs to resume (ports, the deployer key)."""
        path = self.base / CONFIG_FILE
        chain_dir = self.base / "chain"
        if path.exists():
            try:
                self.config = json.loads(path.read_text(encoding="utf-8"))
                self._deployer = bytes.fromhex(self.config["deployer_key"])
            except (OSError, ValueError, KeyError) as exc:
                raise DevnetError(f"cannot resume the devnet in {self.base}: {path} is unreadable ({exc}); "
                                  "start a fresh one with `gcx devnet up --fresh`") from None  # fmt: skip
            missing = [
                p.name for p in (chain_dir / "deployment.json", chain_dir / ANVIL_STATE) if not p.exists()
            ]
            if missing:
                raise DevnetError(
                    f"cannot resume the devnet in {self.base}: its chain ({', '.join(missing)}) is missing; "
                    "start a fresh one with `gcx devnet up --fresh`"
                )
            self.resumed = True
            for key in ("api_port", "p2p_port", "anvil_port"):
                if key == "api_port" and self.api_port:
                    self.config[key] = self.api_port
                elif not _port_free(int(self.config[key])):
                    new = free_port()
                    log.warning("%s %s is taken; using %d", key.replace("_", " "), self.config[key], new)
                    self.config[key] = new
        elif self.base.exists() and any(self.base.iterdir()):
            raise DevnetError(
                f"{self.base} holds a devnet this gcx cannot resume (it has no {CONFIG_FILE}); "
                "start a fresh one with `gcx devnet up --fresh`"
            )
        else:
            self._deployer = secrets.token_bytes(32)
            self.config = {
                "api_port": self.api_port or free_port(),
                "p2p_port": free_port(),
                "anvil_port": free_port(),
                "deployer_key": self._deployer.hex(),
            }
        self.api_port = int(self.config["api_port"])
        self.base.mkdir(parents=True, exist_ok=True)
        # 0o600: the deployer key mints devnet tokens
        write_atomic(path, json.dumps(self.config, indent=2).encode(), mode=0o600)

    def _start_chain(self) -> None:
        """Start anvil (continuing the saved chain when resuming), deploy every contract on a new
        chain, and point every child at it."""
        from gcx.chain import (
            Chain,
            ChainError,
            deploy_all,
            read_deployment,
            run_anvil,
            write_deployment,
        )

        chain_dir = self.base / "chain"
        chain_dir.mkdir(parents=True, exist_ok=True)
        path = chain_dir / "deployment.json"
        self._anvil = run_anvil(
            port=int(self.config["anvil_port"]),
            log=chain_dir / "anvil.log",
            state=chain_dir / ANVIL_STATE,
            block_time_s=BLOCK_TIME_S,
        )
        try:
            node = self._anvil.__enter__()
        except ChainError as exc:
            self._anvil = None
            raise DevnetError(f"cannot start the devnet's chain: {exc}") from None
        self._anvil_node = node
        if self.resumed:
            deployment = read_deployment(path)
            try:
                Chain(deployment, rpc_url=node.rpc_url)  # the saved chain still holds the contracts
            except ChainError as exc:
                raise DevnetError(
                    f"cannot resume the devnet's chain: {exc}; start a fresh one with `gcx devnet up --fresh`"
                ) from None
            if deployment.rpc_url != node.rpc_url:
                write_deployment(dataclasses.replace(deployment, rpc_url=node.rpc_url), path)
        else:
            write_deployment(
                deploy_all(
                    node.rpc_url,
                    self._deployer,
                    devnet_deploy_params(),
                ),
                path,
            )
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
        env = {**self.node_env, **self.node_envs.get(i, {})}
        return _spawn(f"node-{i}", home, ["node", "run", "--json", "--bootstrap", bootstrap], env)

    def grant_auditor(self, address: str) -> None:
        """Let ``address`` (the coordinator's key, which signs its capacity audits) post failed
        audits' evidence to the AuditSlasher, so that repeated failures end in a slash on chain
        (docs/audits.md, "On-chain: evidence and the slash")."""
        from gcx.chain import Chain, read_deployment
        from gcx.chain.audit_slasher import grant_auditor

        deployment = read_deployment(Path(self.chain["deployment"]))
        if "AuditSlasher" in deployment.contracts:
            grant_auditor(Chain(deployment, self._deployer, rpc_url=self.chain["rpc_url"]), address)

    def fund(self, address: str) -> None:
        """Give ``address`` devnet ETH, GCX and mock USD from the faucet (e.g. a buyer's key)."""
        from gcx.chain import faucet, read_deployment

        deployment = read_deployment(Path(self.chain["deployment"]))
        faucet(self.chain["rpc_url"], deployment, self._deployer, address)

    def start_verifier(
        self, api: str, name: str = "verifier", extra_env: dict[str, str] | None = None
    ) -> Child:
        """Start a devnet verifier (`gcx verifier run`) named ``name`` (its home is a folder of
        that name), funded the first time so that it can stake as a verifier; it follows the
        coordinator's job feed and re-executes every job."""
        if name in ("coordinator", "anvil") or name.startswith("node-") or "/" in name:
            raise DevnetError(f"{name!r} cannot name a verifier")
        home = self.base / name
        first = not (home / "keys" / "verifier.json").exists()
        address = _make_key(home, "verifier")
        if first:
            self.fund(address)
        env = {
            **self.verifier_env,
            "GCX_VERIFIER__COORDINATOR_API": api,
            "GCX_CHAIN__RPC_URL": self.chain["rpc_url"],
            "GCX_CHAIN__DEPLOYMENT": self.chain["deployment"],
            **(extra_env or {}),
        }
        return _spawn(name, home, ["verifier", "run", "--json"], env)

    def _await_listed(self, api: str, peers: set[str], deadline: float) -> None:
        """Wait until the registry lists every node of ``peers`` and has audited each once (or
        believes its claim: audits off); an audit that does not come within
        :data:`AUDIT_WAIT_S` is no error (the listing shows the node unverified)."""
        audited_by = time.monotonic() + AUDIT_WAIT_S
        with httpx.Client(timeout=5.0) as client:
            while True:
                try:
                    views = {p["peer_id"]: p for p in client.get(f"{api}/v1/providers").json()["providers"]}
                except (httpx.HTTPError, ValueError, KeyError):
                    views = {}
                listed = set(views)
                audited = {
                    peer
                    for peer, p in views.items()
                    if p.get("verified", True) or (p.get("audit") or {}).get("audits", 0) > 0
                }
                if peers <= audited or (peers <= listed and time.monotonic() > min(audited_by, deadline)):
                    return
                self.check_alive()
                if time.monotonic() > deadline:
                    raise DevnetError(
                        f"the registry lists {len(listed & peers)} of {len(peers)} nodes after the timeout"
                    )
                time.sleep(0.25)

    def check_alive(self) -> None:
        """While starting: a process that exits is fatal (it is misconfigured, not unlucky)."""
        dead = [f"{c.name} (exit {c.proc.returncode})" for c in self.children if c.proc.poll() is not None]
        if dead:
            raise DevnetError(f"process(es) exited: {', '.join(dead)}; logs under {self.base}")

    # -- supervise ------------------------------------------------------------------------------

    def supervise(self, now: float | None = None) -> None:
        """One round of supervision: raise :class:`DevnetError` if anvil died; note each child
        that exited and start it again once its backoff has passed (one log line per restart);
        give up on one after repeated fast crashes (fatal for the coordinator)."""
        now = time.monotonic() if now is None else now
        anvil = self._anvil_node.process if self._anvil_node is not None else None
        if anvil is not None and anvil.poll() is not None:
            raise DevnetError(
                f"anvil, the devnet's chain (pid {anvil.pid}), {_describe_exit(anvil.returncode)}: the devnet "
                f"stops (its chain is saved up to the last second in {self.base / 'chain' / ANVIL_STATE}; "
                "`gcx devnet up` resumes it)"
            )
        changed = False
        for child in self.children:
            if child.failed:
                continue
            if child.restart_at is None and child.proc.poll() is not None:
                changed |= self._schedule_restart(child, now)
            if child.restart_at is not None and now >= child.restart_at:
                self._respawn(child)
                changed = True
        if changed:
            self._write_state()

    def _schedule_restart(self, child: Child, now: float) -> bool:
        child.log.close()
        child.ran_s = now - child.started
        child.exit_text = _describe_exit(child.proc.returncode)
        streak, delay = self.policy.after_exit(child.ran_s, child.streak)
        child.streak = streak
        if delay is None:
            child.failed = True
            message = (
                f"giving up on {child.name}: it exited {streak} times in a row, each within "
                f"{self.policy.stable_after_s:g} s of starting (last: {child.exit_text}); "
                f"its log is {child.home / 'log.txt'}"
            )
            if child.name == "coordinator":
                raise DevnetError(f"{message}; the devnet cannot go on without it")
            log.error("%s; the rest of the devnet keeps running", message)
            return True
        child.restart_at = now + delay
        return False

    def _respawn(self, child: Child) -> None:
        old_pid, delay = child.proc.pid, (child.restart_at or 0.0) - (child.started + child.ran_s)
        new = _spawn(child.name, child.home, child.args, child.env)
        child.proc, child.log, child.started = new.proc, new.log, new.started
        child.info, child.ready = new.info, new.ready  # its reader thread fills these
        child.restart_at = None
        child.restarts += 1
        log.warning(
            "%s (pid %d) %s after %.1f s; restarted it as pid %d after %.1f s (restart %d)",
            child.name, old_pid, child.exit_text, child.ran_s, child.proc.pid, delay, child.restarts,
        )  # fmt: skip

    def restart(self, name: str, sig: int = signal.SIGTERM) -> Child:
        """Stop one child with ``sig`` and start it again with the same home; wait until it is ready."""
        child = next(c for c in self.children if c.name == name)
        child.proc.send_signal(sig)
        child.proc.wait(timeout=STOP_GRACE_S)
        child.log.close()
        child.exit_text, child.ran_s = _describe_exit(child.proc.returncode), time.monotonic() - child.started
        child.restart_at = time.monotonic()
        self._respawn(child)
        _await_ready(child, time.monotonic() + RESTART_READY_S)
        self._write_state()
        return child

    def _write_state(self, running: bool = True) -> None:
        """``state.json``: endpoints and live process ids, for ``gcx devnet status``."""
        nodes = [
            {"name": c.name, "pid": c.proc.pid, **c.info} for c in self.children if c.name.startswith("node-")
        ]
        self.summary["nodes"] = nodes
        state = {
            **self.summary,
            "pids": {c.name: c.proc.pid for c in self.children},
            "restarts": {c.name: c.restarts for c in self.children},
            "given_up": [c.name for c in self.children if c.failed],
            "supervisor": os.getpid() if running else None,
        }
        write_atomic(self.base / "state.json", json.dumps(state, indent=2).encode())

    # -- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM every child (nodes first), wait, SIGKILL what is left; then stop anvil, which
        saves the chain for the next run."""
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
        if self.summary and self.base.exists():
            self._write_state(running=False)
        self.children.clear()
        if self._anvil is not None:
            self._anvil.__exit__(None, None, None)
            self._anvil = None
            self._anvil_node = None


def read_state(base: Path | None = None) -> dict[str, Any]:
    path = (base or devnet_dir()) / "state.json"
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DevnetError(f"no devnet state at {path}: start one with `gcx devnet up`") from None
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        raise DevnetError(
            f"the devnet state {path} is unreadable ({exc}): run `gcx devnet up` again"
        ) from None
    if not isinstance(state, dict):
        raise DevnetError(f"the devnet state {path} is not a JSON object: run `gcx devnet up` again")
    return state


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
