"""Where GCX keeps things: the home folder for local state and the shipped default configs.

All local state (keys, settings, cached reports, databases) lives under the home folder:
``$GCX_HOME`` when set, else ``~/.gcx``. It is created with mode 0700.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

HOME_ENV = "GCX_HOME"
PASSPHRASE_ENV = "GCX_KEY_PASSPHRASE"  # unlocks an encrypted key file (gcx.keys)


def gcx_home() -> Path:
    """The home folder (not created)."""
    value = os.environ.get(HOME_ENV)
    if value is not None and not value.strip():
        raise ConfigError(f"{HOME_ENV} is set but empty")
    return Path(value).expanduser() if value else Path.home() / ".gcx"


def ensure_home() -> Path:
    """The home folder, created (mode 0700) if missing."""
    home = gcx_home()
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create GCX home {home}: {exc.strerror}") from None
    if not home.is_dir():
        raise ConfigError(f"GCX home {home} exists and is not a folder")
    return home


def configs_dir() -> Path:
    """The shipped ``configs/`` folder: inside the installed wheel, or the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_configs", here.parents[1] / "configs"):
        if (candidate / "reference.toml").is_file():
            return candidate
    raise ConfigError(
        f"the shipped configs folder is missing (looked in {here / '_configs'} and the source tree)"
    )


def source_checkout() -> Path | None:
    """The root of the source checkout GCX runs from (the folder with the ``Makefile`` and the
    Foundry project ``contracts/``), or None in an installed wheel. Hints that send a user to
    ``make …`` are given only in a checkout."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "Makefile").is_file() and (root / "contracts" / "foundry.toml").is_file() else None


def default_reference_path() -> Path:
    return configs_dir() / "reference.toml"
