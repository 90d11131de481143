"""Signing and verifying GCX documents with Ethereum keys (EIP-191, ``personal_sign``).

A document is a JSON-like map. Its **digest** is the keccak-256 of the canonical msgpack
encoding (:func:`gcx.wire.canonical_bytes`) of the map without its ``signature`` field. The
signer signs the 32-byte digest as an EIP-191 version-0x45 message; anyone recovers the signer's
address from the signature and compares it with the address the document claims. Domain
separation comes from the document itself: its ``schema`` (or ``type``/``v``) field is part of the
signed bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import coincurve
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from .errors import SignatureError
from .wire import canonical_bytes

SIGNATURE_FIELD = "signature"
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # secp256k1 group order


def digest(document: Mapping[str, Any]) -> bytes:
    """keccak-256 of the canonical encoding of ``document`` minus its signature field."""
    body = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    return keccak(canonical_bytes(body))


def sign(document: Mapping[str, Any], private_key: bytes) -> str:
    """The ``0x``-hex EIP-191 signature of the document's digest."""
    signed = Account.sign_message(encode_defunct(primitive=digest(document)), private_key=private_key)
    return "0x" + bytes(signed.signature).hex()


def recover(document: Mapping[str, Any]) -> str:
    """The checksummed address that signed ``document``; :class:`SignatureError` if malformed."""
    return to_checksum_address(_recover_raw(document))


def _recover_raw(document: Mapping[str, Any]) -> bytes:
    """The 20-byte address that signed ``document``.

    Recovery calls libsecp256k1 (coincurve, the backend eth-keys itself uses) directly: it is
    on the coordinator's hot path, where eth-account's layers cost three times the curve math.
    High-s signatures are refused (EIP-2), so every signature has exactly one valid form.
    """
    message = keccak(b"\x19Ethereum Signed Message:\n32" + digest(document))
    return recover_hash(message, document.get(SIGNATURE_FIELD))


def signature_bytes(signature: object) -> bytes:
    """The 65 bytes ``r ‖ s ‖ v`` of a ``0x``-hex signature string (its shape only: no range
    check); anything else is a :class:`SignatureError`."""
    if not isinstance(signature, str) or not signature.startswith("0x") or len(signature) != 132:
        raise SignatureError("signature must be a 0x-prefixed 65-byte hex string")
    try:
        raw = bytes.fromhex(signature[2:])
    except ValueError:
        raise SignatureError("signature is not hex") from None
    if len(raw) != 65:  # fromhex skips whitespace
        raise SignatureError("signature must be 65 bytes")
    return raw


def recover_hash(message_hash: bytes, signature: object) -> bytes:
    """The 20-byte address whose key signed the 32-byte ``message_hash`` (already prefixed or
    typed as its scheme requires: EIP-191 above, EIP-712 in the exchange's order authentication).

    ``signature`` is ``0x`` + 65 bytes ``r ‖ s ‖ v`` with ``v`` 27 or 28 and a low ``s`` (EIP-2), so
    each signature has exactly one valid form; anything else is a :class:`SignatureError`.
    """
    return recover_raw(message_hash, signature_bytes(signature))


def recover_raw(message_hash: bytes, raw: bytes) -> bytes:
    """:func:`recover_hash` for a signature already as its 65 bytes ``r ‖ s ‖ v``."""
    if len(raw) != 65:
        raise SignatureError("signature must be 65 bytes")
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in (27, 28) or not (0 < r < _N and 0 < s <= _N // 2):
        raise SignatureError("invalid signature: r, s or v out of range")
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            raw[:64] + bytes([v - 27]), message_hash, hasher=None
        )
    except Exception as exc:  # libsecp256k1 refuses a signature with no recoverable key
        raise SignatureError(f"invalid signature: {exc}") from None
    return bytes(keccak(public.format(compressed=False)[1:])[-20:])


def verify(document: Mapping[str, Any], claimed_address: str) -> None:
    """Raise :class:`SignatureError` unless ``claimed_address`` signed ``document``."""
    signer = _recover_raw(document)
    if "0x" + signer.hex() != str(claimed_address).lower():
        raise SignatureError(
            f"signature was made by {to_checksum_address(signer)}, not by the claimed {claimed_address}"
        )
