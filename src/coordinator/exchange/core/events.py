"""What a matching engine says: its output events, as flat tuples of integers.

Theory of operation
-------------------
The engine emits several events per command (an order that sweeps three levels yields an
``ACCEPTED``, a ``TRADE`` per maker and a ``BOOK_DELTA`` per level), so at a million commands a
second the cost of building them is the engine's cost. A frozen dataclass costs ~0.4 µs to
construct, a tuple literal ~0.05 µs; events are therefore **plain tuples of ints whose first
element is the kind code** (:data:`ACCEPTED` ... :data:`BOOK_DELTA`). Accounts, order ids,
sides, prices (ticks), quantities (lots) and reason codes are all integers, so an event is a
``tuple[int, ...]`` that packs to msgpack as a flat array, deterministically.

The typed views below (:class:`Accepted`, :class:`Trade`, ...) are ``NamedTuple`` classes with
the same layout, including the leading ``kind``: ``Trade(*event)`` or :func:`view` gives
attribute access, and a view compares equal to the raw tuple. Consumers off the hot path (API,
market data, tests) use the views; the engine builds raw tuples.

Layouts (field order is part of the wire format; never reorder, only append new kinds):

==============  ==============================================================================
kind            fields after ``kind``
==============  ==============================================================================
``ACCEPTED``    order_id, account, side, price (0 for market), qty, order_type
``REJECTED``    order_id, account, reason (:class:`RejectReason`)
``TRADE``       maker_id, taker_id, price, qty, maker_account, taker_account, aggressor_side
``CANCELLED``   order_id, account, remaining_qty, reason (:class:`CancelReason`)
``REPLACED``    order_id, account, side, price, qty, kept_priority (1 or 0)
``BOOK_DELTA``  side, price, level_qty (the new total resting at that price; 0 = level gone)
==============  ==============================================================================
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, NamedTuple

import msgpack

__all__ = [
    "ACCEPTED",
    "BOOK_DELTA",
    "CANCELLED",
    "REJECTED",
    "REPLACED",
    "TRADE",
    "Accepted",
    "BookDelta",
    "CancelReason",
    "Cancelled",
    "Event",
    "EventView",
    "RejectReason",
    "Rejected",
    "Replaced",
    "Trade",
    "encode_event",
    "encode_events",
    "view",
]

Event = tuple[int, ...]
"""An engine event: ``(kind, *fields)``, all integers (layouts in the module docstring)."""

ACCEPTED: Final = 1
REJECTED: Final = 2
TRADE: Final = 3
CANCELLED: Final = 4
REPLACED: Final = 5
BOOK_DELTA: Final = 6


class RejectReason(IntEnum):
    """Why a command was refused. A closed set: reasons label metrics and API answers."""

    UNKNOWN_INSTRUMENT = 1
    BAD_TICK_LOT = 2  # price or quantity not a positive whole number of ticks / lots
    PRICE_BAND = 3  # limit price more than the band's ticks from the reference price
    SIZE_LIMIT = 4  # quantity below the instrument's minimum or above its maximum
    POST_ONLY_WOULD_CROSS = 5
    FOK_NOT_FILLABLE = 6
    DUPLICATE_ORDER_ID = 7  # the id is live in this book
    UNKNOWN_ORDER = 8  # cancel / replace of an id that is not resting (filled, cancelled, never)
    NOT_OWNER = 9  # cancel / replace of another account's order
    SELF_TRADE_PREVENTED = 10  # an FOK order that could only fill against its own account
    INSUFFICIENT_BALANCE = 11  # the pre-trade check hook said no
    NO_LIQUIDITY = 12  # a market order met an empty opposite side
    PRICE_LIMIT = 13  # limit price above the instrument's highest price (max_price_ticks)


class CancelReason(IntEnum):
    """Why (part of) an order left the book without trading."""

    USER = 1
    IOC_REMAINDER = 2
    MARKET_REMAINDER = 3
    SELF_TRADE = 4  # a resting order (STP cancel-resting) or a taker (STP cancel-taker)


class Accepted(NamedTuple):
    kind: int
    order_id: int
    account: int
    side: int
    price: int
    qty: int
    order_type: int


class Rejected(NamedTuple):
    kind: int
    order_id: int
    account: int
    reason: int


class Trade(NamedTuple):
    kind: int
    maker_id: int
    taker_id: int
    price: int
    qty: int
    maker_account: int
    taker_account: int
    aggressor_side: int


class Cancelled(NamedTuple):
    kind: int
    order_id: int
    account: int
    remaining_qty: int
    reason: int


class Replaced(NamedTuple):
    kind: int
    order_id: int
    account: int
    side: int
    price: int
    qty: int
    kept_priority: int


class BookDelta(NamedTuple):
    kind: int
    side: int
    price: int
    level_qty: int


EventView = Accepted | Rejected | Trade | Cancelled | Replaced | BookDelta

_VIEWS: Final[dict[int, type[EventView]]] = {
    ACCEPTED: Accepted,
    REJECTED: Rejected,
    TRADE: Trade,
    CANCELLED: Cancelled,
    REPLACED: Replaced,
    BOOK_DELTA: BookDelta,
}


def view(event: Event) -> EventView:
    """The typed, named view of a raw event tuple (``ValueError`` for an unknown kind)."""
    try:
        cls = _VIEWS[event[0]]
    except KeyError:
        raise ValueError(f"unknown event kind {event[0]!r}") from None
    return cls(*event)


def encode_event(event: Event) -> bytes:
    """The stable msgpack encoding of one event: a flat array of ints, kind first."""
    return msgpack.packb(event)  # type: ignore[no-any-return]


def encode_events(events: list[Event]) -> bytes:
    """The stable msgpack encoding of a batch of events (an array of arrays)."""
    return msgpack.packb(events)  # type: ignore[no-any-return]
