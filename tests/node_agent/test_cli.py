"""The real ``gcx`` command in real processes: keys, bench --quick, verify-report, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gcx import signing
from gcx.keys import load_key

REQUIRED_KEYS = {
    "schema",
    "backend",
    "device",
    "reference",
    "results",
    "ch_per_hour",
    "grade",
    "grades",
    "telemetry",
    "node",
    "signature",
}
RESULT_KEYS = {"name", "unit", "median", "p10", "p90", "cv", "repeats"}


def gcx(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    full_env.update({"GCX_HOME": str(home), "GCX_NODE__BACKEND": "numpy", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "gcx", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert any(line.startswith("error: ") for line in proc.stderr.splitlines())  # after any log lines
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def node_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    assert gcx(home, "keys", "new").returncode == 0
    return home


@pytest.fixture(scope="module")
def report_file(node_home: Path) -> Path:
    out = node_home / "report.json"
    proc = gcx(node_home, "node", "bench", "--quick", "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(out.read_text())
    return out


def test_keys_new_show_and_refuse_overwrite(tmp_path: Path) -> None:
    created = gcx(tmp_path, "keys", "new", "--json")
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    assert info["address"].startswith("0x") and len(info["address"]) == 42
    assert (Path(info["path"]).stat().st_mode & 0o777) == 0o600
    shown = json.loads(gcx(tmp_path, "keys", "show", "--json").stdout)
    assert shown["address"] == info["address"]
    again = gcx(tmp_path, "keys", "new")
    assert_clean_failure(again, 2, "already exists")
    ok = gcx(tmp_path, "keys", "new", "--exist-ok", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["address"] == info["address"]


def test_bench_quick_json_has_the_documented_shape(report_file: Path, node_home: Path) -> None:
    report: dict[str, Any] = json.loads(report_file.read_text())
    assert set(report) >= REQUIRED_KEYS
    assert report["schema"] == "gcx.bench/1"
    assert report["backend"] == "numpy"
    assert report["ch_per_hour"] > 0
    assert report["grade"] == "".join(report["grades"][k] for k in ("performance", "reliability", "energy"))
    assert report["grades"]["reliability"] == "?"
    assert {"name", "version"} <= set(report["reference"])
    names = {r["name"] for r in report["results"]}
    assert {"gemm_fp64", "gemm_fp32", "gemm_int8", "mem_triad"} <= names
    for r in report["results"]:
        assert set(r) >= RESULT_KEYS
        assert r["p10"] <= r["median"] <= r["p90"]
    node = json.loads(gcx(node_home, "keys", "show", "--json").stdout)["address"]
    assert report["node"] == node
    assert set(report["telemetry"]) >= {"power_w_avg", "energy_j", "temperature_c_max"}
    assert json.loads((node_home / "reports" / "latest.json").read_text())["signature"] == report["signature"]


def test_verify_report_accepts_the_real_report(report_file: Path, node_home: Path) -> None:
    proc = gcx(node_home, "node", "verify-report", str(report_file), "--json")
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["ok"] is True
    assert verdict["grade"] == json.loads(report_file.read_text())["grade"]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["results"][0]["samples"].__setitem__(0, r["results"][0]["samples"][0] * 2), "signature"),
        (lambda r: r.__setitem__("ch_per_hour", r["ch_per_hour"] * 2), "signature"),
        (lambda r: r.__setitem__("node", "0x" + "11" * 20), "signature"),
        (lambda r: r["reference"].__setitem__("version", 99), "signature"),
    ],
)
def test_verify_report_rejects_tampering(
    report_file: Path, node_home: Path, tmp_path: Path, mutate: Any, needle: str
) -> None:
    report = json.loads(report_file.read_text())
    mutate(report)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(report))
    proc = gcx(node_home, "node", "verify-report", str(bad))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr.lower() or needle in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["results"][0]["samples"].__setitem__(0, r["results"][0]["samples"][0] * 2), "samples"),
        (lambda r: r.__setitem__("ch_per_hour", r["ch_per_hour"] * 2), "does not follow from the results"),
        (lambda r: r["grades"].__setitem__("performance", "A"), "grade"),
        (lambda r: r["reference"].__setitem__("version", 99), "--reference"),
    ],
)
def test_verify_report_rejects_figures_the_node_signed_itself(
    report_file: Path,
    node_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mutate: Any,
    needle: str,
) -> None:
    """A node that signs figures which do not follow from its results is caught, not just a forger."""
    monkeypatch.setenv("GCX_HOME", str(node_home))
    report = json.loads(report_file.read_text())
    mutate(report)
    report["signature"] = signing.sign(report, load_key("node").private_key)
    bad = tmp_path / "resigned.json"
    bad.write_text(json.dumps(report))
    assert_clean_failure(gcx(node_home, "node", "verify-report", str(bad)), 1, needle)


def test_verify_report_bad_files(node_home: Path, tmp_path: Path) -> None:
    assert_clean_failure(gcx(node_home, "node", "verify-report", str(tmp_path / "none.json")), 2, "no such")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert_clean_failure(gcx(node_home, "node", "verify-report", str(junk)), 1, "not JSON")
    junk.write_text("[1, 2]")
    assert_clean_failure(gcx(node_home, "node", "verify-report", str(junk)), 1, "JSON object")


def test_bench_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    assert_clean_failure(gcx(tmp_path, "node", "bench", "--quick"), 2, "gcx keys new")


def test_bench_with_a_world_readable_key(tmp_path: Path) -> None:
    gcx(tmp_path, "keys", "new")
    (tmp_path / "keys" / "node.json").chmod(0o644)
    assert_clean_failure(gcx(tmp_path, "node", "bench", "--quick"), 2, "chmod 600")


def test_bench_with_a_corrupt_key(tmp_path: Path) -> None:
    gcx(tmp_path, "keys", "new")
    (tmp_path / "keys" / "node.json").write_text('{"private_key": "0xzz"}')
    assert_clean_failure(gcx(tmp_path, "node", "bench", "--quick"), 2, "corrupt")


def test_config_typo_is_named_with_a_suggestion(node_home: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "gcx.toml"
    cfg.write_text("[bench]\nrepeatz = 3\n")
    assert_clean_failure(
        gcx(node_home, "node", "bench", "--quick", "--config", str(cfg)), 2, "bench.repeatz", "bench.repeats"
    )
    proc = gcx(node_home, "node", "bench", "--quick", env={"GCX_BENCH__QUICK_REPEATS": "0"})
    assert_clean_failure(proc, 2, "GCX_BENCH__QUICK_REPEATS", "bench.quick_repeats")


def test_missing_and_corrupt_reference_profile(node_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert_clean_failure(
        gcx(node_home, "node", "bench", "--quick", "--reference", str(missing)),
        2,
        "reference profile not found",
    )
    corrupt = tmp_path / "corrupt.toml"
    corrupt.write_text("[profile\nname=")
    assert_clean_failure(
        gcx(node_home, "node", "bench", "--quick", "--reference", str(corrupt)), 2, "not valid TOML"
    )
    shipped = Path(__file__).resolve().parents[2] / "configs" / "reference.toml"
    broken = tmp_path / "broken.toml"
    broken.write_text(shipped.read_text().replace('unit = "GB/s"', 'unit = "furlongs"'))
    assert_clean_failure(
        gcx(node_home, "node", "bench", "--quick", "--reference", str(broken)), 2, "furlongs"
    )


def test_unknown_precision_is_rejected(node_home: Path) -> None:
    assert_clean_failure(gcx(node_home, "node", "bench", "--only", "fp8"), 2, "fp8", "fp16")


def test_only_runs_a_diagnostic_subset(node_home: Path) -> None:
    proc = gcx(node_home, "node", "bench", "--quick", "--only", "fp32,triad", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["schema"] == "gcx.bench-results/1"
    assert sorted(r["name"] for r in out["results"]) == ["gemm_fp32", "mem_triad"]


def test_forcing_cupy_without_a_gpu_fails_cleanly(node_home: Path) -> None:
    proc = gcx(node_home, "node", "bench", "--quick", "--backend", "cupy")
    if proc.returncode == 0:
        pytest.skip("a usable GPU is present")
    assert_clean_failure(proc, 2)


def test_card_is_printed_for_humans(node_home: Path) -> None:
    proc = gcx(node_home, "node", "bench", "--quick", env={"GCX_BENCH__QUICK_REPEATS": "3"})
    assert proc.returncode == 0, proc.stderr
    assert "GCX capacity card" in proc.stdout
    assert "CH/h" in proc.stdout
    assert "no usable GPU" not in proc.stderr  # backend forced to numpy: no fallback happened


def test_doctor_names_each_problem_with_its_fix(tmp_path: Path) -> None:
    proc = gcx(tmp_path, "node", "doctor", "--json")
    assert proc.returncode == 1  # no key yet
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert checks["key"]["status"] == "fail" and "gcx keys new" in checks["key"]["fix"]
    assert checks["config"]["status"] == "pass"
    assert checks["gpu"]["status"] == "warn"  # GCX_NODE__BACKEND=numpy in these tests
    assert checks["bootstrap"]["status"] == "warn"
    assert checks["report"]["status"] == "warn"
    assert all(c["status"] in ("pass", "warn", "fail") for c in checks.values())


def test_doctor_fails_an_unreachable_bootstrap_peer_and_a_taken_port(tmp_path: Path) -> None:
    import socket

    gcx(tmp_path, "keys", "new")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dead = "/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAm4ibbuXSyLF6CHSFpYgkBuRmYdmTBmkUyznJF7DbjatoB"
        proc = gcx(
            tmp_path,
            "node",
            "doctor",
            "--json",
            env={
                "GCX_NETWORK__BOOTSTRAP": f'["{dead}"]',
                "GCX_NETWORK__LISTEN": f'["/ip4/127.0.0.1/tcp/{port}"]',
                "GCX_NETWORK__DIAL_TIMEOUT_S": "2.0",
            },
        )
    assert proc.returncode == 1, proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert checks["key"]["status"] == "pass"
    assert checks["ports"]["status"] == "fail" and str(port) in checks["ports"]["detail"]
    assert checks["bootstrap"]["status"] == "fail" and "tcp/1" in checks["bootstrap"]["detail"]


def test_node_run_with_a_missing_deployment_file_fails_cleanly(node_home: Path, report_file: Path) -> None:
    # The fresh quick report in node_home is reused (no benchmark); then the chain check fails.
    proc = gcx(
        node_home,
        "node",
        "run",
        env={"GCX_NODE__BENCH_MODE": '"quick"', "GCX_CHAIN__RPC_URL": "http://127.0.0.1:1"},
    )
    assert_clean_failure(proc, 2, "no deployment file", "gcx chain up")


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, ``error: …`` first on stderr and no other ``error:`` line (a settings error adds one
    line per bad key below it): nothing logged, no traceback."""
    assert_clean_failure(proc, 2, *needles)
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), proc.stderr
    assert [line for line in lines if line.startswith("error:")] == lines[:1], proc.stderr


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        # an unknown level was silently taken as INFO
        (["--log-level", "LOUD"], {}, ["--log-level", "'LOUD'", "DEBUG"]),
        # without /p2p/ the daemon retried the dial forever
        (
            ["--bootstrap", "/ip4/127.0.0.1/tcp/4001"],
            {},
            ["--bootstrap", "network.bootstrap", "/p2p/<peer id>"],
        ),
        (["--bootstrap", "/ip4/garbage"], {}, ["--bootstrap", "not a valid multiaddr"]),
        ([], {"GCX_NETWORK__BOOTSTRAP": '["/ip4/127.0.0.1/tcp/1"]'}, ["GCX_NETWORK__BOOTSTRAP", "/p2p/"]),
        # a bad listen address exited 1 from the p2p layer
        ([], {"GCX_NETWORK__LISTEN": '["/ip4/garbage/tcp/1"]'}, ["network.listen", "not a valid multiaddr"]),
        # eth-keys said "must be exactly 32 bytes long, instead of 32 bytes"
        ([], {"GCX_NODE__KEY": "zero"}, ["1..n-1 of secp256k1"]),
    ],
    ids=["log-level", "bootstrap-no-p2p", "bootstrap-garbage", "bootstrap-env", "listen", "zero-key"],
)
def test_node_run_refuses_bad_configuration(
    tmp_path: Path, args: list[str], env: dict[str, str], needles: list[str]
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    for name, secret in (("node", "11" * 32), ("zero", "00" * 32)):
        (keys / f"{name}.json").write_text(json.dumps({"gcx_key": 1, "private_key": "0x" + secret}))
        (keys / f"{name}.json").chmod(0o600)
    proc = gcx(tmp_path, "node", "run", *args, env={"GCX_NODE__BENCH_MODE": "quick", **env})
    assert_one_error_line(proc, *needles)


def test_a_private_key_out_of_range_is_named_as_such(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    for name, secret in (("order", f"{order:064x}"), ("short", "11" * 31)):
        (keys / f"{name}.json").write_text(json.dumps({"gcx_key": 1, "private_key": "0x" + secret}))
        (keys / f"{name}.json").chmod(0o600)
    proc = gcx(tmp_path, "node", "bench", "--quick", env={"GCX_NODE__KEY": "order"})
    assert_one_error_line(proc, "1..n-1 of secp256k1")
    assert "instead of 32 bytes" not in proc.stderr
    proc = gcx(tmp_path, "keys", "show", "--name", "short")
    assert_one_error_line(proc, "a private key is 32 bytes, this one is 31")


def test_doctor_prints_the_gpu_extras_literally(tmp_path: Path) -> None:
    # rich parsed "[gpu]" and "[gpu-cuda12]" in the fix text as markup tags and dropped them.
    proc = gcx(tmp_path, "node", "doctor", env={"GCX_NODE__BACKEND": "auto", "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 1, proc.stderr  # no key yet
    assert "gcx[gpu]" in proc.stdout and "gcx[gpu-cuda12]" in proc.stdout, proc.stdout


def test_the_card_prints_report_text_literally(report_file: Path) -> None:
    from rich.console import Console

    from node_agent.card import render_card

    report = json.loads(report_file.read_text())
    report["device"]["name"] = "Accel [gpu] [bold]X[/bold]"
    report["fallback_reason"] = "install 'gcx[gpu-cuda12]'"
    console = Console(width=200, record=True, color_system=None)
    render_card(report, console)
    out = console.export_text()
    assert "Accel [gpu] [bold]X[/bold]" in out and "'gcx[gpu-cuda12]'" in out


def test_node_run_refuses_a_listen_port_another_process_holds(node_home: Path, report_file: Path) -> None:
    """py-libp2p's listener sets SO_REUSEPORT, so a node would share a port held the same way
    (and take some of the other process's connections): it must refuse with one error line."""
    import socket

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = gcx(
            node_home,
            "node",
            "run",
            "--json",
            env={"GCX_NODE__BENCH_MODE": '"quick"', "GCX_NETWORK__LISTEN": f'["/ip4/127.0.0.1/tcp/{port}"]'},
        )
    assert_clean_failure(proc, 2, f"cannot listen on /ip4/127.0.0.1/tcp/{port}", "already in use")
    assert proc.stdout == ""  # no ready line
