"""One secp256k1 key per participant: its Ethereum account *and* its libp2p peer ID (DESIGN §3).

A raw 32-byte Ethereum private key becomes a libp2p secp256k1 :class:`KeyPair`. The peer ID of
such a key is an *identity* multihash: it embeds the protobuf-encoded 33-byte compressed public
key, so anyone holding the peer ID can recover the public key and from it the Ethereum address
(``keccak256`` of the uncompressed key, last 20 bytes, EIP-55 checksummed) without any lookup.

Note that libp2p's own secp256k1 signatures (Noise handshake, gossipsub message signing) are DER
over SHA-256 — not Ethereum signatures. They authenticate the *peer*; anything that moves money
is still signed separately with EIP-191/EIP-712 (see :mod:`gcx.signing`).
"""

from __future__ import annotations

from eth_keys.datatypes import PublicKey as EthPublicKey
from eth_utils.exceptions import ValidationError as EthValidationError
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import Secp256k1PublicKey, create_new_key_pair
from libp2p.peer.id import ID

from .errors import PeerIdentityError

PRIVATE_KEY_SIZE = 32


def keypair_from_private_key(raw32: bytes) -> KeyPair:
    """The libp2p secp256k1 key pair of a raw 32-byte Ethereum private key.

    Raises :class:`PeerIdentityError` if ``raw32`` is not 32 bytes or not a valid scalar
    (zero, or not below the curve order).
    """
    if not isinstance(raw32, bytes | bytearray) or len(raw32) != PRIVATE_KEY_SIZE:
        size = len(raw32) if isinstance(raw32, bytes | bytearray) else type(raw32).__name__
        raise PeerIdentityError(f"a private key must be {PRIVATE_KEY_SIZE} bytes, got {size}")
    try:
        return create_new_key_pair(bytes(raw32))
    except ValueError as exc:  # coincurve: scalar is zero or >= the group order
        raise PeerIdentityError(f"invalid secp256k1 private key: {exc}") from None


def peer_id_of(raw32: bytes) -> ID:
    """The libp2p peer ID of a raw 32-byte private key (deterministic)."""
    return ID.from_pubkey(keypair_from_private_key(raw32).public_key)


def parse_peer_id(peer_id: ID | str) -> ID:
    """Accept an :class:`ID` or its string form (base58 or multibase); raise :class:`PeerIdentityError`."""
    if isinstance(peer_id, ID):
        return peer_id
    try:
        return ID.from_string(peer_id)
    except (ValueError, TypeError) as exc:
        raise PeerIdentityError(f"not a peer ID: {peer_id!r}: {exc}") from None


def address_of_peer(peer_id: ID | str) -> str:
    """The checksummed Ethereum address of the secp256k1 key embedded in ``peer_id``.

    Raises :class:`PeerIdentityError` when the peer ID does not embed a public key (a hashed
    RSA ID) or embeds a key of another type (Ed25519, ECDSA …).
    """
    pid = parse_peer_id(peer_id)
    public_key = pid.extract_public_key()
    if public_key is None:
        raise PeerIdentityError(f"peer ID {pid} does not embed a public key")
    if not isinstance(public_key, Secp256k1PublicKey):
        raise PeerIdentityError(
            f"peer ID {pid} embeds a {public_key.get_type().name} key, not a secp256k1 key",
        )
    try:
        eth_public = EthPublicKey.from_compressed_bytes(public_key.to_bytes())
    except (EthValidationError, ValueError) as exc:
        raise PeerIdentityError(f"peer ID {pid} embeds a malformed secp256k1 key: {exc}") from None
    return str(eth_public.to_checksum_address())


__all__ = ["address_of_peer", "keypair_from_private_key", "parse_peer_id", "peer_id_of"]
