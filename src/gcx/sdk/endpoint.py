"""Where the exchange API is: the URL a client uses when it is not told one.

In order: an explicit URL (``--api``), the ``network.coordinator_api`` setting (settings file
or ``GCX_NETWORK__COORDINATOR_API``), the ``api`` that a coordinator running under this
``$GCX_HOME`` wrote to ``coordinator/endpoint.json``, else :data:`DEFAULT_API_URL`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from gcx.errors import ConfigError
from gcx.paths import gcx_home

__all__ = ["DEFAULT_API_URL", "endpoint_file", "normalize_api_url", "resolve_api_url"]

DEFAULT_API_URL: Final = "http://127.0.0.1:8600"


def endpoint_file(home: Path | None = None) -> Path:
    """The file a running coordinator writes its endpoints to (``$GCX_HOME/coordinator/endpoint.json``)."""
    return (home or gcx_home()) / "coordinator" / "endpoint.json"


def normalize_api_url(url: str) -> str:
    """``url`` without a trailing slash; :class:`ConfigError` unless it is an http(s) URL with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"invalid API URL {url!r}: expected http://HOST:PORT or https://HOST")
    return url.strip().rstrip("/")


def _from_endpoint_file(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"coordinator endpoint file {path} is unreadable: {exc}") from None
    api = data.get("api") if isinstance(data, dict) else None
    if not isinstance(api, str) or not api:
        raise ConfigError(f"coordinator endpoint file {path} has no 'api' URL")
    return api


def resolve_api_url(explicit: str | None = None) -> str:
    """The exchange API URL to use (see the module's docstring for the order)."""
    if explicit:
        return normalize_api_url(explicit)
    from gcx.settings import load_settings

    configured = load_settings().network.coordinator_api
    if configured:
        return normalize_api_url(configured)
    found = _from_endpoint_file(endpoint_file())
    if found:
        return normalize_api_url(found)
    return DEFAULT_API_URL
