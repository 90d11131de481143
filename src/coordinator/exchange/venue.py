"""A venue: one :class:`~.engine.Engine` per instrument, addressed by symbol.

The only thing a venue adds to its engines is the ``UNKNOWN_INSTRUMENT`` rejection and one
shared pre-trade hook; each engine still runs alone, single-threaded, on its own book.
"""

from __future__ import annotations

from collections.abc import Mapping

from .commands import Command
from .engine import Engine, EngineConfig, PreTradeCheck
from .events import REJECTED, Event, RejectReason

__all__ = ["Venue"]


class Venue:
    """Engines by instrument symbol; :meth:`apply` routes a command to its instrument's book."""

    def __init__(self, configs: Mapping[str, EngineConfig], pre_trade: PreTradeCheck | None = None) -> None:
        self.engines: dict[str, Engine] = {
            sym: Engine(cfg, pre_trade) for sym, cfg in sorted(configs.items())
        }

    def apply(self, symbol: str, command: Command) -> list[Event]:
        """The events of ``command`` on ``symbol``'s book (``UNKNOWN_INSTRUMENT`` if none)."""
        engine = self.engines.get(symbol)
        if engine is None:
            return [(REJECTED, command.order_id, command.account, int(RejectReason.UNKNOWN_INSTRUMENT))]
        return engine.apply(command)
