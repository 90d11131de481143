"""``gcx job`` through the real CLI in real processes: the digits model meets its accuracy and
agreement targets on two backends with one result root, the seeded GEMM is metered from its
shape, and bad files or inputs exit 2 with one ``error:`` line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gcx.tp.jobfile import decode_job, encode_job, make_job


def gcx(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env["GCX_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "gcx", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def ok_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)
    assert isinstance(value, dict)
    return value


def refused(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and needle in lines[-1], proc.stderr


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    out = home / "digits.gcxjob"
    proc = gcx(home, "job", "example", "digits", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "test images" in proc.stdout
    return out


def test_digits_accuracy_and_agreement_on_two_backends(digits: Path) -> None:
    home = digits.parent
    fast = ok_json(gcx(home, "job", "run", str(digits), "--backend", "numpy", "--json"))
    oracle = ok_json(gcx(home, "job", "run", str(digits), "--backend", "python", "--json"))
    for run, backend in ((fast, "numpy"), (oracle, "python")):
        assert run["backend"] == backend
        assert run["accuracy"] >= 0.90, run
        assert run["agreement"] >= 0.97, run
        assert run["images"] == 360
        assert run["micro_ch"] >= 1 and run["ch"] == f"0.{run['micro_ch']:06d}"
        assert run["seconds"] >= 0 and run["commit_seconds"] >= 0
    assert fast["result_root"] == oracle["result_root"]
    assert fast["outputs"] == oracle["outputs"]
    assert len(fast["result_root"]) == 66 and fast["result_root"].startswith("0x")
    assert fast["accuracy"] == oracle["accuracy"] and fast["agreement"] == oracle["agreement"]


def test_human_output_reports_accuracy(digits: Path) -> None:
    proc = gcx(digits.parent, "job", "run", str(digits), "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "result root 0x" in proc.stdout


def test_tampered_input_is_refused_before_running(digits: Path, tmp_path: Path) -> None:
    job = decode_job(digits.read_bytes())
    values = job.values()
    x = values["x"].copy()
    x[0, 0] ^= 1
    bad = tmp_path / "tampered.gcxjob"
    bad.write_bytes(encode_job(make_job(job.program, {**values, "x": x}, job.evaluation)))
    refused(gcx(tmp_path, "job", "run", str(bad), "--backend", "numpy"), "input 'x' has root")


def test_matmul_example_metered_from_its_shape(tmp_path: Path) -> None:
    out = tmp_path / "m.gcxjob"
    proc = gcx(tmp_path, "job", "example", "matmul", "--size", "48", "--seed", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    shown = ok_json(gcx(tmp_path, "job", "show", str(out), "--json"))
    assert shown["metering"]["gemm_ops"] == 2 * 48**3 and shown["metering"]["bytes_moved"] == 0
    assert [i["type"] for i in shown["inputs"]] == ["int8[48,48]", "int8[48,48]"]
    assert all(i["root"] for i in shown["inputs"])
    run = ok_json(gcx(tmp_path, "job", "run", str(out), "--backend", "numpy", "--json"))
    again = ok_json(gcx(tmp_path, "job", "run", str(out), "--backend", "python", "--json"))
    assert run["result_root"] == again["result_root"]
    assert run["program_digest"] == shown["program_digest"]
    assert "accuracy" not in run


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["job", "example", "matmul", "--size", "0"], "--size"),
        (["job", "example", "matmul", "--size", "9000"], "--size"),
        (["job", "run", "missing.gcxjob"], "missing.gcxjob"),
        (["job", "run", "garbage.gcxjob"], "garbage.gcxjob"),
        (["job", "run", "garbage.gcxjob", "--backend", "tpu"], "unknown backend 'tpu'"),
        (["job", "show", "garbage.gcxjob"], "garbage.gcxjob"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "garbage.gcxjob").write_bytes(b"\x81\xa4type\xa3job")
    args = [str(tmp_path / a) if a.endswith(".gcxjob") else a for a in args]
    refused(gcx(tmp_path, *args), needle)
