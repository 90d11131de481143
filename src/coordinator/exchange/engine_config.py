"""Per-instrument engine settings and the small types the engine's interface uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

PreTradeCheck = Callable[[int, int, int, int], bool]
"""``(account, side, price, qty) -> allowed``; price is 0 for a market order."""

RestingOrder = tuple[int, int, int, int, int, int]
"""``(order_id, account, side, price, qty, post_only)`` of a resting order."""

NO_ASK: Final = 1 << 62
"""``best_ask`` of an empty ask side (above any price)."""


class STPMode(IntEnum):
    """Self-trade prevention, checked per maker order an aggressor meets:

    * ``CANCEL_RESTING`` (default, "cancel oldest"): the resting order of the aggressor's own
      account is cancelled (``CANCELLED`` reason ``SELF_TRADE``) and matching goes on behind it.
    * ``CANCEL_TAKER`` ("cancel newest"): the aggressor's remainder is cancelled (``SELF_TRADE``)
      and the resting order stays; an FOK order that would reach its own order before being filled
      is rejected (``SELF_TRADE_PREVENTED``).
    * ``NONE``: an account may trade with itself.
    """

    NONE = 0
    CANCEL_RESTING = 1
    CANCEL_TAKER = 2


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Per-instrument limits. ``band_ticks=None`` turns the price band off."""

    band_ticks: int | None = None
    reference_price: int | None = None
    min_qty: int = 1
    max_qty: int = 1 << 62
    stp: STPMode = STPMode.CANCEL_RESTING
    initial_price_capacity: int = 1024
