"""``gcx verifier audit`` through the real CLI (a subprocess) against a provider in this process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from p2p_helpers import new_raw_key
from test_audit_protocol import numpy_ops_per_s

from gcx.audit.server import AuditFaults, AuditServer
from gcx.p2p import listen_addrs, open_host

pytestmark = [pytest.mark.trio, pytest.mark.timeout(120)]


@asynccontextmanager
async def provider(faults: AuditFaults | None = None) -> AsyncIterator[tuple[str, AuditServer]]:
    key = new_raw_key()
    async with open_host(key) as host:
        server = AuditServer(key, "numpy", faults=faults)
        server.register(host)
        yield listen_addrs(host)[0], server


async def gcx(home: Path, *args: str) -> trio.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env["GCX_HOME"] = str(home)
    with trio.fail_after(90):
        return await trio.run_process(
            [sys.executable, "-m", "gcx", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
        )


def _claim_tops() -> str:
    return repr(numpy_ops_per_s() / 20 / 1e12)


async def test_cli_audit_of_an_honest_provider_passes(tmp_path: Path) -> None:
    async with provider() as (addr, server):
        proc = await gcx(
            tmp_path, "verifier", "audit", "--peer", addr, "--claimed-tops", _claim_tops(),
            "--target-s", "0.2", "--allowance-s", "5", "--json",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode()
        summary = json.loads(proc.stdout)
        assert summary["verdict"] == "passed" and summary["rows_opened"] == 66
        assert summary["provider_peer"] == addr.rsplit("/", 1)[1]
        assert server.opened == 1


async def test_cli_audit_of_a_faulty_provider_exits_1_naming_the_row(tmp_path: Path) -> None:
    async with provider(AuditFaults(wrong_row_fraction=0.5)) as (addr, _):
        proc = await gcx(
            tmp_path, "verifier", "audit", "--peer", addr, "--claimed-tops", _claim_tops(),
            "--target-s", "0.2", "--allowance-s", "5",
        )  # fmt: skip
        out = proc.stdout.decode()
        assert proc.returncode == 1, (out, proc.stderr.decode())
        assert out.startswith("WRONG_ROW: ") and ": wrong row (" in out


async def test_cli_audit_refuses_bad_input_with_one_error_line(tmp_path: Path) -> None:
    for args, code, needle in (
        (["--peer", "/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAmBadBadBad", "--claimed-tops", "1"], 1, "error: "),
        (["--peer", "/ip4/127.0.0.1/tcp/1", "--claimed-tops", "0"], 2, "--claimed-tops"),
        (["--peer", "/ip4/127.0.0.1/tcp/1", "--claimed-tops", "1", "--rows", "0"], 2, "rows_to_open"),
    ):
        proc = await gcx(tmp_path, "verifier", "audit", *args)
        err = proc.stderr.decode()
        assert proc.returncode == code, (args, err)
        assert "Traceback" not in err and needle in err
        assert [line for line in err.splitlines() if line.startswith("error: ")], err
