"""The instruments file (``configs/instruments.toml``, or ``exchange.instruments``): read it and
validate it into the core's instrument models (:mod:`.core.instruments`)."""

from __future__ import annotations

from pathlib import Path

from gcx.tomlfiles import read_toml

from .core.instruments import Future, Option, Perpetual, Spot, parse_instruments

__all__ = ["load_instruments"]


def load_instruments(path: Path) -> dict[str, Spot | Future | Option | Perpetual]:
    """The instruments of a TOML file by symbol; :class:`~gcx.errors.ConfigError` names the file
    and the bad key."""
    return parse_instruments(read_toml(path, "instruments file"), str(path))
