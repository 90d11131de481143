"""``gcx devnet up`` as a real process supervising real processes: a killed node or coordinator
comes back (new pid) while anvil and the others keep theirs, a process that keeps crashing is
given up on with one line, a second ``up`` on a running devnet is refused; a later ``up``
resumes the devnet (keys, chain, registry, exchange journal), also after anvil died, and
``--fresh`` starts an empty one."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gcx.devnet import pid_alive

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def _env(home: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GCX_")} | {"GCX_HOME": str(home)}


class Up:
    """A running ``gcx devnet up --json``: its ready object, stderr file and state.json."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home, self.err_path = home, home / f"up-{time.monotonic_ns()}.err"
        home.mkdir(parents=True, exist_ok=True)
        self.err = self.err_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gcx", "devnet", "up", "--json", *args],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
        try:
            line = lines.get(timeout=150)
        except queue.Empty:
            line = ""
        assert line, f"devnet up printed no ready line; stderr:\n{self.stderr()}"
        self.ready: dict[str, Any] = json.loads(line)
        self.api: str = self.ready["api"]

    def stderr(self) -> str:
        self.err.flush()
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.home / "devnet" / "state.json").read_text())
        return state

    def pids(self) -> dict[str, int]:
        state = self.state()
        return {**state["pids"], "anvil": state["chain"]["anvil_pid"], "supervisor": self.proc.pid}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


@contextmanager
def devnet_up(home: Path, *args: str) -> Iterator[Up]:
    up = Up(home, *args)
    try:
        yield up
    finally:
        pids = up.pids()
        up.stop()
        for name, pid in pids.items():
            if name != "supervisor" and pid_alive(pid):  # never leave a process behind
                os.kill(pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (e.g. a devnet's chain state file)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def providers(api: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{api}/v1/providers", params={"include_expired": True}, timeout=5)
    response.raise_for_status()
    return {p["peer_id"]: p for p in response.json()["providers"]}


def test_killed_processes_come_back_while_the_rest_keep_running(tmp_path: Path) -> None:
    with devnet_up(tmp_path, "--nodes", "2") as up:
        before = up.pids()
        peers = {n["name"]: n["peer_id"] for n in up.ready["nodes"]}

        # A node, killed without a goodbye, is restarted with its identity; nothing else moves.
        nonce = providers(up.api)[peers["node-1"]]["nonce"]
        os.kill(before["node-1"], signal.SIGKILL)
        wait_for(lambda: up.pids()["node-1"] != before["node-1"], 30, "node-1 to be restarted")
        assert pid_alive(up.pids()["node-1"])
        wait_for(lambda: providers(up.api)[peers["node-1"]]["nonce"] > nonce, 60, "a new advert from node-1")
        after = up.pids()
        for name in ("coordinator", "node-2", "anvil", "supervisor"):
            assert after[name] == before[name] and pid_alive(after[name]), name
        restarts = [line for line in up.stderr().splitlines() if "restarted it as pid" in line]
        assert len(restarts) == 1, up.stderr()
        assert f"node-1 (pid {before['node-1']}) was killed by SIGKILL" in restarts[0]
        assert f"restarted it as pid {after['node-1']}" in restarts[0]

        # The coordinator too: same API, the registry read back, the nodes find it again.
        os.kill(after["coordinator"], signal.SIGKILL)
        wait_for(
            lambda: up.pids()["coordinator"] != after["coordinator"], 30, "the coordinator to be restarted"
        )
        wait_for(lambda: set(providers(up.api)) == set(peers.values()), 60, "the registry to answer again")
        seen = {p: v["nonce"] for p, v in providers(up.api).items()}
        wait_for(
            lambda: all(v["nonce"] > seen[p] for p, v in providers(up.api).items()),
            60,
            "adverts to the restarted coordinator",
        )
        now = up.pids()
        for name in ("node-1", "node-2", "anvil", "supervisor"):
            assert now[name] == after[name] and pid_alive(now[name]), name

        # A second supervisor on the same devnet is refused.
        second = subprocess.run(
            [sys.executable, "-m", "gcx", "devnet", "up", "--nodes", "1", "--json"],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert [line for line in second.stderr.splitlines() if line.startswith("error: ")] == [
            f"error: a devnet is already running in {tmp_path / 'devnet'} (supervisor pid {up.proc.pid}): "
            "stop it (Ctrl-C, or kill that pid) first"
        ]

        # A process that crashes at every start (here: its key became world-readable) is given
        # up on after a streak of fast crashes, with one line; the rest keep running.
        (tmp_path / "devnet" / "node-2" / "keys" / "node.json").chmod(0o644)
        os.kill(now["node-2"], signal.SIGKILL)
        wait_for(lambda: up.state()["given_up"] == ["node-2"], 90, "the supervisor to give up on node-2")
        gave_up = [line for line in up.stderr().splitlines() if "giving up on node-2" in line]
        assert len(gave_up) == 1 and "5 times in a row" in gave_up[0], up.stderr()
        last = up.pids()
        for name in ("coordinator", "node-1", "anvil", "supervisor"):
            assert last[name] == now[name] and pid_alive(last[name]), name
        assert up.proc.poll() is None
        pids = up.pids()
    assert up.proc.returncode == 0
    assert not any(pid_alive(pid) for pid in pids.values())
    assert processes_mentioning(str(tmp_path / "devnet")) == []


def test_devnet_up_resumes_its_state_after_a_stop_and_after_anvil_died_and_fresh_starts_empty(
    tmp_path: Path,
) -> None:
    from gcx.cli.devnet import exchange_demo

    with devnet_up(tmp_path, "--nodes", "1") as up:
        assert up.ready["resumed"] is False
        demo = exchange_demo(up.api)
        journal_seq = demo["exchange"]["last_seq"]
        assert journal_seq > 0 and [demo["price"], 6] in demo["book"]["asks"]
        peer = up.ready["nodes"][0]["peer_id"]
        deployment = json.loads(Path(up.ready["chain"]["deployment"]).read_text())["contracts"]
    assert up.proc.returncode == 0

    def same_devnet(up: Up) -> None:
        assert up.ready["resumed"] is True
        info = httpx.get(f"{up.api}/v1/exchange", timeout=5).json()
        assert info["last_seq"] == journal_seq  # the journal was replayed, not deleted
        book = httpx.get(f"{up.api}/v1/book/CH-A-SPOT", timeout=5).json()
        assert [demo["price"], 6] in book["asks"]  # the resting order is still there
        assert [n["peer_id"] for n in up.ready["nodes"]] == [peer]  # same key
        assert json.loads(Path(up.ready["chain"]["deployment"]).read_text())["contracts"] == deployment
        assert providers(up.api)[peer]["staked"] is True  # the chain kept its stake

    with devnet_up(tmp_path, "--nodes", "1") as up:
        same_devnet(up)
        # anvil dies: the devnet stops with one error line, the chain is saved for the next run
        pids = up.pids()
        os.kill(pids["anvil"], signal.SIGKILL)
        up.proc.wait(timeout=30)
        errors = [line for line in up.stderr().splitlines() if line.startswith("error: ")]
        assert up.proc.returncode == 1 and "Traceback" not in up.stderr()
        assert (
            len(errors) == 1 and "anvil, the devnet's chain" in errors[0] and "killed by SIGKILL" in errors[0]
        )
        assert not any(pid_alive(pid) for name, pid in pids.items() if name != "supervisor")
        # the pid killed was anvil itself, not a wrapper whose anvil lives on (and keeps saving)
        assert processes_mentioning(str(tmp_path / "devnet" / "chain")) == []

    with devnet_up(tmp_path, "--nodes", "1") as up:
        same_devnet(up)

    with devnet_up(tmp_path, "--nodes", "1", "--fresh") as up:
        assert up.ready["resumed"] is False
        assert httpx.get(f"{up.api}/v1/exchange", timeout=5).json()["last_seq"] == 0
        assert httpx.get(f"{up.api}/v1/book/CH-A-SPOT", timeout=5).json()["asks"] == []
        assert [n["peer_id"] for n in up.ready["nodes"]] != [peer]
    assert processes_mentioning(str(tmp_path / "devnet")) == []
