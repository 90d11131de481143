"""gcx.keys: creating, storing (0600) and loading participant keys, plain and encrypted."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from gcx import keys
from gcx.errors import ConfigError, KeyStoreError
from gcx.keys import PASSPHRASE_ENV, key_path, load_key, new_key


def _write(home: Path, name: str, content: str, mode: int = 0o600) -> Path:
    path = home / "keys" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def _cheap_keystore(private_key: bytes, passphrase: str) -> str:
    """An encrypted keystore v3 file with a tiny scrypt cost, to keep the tests fast."""
    return json.dumps(Account.encrypt(private_key, passphrase, iterations=2))


def test_new_key_file(gcx_home: Path) -> None:
    key = new_key("node")
    assert key.path == gcx_home / "keys" / "node.json"
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(gcx_home.stat().st_mode) & 0o077 == 0
    assert key.address == Account.from_key(key.private_key).address
    assert len(key.private_key) == 32
    assert key.encrypted is False
    data = json.loads(key.path.read_text(encoding="utf-8"))
    assert data["gcx_key"] == 1
    assert data["address"] == key.address
    assert bytes.fromhex(data["private_key"].removeprefix("0x")) == key.private_key
    assert key.private_key.hex() not in repr(key)


def test_new_keys_differ(gcx_home: Path) -> None:
    assert new_key("a").address != new_key("b").address


def test_new_key_refuses_to_overwrite(gcx_home: Path) -> None:
    first = new_key("node")
    before = first.path.read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        new_key("node")
    assert first.path.read_bytes() == before
    assert load_key("node").address == first.address


def test_load_round_trip(gcx_home: Path) -> None:
    created = new_key("node")
    loaded = load_key("node")
    assert (loaded.address, loaded.private_key, loaded.encrypted) == (
        created.address,
        created.private_key,
        False,
    )
    assert loaded.path == created.path


def test_missing_key(gcx_home: Path) -> None:
    with pytest.raises(KeyStoreError, match="no key named 'ghost'"):
        load_key("ghost")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_accessible_by_others_is_refused(gcx_home: Path, mode: int) -> None:
    key = new_key("node")
    key.path.chmod(mode)
    with pytest.raises(KeyStoreError, match="chmod 600") as err:
        load_key("node")
    assert f"{mode:04o}" in str(err.value)


def test_owner_only_modes_accepted(gcx_home: Path) -> None:
    key = new_key("node")
    key.path.chmod(0o400)
    assert load_key("node").address == key.address


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "corrupt"),
        ("", "corrupt"),
        ("[1, 2]", "JSON object"),
        ('"0x1234"', "JSON object"),
        ('{"gcx_key": 1}', "private_key"),
        ('{"gcx_key": 1, "private_key": "0xzz"}', "private_key"),
        ('{"gcx_key": 1, "private_key": 5}', "private_key"),
        ('{"gcx_key": 1, "private_key": null}', "private_key"),
        ('{"gcx_key": 1, "private_key": "0x' + "00" * 32 + '"}', "invalid secp256k1"),
        ('{"gcx_key": 1, "private_key": "0x' + "ff" * 32 + '"}', "invalid secp256k1"),
        ('{"gcx_key": 1, "private_key": "0x' + "11" * 31 + '"}', "invalid secp256k1"),
    ],
)
def test_corrupt_key_files(gcx_home: Path, content: str, match: str) -> None:
    _write(gcx_home, "bad", content)
    with pytest.raises(KeyStoreError, match=match):
        load_key("bad")


def test_non_utf8_key_file(gcx_home: Path) -> None:
    path = gcx_home / "keys" / "bin.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe\x00")
    path.chmod(0o600)
    with pytest.raises(KeyStoreError):
        load_key("bin")


def test_address_mismatch(gcx_home: Path) -> None:
    key = new_key("node")
    data = json.loads(key.path.read_text(encoding="utf-8"))
    data["address"] = Account.from_key(b"\x01" * 32).address
    key.path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(KeyStoreError, match="does not match"):
        load_key("node")


def test_address_without_0x_and_other_case_matches(gcx_home: Path) -> None:
    acct = Account.from_key(b"\x02" * 32)
    body = {"gcx_key": 1, "address": acct.address.lower().removeprefix("0x"), "private_key": acct.key.hex()}
    _write(gcx_home, "k", json.dumps(body))
    assert load_key("k").address == acct.address


def test_encrypted_key_with_env_passphrase(gcx_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key("vault", passphrase="correct horse")
    assert key.encrypted is True
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    text = key.path.read_text(encoding="utf-8")
    assert key.private_key.hex() not in text
    assert "crypto" in json.loads(text)
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    loaded = load_key("vault")
    assert (loaded.address, loaded.private_key, loaded.encrypted) == (key.address, key.private_key, True)


def test_encrypted_key_wrong_env_passphrase(gcx_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(gcx_home, "vault", _cheap_keystore(b"\x03" * 32, "right"))
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    with pytest.raises(KeyStoreError, match="cannot decrypt key 'vault'"):
        load_key("vault")


def test_encrypted_key_prompt(gcx_home: Path) -> None:
    _write(gcx_home, "vault", _cheap_keystore(b"\x03" * 32, "right"))
    asked = []
    key = load_key("vault", passphrase=lambda: asked.append(1) or "right")
    assert asked == [1]
    assert key.address == Account.from_key(b"\x03" * 32).address
    with pytest.raises(KeyStoreError, match="cannot decrypt"):
        load_key("vault", passphrase=lambda: "wrong")


def test_env_passphrase_wins_over_prompt(gcx_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(gcx_home, "vault", _cheap_keystore(b"\x03" * 32, "right"))
    monkeypatch.setenv(PASSPHRASE_ENV, "right")
    key = load_key("vault", passphrase=lambda: pytest.fail("prompted although the env var is set"))
    assert key.encrypted


def test_encrypted_key_without_passphrase(gcx_home: Path) -> None:
    _write(gcx_home, "vault", _cheap_keystore(b"\x03" * 32, "right"))
    with pytest.raises(KeyStoreError, match=PASSPHRASE_ENV):
        load_key("vault")


def test_encrypted_key_is_checked_against_its_address(
    gcx_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads(_cheap_keystore(b"\x03" * 32, "right"))
    data["address"] = Account.from_key(b"\x04" * 32).address.lower().removeprefix("0x")
    _write(gcx_home, "vault", json.dumps(data))
    monkeypatch.setenv(PASSPHRASE_ENV, "right")
    with pytest.raises(KeyStoreError, match="does not match"):
        load_key("vault")


def test_corrupt_encrypted_key_file(gcx_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(gcx_home, "vault", json.dumps({"version": 3, "crypto": {}}))
    monkeypatch.setenv(PASSPHRASE_ENV, "x")
    with pytest.raises(KeyStoreError):
        load_key("vault")


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "-x", "x" * 65, "a b", "ключ", "\nx"])
def test_invalid_key_names(gcx_home: Path, name: str) -> None:
    with pytest.raises(KeyStoreError, match="invalid key name"):
        new_key(name)
    with pytest.raises(KeyStoreError, match="invalid key name"):
        load_key(name)
    with pytest.raises(KeyStoreError):
        key_path(name)
    assert not (gcx_home.parent / "x.json").exists()


def test_key_name_with_trailing_newline_is_invalid(gcx_home: Path) -> None:
    with pytest.raises(KeyStoreError, match="invalid key name"):
        key_path("x\n")


@pytest.mark.parametrize("name", ["node", "a", "Node-1.backup_2", "x" * 64])
def test_valid_key_names(gcx_home: Path, name: str) -> None:
    assert key_path(name) == gcx_home / "keys" / f"{name}.json"


def test_empty_home_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCX_HOME", "")
    with pytest.raises(ConfigError, match="GCX_HOME"):
        keys.new_key("node")


def test_encrypted_key_without_a_terminal_names_the_variable(gcx_home: Path) -> None:
    """A daemon under systemd has no terminal to ask the passphrase at: one error line that says
    what to set, not click's bare "Aborted!" (docs/operations.md, Keys)."""
    import os
    import subprocess
    import sys

    _write(gcx_home, "vault", _cheap_keystore(b"\x03" * 32, "right"))
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV} | {"GCX_HOME": str(gcx_home)}
    done = subprocess.run(
        [sys.executable, "-m", "gcx", "chain", "deploy", "--rpc-url", "http://127.0.0.1:9", "--key", "vault"],
        stdin=subprocess.DEVNULL, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"no terminal to ask its passphrase: set {PASSPHRASE_ENV}" in done.stderr
    assert "Aborted" not in done.stderr and "Traceback" not in done.stderr
