"""gcx.settings: defaults < TOML file < environment; errors name the key and its source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gcx.errors import ConfigError
from gcx.paths import configs_dir, ensure_home, gcx_home
from gcx.settings import Settings, config_path, load_settings, with_overrides


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gcx.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(gcx_home: Path) -> None:
    s = load_settings(environ={})
    assert s == Settings()
    assert (s.node.key, s.node.backend, s.node.device_index, s.node.market_class) == ("node", "auto", 0, None)
    assert (s.bench.repeats, s.bench.quick_repeats) == (10, 5)
    assert (s.bench.target_sample_ms, s.bench.quick_target_sample_ms) == (100.0, 20.0)
    assert s.reference.profile is None


def test_shipped_example_config_equals_defaults(gcx_home: Path) -> None:
    assert load_settings(configs_dir() / "gcx.toml", environ={}) == Settings()


def test_shipped_example_config_names_every_setting() -> None:
    """configs/gcx.toml is the operator's reference (docs/operations.md): every key of every
    section is there, set to its default or commented out."""
    import re

    text = (configs_dir() / "gcx.toml").read_text(encoding="utf-8")
    sections = {m.group(1): m.start() for m in re.finditer(r"^\[(\w+)\]", text, re.MULTILINE)}
    missing = []
    for name, field in Settings.model_fields.items():
        assert name in sections, f"configs/gcx.toml has no [{name}] section"
        following = [start for start in sections.values() if start > sections[name]]
        body = text[sections[name] : min(following, default=len(text))]
        assert field.annotation is not None
        for key in field.annotation.model_fields:
            if not re.search(rf"^#? ?{key} =", body, re.MULTILINE):
                missing.append(f"{name}.{key}")
    assert not missing, f"configs/gcx.toml does not name {missing}"


def test_file_values(gcx_home: Path, tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        """
        [node]
        key = "worker"
        backend = "numpy"
        market_class = "hpc"
        [bench]
        repeats = 12
        target_sample_ms = 50
        [reference]
        profile = "/opt/ref.toml"
        """,
    )
    s = load_settings(path, environ={})
    assert (s.node.key, s.node.backend, s.node.market_class) == ("worker", "numpy", "hpc")
    assert s.bench.repeats == 12
    assert s.bench.quick_repeats == 5  # untouched keys keep their defaults
    assert s.bench.target_sample_ms == 50.0
    assert s.reference.profile == Path("/opt/ref.toml")


def test_home_config_file_is_used(gcx_home: Path) -> None:
    ensure_home()
    (gcx_home / "config.toml").write_text("[bench]\nrepeats = 7\n", encoding="utf-8")
    assert config_path() == gcx_home / "config.toml"
    assert load_settings(environ={}).bench.repeats == 7


def test_gcx_config_env_names_the_file(
    gcx_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, "[bench]\nrepeats = 9\n")
    monkeypatch.setenv("GCX_CONFIG", str(path))
    assert config_path() == path
    assert load_settings(environ={}).bench.repeats == 9


def test_env_override_wins_over_file(gcx_home: Path, tmp_path: Path) -> None:
    path = _file(tmp_path, "[bench]\nrepeats = 12\nquick_repeats = 4\n")
    s = load_settings(path, environ={"GCX_BENCH__REPEATS": "20"})
    assert s.bench.repeats == 20
    assert s.bench.quick_repeats == 4


def test_env_override_from_process_environment(gcx_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCX_BENCH__REPEATS", "20")
    monkeypatch.setenv("GCX_NODE__BACKEND", "numpy")
    s = load_settings()
    assert (s.bench.repeats, s.node.backend) == (20, "numpy")


def test_env_string_and_path_values(gcx_home: Path) -> None:
    s = load_settings(
        environ={"GCX_NODE__KEY": "worker-2", "GCX_REFERENCE__PROFILE": "/srv/ref v2.toml", "OTHER": "x"}
    )
    assert s.node.key == "worker-2"
    assert s.reference.profile == Path("/srv/ref v2.toml")


ADDRESS = "0x19F2b5A0C3E4d6f7089a1B2c3D4e5F60718293a4"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # A hex address is a TOML integer literal, but the setting is a string: take it as written.
        ("GCX_EXCHANGE__VERIFYING_CONTRACT", ADDRESS, ("exchange", "verifying_contract", ADDRESS)),
        ("GCX_EXCHANGE__VERIFYING_CONTRACT", f'"{ADDRESS}"', ("exchange", "verifying_contract", ADDRESS)),
        ("GCX_NODE__STAKE_ADDRESS", ADDRESS, ("node", "stake_address", ADDRESS)),  # str | None
        ("GCX_NODE__KEY", "1234", ("node", "key", "1234")),  # digits, still a key name
        ("GCX_NODE__KEY", "true", ("node", "key", "true")),
        ("GCX_NODE__MARKET_CLASS", "hpc", ("node", "market_class", "hpc")),
        ("GCX_COORDINATOR__API_HOST", "127.0.0.1", ("coordinator", "api_host", "127.0.0.1")),
        ("GCX_CHAIN__RPC_URL", "http://127.0.0.1:8545", ("chain", "rpc_url", "http://127.0.0.1:8545")),
        ("GCX_EXCHANGE__SYNCHRONOUS", "NORMAL", ("exchange", "synchronous", "NORMAL")),  # a Literal
        ("GCX_COORDINATOR__DATABASE", "2024", ("coordinator", "database", Path("2024"))),  # a path
        # Other types keep TOML-literal parsing.
        ("GCX_EXCHANGE__CHAIN_ID", "0x7a69", ("exchange", "chain_id", 31337)),
        ("GCX_COORDINATOR__API_PORT", "9000", ("coordinator", "api_port", 9000)),
        ("GCX_EXCHANGE__ENABLED", "false", ("exchange", "enabled", False)),
        ("GCX_EXCHANGE__VERIFY_WORKERS", "3", ("exchange", "verify_workers", 3)),  # int | None
        ("GCX_NETWORK__DIAL_TIMEOUT_S", "2.5", ("network", "dial_timeout_s", 2.5)),
        (
            "GCX_NETWORK__LISTEN",
            '["/ip4/127.0.0.1/tcp/4001"]',
            ("network", "listen", ["/ip4/127.0.0.1/tcp/4001"]),
        ),
    ],
)
def test_env_overrides_follow_the_type_of_the_setting(
    gcx_home: Path, name: str, value: str, expected: tuple[str, str, Any]
) -> None:
    section, key, want = expected
    assert getattr(getattr(load_settings(environ={name: value}), section), key) == want


def test_env_override_of_a_number_setting_still_refuses_text(gcx_home: Path) -> None:
    with pytest.raises(ConfigError, match="GCX_EXCHANGE__CHAIN_ID"):
        load_settings(environ={"GCX_EXCHANGE__CHAIN_ID": ADDRESS + "zz"})
    with pytest.raises(ConfigError, match=r"exchange\.enabled"):
        load_settings(environ={"GCX_EXCHANGE__ENABLED": "maybe"})


PEER = "/ip4/127.0.0.1/tcp/4001/p2p/16Uiu2HAm4ibbuXSyLF6CHSFpYgkBuRmYdmTBmkUyznJF7DbjatoB"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[network]\nbootstrap = ["/ip4/127.0.0.1/tcp/4001"]\n', "does not end in /p2p/<peer id>"),
        ('[network]\nbootstrap = ["/ip4/127.0.0.1/tcp/4001/p2p/nope"]\n', "not a valid multiaddr"),
        ('[network]\nlisten = ["127.0.0.1:4001"]\n', "network.listen: .*not a valid multiaddr"),
    ],
)
def test_network_addresses_are_checked_when_loaded(
    gcx_home: Path, tmp_path: Path, text: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(_file(tmp_path, text), environ={})


def test_with_overrides_validates_like_a_settings_file(gcx_home: Path) -> None:
    base = load_settings(environ={})
    assert with_overrides(base, {"coordinator": {"api_port": 0}}, "--api-port").coordinator.api_port == 0
    assert with_overrides(base, {"network": {"bootstrap": [PEER]}}, "--bootstrap").network.bootstrap == [PEER]
    with pytest.raises(ConfigError, match=r"^--api-port: coordinator\.api_port: .*65535 \(got 70000\)$"):
        with_overrides(base, {"coordinator": {"api_port": 70000}}, "--api-port")
    with pytest.raises(ConfigError, match=r"^--bootstrap: network\.bootstrap: .*/p2p/<peer id>"):
        with_overrides(base, {"network": {"bootstrap": ["/ip4/127.0.0.1/tcp/1"]}}, "--bootstrap")
    assert base == Settings()  # the original is untouched


def test_env_without_separator_is_ignored(gcx_home: Path) -> None:
    assert load_settings(environ={"GCX_BENCH": "5", "GCX_SOMETHING": "x"}) == Settings()


def test_typo_in_file_is_named_with_suggestion(gcx_home: Path, tmp_path: Path) -> None:
    path = _file(tmp_path, "[bench]\nrepeatz = 20\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    msg = str(err.value)
    assert str(path) in msg
    assert "'bench.repeatz'" in msg
    assert "did you mean 'bench.repeats'" in msg


def test_typo_in_section_is_named_with_suggestion(gcx_home: Path, tmp_path: Path) -> None:
    path = _file(tmp_path, "[bnech]\nrepeats = 20\n")
    with pytest.raises(ConfigError, match=r"unknown key 'bnech'.*did you mean 'bench'"):
        load_settings(path, environ={})


def test_typo_in_env_is_named(gcx_home: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"GCX_BENCH__REPEATZ": "20"})
    assert "GCX_BENCH__REPEATZ" in str(err.value)
    assert "did you mean 'bench.repeats'" in str(err.value)


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("GCX_BENCH__REPEATS", "abc", "bench.repeats"),
        ("GCX_BENCH__REPEATS", "2", "bench.repeats"),  # below the minimum of 3
        ("GCX_BENCH__REPEATS", "1001", "bench.repeats"),
        ("GCX_NODE__BACKEND", "tpu", "node.backend"),
        ("GCX_NODE__DEVICE_INDEX", "-1", "node.device_index"),
        ("GCX_BENCH__TARGET_SAMPLE_MS", "0", "bench.target_sample_ms"),
        ("GCX_BENCH__TARGET_SAMPLE_MS", "inf", "bench.target_sample_ms"),
    ],
)
def test_bad_env_value_names_the_variable(gcx_home: Path, name: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={name: value})
    assert name in str(err.value)
    assert key in str(err.value)


def test_env_empty_segment(gcx_home: Path) -> None:
    with pytest.raises(ConfigError, match="GCX_BENCH____REPEATS"):
        load_settings(environ={"GCX_BENCH____REPEATS": "5"})


def test_env_conflicting_overrides(gcx_home: Path) -> None:
    with pytest.raises(ConfigError, match="conflicts"):
        load_settings(environ={"GCX_BENCH__REPEATS": "5", "GCX_BENCH__REPEATS__X": "1"})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[bench]\nrepeats = "ten"\n', "bench.repeats"),
        ("[bench]\nrepeats = 10.5\n", "bench.repeats"),
        ("[bench]\nrepeats = [10]\n", "bench.repeats"),
        ('[node]\nbackend = "tpu"\n', "node.backend"),
        ("[node]\nkey = 5\n", "node.key"),
        ('[node]\nkey = ""\n', "node.key"),
        ("[node]\nmarket_class = 1\n", "node.market_class"),
        ("[node]\ndevice_index = 64\n", "node.device_index"),
        ('bench = "fast"\n', "bench"),
        ("[reference]\nprofile = 3\n", "reference.profile"),
    ],
)
def test_wrong_types_in_file(gcx_home: Path, tmp_path: Path, text: str, key: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert f"{path}: {key}" in str(err.value)


def test_corrupt_settings_file(gcx_home: Path, tmp_path: Path) -> None:
    path = _file(tmp_path, "[bench\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ={})


def test_missing_explicit_config_file(gcx_home: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_missing_gcx_config_file(gcx_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCX_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_settings(environ={})


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_gcx_home(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.delenv("GCX_CONFIG", raising=False)
    monkeypatch.setenv("GCX_HOME", value)
    with pytest.raises(ConfigError, match="GCX_HOME"):
        gcx_home()
    with pytest.raises(ConfigError, match="GCX_HOME"):
        load_settings(environ={})


def test_home_is_created_private(gcx_home: Path) -> None:
    assert not gcx_home.exists()
    assert ensure_home() == gcx_home
    assert gcx_home.is_dir()
    assert gcx_home.stat().st_mode & 0o077 == 0


def test_home_that_is_a_file(gcx_home: Path) -> None:
    gcx_home.parent.mkdir(parents=True, exist_ok=True)
    gcx_home.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError):
        ensure_home()


def test_settings_are_frozen(gcx_home: Path) -> None:
    s = load_settings(environ={})
    with pytest.raises(ValidationError, match="frozen"):
        s.bench.repeats = 3  # type: ignore[misc]
