"""``gcx.files.write_atomic`` and the state files written through it keep their permissions."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from gcx.devnet import CONFIG_FILE, Devnet
from gcx.files import write_atomic


def test_write_atomic_replaces_the_file_with_the_mode_asked_for_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sub" / "secret.json"
    write_atomic(path, b"old")
    path.chmod(0o644)
    write_atomic(path, b"new", mode=0o600)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the new file's mode, not the old one's
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.json"]


def test_the_devnet_config_holding_the_deployer_key_is_private(tmp_path: Path) -> None:
    devnet = Devnet(1, base=tmp_path / "devnet")
    devnet._load_or_create_config()
    path = tmp_path / "devnet" / CONFIG_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes.fromhex(json.loads(path.read_text(encoding="utf-8"))["deployer_key"]) == devnet._deployer
