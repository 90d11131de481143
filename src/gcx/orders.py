"""Authentication of order entry: EIP-712 signed orders, cancels and replaces, and replay nonces.

Why EIP-712 signed orders, not API keys
=======================================

Every order-entry message (``Order``, ``CancelOrder``, ``ReplaceOrder``) is EIP-712 typed data
signed by the account's own Ethereum key, and the account *is* the signer's address.

* **Self-authenticating.** A signed order proves who ordered what. The journal stores the
  message and its signature, and anyone — an auditor, a counterparty in a dispute, a later
  replay — can check it offline with nothing but the domain; the exchange cannot forge an order
  for an account, and cannot be accused of having done so.
* **No server-side secret.** An API key is a bearer secret the exchange must store (hashed or
  not) and the client must keep on every host that trades; a leak of either side lets anyone
  trade the account. Here the server holds nothing worth stealing, and the client's key can
  stay in a wallet or hardware signer.
* **Wallets display it.** ``eth_signTypedData_v4`` shows the user the instrument, side, price
  and quantity field by field instead of an opaque hash, and the domain (chain id, vault
  contract) stops a signature made for one deployment from being replayed on another.

The cost is one secp256k1 public-key recovery (~50 µs) plus three keccak hashes per message:
0.10–0.15 ms of CPU per order on the 2-core dev machine (printed by
``tests/exchange/test_exchange_auth.py``), against a few µs for an HMAC API key. At the issue's
5,000 orders/s that is 0.5–0.75 of a core — affordable, and verification is pure, so it can run
in worker processes ahead of the sequencer rather than on the matching thread.

Replay protection: each message carries a ``nonce``; per account the nonces must be strictly
increasing. A nonce at or below the last accepted one is a replay (:class:`ReplayedNonce`); the
exchange's admission keeps the last nonce of each account and checks it, not this module, so a
client with several messages in flight must number them in the order it sends them. The one
rule every client follows (docs/exchange-api.md) is :func:`next_nonce`: Unix time in
**microseconds**, or one above the last nonce used if the clock has not passed it — so clients
sharing a key (the SDK, ``gcx trade``, a wallet script) never refuse each other's orders. Orders
also carry an ``expiry`` (Unix seconds): the signature may not be *submitted* at or after it —
it bounds the life of a signed but unsent order, not how long the order rests.

Wire rules: an integer field is a JSON number or its decimal string (:func:`parse_decimal`:
ASCII digits only), since JavaScript cannot send a uint64 above 2**53 exactly; the signature is
over the value either way. A signature is ``r ‖ s ‖ v`` with ``v`` 27/28 or 0/1 (normalized to
27/28, :func:`canonical_signature`) and a low ``s`` (EIP-2; a high one is :class:`HighS`).

API (sans-I/O: callers pass the clock)::

    domain = Domain(chain_id=8453, verifying_contract=vault_address)
    sig = sign_order(message, private_key, domain)                       # SDK / tests
    addr = verify_order(message, sig, domain, now=int(time.time()))

``verify_cancel``/``verify_replace`` and ``sign_cancel``/``sign_replace`` do the same for the
other two types; :func:`typed_data` builds the full ``eth_signTypedData_v4`` payload and
:func:`verify_typed_data` accepts one (checking its domain, :class:`WrongDomain`). Every failure
is an :class:`AuthError` with a stable ``code`` for the API's 4xx answer.

The hot path does not call eth-account: :func:`eth_account.messages.encode_typed_data` costs
~0.4 ms per message, so the digest is computed here from the fixed schemas (the tests check it
equals ``encode_typed_data``'s, and signatures against ``Account.sign_typed_data``), and the
signer is recovered with coincurve as :mod:`gcx.signing` does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal, cast

from eth_account import Account
from eth_hash.auto import keccak

from gcx.errors import GCXError, SignatureError
from gcx.signing import _N, recover_raw, signature_bytes

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "MAX_INSTRUMENT_LEN",
    "ORDER_TYPES",
    "SIDES",
    "TYPES",
    "AuthError",
    "BadSignature",
    "Domain",
    "Expired",
    "MalformedMessage",
    "MessageKind",
    "ReplayedNonce",
    "WrongDomain",
    "canonical_message",
    "canonical_signature",
    "message_schema",
    "next_nonce",
    "nonce_clock",
    "parse_decimal",
    "sign_cancel",
    "sign_order",
    "sign_read",
    "sign_replace",
    "sign_typed",
    "typed_data",
    "typed_digest",
    "verify_cancel",
    "verify_order",
    "verify_replace",
    "verify_typed",
    "verify_typed_data",
]

DOMAIN_NAME: Final = "GCX Exchange"
DOMAIN_VERSION: Final = "1"
MAX_INSTRUMENT_LEN: Final = 32

MessageKind = Literal["Order", "CancelOrder", "ReplaceOrder", "ReadAccount"]

SIDES: Final[Mapping[str, int]] = {"buy": 0, "sell": 1}
"""Side names and their values (``side``) in signed messages (the engine's ``Side``)."""

ORDER_TYPES: Final[Mapping[str, int]] = {"gtc": 0, "ioc": 1, "fok": 2, "post_only": 3, "market": 4}
"""Order type names and their values (``orderType``) in signed messages (the engine's ``OrderType``)."""


def nonce_clock() -> int:
    """Unix time in microseconds: the clock nonces are taken from (see :func:`next_nonce`)."""
    return time.time_ns() // 1000


def next_nonce(last: int = 0, now_us: int | None = None) -> int:
    """The nonce to sign next, by the one rule of docs/exchange-api.md: Unix time in
    microseconds (``now_us``, read from :func:`nonce_clock` when None), or ``last + 1`` if that
    is not above ``last``, the account's previous nonce. Strictly increasing per account, also
    across processes and clients that use the same key one after another."""
    return max(last + 1, nonce_clock() if now_us is None else now_us)


# --------------------------------------------------------------------------------------- errors


class AuthError(GCXError):
    """An order-entry message fails authentication; ``code`` is a stable reason for the API."""

    exit_code = 1
    code: str = "auth_error"


class MalformedMessage(AuthError):  # noqa: N818 - names the reason, like the API's codes
    """A field is missing, unknown, of the wrong type or out of range."""

    code = "malformed"


class BadSignature(AuthError):  # noqa: N818 - names the reason, like the API's codes
    """The signature is malformed, or was not made by the message's ``account``."""

    code = "bad_signature"


class HighS(BadSignature):
    """The signature's ``s`` is in the upper half of the curve order (EIP-2): it is refused, not
    normalized, so each order has one signature. Sign again (every common signer emits low ``s``),
    or flip it: ``s' = n - s`` and ``v' = 55 - v``."""

    code = "high_s"


class Expired(AuthError):  # noqa: N818 - names the reason, like the API's codes
    """The message's ``expiry`` has passed."""

    code = "expired"


class ReplayedNonce(AuthError):  # noqa: N818 - names the reason, like the API's codes
    """The nonce is not above the last one accepted for the account."""

    code = "replayed_nonce"


class WrongDomain(AuthError):  # noqa: N818 - names the reason, like the API's codes
    """The message was signed for another EIP-712 domain (chain, contract, name or version)."""

    code = "wrong_domain"


# -------------------------------------------------------------------------------------- schemas

TYPES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "Order": (
        ("account", "address"),
        ("instrument", "string"),
        ("side", "uint8"),
        ("orderType", "uint8"),
        ("price", "uint64"),
        ("qty", "uint64"),
        ("clientOrderId", "uint64"),
        ("nonce", "uint64"),
        ("expiry", "uint64"),
    ),
    "CancelOrder": (
        ("account", "address"),
        ("instrument", "string"),
        ("clientOrderId", "uint64"),
        ("nonce", "uint64"),
    ),
    "ReplaceOrder": (
        ("account", "address"),
        ("instrument", "string"),
        ("clientOrderId", "uint64"),
        ("price", "uint64"),
        ("qty", "uint64"),
        ("nonce", "uint64"),
    ),
    "ReadAccount": (
        ("account", "address"),
        ("expiry", "uint64"),
    ),
}
"""The primary types, field by field in EIP-712 order (names and Solidity types)."""

_DOMAIN_FIELDS: Final = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)


def _type_string(name: str, fields: tuple[tuple[str, str], ...]) -> bytes:
    return f"{name}({','.join(f'{t} {n}' for n, t in fields)})".encode()


_TYPEHASH: Final = {name: bytes(keccak(_type_string(name, fields))) for name, fields in TYPES.items()}
_DOMAIN_TYPEHASH: Final = bytes(keccak(_type_string("EIP712Domain", _DOMAIN_FIELDS)))
_FIELD_NAMES: Final = {name: frozenset(n for n, _ in fields) for name, fields in TYPES.items()}
_UINT_BITS: Final = {"uint8": 8, "uint64": 64, "uint256": 256}
_UINT_FIELDS: Final = {
    name: tuple((n, _UINT_BITS[t]) for n, t in fields if t in _UINT_BITS) for name, fields in TYPES.items()
}
_ADDRESS_RE: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_INSTRUMENT_RE: Final = re.compile(rf"[\x21-\x7e]{{1,{MAX_INSTRUMENT_LEN}}}")  # printable ASCII, no space
_DECIMAL_RE: Final = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL_DIGITS: Final = {bits: len(str((1 << bits) - 1)) for bits in (8, 16, 32, 64, 256)}
_HALF_N: Final = _N // 2  # the largest low s (EIP-2)
_ORDER_TYPES: Final = frozenset(ORDER_TYPES.values())
_SIDES: Final = frozenset(SIDES.values())


@lru_cache(maxsize=65536)
def _checksum(lower_hex: str) -> str:
    """EIP-55 checksum of a lowercase 40-hex-digit address (no ``0x``); ~15x eth-utils' speed."""
    h = bytes(keccak(lower_hex.encode())).hex()
    return "0x" + "".join(c.upper() if c > "9" and h[i] >= "8" else c for i, c in enumerate(lower_hex))


def _address(value: object, where: str) -> bytes:
    """The 20 bytes of a ``0x`` address string; a mixed-case one must be EIP-55 checksummed."""
    if type(value) is not str or _ADDRESS_RE.fullmatch(value) is None:
        raise MalformedMessage(f"{where}: expected a 0x-prefixed 20-byte hex address")
    body = value[2:]
    lower = body.lower()
    if body != lower and body != body.upper() and _checksum(lower) != value:
        raise MalformedMessage(f"{where}: bad EIP-55 checksum")
    return bytes.fromhex(lower)


@lru_cache(maxsize=4096)
def _string_hash(value: str) -> bytes:
    return bytes(keccak(value.encode()))


def parse_decimal(text: object, bits: int = 64) -> int | None:
    """The value of ``text`` if it is the decimal string of an unsigned integer below ``2**bits``,
    else ``None``.

    Strict: 1 to as many ASCII digits ``0``-``9`` as ``2**bits - 1`` has (20 for 64 bits), nothing
    else — no sign, ``+``, whitespace, underscore, decimal point, or digits of other scripts
    (``str.isdigit`` accepts ``"²"``, which ``int`` then refuses). The one parser of every integer
    the exchange API reads from text: uint fields sent as strings, headers, query parameters.
    """
    if type(text) is not str or len(text) > _DECIMAL_DIGITS[bits] or _DECIMAL_RE.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value < 1 << bits else None


def _uint(value: object, bits: int, where: str) -> int:
    """An integer field: a JSON number, or its decimal string (JavaScript cannot send a number
    above 2**53 exactly); :class:`MalformedMessage` if neither, or out of range."""
    if type(value) is str:
        parsed = parse_decimal(value, bits)
        if parsed is None:
            raise MalformedMessage(
                f"{where}: expected an integer in [0, 2**{bits}) or its decimal string (ASCII digits only)"
            )
        return parsed
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise MalformedMessage(f"{where}: expected an integer in [0, 2**{bits}) or its decimal string")
    return int(value)


def _encode_fields(kind: str, message: object) -> tuple[bytes, dict[str, int]]:
    """Validate ``message`` against ``kind``'s schema: its EIP-712 ``hashStruct`` and the values
    of its integer fields (decimal strings parsed)."""
    if not isinstance(message, Mapping):
        raise MalformedMessage(f"{kind}: expected a map of fields")
    if message.keys() != _FIELD_NAMES[kind]:
        keys = set(message.keys())
        missing, extra = _FIELD_NAMES[kind] - keys, keys - _FIELD_NAMES[kind]
        raise MalformedMessage(
            f"{kind}: missing fields {sorted(missing)}, unknown fields {sorted(map(repr, extra))}"
        )
    parts = [_TYPEHASH[kind]]
    ints: dict[str, int] = {}
    for name, typ in TYPES[kind]:
        value = message[name]
        where = f"{kind}.{name}"
        if typ == "address":
            parts.append(b"\x00" * 12 + _address(value, where))
        elif typ == "string":
            if type(value) is not str or _INSTRUMENT_RE.fullmatch(value) is None:
                raise MalformedMessage(
                    f"{where}: expected 1 to {MAX_INSTRUMENT_LEN} printable ASCII characters"
                )
            parts.append(_string_hash(value))
        else:
            number = ints[name] = _uint(value, _UINT_BITS[typ], where)
            parts.append(number.to_bytes(32, "big"))
    if kind == "Order":
        if ints["side"] not in _SIDES:
            raise MalformedMessage("Order.side: expected 0 (buy) or 1 (sell)")
        if ints["orderType"] not in _ORDER_TYPES:
            raise MalformedMessage("Order.orderType: expected 0 GTC, 1 IOC, 2 FOK, 3 POST_ONLY or 4 MARKET")
    return bytes(keccak(b"".join(parts))), ints


def canonical_message(kind: MessageKind, message: Mapping[str, Any]) -> Mapping[str, Any]:
    """``message`` with its integer fields as ``int`` (decimal strings parsed): the same mapping
    when it has no string to parse (the common case, no copy).

    Meant for a message that :func:`verify_typed` accepted, so only the strings are looked at
    (an unparseable one is still :class:`MalformedMessage`); it does not validate the rest.
    """
    uints = _UINT_FIELDS.get(kind)
    if uints is None:
        raise MalformedMessage(f"unknown message type {kind!r}")
    strings = [(name, bits) for name, bits in uints if type(message.get(name)) is str]
    if not strings:
        return message
    return {**message, **{name: _uint(message[name], bits, f"{kind}.{name}") for name, bits in strings}}


def message_schema(kind: MessageKind) -> dict[str, Any]:
    """The JSON Schema of a ``kind`` message's fields (for the API's OpenAPI document)."""
    properties: dict[str, Any] = {}
    for name, typ in TYPES[kind]:
        if typ == "address":
            properties[name] = {
                "type": "string",
                "pattern": "^0x[0-9a-fA-F]{40}$",
                "description": "address: 0x + 40 hex digits (EIP-55 checksummed if mixed case)",
            }
        elif typ == "string":
            properties[name] = {
                "type": "string",
                "pattern": f"^[\\x21-\\x7e]{{1,{MAX_INSTRUMENT_LEN}}}$",
                "description": f"1 to {MAX_INSTRUMENT_LEN} printable ASCII characters, no space",
            }
        else:
            bits = _UINT_BITS[typ]
            top = (1 << bits) - 1
            allowed = {"side": sorted(_SIDES), "orderType": sorted(_ORDER_TYPES)}.get(name)
            # exclusiveMaximum 2**bits: a power of two survives the float an OpenAPI number becomes
            number: dict[str, Any] = {"type": "integer", "minimum": 0, "exclusiveMaximum": 1 << bits}
            text: dict[str, Any] = {"type": "string", "pattern": f"^[0-9]{{1,{_DECIMAL_DIGITS[bits]}}}$"}
            if allowed is not None:
                number["enum"] = allowed
                text["enum"] = [str(v) for v in allowed]
            properties[name] = {
                "oneOf": [number, text],
                "description": f"{typ}: a JSON integer in [0, {top}], or its decimal string "
                "(ASCII digits only), for clients that cannot send integers above 2**53 exactly",
            }
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name, _ in TYPES[kind]],
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------------------- domain


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain of one deployment: chain id and verifying contract (the CollateralVault).

    ``separator`` (the domain's ``hashStruct``) is computed once here.
    """

    chain_id: int
    verifying_contract: str
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cid = self.chain_id
        if not isinstance(cid, int) or isinstance(cid, bool) or not 0 < cid < 1 << 256:
            raise MalformedMessage("domain.chainId: expected a positive uint256")
        contract = _address(self.verifying_contract, "domain.verifyingContract")
        sep = keccak(
            _DOMAIN_TYPEHASH
            + _string_hash(DOMAIN_NAME)
            + _string_hash(DOMAIN_VERSION)
            + cid.to_bytes(32, "big")
            + b"\x00" * 12
            + contract
        )
        object.__setattr__(self, "verifying_contract", _checksum(contract.hex()))
        object.__setattr__(self, "separator", bytes(sep))

    def to_dict(self) -> dict[str, Any]:
        """The domain as EIP-712 ``domain`` data (what wallets and eth-account take)."""
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    @classmethod
    def from_dict(cls, data: object) -> Domain:
        """Parse EIP-712 ``domain`` data; :class:`WrongDomain` if its name or version is not ours."""
        if not isinstance(data, Mapping) or data.keys() != {n for n, _ in _DOMAIN_FIELDS}:
            raise MalformedMessage("domain: expected exactly name, version, chainId and verifyingContract")
        if data["name"] != DOMAIN_NAME or data["version"] != DOMAIN_VERSION:
            raise WrongDomain(
                f"domain: signed for {data['name']!r} version {data['version']!r}, "
                f"not {DOMAIN_NAME!r} version {DOMAIN_VERSION!r}"
            )
        chain_id = data["chainId"]
        if type(chain_id) is str:  # a decimal string, as some wallets send it
            chain_id = parse_decimal(chain_id, 256)
            if chain_id is None:
                raise MalformedMessage("domain.chainId: expected a positive uint256")
        return cls(chain_id=chain_id, verifying_contract=data["verifyingContract"])

    def check(self, data: object) -> None:
        """Raise :class:`WrongDomain` unless EIP-712 ``domain`` data (a client's claim of what it
        signed for) is this domain; :class:`MalformedMessage` if it is not domain data."""
        claimed = Domain.from_dict(data)
        if claimed != self:
            raise WrongDomain(
                f"signed for chain {claimed.chain_id} contract {claimed.verifying_contract}, "
                f"this exchange is chain {self.chain_id} contract {self.verifying_contract}"
            )


def typed_digest(kind: MessageKind, message: Mapping[str, Any], domain: Domain) -> bytes:
    """The 32-byte EIP-712 digest ``keccak(0x1901 ‖ domainSeparator ‖ hashStruct(message))``.

    Equal to ``_hash_eip191_message(encode_typed_data(...))`` of eth-account, ~15x faster (25 µs).
    """
    if kind not in TYPES:
        raise MalformedMessage(f"unknown message type {kind!r}")
    return bytes(keccak(b"\x19\x01" + domain.separator + _encode_fields(kind, message)[0]))


def _struct_types(kind: str) -> list[dict[str, str]]:
    return [{"name": n, "type": t} for n, t in TYPES[kind]]


def _payload_types(kind: str) -> dict[str, list[dict[str, str]]]:
    return {"EIP712Domain": [{"name": n, "type": t} for n, t in _DOMAIN_FIELDS], kind: _struct_types(kind)}


def typed_data(kind: MessageKind, message: Mapping[str, Any], domain: Domain) -> dict[str, Any]:
    """The full ``eth_signTypedData_v4`` payload of ``message`` (validated first)."""
    _encode_fields(kind, message)
    return {
        "types": _payload_types(kind),
        "primaryType": kind,
        "domain": domain.to_dict(),
        "message": dict(message),
    }


# -------------------------------------------------------------------------------------- signing


def sign_typed(kind: MessageKind, message: Mapping[str, Any], private_key: bytes, domain: Domain) -> str:
    """The ``0x``-hex 65-byte signature of ``message`` by eth-account (SDK side, not the hot path).

    Integer fields may be decimal strings; the signature is over their values (the same as for
    the numbers), and ``v`` is 27 or 28.
    """
    _, ints = _encode_fields(kind, message)  # refuse to sign what the exchange would refuse to read
    signed = Account.sign_typed_data(
        private_key,
        domain_data=domain.to_dict(),
        message_types={kind: _struct_types(kind)},
        message_data={**message, **ints},
    )
    return "0x" + bytes(signed.signature).hex()


def sign_order(message: Mapping[str, Any], private_key: bytes, domain: Domain) -> str:
    """Sign an ``Order`` message."""
    return sign_typed("Order", message, private_key, domain)


def sign_read(message: Mapping[str, Any], private_key: bytes, domain: Domain) -> str:
    """Sign a ``ReadAccount`` message (the token of the API's private reads)."""
    return sign_typed("ReadAccount", message, private_key, domain)


def sign_cancel(message: Mapping[str, Any], private_key: bytes, domain: Domain) -> str:
    """Sign a ``CancelOrder`` message."""
    return sign_typed("CancelOrder", message, private_key, domain)


def sign_replace(message: Mapping[str, Any], private_key: bytes, domain: Domain) -> str:
    """Sign a ``ReplaceOrder`` message."""
    return sign_typed("ReplaceOrder", message, private_key, domain)


# ---------------------------------------------------------------------------------- verification


def canonical_signature(signature: object) -> bytes:
    """The 65 bytes ``r ‖ s ‖ v`` of a ``0x``-hex signature, ``v`` normalized to 27 or 28.

    ``v`` may be 27/28 (Ethereum's convention) or 0/1 (what many hardware signers and raw
    secp256k1 libraries return): both mean the same recovery id. ``s`` must be low (at most
    ``n/2``, EIP-2), else :class:`HighS`; any other malformation is :class:`BadSignature`.
    """
    if type(signature) is not str:  # a str subclass is not JSON's string
        raise BadSignature("signature must be a 0x-prefixed 65-byte hex string")
    try:
        raw = signature_bytes(signature)
    except SignatureError as exc:
        raise BadSignature(str(exc)) from None
    v = raw[64]
    if v in (0, 1):
        raw = raw[:64] + bytes([v + 27])
    elif v not in (27, 28):
        raise BadSignature(f"signature v is {v}: expected 27 or 28 (or 0 or 1)")
    if int.from_bytes(raw[32:64], "big") > _HALF_N:
        raise HighS("signature s is above n/2 (EIP-2 requires a low s): sign again, or use s' = n - s")
    return raw


def _recover(digest: bytes, signature: object) -> bytes:
    """The 20-byte address that signed ``digest`` (:func:`canonical_signature`'s rules, then
    :func:`gcx.signing.recover_raw`)."""
    raw = canonical_signature(signature)
    try:
        return recover_raw(digest, raw)
    except SignatureError as exc:
        raise BadSignature(str(exc)) from None


def verify_typed(
    kind: MessageKind,
    message: Mapping[str, Any],
    signature: str,
    domain: Domain,
    *,
    now: int,
) -> str:
    """The checksummed address of ``message``'s ``account``, once it is proven to have signed it.

    Checks, cheapest first: fields (:class:`MalformedMessage`; integer fields may be decimal
    strings), ``expiry > now`` for orders and read tokens (:class:`Expired`), then the signature
    (:class:`BadSignature`, :class:`HighS`; ``v`` 0/1 or 27/28). The nonce is the caller's to
    check (the exchange's admission does).
    """
    if kind not in TYPES:
        raise MalformedMessage(f"unknown message type {kind!r}")
    struct_hash, ints = _encode_fields(kind, message)
    if kind in ("Order", "ReadAccount") and ints["expiry"] <= now:
        raise Expired(f"{kind} expired at {ints['expiry']}, now {now}")
    signer = _recover(bytes(keccak(b"\x19\x01" + domain.separator + struct_hash)), signature)
    claimed = message["account"]
    if signer.hex() != claimed[2:].lower():
        raise BadSignature(f"signature was not made by {claimed}")
    return _checksum(signer.hex())


def verify_order(
    message: Mapping[str, Any],
    signature: str,
    domain: Domain,
    *,
    now: int,
) -> str:
    """Verify an ``Order``; see :func:`verify_typed`."""
    return verify_typed("Order", message, signature, domain, now=now)


def verify_cancel(
    message: Mapping[str, Any],
    signature: str,
    domain: Domain,
    *,
    now: int,
) -> str:
    """Verify a ``CancelOrder``; see :func:`verify_typed`."""
    return verify_typed("CancelOrder", message, signature, domain, now=now)


def verify_replace(
    message: Mapping[str, Any],
    signature: str,
    domain: Domain,
    *,
    now: int,
) -> str:
    """Verify a ``ReplaceOrder``; see :func:`verify_typed`."""
    return verify_typed("ReplaceOrder", message, signature, domain, now=now)


def verify_typed_data(
    payload: object,
    signature: str,
    domain: Domain,
    *,
    now: int,
) -> tuple[MessageKind, str]:
    """Verify a full ``eth_signTypedData_v4`` payload: ``(primaryType, signer address)``.

    A payload whose domain is not ``domain`` is :class:`WrongDomain`; its ``types`` must be
    exactly ours (:func:`typed_data`), else :class:`MalformedMessage`.
    """
    if not isinstance(payload, Mapping) or payload.keys() != {"types", "primaryType", "domain", "message"}:
        raise MalformedMessage("typed data: expected exactly types, primaryType, domain and message")
    primary = payload["primaryType"]
    if type(primary) is not str or primary not in TYPES:
        raise MalformedMessage(f"typed data: primaryType must be one of {sorted(TYPES)}")
    kind = cast(MessageKind, primary)
    domain.check(payload["domain"])
    if payload["types"] != _payload_types(kind):
        raise MalformedMessage(f"typed data: types are not the GCX {kind} schema")
    message = payload["message"]
    if not isinstance(message, Mapping):
        raise MalformedMessage("typed data: message must be a map")
    return kind, verify_typed(kind, message, signature, domain, now=now)
