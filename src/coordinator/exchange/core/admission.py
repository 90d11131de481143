"""Admission: the rules a request whose signature checked passes before it is journaled.

Theory of operation: requests are admitted one at a time, in arrival order, on the service's
thread. Each must name a known instrument; orders and replaces on a future or option are
refused from its expiry on (cancels still pass, so a position can always be unwound); the
nonce must be above the account's last one, counting requests admitted but not yet applied
(the state only knows applied ones). An admitted order gets the next order id. The result is
the :class:`~.entry.Entry` to journal, in canonical form: integer fields sent as decimal strings
are integers, and the signature's ``v`` is 27/28 even if the client sent 0/1, so the journal
holds one form of each request. Pure: the caller passes the time in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gcx.orders import MessageKind, ReplayedNonce, canonical_message, canonical_signature

from ..errors import InstrumentExpired, UnknownInstrument
from .entry import Entry, entry_from_message
from .instruments import Future, Option
from .state import ExchangeState

__all__ = ["Admission"]


class Admission:
    """Admits verified requests against ``state`` (see the module docstring)."""

    def __init__(self, state: ExchangeState) -> None:
        self.state = state
        self._nonces: dict[bytes, int] = {}  # admitted, maybe not yet applied
        self.next_order_id = state.next_order_id
        self._expiry_ms = {
            sym: int(inst.expiry.timestamp() * 1000)
            for sym, inst in state.instruments.items()
            if isinstance(inst, Future | Option)
        }

    def admit(self, kind: MessageKind, message: Mapping[str, Any], signature: str, now_ms: int) -> Entry:
        """The journal entry of a request whose signature checked, or the
        :class:`~coordinator.exchange.errors.AdmissionError` / :class:`~gcx.orders.ReplayedNonce`
        that refuses it (nothing changes then)."""
        message = canonical_message(kind, message)
        instrument = message["instrument"]
        if instrument not in self.state.engines:
            raise UnknownInstrument(f"no instrument {instrument!r}")
        if kind != "CancelOrder" and now_ms >= self._expiry_ms.get(instrument, now_ms + 1):
            raise InstrumentExpired(f"{instrument} expired; only cancels are accepted")
        account = bytes.fromhex(message["account"][2:])
        last = max(self._nonces.get(account, -1), self.state.nonces.get(account, -1))
        nonce = message["nonce"]
        if nonce <= last:
            raise ReplayedNonce(f"nonce {nonce} is not above {last}, the last one accepted for this account")
        self._nonces[account] = nonce
        order_id = 0
        if kind == "Order":
            order_id = self.next_order_id
            self.next_order_id += 1
        return entry_from_message(kind, message, canonical_signature(signature), now_ms, order_id)
