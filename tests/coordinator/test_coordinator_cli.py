"""``gcx coordinator run`` refuses bad configuration cleanly: exit 2, one ``error:`` line, no
traceback — for command-line options, environment overrides and the key (the real CLI, in a
real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ZERO_KEY = "0x" + "00" * 32


def gcx(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    full_env.update({"GCX_HOME": str(home), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "gcx", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,  # a bad setting that is not refused runs (or retries) until killed
        check=False,
    )


def assert_config_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2 with one ``error: …`` line first on stderr (a settings error adds one line per bad
    key below it) naming what is wrong, and nothing else: no log lines, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), proc.stderr
    assert [line for line in lines if line.startswith("error:")] == lines[:1], proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def write_key(home: Path, name: str, private_key: str) -> None:
    path = home / "keys" / f"{name}.json"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(json.dumps({"gcx_key": 1, "private_key": private_key}))
    path.chmod(0o600)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    write_key(home, "coordinator", "0x" + "11" * 32)
    write_key(home, "zero", ZERO_KEY)
    return home


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        # a settings copy that skipped validation: OverflowError from bind() before
        (["--api-port", "70000"], {}, ["--api-port", "coordinator.api_port", "65535"]),
        (["--api-port", "-1"], {}, ["--api-port", "coordinator.api_port"]),
        # an unknown level was silently taken as INFO
        (["--log-level", "LOUD"], {}, ["--log-level", "'LOUD'", "DEBUG"]),
        # a bad listen address exited 1 from the p2p layer
        ([], {"GCX_NETWORK__LISTEN": '["/ip4/garbage/tcp/1"]'}, ["network.listen", "not a valid multiaddr"]),
        # eth-keys said "must be exactly 32 bytes long, instead of 32 bytes"
        ([], {"GCX_COORDINATOR__KEY": "zero"}, ["1..n-1 of secp256k1"]),
    ],
    ids=["port-too-big", "port-negative", "log-level", "listen", "zero-key"],
)
def test_coordinator_run_refuses_bad_configuration(
    home: Path, args: list[str], env: dict[str, str], needles: list[str]
) -> None:
    proc = gcx(home, "coordinator", "run", "--api-port", "0", *args, env=env)
    assert_config_error(proc, *needles)
