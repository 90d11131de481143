"""What the exchange journals: one :class:`Entry` per admitted order-entry request.

An entry is the signed request as the account sent it (every EIP-712 field and the signature)
plus what the exchange decided on admission and must replay identically: the time stamp
(``ts_ms``, the exchange's clock when it admitted the request) and, for orders, the engine
order id it assigned. Accounts, engines and order ids are derived from entries in journal
order, so the journal alone rebuilds the whole exchange state (``state.py``), and it keeps the
proof of who ordered what: :func:`entry_message` gives back the signed message, which anyone
can verify against the signature with the exchange's EIP-712 domain.

Encoding: a msgpack array, fixed positions, all integers except the instrument (str), the
account (20 bytes) and the signature (65 bytes)::

    [FORMAT, kind, ts_ms, instrument, account, nonce, client_order_id,
     side, order_type, price, qty, expiry, order_id, signature]

Fields a kind does not use are 0 (side, order type, price, quantity, expiry of a cancel).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from gcx import wire
from gcx.errors import WireError
from gcx.orders import MessageKind, _checksum

from ..errors import EntryDecodeError

__all__ = [
    "CANCEL",
    "ENTRY_FORMAT",
    "KINDS",
    "ORDER",
    "REPLACE",
    "Entry",
    "EntryDecodeError",
    "decode_entry",
    "encode_entry",
    "entry_from_message",
    "entry_message",
]

ENTRY_FORMAT: Final = 1
ORDER: Final = 1
CANCEL: Final = 2
REPLACE: Final = 3
KINDS: Final[dict[MessageKind, int]] = {"Order": ORDER, "CancelOrder": CANCEL, "ReplaceOrder": REPLACE}
_NAMES: Final = {v: k for k, v in KINDS.items()}
_MAX_INSTRUMENT: Final = 48


@dataclass(frozen=True, slots=True)
class Entry:
    """One admitted request (see the module docstring)."""

    kind: int
    ts_ms: int
    instrument: str
    account: bytes  # 20-byte address of the signer
    nonce: int
    client_order_id: int
    side: int = 0
    order_type: int = 0
    price: int = 0
    qty: int = 0
    expiry: int = 0
    order_id: int = 0  # assigned by the exchange to an order; 0 for cancels and replaces
    signature: bytes = b""


_packer: Final = msgpack.Packer(use_bin_type=True)


def encode_entry(e: Entry) -> bytes:
    """The stable bytes of ``e``."""
    return _packer.pack(  # type: ignore[no-any-return]
        [
            ENTRY_FORMAT,
            e.kind,
            e.ts_ms,
            e.instrument,
            e.account,
            e.nonce,
            e.client_order_id,
            e.side,
            e.order_type,
            e.price,
            e.qty,
            e.expiry,
            e.order_id,
            e.signature,
        ]
    )


MAX_ENTRY_SIZE: Final = 512
"""The largest encoded entry: eleven 64-bit integers, an instrument of at most 48 characters
(UTF-8), a 20-byte account and a 65-byte signature take under 400 bytes."""


_INT_FIELDS: Final = (
    "format",
    "kind",
    "ts_ms",
    "nonce",
    "client_order_id",
    "side",
    "order_type",
    "price",
    "qty",
    "expiry",
    "order_id",
)


def decode_entry(data: bytes) -> Entry:
    """The entry ``data`` encodes; :class:`EntryDecodeError` for anything else.

    Decoded by :mod:`gcx.wire` (strict: bounded size, no extension types, no trailing bytes),
    then each field is checked for its exact type and range (a bool is not an integer).
    """
    try:
        raw = wire.unpack_array(data, MAX_ENTRY_SIZE, (14,))
        fmt, kind, ts_ms, instrument, account, *ints, signature = raw
        wire.expect_ints([fmt, kind, ts_ms, *ints], _INT_FIELDS, 0, wire.UINT64_MAX)
        if fmt != ENTRY_FORMAT:
            raise EntryDecodeError(f"journal entry format {fmt}, this code reads {ENTRY_FORMAT}")
        if kind not in _NAMES:
            raise EntryDecodeError(f"journal entry: unknown kind {kind}")
        wire.expect_str(instrument, "instrument", 1, _MAX_INSTRUMENT)
        wire.expect_bytes(account, "account", 20, 20)
        wire.expect_bytes(signature, "signature", 0, 65)
    except EntryDecodeError:
        raise
    except WireError as exc:
        raise EntryDecodeError(f"journal entry: {exc}") from None
    nonce, coid, side, order_type, price, qty, expiry, order_id = ints
    return Entry(
        kind,
        ts_ms,
        instrument,
        account,
        nonce,
        coid,
        side,
        order_type,
        price,
        qty,
        expiry,
        order_id,
        signature,
    )


def entry_from_message(
    kind: MessageKind, message: Mapping[str, Any], signature: bytes, ts_ms: int, order_id: int = 0
) -> Entry:
    """The entry of a verified message (fields already validated by :mod:`gcx.orders`)."""
    account = bytes.fromhex(message["account"][2:])
    coid = message["clientOrderId"]
    if kind == "Order":
        return Entry(
            ORDER,
            ts_ms,
            message["instrument"],
            account,
            message["nonce"],
            coid,
            message["side"],
            message["orderType"],
            message["price"],
            message["qty"],
            message["expiry"],
            order_id,
            signature,
        )
    if kind == "CancelOrder":
        return Entry(
            CANCEL, ts_ms, message["instrument"], account, message["nonce"], coid, signature=signature
        )
    if kind == "ReplaceOrder":
        return Entry(
            REPLACE,
            ts_ms,
            message["instrument"],
            account,
            message["nonce"],
            coid,
            price=message["price"],
            qty=message["qty"],
            signature=signature,
        )
    raise ValueError(f"not an order-entry message: {kind}")


def entry_message(e: Entry) -> tuple[MessageKind, dict[str, Any]]:
    """The signed EIP-712 message of ``e`` (to audit its signature with ``auth.verify_typed``)."""
    base: dict[str, Any] = {
        "account": _checksum(e.account.hex()),
        "instrument": e.instrument,
        "clientOrderId": e.client_order_id,
        "nonce": e.nonce,
    }
    if e.kind == ORDER:
        base |= {
            "side": e.side,
            "orderType": e.order_type,
            "price": e.price,
            "qty": e.qty,
            "expiry": e.expiry,
        }
    elif e.kind == REPLACE:
        base |= {"price": e.price, "qty": e.qty}
    return _NAMES[e.kind], base
