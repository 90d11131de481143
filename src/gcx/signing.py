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

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak

from .errors import SignatureError
from .wire import canonical_bytes

SIGNATURE_FIELD = "signature"


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
    sig = document.get(SIGNATURE_FIELD)
    if not isinstance(sig, str) or not sig.startswith("0x") or len(sig) != 132:
        raise SignatureError("signature must be a 0x-prefixed 65-byte hex string")
    try:
        raw = bytes.fromhex(sig[2:])
        address: str = Account.recover_message(encode_defunct(primitive=digest(document)), signature=raw)
    except SignatureError:
        raise
    except Exception as exc:  # eth-keys raises several types for invalid (r, s, v)
        raise SignatureError(f"invalid signature: {exc}") from None
    return address


def verify(document: Mapping[str, Any], claimed_address: str) -> None:
    """Raise :class:`SignatureError` unless ``claimed_address`` signed ``document``."""
    signer = recover(document)
    if signer.lower() != str(claimed_address).lower():
        raise SignatureError(f"signature was made by {signer}, not by the claimed {claimed_address}")
