"""The exchange's pure core: deterministic, sans-I/O matching and state of compute-hour contracts.

Nothing here reads a clock, a file, a socket or a process: every function is ``(state,
command) → events`` with the time passed in, so replaying the same journal gives byte-identical
events and state hashes (a test imports each module in a fresh interpreter and checks that no
I/O library comes with it).

* :mod:`.commands` — what an engine is told (:class:`PlaceLimit`, :class:`PlaceMarket`,
  :class:`Cancel`, :class:`Replace`) and its stable encoding (:func:`encode_command`).
* :mod:`.events` — what it says: flat integer tuples with typed views and :func:`encode_event`.
* :mod:`.engine` (+ ``engine.pxd``, compiled by :mod:`coordinator.exchange.native`) —
  :class:`Engine`, one price-time-priority book per instrument; :mod:`.engine_config` its
  settings and interface types.
* :mod:`.lifecycle` — the order lifecycle as a transition table.
* :mod:`.instruments` — spot, futures, options and perpetuals (the models; the TOML file is
  read by :func:`coordinator.exchange.instruments_file.load_instruments`).
* :mod:`.admission` — the rules a signed request passes before it is journaled.
* :mod:`.entry` — a journal entry: one admitted, signed request.
* :mod:`.state` — :class:`~.state.ExchangeState`, every book, account and order of the
  exchange, advanced one entry at a time.
* :mod:`.marketdata` — L2 books, the sequenced feed and candles.

Errors are in :mod:`coordinator.exchange.errors`.
"""

from __future__ import annotations

from ..errors import CommandDecodeError
from .commands import (
    Cancel,
    Command,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    Replace,
    Side,
    decode_command,
    encode_command,
)
from .engine import NO_ASK, Engine, EngineConfig, PreTradeCheck, STPMode
from .events import CancelReason, Event, RejectReason, encode_event, encode_events, view

__all__ = [
    "NO_ASK",
    "Cancel",
    "CancelReason",
    "Command",
    "CommandDecodeError",
    "Engine",
    "EngineConfig",
    "Event",
    "OrderType",
    "PlaceLimit",
    "PlaceMarket",
    "PreTradeCheck",
    "RejectReason",
    "Replace",
    "STPMode",
    "Side",
    "decode_command",
    "encode_command",
    "encode_event",
    "encode_events",
    "view",
]
