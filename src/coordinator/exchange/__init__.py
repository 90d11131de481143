"""The GCX exchange core: deterministic, sans-I/O matching of compute-hour contracts.

* :mod:`.commands` — what an engine is told (:class:`PlaceLimit`, :class:`PlaceMarket`,
  :class:`Cancel`, :class:`Replace`) and its stable encoding (:func:`encode_command`).
* :mod:`.events` — what it says: flat integer tuples with typed views and :func:`encode_event`.
* :mod:`.engine` — :class:`Engine`, one price-time-priority book per instrument.
* :mod:`.lifecycle` — the order lifecycle as a transition table.
* :mod:`.instruments` — spot, futures, options and perpetuals from ``configs/instruments.toml``.
* :mod:`.venue` — engines by symbol.
* :mod:`.workload`, ``bench_matching``, ``gen_workload`` — the matching benchmark.
"""

from .commands import (
    Cancel,
    Command,
    CommandDecodeError,
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
from .venue import Venue

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
    "Venue",
    "decode_command",
    "encode_command",
    "encode_event",
    "encode_events",
    "view",
]
