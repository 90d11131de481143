"""Serving the coordinator's HTTP API with hypercorn's trio worker, inside the caller's nursery.

``port = await nursery.start(serve_api, app, "127.0.0.1", 0)`` binds, starts serving and returns
the port actually bound (port 0 picks a free one). Cancel the nursery, or let ``shutdown_trigger``
return, to stop: hypercorn then closes its listeners and gives open requests
``config.graceful_timeout`` seconds to finish.

The bound port comes from hypercorn itself: :func:`hypercorn.trio.serve` reports the addresses it
listens on through its own ``task_status`` as URLs (``["http://127.0.0.1:43127"]``), built from
each bound socket's ``getsockname()`` (``hypercorn/trio/run.py``, ``worker_serve``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, cast
from urllib.parse import urlsplit

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from hypercorn.typing import ASGIFramework
from starlette.types import ASGIApp

from gcx.errors import ConfigError

LOOPBACK = "127.0.0.1"
log = logging.getLogger("gcx.coordinator.http")

_T_contra = TypeVar("_T_contra", contravariant=True)


class TaskStatus(Protocol[_T_contra]):
    """The shape of ``trio.TaskStatus``, spelled out: the ``trio-stubs`` that ``trio-typing``
    (a dependency of libp2p) installs shadow trio's own annotations and lack ``trio.TaskStatus``."""

    def started(self, value: _T_contra) -> None: ...


def server_config(host: str, port: int, *, access_log: bool = False) -> Config:
    """Hypercorn settings of the API: one plain-HTTP bind, keep-alive on, logs to ``gcx.coordinator.http``."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.errorlog = log
    config.accesslog = log if access_log else None
    config.keep_alive_timeout = 5.0
    config.graceful_timeout = 3.0
    config.include_server_header = False
    config.websocket_max_message_size = 1024 * 1024  # a full order-entry batch is ~200 KiB
    return config


def _port_of(binds: list[str]) -> int:
    port = urlsplit(binds[0]).port if binds else None
    if port is None:
        raise ConfigError(f"the HTTP server reported no TCP port it listens on: {binds}")
    return port


class _PortStatus:
    """Passes hypercorn's ``started(binds)`` on to the caller as ``started(port)``."""

    def __init__(self, outer: TaskStatus[int]) -> None:
        self.outer = outer
        self.port: int | None = None

    def started(self, value: list[str] | None = None) -> None:
        self.port = _port_of(value or [])
        self.outer.started(self.port)


async def serve_api(
    app: ASGIApp,
    host: str = LOOPBACK,
    port: int = 0,
    *,
    access_log: bool = False,
    task_status: TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled or ``shutdown_trigger`` returns.

    Reports the bound port through ``task_status.started(port)``. Binds loopback unless told
    otherwise; a failure to bind (port in use, unknown host) raises :class:`ConfigError`.
    """
    config = server_config(host, port, access_log=access_log)
    status = _PortStatus(task_status)
    try:
        # Starlette types the ASGI scope as a MutableMapping, hypercorn as TypedDicts: same protocol.
        await serve(cast(ASGIFramework, app), config, shutdown_trigger=shutdown_trigger, task_status=status)
    except OSError as exc:
        if status.port is not None:
            raise
        raise ConfigError(f"cannot listen on {config.bind[0]}: {exc}") from None
    except BaseExceptionGroup as group:
        bind_error, rest = group.split(OSError)
        if status.port is not None or bind_error is None or rest is not None:
            raise
        first = _leaves(bind_error)[0]
        raise ConfigError(f"cannot listen on {config.bind[0]}: {first}") from None


def _leaves(group: BaseExceptionGroup[OSError]) -> list[OSError]:
    out: list[OSError] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
