"""The embedded local chain: anvil (``$GCX_ANVIL``, Foundry's npm package in a checkout's
``contracts/node_modules``, or ``anvil`` on the PATH) on a free loopback port, started and stopped by GCX programs (``gcx chain up``, ``gcx devnet up``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from gcx.paths import source_checkout

from .errors import ChainError

ANVIL_ENV = "GCX_ANVIL"
START_TIMEOUT_S = 15.0
STATE_INTERVAL_S = 1  # run_anvil(state=...): how often the chain is saved (whole seconds)


def contracts_dir() -> Path | None:
    """The Foundry project (``contracts/``) of a source checkout, or None in an installed wheel
    (which ships the contracts' artifacts instead, see :mod:`gcx.chain.artifact_pack`)."""
    root = source_checkout()
    return None if root is None else root / "contracts"


def anvil_binary() -> Path:
    """``$GCX_ANVIL``, else the binary of Foundry's platform package in ``contracts/node_modules``
    (not npm's ``.bin/anvil``, a node script that runs it as a child: its pid would not be
    anvil's, and killing it would leave anvil running), else ``.bin/anvil``, else ``anvil`` on PATH."""
    if env := os.environ.get(ANVIL_ENV):
        path = Path(env).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ChainError(f"{ANVIL_ENV}={env} is not an executable file")
        return path
    project = contracts_dir()
    if project is not None:
        modules = project / "node_modules"
        native = [p for p in sorted(modules.glob("@foundry-rs/anvil-*/bin/anvil")) if os.access(p, os.X_OK)]
        if native:
            return native[0]
        local = modules / ".bin" / "anvil"
        if local.exists():
            return local
    found = shutil.which("anvil")
    if found:
        return Path(found)
    hint = f"run `make contracts` in {project.parent}, " if project is not None else ""
    raise ChainError(f"anvil not found: {hint}put Foundry's anvil on the PATH or set {ANVIL_ENV} to its path")


def rpc_chain_id(rpc_url: str, timeout_s: float = 2.0) -> int:
    """``eth_chainId`` of the node at ``rpc_url``; :class:`ChainError` if it does not answer."""
    try:
        response = httpx.post(
            rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=timeout_s,
        )
        return int(response.json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ChainError(f"no Ethereum JSON-RPC node answers at {rpc_url}: {exc}") from None


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class AnvilNode:
    rpc_url: str
    chain_id: int
    process: subprocess.Popen[bytes]


@contextmanager
def run_anvil(
    port: int = 0,
    chain_id: int = 31337,
    log: Path | None = None,
    state: Path | None = None,
    block_time_s: int | None = None,
) -> Iterator[AnvilNode]:
    """Start anvil on ``127.0.0.1:port`` (0: a free port), wait until it answers, stop it on exit.

    ``block_time_s``: mine a block that often even without transactions (default: only on a
    transaction, so that ``block.timestamp`` stands still on an idle chain).

    With ``state``, the chain is loaded from that file if it exists and saved to it every
    ``STATE_INTERVAL_S`` and on exit (SIGTERM included), so a later run continues the chain.
    """
    port = port or _free_port()
    out = log.open("ab") if log else subprocess.DEVNULL
    persist = ["--state", str(state), "--state-interval", str(STATE_INTERVAL_S)] if state else []
    if block_time_s is not None:
        persist += ["--block-time", str(block_time_s)]
    try:
        process = subprocess.Popen(
            [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id),
             "--accounts", "1", "--silent", *persist],
            stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        raise ChainError(f"cannot start anvil: {exc}") from None
    rpc_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise ChainError(f"anvil exited with code {process.returncode} (port {port} taken?)")
            try:
                got = rpc_chain_id(rpc_url, timeout_s=0.5)
                break
            except ChainError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield AnvilNode(rpc_url, got, process)
    finally:
        # The whole process group (anvil runs in its own session): a wrapper's child goes too.
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        if log and not isinstance(out, int):
            out.close()
