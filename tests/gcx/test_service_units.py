"""The systemd units in ``configs/`` and the command lines of ``docs/operations.md``.

Every ``gcx`` command line they show must name a real command, with options that command has:
each is resolved against the CLI's click tree and its ``--help`` is run in-process. The units
must run as their own non-root user, write only their ``GCX_HOME`` and keep their hardening.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gcx.cli import app
from gcx.p2p.host import CLOSE_TIMEOUT_S

ROOT = Path(__file__).resolve().parents[2]
UNITS = {path.stem: path for path in sorted((ROOT / "configs").glob("*.service"))}
DOC = ROOT / "docs" / "operations.md"
GCX = "/opt/gcx/bin/gcx"
CLI = typer.main.get_command(app)
#: A chain transaction's receipt is waited for this long at most (gcx.chain.client.Chain.transact).
RECEIPT_TIMEOUT_S = 60
_SEPARATORS = {"&&", "||", ";", "|"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_OPTION = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


# -- reading units -----------------------------------------------------------------------------


class _Repeated(dict[str, Any]):
    """configparser's mapping that keeps every value of a repeated key (systemd allows
    ``Environment=`` any number of times): configparser joins them with newlines."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and isinstance(self.get(key), list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


class _UnitParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # systemd keys are case-sensitive


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [value, ...]}}`` of a unit file, every value of a repeated key kept."""
    parser = _UnitParser(
        strict=False, interpolation=None, delimiters=("=",), dict_type=_Repeated, empty_lines_in_values=False
    )
    parser.read(path, encoding="utf-8")
    return {name: {k: v.split("\n") for k, v in parser[name].items()} for name in parser.sections()}


def service(name: str) -> dict[str, list[str]]:
    return read_unit(UNITS[name])["Service"]


def one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key, [])
    assert len(values) == 1, f"{key}= must be set once, found {values}"
    return values[0]


def is_true(value: str) -> bool:
    return value.strip().lower() in ("1", "yes", "true", "on")


def environment(section: dict[str, list[str]]) -> dict[str, str]:
    pairs = [word.split("=", 1) for line in section.get("Environment", []) for word in shlex.split(line)]
    return {k: v for k, v in pairs}


# -- checking command lines against the CLI ----------------------------------------------------


def gcx_argv(words: list[str]) -> list[str] | None:
    """The arguments after ``gcx`` when ``words`` run it (directly, as ``/opt/gcx/bin/gcx``, after
    ``sudo -u USER`` and ``env`` or ``NAME=value`` assignments), else None."""
    i = 0
    if words[i : i + 1] == ["sudo"]:
        i += 1
        while i < len(words) and words[i].startswith("-"):
            i += 2 if words[i] in ("-u", "-g") else 1
    if words[i : i + 1] == ["env"]:
        i += 1
    while i < len(words) and _ASSIGNMENT.fullmatch(words[i]):
        i += 1
    if i < len(words) and words[i] in ("gcx", GCX):
        return words[i + 1 :]
    return None


def gcx_commands(line: str) -> list[list[str]]:
    """Every ``gcx`` invocation on one shell line (split at ``&&``, ``;``, ``|``...)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    words = list(lexer)
    found: list[list[str]] = []
    segment: list[str] = []
    for word in [*words, ";"]:
        if word in _SEPARATORS:
            if segment and (argv := gcx_argv(segment)) is not None:
                found.append(argv)
            segment = []
        else:
            segment.append(word)
    return found


def subcommands(command: Any) -> dict[str, Any]:
    """A group's sub-commands by name (typer's own click: a group has ``commands``); {} else."""
    return dict(getattr(command, "commands", None) or {})


def resolve(argv: list[str]) -> tuple[list[str], Any]:
    """The command path that ``argv`` names (sub-command words, before any argument or option)
    and its command object."""
    command: Any = CLI
    path: list[str] = []
    for word in argv:
        if word not in subcommands(command):
            break
        command = subcommands(command)[word]
        path.append(word)
    return path, command


def check_command(argv: list[str]) -> None:
    """``gcx ARGV`` names a real command and every option on it is one of that command's:
    ``gcx PATH --help`` exits 0 and shows each option."""
    path, command = resolve(argv)
    where = f"`gcx {shlex.join(argv)}`"
    rest = argv[len(path) :]
    if subcommands(command):  # a group takes only its own options (`gcx --version`)
        assert rest and all(_OPTION.fullmatch(w) for w in rest), f"{where}: `gcx {' '.join(path)}` is a group"
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, f"{where}: `gcx {' '.join(path)} --help` exited {result.exit_code}"
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if not _OPTION.fullmatch(word.split("=", 1)[0]):
            continue
        option = word.split("=", 1)[0]
        assert option in known, f"{where}: `gcx {' '.join(path)}` has no option {option}"
        assert option in result.output, f"{where}: {option} is not in `gcx {' '.join(path)} --help`"


def doc_commands() -> list[tuple[str, list[str]]]:
    """``(line, argv)`` of every ``gcx`` invocation in docs/operations.md's code blocks."""
    found: list[tuple[str, list[str]]] = []
    for block in _FENCE.findall(DOC.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            first = line.split(maxsplit=1)[0] if line.strip() else ""
            if first in ("gcx", GCX, "sudo", "env") or _ASSIGNMENT.fullmatch(first):
                found.extend((line, argv) for argv in gcx_commands(line))
    return found


# -- the units ---------------------------------------------------------------------------------


def test_the_three_programs_have_units() -> None:
    assert set(UNITS) >= {"gcx-node", "gcx-coordinator", "gcx-verifier"}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_unit_runs_as_its_own_user_and_writes_only_its_home(name: str) -> None:
    s = service(name)
    user = one(s, "User")
    assert user and user not in ("root", "0"), f"{name} must not run as root"
    assert one(s, "Group") == user
    home = environment(s).get("GCX_HOME")
    assert home, f"{name}: Environment=GCX_HOME=... is missing"
    assert one(s, "ReadWritePaths").split() == [home]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_unit_starts_a_real_gcx_command(name: str) -> None:
    words = shlex.split(one(service(name), "ExecStart"))
    assert words[0] == GCX, f"{name}: ExecStart must run {GCX}"
    program = name.removeprefix("gcx-")
    assert words[1:3] == [program, "run"], f"{name}: ExecStart must be `gcx {program} run`"
    check_command(words[1:])


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_units_install_steps_are_real_commands(name: str) -> None:
    lines = [
        line.lstrip("#").strip()
        for line in UNITS[name].read_text(encoding="utf-8").splitlines()
        if line.startswith("#") and f"{GCX} " in line
    ]
    argvs = [argv for line in lines for argv in gcx_commands(line)]
    assert argvs, f"{name}: the header shows no {GCX} command"
    for argv in argvs:
        check_command(argv)


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_unit_keeps_its_hardening(name: str) -> None:
    s = service(name)
    assert one(s, "ProtectSystem") == "strict"
    for key in (
        "NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables", "ProtectKernelModules",
        "ProtectKernelLogs", "ProtectControlGroups", "ProtectHostname", "RestrictSUIDSGID",
        "RestrictRealtime", "RestrictNamespaces", "LockPersonality",
    ):  # fmt: skip
        assert is_true(one(s, key)), f"{name}: {key}=true is missing"
    assert one(s, "UMask") == "0077"
    assert one(s, "SystemCallArchitectures") == "native"
    assert one(s, "CapabilityBoundingSet") == "", f"{name}: a non-root daemon needs no capabilities"
    assert one(s, "Restart") == "on-failure"


@pytest.mark.parametrize("name", sorted(UNITS))
def test_a_stop_outlasts_a_transaction_receipt_and_the_host_close(name: str) -> None:
    assert one(service(name), "KillSignal") == "SIGTERM"
    assert int(one(service(name), "TimeoutStopSec")) >= RECEIPT_TIMEOUT_S + CLOSE_TIMEOUT_S


def test_the_coordinator_has_no_devices_many_descriptors_and_a_loopback_api() -> None:
    s = service("gcx-coordinator")
    assert is_true(one(s, "PrivateDevices"))
    assert is_true(one(s, "ProtectClock"))
    assert int(one(s, "LimitNOFILE")) >= 65536
    assert environment(s).get("GCX_COORDINATOR__API_HOST") == "127.0.0.1"


@pytest.mark.parametrize("name", ["gcx-node", "gcx-verifier"])
def test_gpu_programs_keep_the_gpu_device_files(name: str) -> None:
    """/dev/nvidia* stays reachable: no PrivateDevices=, and no ProtectClock= (before systemd
    252 it implies DeviceAllow=char-rtc r, which closes every other device)."""
    s = service(name)
    assert not is_true(s.get("PrivateDevices", ["false"])[0])
    assert not is_true(s.get("ProtectClock", ["false"])[0])
    assert not s.get("DeviceAllow")


def test_repeated_keys_are_all_kept(tmp_path: Path) -> None:
    unit = tmp_path / "x.service"
    unit.write_text("[Service]\nEnvironment=A=1\nEnvironment=B=2 C=3\nUser=x\n", encoding="utf-8")
    s = read_unit(unit)["Service"]
    assert environment(s) == {"A": "1", "B": "2", "C": "3"}
    assert s["User"] == ["x"]


# -- the operator guide ------------------------------------------------------------------------


def test_every_gcx_command_line_in_the_operator_guide_is_real() -> None:
    commands = doc_commands()
    assert len(commands) >= 15, "docs/operations.md shows fewer gcx commands than expected"
    for line, argv in commands:
        try:
            check_command(argv)
        except AssertionError as exc:
            raise AssertionError(f"docs/operations.md: {line.strip()}\n{exc}") from None


def test_the_guide_runs_commands_as_the_units_users_in_their_homes() -> None:
    homes = {one(service(n), "User"): environment(service(n))["GCX_HOME"] for n in UNITS}
    for line, _ in doc_commands():
        words = shlex.split(line, comments=True)
        if words[:2] == ["sudo", "-u"]:
            assert f"GCX_HOME={homes[words[2]]}" in words, f"{line.strip()}: not {words[2]}'s GCX_HOME"


@pytest.mark.parametrize(
    ("line", "argv"),
    [
        ("gcx node run --bootstrap X", ["node", "run", "--bootstrap", "X"]),
        ("sudo -u gcx env GCX_HOME=/h /opt/gcx/bin/gcx keys new --json", ["keys", "new", "--json"]),
        ("GCX_ANVIL=/a gcx chain up --port 1  # comment", ["chain", "up", "--port", "1"]),
        ("gcx keys new --name a; gcx keys show --name a", ["keys", "show", "--name", "a"]),
        ("sudo -u gcx sqlite3 f '.backup g'", None),
    ],
)
def test_command_lines_are_read_like_a_shell(line: str, argv: list[str] | None) -> None:
    found = gcx_commands(line)
    assert (found[-1] if found else None) == argv


@pytest.mark.parametrize(
    "argv",
    [
        ["node", "run", "--no-such-option"],
        ["--no-such-option"],  # the root group's own options only
        ["coordinator", "run", "--api-host", "0.0.0.0"],  # the API host is a setting only
        ["chain"],  # a group
        ["chain", "deploy-all"],  # not a sub-command: `chain` is left a group
    ],
)
def test_the_check_refuses_what_does_not_exist(argv: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_command(argv)
