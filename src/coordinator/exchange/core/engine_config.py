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

MAX_VALUE: Final = 1 << 62
"""The largest price or quantity an engine accepts as an argument: every price, quantity and
id the engine keeps fits a signed 64-bit integer, which is what the compiled build stores."""

MAX_PRICE: Final = 1 << 26
"""The highest ``max_price``: the book is an array indexed by price, 24 bytes a tick up to the
highest price used, so even this (67M ticks, $67,000 a CH at 0.001 USDC ticks) costs 1.6 GB."""


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
    """Per-instrument limits. ``band_ticks=None`` turns the price band off.

    ``max_price`` is the highest limit price in ticks (``PRICE_LIMIT`` above it): the book is an
    array indexed by price, so this bounds its memory whatever the band (which is off until
    there is a reference price). ``ValueError`` for limits out of range.
    """

    band_ticks: int | None = None
    reference_price: int | None = None
    min_qty: int = 1
    max_qty: int = 1 << 62
    stp: STPMode = STPMode.CANCEL_RESTING
    initial_price_capacity: int = 1024
    max_price: int = 1_000_000

    def __post_init__(self) -> None:
        if not 1 <= self.max_price <= MAX_PRICE:
            raise ValueError(f"max_price must be in [1, 2**26], not {self.max_price}")
        if not 0 <= self.min_qty <= self.max_qty <= MAX_VALUE:
            raise ValueError(f"need 0 <= min_qty <= max_qty <= 2**62, not {self.min_qty}, {self.max_qty}")
        if self.band_ticks is not None and not 0 <= self.band_ticks <= MAX_VALUE:
            raise ValueError(f"band_ticks must be in [0, 2**62], not {self.band_ticks}")
        if self.reference_price is not None and not 1 <= self.reference_price <= self.max_price:
            raise ValueError(f"reference_price must be in [1, max_price], not {self.reference_price}")
