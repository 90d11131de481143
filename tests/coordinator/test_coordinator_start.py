"""``gcx coordinator run`` as a real process: it reports ready (ready line, ``--json`` object,
endpoint file) only once it really is, and a listener it cannot own is one ``error:`` line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env.update({"GCX_HOME": str(home), **extra})
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    subprocess.run(
        [sys.executable, "-m", "gcx", "keys", "new", "--name", "coordinator"],
        env=_env(home),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return home


def _start(home: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gcx", "coordinator", "run", "--json", "--api-port", "0"],
        env=_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gcx", "coordinator", "run", "--json", "--api-port", "0"],
        env=_env(home, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_error_line(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert proc.stdout == ""  # no ready object


def test_a_second_coordinator_on_the_same_fixed_p2p_port_refuses_to_start(tmp_path: Path) -> None:
    port = _free_port()
    listen = f'["/ip4/127.0.0.1/tcp/{port}"]'
    first = _start(_home(tmp_path, "a"), GCX_NETWORK__LISTEN=listen)
    try:
        assert first.stdout is not None
        ready = json.loads(first.stdout.readline())
        assert ready["multiaddrs"][0].startswith(f"/ip4/127.0.0.1/tcp/{port}/p2p/")
        second_home = _home(tmp_path, "b")
        second = _run(second_home, GCX_NETWORK__LISTEN=listen)
        _one_error_line(second, 2, f"/ip4/127.0.0.1/tcp/{port}", "already in use")
        assert not (second_home / "coordinator" / "endpoint.json").exists()
        assert first.poll() is None  # the first one is unharmed
    finally:
        _stop(first)


@pytest.mark.parametrize(
    ("listen", "needle"),
    [
        ("/ip6/::1/udp/4001/quic", "unsupported address"),
        ("/ip4/10.254.254.1/tcp/4001", "Cannot assign requested address"),  # not a local address
    ],
)
def test_an_address_the_coordinator_cannot_listen_on_is_one_error_line(
    tmp_path: Path, listen: str, needle: str
) -> None:
    home = _home(tmp_path, "c")
    proc = _run(home, GCX_NETWORK__LISTEN=json.dumps([listen]))
    _one_error_line(proc, 2, f"cannot listen on {listen}", needle)
    assert not (home / "coordinator" / "endpoint.json").exists()


def test_a_coordinator_waits_for_its_chain_and_reports_ready_only_when_connected(tmp_path: Path) -> None:
    """The chain RPC is a closed loopback port: no ready line and no endpoint file while it is
    unreachable, one log line per attempt; then anvil starts on that port (its saved chain, with
    the contracts) and the coordinator becomes ready."""
    from gcx.chain import DeployParams, deploy_all, run_anvil, write_deployment

    port = _free_port()
    deployment_path, chain_state = tmp_path / "deployment.json", tmp_path / "anvil-state.json"
    # The chain is deployed and saved first, so that only the RPC is missing.
    with run_anvil(port=port, state=chain_state) as node:
        write_deployment(deploy_all(node.rpc_url, b"\x02" * 32, DeployParams()), deployment_path)
    home = _home(tmp_path, "d")
    proc = _start(
        home,
        GCX_CHAIN__RPC_URL=f'"http://127.0.0.1:{port}"',
        GCX_CHAIN__DEPLOYMENT=f'"{deployment_path}"',
    )
    try:
        time.sleep(8.0)
        assert proc.poll() is None, proc.communicate()
        assert not (home / "coordinator" / "endpoint.json").exists()
        with run_anvil(port=port, state=chain_state):  # the saved chain: contracts already there
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline())
            assert ready["api"].startswith("http://127.0.0.1:")
            assert (home / "coordinator" / "endpoint.json").is_file()
            _stop(proc)
        _, stderr = proc.communicate(timeout=15)
        attempts = [line for line in stderr.splitlines() if "chain RPC" in line and "retrying" in line]
        assert attempts, stderr
        assert "Traceback" not in stderr
    finally:
        _stop(proc)


def test_a_coordinator_whose_chain_never_answers_gives_up_with_one_error_line(tmp_path: Path) -> None:
    from gcx.chain import DeployParams, deploy_all, run_anvil, write_deployment

    home = _home(tmp_path, "e")
    deployment = tmp_path / "deployment.json"
    with run_anvil() as node:
        write_deployment(deploy_all(node.rpc_url, b"\x01" * 32, DeployParams()), deployment)
    started = time.monotonic()
    proc = _run(
        home,
        GCX_CHAIN__RPC_URL=f'"http://127.0.0.1:{_free_port()}"',
        GCX_CHAIN__DEPLOYMENT=f'"{deployment}"',
        GCX_CHAIN__CONNECT_TIMEOUT_S="3",
    )
    _one_error_line(proc, 2, "unreachable after 3 s", "Connection refused")
    assert time.monotonic() - started < 45
    assert not (home / "coordinator" / "endpoint.json").exists()
    # A chain that answers but is not the deployment's is no reason to wait: it fails at once.
    with run_anvil() as other:
        proc = _run(
            home,
            GCX_CHAIN__RPC_URL=f'"{other.rpc_url}"',
            GCX_CHAIN__DEPLOYMENT=f'"{deployment}"',
            GCX_CHAIN__CONNECT_TIMEOUT_S="600",
        )
    _one_error_line(proc, 2, "stale deployment file")
    assert "retrying" not in proc.stderr
