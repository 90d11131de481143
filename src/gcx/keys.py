"""Participant keys: one secp256k1 key per participant, stored under ``$GCX_HOME/keys``.

The key is the participant's Ethereum account (its address is shown everywhere) and, from the
p2p layer on, its libp2p peer identity. A key file is JSON, created with mode 0600 and refused
when group- or world-accessible (like ssh). Two formats:

* plain: ``{"gcx_key": 1, "address": "0x…", "private_key": "0x…"}`` — for unattended daemons
  on hosts whose disk is trusted;
* encrypted: a standard Ethereum keystore v3 file (scrypt + AES-128-CTR, what geth and
  eth-account write), unlocked with a passphrase from ``GCX_KEY_PASSPHRASE`` or a prompt.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account

from .errors import KeyStoreError
from .paths import PASSPHRASE_ENV, ensure_home, gcx_home

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class ParticipantKey:
    """A loaded key. ``private_key`` is excluded from ``repr``."""

    name: str
    address: str
    path: Path
    encrypted: bool
    private_key: bytes = field(repr=False)


#: The order n of secp256k1's group: a private key is an integer in 1..n-1.
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def private_key_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a secp256k1 private key (wrong length, zero, not below the order), or None.

    eth-keys says "must be exactly 32 bytes long, instead of 32 bytes" for both range errors,
    so the range is checked here, with a message that says what is wrong.
    """
    if len(raw) != 32:
        return f"a private key is 32 bytes, this one is {len(raw)}"
    if not 1 <= int.from_bytes(raw, "big") < SECP256K1_ORDER:
        return "the private key must be in 1..n-1 of secp256k1 (it is zero or not below the group order n)"
    return None


def key_path(name: str, home: Path | None = None) -> Path:
    if not _NAME.fullmatch(name):
        raise KeyStoreError(f"invalid key name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    return (home or gcx_home()) / "keys" / f"{name}.json"


def _write_new(path: Path, content: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyStoreError(f"key file {path} already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot create key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


def new_key(name: str, passphrase: str | None = None) -> ParticipantKey:
    """Create and store a fresh key; refuse to overwrite an existing one."""
    path = key_path(name, ensure_home())
    account = Account.create()
    if passphrase:
        content = json.dumps(Account.encrypt(account.key, passphrase), indent=2)
    else:
        content = json.dumps(
            {"gcx_key": 1, "address": account.address, "private_key": "0x" + bytes(account.key).hex()},
            indent=2,
        )
    _write_new(path, content + "\n")
    return ParticipantKey(name, account.address, path, bool(passphrase), bytes(account.key))


def load_key(name: str, passphrase: Callable[[], str] | None = None) -> ParticipantKey:
    """Load key ``name``. ``passphrase`` is asked only for an encrypted key without the env var."""
    path = key_path(name)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyStoreError(f"no key named {name!r} at {path}; create one with `gcx keys new`") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read key file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyStoreError(
            f"key file {path} is accessible by others (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyStoreError(f"key file {path} is unreadable or corrupt: {exc}") from None
    if not isinstance(data, dict):
        raise KeyStoreError(f"key file {path} is corrupt: expected a JSON object")
    if "crypto" in data or "Crypto" in data:
        secret = os.environ.get(PASSPHRASE_ENV)
        if secret is None:
            if passphrase is None:
                raise KeyStoreError(f"key {name!r} is encrypted; set {PASSPHRASE_ENV} or run interactively")
            secret = passphrase()
        try:
            raw = bytes(Account.decrypt(data, secret))
        except ValueError as exc:  # eth-keyfile: wrong passphrase (MAC mismatch)
            raise KeyStoreError(f"cannot decrypt key {name!r}: {exc}") from None
        except Exception as exc:  # a keystore missing its kdf/cipher fields raises KeyError, TypeError...
            raise KeyStoreError(
                f"key file {path} is a corrupt keystore: {type(exc).__name__}: {exc}"
            ) from None
        encrypted = True
    else:
        try:
            raw = bytes.fromhex(str(data["private_key"]).removeprefix("0x"))
        except (KeyError, ValueError):
            raise KeyStoreError(f"key file {path} is corrupt: no valid 'private_key'") from None
        encrypted = False
    problem = private_key_problem(raw)
    if problem is not None:
        raise KeyStoreError(f"key file {path} holds an invalid secp256k1 key: {problem}")
    try:
        address = Account.from_key(raw).address
    except Exception as exc:  # not expected after the checks above; never a traceback
        raise KeyStoreError(f"key file {path} holds an invalid secp256k1 key: {exc}") from None
    claimed = data.get("address")
    if claimed and str(claimed).lower().removeprefix("0x") != address.lower().removeprefix("0x"):
        raise KeyStoreError(f"key file {path} is corrupt: its address does not match its private key")
    return ParticipantKey(name, address, path, encrypted, raw)
