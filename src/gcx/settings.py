"""Typed settings: defaults < TOML file < environment overrides.

The file is ``--config FILE``, else ``$GCX_CONFIG``, else ``$GCX_HOME/config.toml`` when it
exists (``configs/gcx.toml`` documents every key). Environment overrides are written
``GCX_<SECTION>__<KEY>=value`` (double underscore between levels), e.g.
``GCX_BENCH__REPEATS=20``; the value is read as a TOML value when it parses as one, else as a
string. Unknown keys and bad values are errors that name the key and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .paths import gcx_home
from .tomlfiles import describe_validation_error, read_toml

CONFIG_ENV = "GCX_CONFIG"
ENV_PREFIX = "GCX_"
ENV_SEPARATOR = "__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSettings(_Section):
    key: Annotated[str, Field(min_length=1, max_length=64)] = "node"
    backend: Literal["auto", "cupy", "numpy"] = "auto"
    device_index: Annotated[int, Field(ge=0, le=63)] = 0
    market_class: str | None = None  # None: the reference profile's default class


class BenchSettings(_Section):
    repeats: Annotated[int, Field(ge=3, le=1000)] = 10
    quick_repeats: Annotated[int, Field(ge=3, le=1000)] = 5
    target_sample_ms: Annotated[float, Field(gt=0, le=60_000)] = 100.0
    quick_target_sample_ms: Annotated[float, Field(gt=0, le=60_000)] = 20.0


class ReferenceSettings(_Section):
    profile: Path | None = None  # None: the shipped configs/reference.toml


class Settings(_Section):
    node: NodeSettings = NodeSettings()
    bench: BenchSettings = BenchSettings()
    reference: ReferenceSettings = ReferenceSettings()


def _env_overrides(environ: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    tree: dict[str, Any] = {}
    names = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or ENV_SEPARATOR not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split(ENV_SEPARATOR)]
        if not all(path):
            raise ConfigError(f"environment variable {name}: empty key segment")
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} conflicts with another override")
            node = child
        node[path[-1]] = value
        names.append(name)
    return tree, names


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_path(explicit: Path | None = None) -> Path | None:
    """The settings file in effect, or None for built-in defaults."""
    if explicit is not None:
        return explicit
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    home_file = gcx_home() / "config.toml"
    return home_file if home_file.is_file() else None


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load and validate settings; :class:`ConfigError` names each bad key and its source."""
    file = config_path(path)
    data = read_toml(file, "settings file") if file is not None else {}
    overrides, env_names = _env_overrides(dict(os.environ if environ is None else environ))
    try:
        return Settings.model_validate(_merge(data, overrides))
    except ValidationError as exc:
        source = str(file) if file else "defaults"
        if env_names:
            source += " + environment (" + ", ".join(env_names) + ")"
        raise ConfigError("invalid settings:\n" + describe_validation_error(exc, Settings, source)) from None
