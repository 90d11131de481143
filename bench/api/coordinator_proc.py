"""The coordinator under test: a real ``gcx coordinator run`` process in a home of its own, started
and stopped by :class:`Coordinator`, and the CPU time of a process tree (:func:`_tree_cpu_s`), to
tell which side is the bottleneck on a small machine."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gcx.keys import new_key

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
JOURNAL = "FULL"  # the journal's synchronous setting for the coordinator we start


def _gcx_env(home: Path) -> dict[str, str]:
    """The environment of the coordinator: ours without any ``GCX_`` setting, plus its home, a
    loopback p2p listener on any free port and the durable journal (``synchronous=FULL``, the
    default, set here so that the figure never silently comes from a faster, unsafe setting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env["GCX_HOME"] = str(home)
    env["GCX_NETWORK__LISTEN"] = '["/ip4/127.0.0.1/tcp/0"]'
    env["GCX_EXCHANGE__SYNCHRONOUS"] = JOURNAL
    return env


def make_coordinator_key(home: Path) -> str:
    """Create the coordinator's key in ``home`` (as ``gcx keys new`` would); return its address."""
    saved = os.environ.get("GCX_HOME")
    os.environ["GCX_HOME"] = str(home)
    try:
        return new_key("coordinator").address
    finally:
        if saved is None:
            del os.environ["GCX_HOME"]
        else:
            os.environ["GCX_HOME"] = saved


@dataclass
class Coordinator:
    """A real ``gcx coordinator run`` process in its own home. :meth:`start` is a context manager
    that stops it (SIGTERM, then SIGKILL) on any exit, KeyboardInterrupt included."""

    home: Path
    proc: subprocess.Popen[str]
    api: str
    info: dict[str, Any]

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, home: Path, log_level: str = "WARNING", settings: dict[str, str] | None = None
    ) -> Iterator[Coordinator]:
        """``settings``: more ``GCX_...`` environment settings for the coordinator."""
        home.mkdir(parents=True, exist_ok=True)
        make_coordinator_key(home)
        log_path = home / "coordinator.log"
        with log_path.open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "gcx", "coordinator", "run"),
                    *("--api-port", "0", "--json", "--log-level", log_level),
                ],
                env=_gcx_env(home) | (settings or {}),
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,  # our Ctrl-C is not its: we stop it ourselves, below
            )
            try:
                info = _await_ready(proc, log_path)
                yield cls(home, proc, str(info["api"]).rstrip("/"), info)
            finally:
                _stop(proc)

    def cpu_s(self) -> float:
        """CPU seconds used so far by the coordinator and its descendants (0 where /proc is absent)."""
        return _tree_cpu_s(self.proc.pid)


def _await_ready(proc: subprocess.Popen[str], log_path: Path) -> dict[str, Any]:
    """The coordinator's one JSON ready line; it is killed if none comes within the timeout."""
    assert proc.stdout is not None
    timer = threading.Timer(READY_TIMEOUT_S, proc.kill)
    timer.start()
    try:
        line = proc.stdout.readline()
    finally:
        timer.cancel()
    if not line:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"the coordinator exited or timed out before it was ready; its log ends:\n{tail}")
    info: dict[str, Any] = json.loads(line)
    return info


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the coordinator's process group, wait, then SIGKILL what is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _tree_cpu_s(root: int) -> float:
    """utime + stime of ``root`` and every descendant, from /proc (Linux); 0.0 elsewhere."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    cpu: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
        pid = int(name)
        parents[pid] = int(fields[1])
        cpu[pid] = int(fields[11]) + int(fields[12])
    total = 0
    for pid, used in cpu.items():
        p = pid
        while p > 1 and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += used
    return total / ticks
