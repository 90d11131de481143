"""The SDK's pure core: the signed messages of ``docs/exchange-api.md``, nonces and read tokens.

No I/O and no clock of its own (clocks are passed in), so every rule here is tested without a
server. :mod:`gcx.sdk.client` signs what these functions build and sends it.

* :func:`order_message`, :func:`cancel_message`, :func:`replace_message` build the EIP-712
  ``Order`` / ``CancelOrder`` / ``ReplaceOrder`` fields (camelCase, integers) from friendly
  arguments (``"buy"``, ``"post_only"``), refusing bad input with :class:`InvalidRequest`
  before anything is signed.
* :class:`StrictCounter` hands out strictly increasing integers from a microsecond clock: the
  nonces (per account, strictly increasing across orders, cancels and replaces) and the
  automatic client order ids.
* :class:`ReadTokenCache` keeps one signed ``ReadAccount`` token for the private reads and signs
  a new one shortly before it expires.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from gcx.orders import ORDER_TYPES, SIDES, next_nonce, nonce_clock

from .errors import InvalidRequest

__all__ = [
    "ORDER_TYPES",
    "SIDES",
    "UINT64_MAX",
    "ReadToken",
    "ReadTokenCache",
    "StrictCounter",
    "cancel_message",
    "now_us",
    "order_message",
    "replace_message",
]

UINT64_MAX: Final = (1 << 64) - 1


now_us = nonce_clock
"""Unix time in microseconds (the nonce clock, :func:`gcx.orders.nonce_clock`)."""


class StrictCounter:
    """Strictly increasing integers: ``max(last + 1, clock())``, the rule of
    :func:`gcx.orders.next_nonce`.

    With the default microsecond clock these are the nonces docs/exchange-api.md prescribes: they
    also increase across processes that use the same key one after another (each CLI call is a
    new process), while two calls within the same microsecond, or a clock stepping back, still get
    distinct increasing values. Thread-safe.
    """

    __slots__ = ("_clock", "_last", "_lock")

    def __init__(self, clock: Callable[[], int] = now_us, start: int = 0) -> None:
        self._clock = clock
        self._last = start
        self._lock = threading.Lock()

    @property
    def last(self) -> int:
        """The last value handed out (``start`` before the first)."""
        return self._last

    def next(self) -> int:
        """The next value, above every value handed out before."""
        with self._lock:
            value = next_nonce(self._last, self._clock())
            self._last = value
            return value


# -------------------------------------------------------------------------------------- messages


def _uint(name: str, value: object, *, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{name} must be an integer, not {value!r}")
    if not minimum <= value <= UINT64_MAX:
        raise InvalidRequest(f"{name} must be between {minimum} and 2**64-1, not {value}")
    return value


def _instrument(symbol: object) -> str:
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRequest(f"instrument must be a non-empty symbol such as 'CH-A-SPOT', not {symbol!r}")
    return symbol


def order_message(
    *,
    account: str,
    instrument: str,
    side: str,
    qty: int,
    price: int | None,
    order_type: str,
    client_order_id: int,
    nonce: int,
    expiry: int,
) -> dict[str, Any]:
    """The fields of an ``Order`` to sign.

    ``side`` is ``"buy"`` or ``"sell"``; ``order_type`` one of :data:`ORDER_TYPES`. ``price``
    (integer ticks) is required for every type but ``market``, whose price must be left out
    (``None``; 0 is accepted too) and is sent as 0. ``qty`` is in integer lots (at least 1).
    """
    if side not in SIDES:
        raise InvalidRequest(f"side must be 'buy' or 'sell', not {side!r}")
    if order_type not in ORDER_TYPES:
        raise InvalidRequest(f"order type must be one of {', '.join(ORDER_TYPES)}, not {order_type!r}")
    if order_type == "market":
        if price not in (None, 0):
            raise InvalidRequest("a market order takes no price (it trades at the best prices available)")
        ticks = 0
    elif price is None:
        raise InvalidRequest(f"a {order_type} order needs a price (in integer ticks)")
    else:
        ticks = _uint("price", price, minimum=1)
    return {
        "account": account,
        "instrument": _instrument(instrument),
        "side": SIDES[side],
        "orderType": ORDER_TYPES[order_type],
        "price": ticks,
        "qty": _uint("qty", qty, minimum=1),
        "clientOrderId": _uint("client order id", client_order_id),
        "nonce": _uint("nonce", nonce),
        "expiry": _uint("expiry", expiry),
    }


def cancel_message(*, account: str, instrument: str, client_order_id: int, nonce: int) -> dict[str, Any]:
    """The fields of a ``CancelOrder`` to sign."""
    return {
        "account": account,
        "instrument": _instrument(instrument),
        "clientOrderId": _uint("client order id", client_order_id),
        "nonce": _uint("nonce", nonce),
    }


def replace_message(
    *, account: str, instrument: str, client_order_id: int, price: int, qty: int, nonce: int
) -> dict[str, Any]:
    """The fields of a ``ReplaceOrder`` to sign: the order's new price (ticks) and quantity (lots)."""
    return {
        "account": account,
        "instrument": _instrument(instrument),
        "clientOrderId": _uint("client order id", client_order_id),
        "price": _uint("price", price, minimum=1),
        "qty": _uint("qty", qty, minimum=1),
        "nonce": _uint("nonce", nonce),
    }


# ----------------------------------------------------------------------------------- read tokens


@dataclass(frozen=True, slots=True)
class ReadToken:
    """A signed ``ReadAccount`` message: the credentials of the private reads."""

    account: str
    expiry: int
    signature: str

    def headers(self) -> dict[str, str]:
        """The three request headers that carry the token."""
        return {
            "X-GCX-Account": self.account,
            "X-GCX-Expiry": str(self.expiry),
            "X-GCX-Signature": self.signature,
        }


class ReadTokenCache:
    """One ``ReadAccount`` token, signed on first use and reused until ``refresh_margin_s``
    before its expiry; then a new one is signed.

    ``sign`` signs a ``ReadAccount`` message (``{"account", "expiry"}``) and returns the ``0x``
    signature. The server accepts an expiry at most 24 h ahead; the default lifetime is an hour.
    """

    __slots__ = ("_account", "_lifetime_s", "_margin_s", "_sign", "_token")

    def __init__(
        self,
        account: str,
        sign: Callable[[dict[str, Any]], str],
        *,
        lifetime_s: int = 3600,
        refresh_margin_s: int = 60,
    ) -> None:
        if not 0 <= refresh_margin_s < lifetime_s:
            raise ValueError("refresh_margin_s must be below lifetime_s")
        self._account = account
        self._sign = sign
        self._lifetime_s = lifetime_s
        self._margin_s = refresh_margin_s
        self._token: ReadToken | None = None

    def token(self, now: float) -> ReadToken:
        """A token valid for at least ``refresh_margin_s`` more seconds at Unix time ``now``."""
        token = self._token
        if token is None or now >= token.expiry - self._margin_s:
            expiry = int(now) + self._lifetime_s
            signature = self._sign({"account": self._account, "expiry": expiry})
            token = ReadToken(self._account, expiry, signature)
            self._token = token
        return token

    def clear(self) -> None:
        """Forget the token (the next :meth:`token` signs a new one)."""
        self._token = None
