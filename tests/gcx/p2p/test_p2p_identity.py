"""Identity: one secp256k1 key is the Ethereum account and the libp2p peer ID."""

from __future__ import annotations

import pytest
from eth_account import Account
from libp2p.crypto.ed25519 import create_new_key_pair as new_ed25519_key_pair
from libp2p.peer.id import ID
from p2p_helpers import new_raw_key

from gcx.errors import GCXError
from gcx.p2p import PeerIdentityError, address_of_peer, keypair_from_private_key, peer_id_of


@pytest.mark.parametrize("seed", range(5))
def test_address_from_peer_id_matches_eth_account(seed: int) -> None:
    raw = new_raw_key()
    pid = peer_id_of(raw)
    expected = Account.from_key(raw).address
    assert address_of_peer(pid) == expected
    assert address_of_peer(str(pid)) == expected  # the base58 string form works as well


def test_peer_id_is_deterministic_and_embeds_the_key() -> None:
    raw = new_raw_key()
    kp = keypair_from_private_key(raw)
    assert peer_id_of(raw) == peer_id_of(raw) == ID.from_pubkey(kp.public_key)
    assert kp.private_key.to_bytes() == raw
    assert peer_id_of(raw).extract_public_key() == kp.public_key


def test_known_vector() -> None:
    raw = bytes.fromhex("01" * 32)
    assert address_of_peer(peer_id_of(raw)) == "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x01" * 33, b"\x00" * 32, b"\xff" * 32])
def test_bad_private_keys_are_typed_errors(bad: bytes) -> None:
    with pytest.raises(PeerIdentityError):
        keypair_from_private_key(bad)


def test_non_secp256k1_peer_id_is_rejected() -> None:
    ed_pid = ID.from_pubkey(new_ed25519_key_pair().public_key)
    with pytest.raises(PeerIdentityError, match="Ed25519"):
        address_of_peer(ed_pid)


def test_hashed_peer_id_and_garbage_are_rejected() -> None:
    # A sha2-256 multihash peer ID (as for RSA keys) embeds no key.
    with pytest.raises(PeerIdentityError, match="does not embed"):
        address_of_peer("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    with pytest.raises(PeerIdentityError):
        address_of_peer("not a peer id!")
    assert issubclass(PeerIdentityError, GCXError)
