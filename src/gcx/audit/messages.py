"""The messages of ``/gcx/audit/1`` (docs/protocol.md): the signed challenge and answer, the
open request and the opening, as canonical msgpack, with their strict decoders. Pure (callers
pass ``now`` and an RNG).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from eth_utils.address import to_checksum_address

from gcx import signing, wire
from gcx.errors import SchemaError, SignatureError
from gcx.tp.commit import HASH_SIZE, RowProof
from gcx.tp.seeded import MASK64
from gcx.tp.tensor import MAX_TENSOR_ELEMENTS

from .sizing import MAX_BLOCKS, MAX_K, MAX_OPEN_ROWS, AuditConfig, ChallengeShape, deadline_s, size_challenge

PROTOCOL: Final = "/gcx/audit/1"
"""The libp2p protocol of capacity audits."""
MAX_FRAME: Final = 16 * 1024 * 1024
"""Largest request or response frame on :data:`PROTOCOL`: an opening of :data:`MAX_OPEN_ROWS`
rows of 8192 int32 columns with their proofs (``256 · (20 + 4·8192 + 32·26)`` bytes) fits."""
NONCE_SIZE: Final = 16

CHALLENGE_TYPE: Final = "gcx.audit.challenge"
ANSWER_TYPE: Final = "gcx.audit.answer"
OPEN_TYPE: Final = "gcx.audit.open"
OPENING_TYPE: Final = "gcx.audit.opening"

_ADDRESS_LEN = 42
_MAX_PEER_LEN = 128


def _check_map(value: Any, what: str, keys: frozenset[str], type_name: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise SchemaError(f"{what} must be a map")
    if set(value) != keys:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        raise SchemaError(f"{what}: missing {missing}, unknown {extra}")
    if value["type"] != type_name or type(value["v"]) is not int or value["v"] != 1:
        raise SchemaError(f"{what} must have type {type_name!r} and v 1")
    return value


def _address(value: Any, what: str) -> str:
    text = wire.expect_str(value, what, _ADDRESS_LEN, _ADDRESS_LEN)
    if not text.startswith("0x"):
        raise SchemaError(f"{what} must be a 0x-prefixed address")
    try:
        int(text[2:], 16)
    except ValueError:
        raise SchemaError(f"{what} must be hex") from None
    return text


def _signature(value: Any) -> str:
    sig = wire.expect_str(value, "signature", 132, 132)
    try:
        signing.signature_bytes(sig)
    except SignatureError as exc:
        raise SchemaError(str(exc)) from None
    return sig


_CHALLENGE_KEYS = frozenset(
    {
        "type",
        "v",
        "verifier",
        "verifier_peer",
        "provider",
        "provider_peer",
        "seed",
        "nonce",
        "m",
        "blocks",
        "n",
        "k",
        "claimed_ops_per_s",
        "issued_at_ms",
        "deadline_ms",
        "signature",
    }
)


@dataclass(frozen=True, slots=True)
class Challenge:
    """A signed audit challenge (``gcx.audit.challenge`` v1, see docs/protocol.md)."""

    verifier: str
    verifier_peer: str
    provider: str
    provider_peer: str
    seed: int
    nonce: bytes
    shape: ChallengeShape
    claimed_ops_per_s: int
    issued_at_ms: int
    deadline_ms: int
    signature: str

    def body(self) -> dict[str, Any]:
        """The message as a map, signature included."""
        return {
            "type": CHALLENGE_TYPE,
            "v": 1,
            "verifier": self.verifier,
            "verifier_peer": self.verifier_peer,
            "provider": self.provider,
            "provider_peer": self.provider_peer,
            "seed": self.seed,
            "nonce": self.nonce,
            "m": self.shape.m,
            "blocks": self.shape.blocks,
            "n": self.shape.n,
            "k": self.shape.k,
            "claimed_ops_per_s": self.claimed_ops_per_s,
            "issued_at_ms": self.issued_at_ms,
            "deadline_ms": self.deadline_ms,
            "signature": self.signature,
        }

    def encode(self) -> bytes:
        """Canonical msgpack of :meth:`body`."""
        return wire.canonical_bytes(self.body())

    @property
    def id(self) -> bytes:
        """The challenge id: keccak-256 of the canonical challenge without its signature."""
        return signing.digest(self.body())

    def check_signature(self) -> None:
        """:class:`SignatureError` unless ``verifier`` signed the challenge."""
        signing.verify(self.body(), self.verifier)

    @property
    def deadline_s(self) -> float:
        """Seconds the provider has, from the challenge being sent to the root arriving."""
        return self.deadline_ms / 1000


def decode_challenge(data: bytes) -> Challenge:
    """The challenge ``data`` encodes; :class:`WireError` (or :class:`AuditError` for an
    impossible shape) for anything else. The signature is decoded, not verified."""
    v = _check_map(wire.unpack(data, 4096), "challenge", _CHALLENGE_KEYS, CHALLENGE_TYPE)
    shape = ChallengeShape(
        wire.expect_int(v["m"], "m", 1, MAX_TENSOR_ELEMENTS),
        wire.expect_int(v["blocks"], "blocks", 1, MAX_BLOCKS),
        wire.expect_int(v["n"], "n", 1, MAX_TENSOR_ELEMENTS),
        wire.expect_int(v["k"], "k", 1, MAX_K),
    )
    return Challenge(
        verifier=_address(v["verifier"], "verifier"),
        verifier_peer=wire.expect_str(v["verifier_peer"], "verifier_peer", 1, _MAX_PEER_LEN),
        provider=_address(v["provider"], "provider"),
        provider_peer=wire.expect_str(v["provider_peer"], "provider_peer", 1, _MAX_PEER_LEN),
        seed=wire.expect_int(v["seed"], "seed", 0, MASK64),
        nonce=wire.expect_bytes(v["nonce"], "nonce", NONCE_SIZE, NONCE_SIZE),
        shape=shape,
        claimed_ops_per_s=wire.expect_int(v["claimed_ops_per_s"], "claimed_ops_per_s", 1, 2**63),
        issued_at_ms=wire.expect_int(v["issued_at_ms"], "issued_at_ms", 0, 2**63),
        deadline_ms=wire.expect_int(v["deadline_ms"], "deadline_ms", 1, 24 * 3600 * 1000),
        signature=_signature(v["signature"]),
    )


def make_challenge(
    private_key: bytes,
    *,
    verifier_peer: str,
    provider_peer: str,
    provider: str,
    claimed_ops_per_s: float,
    config: AuditConfig,
    now_ms: int,
    rng: random.Random,
) -> Challenge:
    """A challenge sized by ``config`` for the claim, seeded and nonced from ``rng`` (pass a
    :class:`random.SystemRandom`), signed with ``private_key`` (the verifier's node key)."""
    shape = size_challenge(
        claimed_ops_per_s,
        config.target_s,
        rows_to_open=config.rows_to_open,
        min_ratio=config.min_ratio,
        max_dim=config.max_dim,
        max_blocks=config.max_blocks,
    )
    body: dict[str, Any] = {
        "type": CHALLENGE_TYPE,
        "v": 1,
        "verifier": to_checksum_address(Account.from_key(private_key).address),
        "verifier_peer": verifier_peer,
        "provider": to_checksum_address(provider),
        "provider_peer": provider_peer,
        "seed": rng.getrandbits(64),
        "nonce": rng.getrandbits(8 * NONCE_SIZE).to_bytes(NONCE_SIZE, "big"),
        "m": shape.m,
        "blocks": shape.blocks,
        "n": shape.n,
        "k": shape.k,
        "claimed_ops_per_s": max(1, round(claimed_ops_per_s)),
        "issued_at_ms": now_ms,
        "deadline_ms": max(1, math.ceil(deadline_s(shape, claimed_ops_per_s, config) * 1000)),
    }
    body["signature"] = signing.sign(body, private_key)
    return decode_challenge(wire.canonical_bytes(body))


_ANSWER_KEYS = frozenset({"type", "v", "challenge", "provider", "roots", "signature"})


@dataclass(frozen=True, slots=True)
class Answer:
    """The provider's signed commitment (``gcx.audit.answer`` v1): one tensor root per block."""

    challenge: bytes
    provider: str
    roots: tuple[bytes, ...]
    signature: str

    def body(self) -> dict[str, Any]:
        """The message as a map, signature included."""
        return {
            "type": ANSWER_TYPE,
            "v": 1,
            "challenge": self.challenge,
            "provider": self.provider,
            "roots": list(self.roots),
            "signature": self.signature,
        }

    def encode(self) -> bytes:
        """Canonical msgpack of :meth:`body`."""
        return wire.canonical_bytes(self.body())


def decode_answer(data: bytes) -> Answer:
    """The answer ``data`` encodes; :class:`WireError` for anything else (signature unchecked)."""
    v = _check_map(wire.unpack(data, MAX_FRAME), "answer", _ANSWER_KEYS, ANSWER_TYPE)
    roots = v["roots"]
    if type(roots) is not list or not 1 <= len(roots) <= MAX_BLOCKS:
        raise SchemaError(f"roots must be a list of 1 to {MAX_BLOCKS} digests")
    return Answer(
        challenge=wire.expect_bytes(v["challenge"], "challenge", HASH_SIZE, HASH_SIZE),
        provider=_address(v["provider"], "provider"),
        roots=tuple(wire.expect_bytes(r, "root", HASH_SIZE, HASH_SIZE) for r in roots),
        signature=_signature(v["signature"]),
    )


def sign_answer(private_key: bytes, challenge: Challenge, roots: Sequence[bytes]) -> Answer:
    """The provider's answer to ``challenge``: ``roots[j]`` is block ``j``'s tensor root."""
    body: dict[str, Any] = {
        "type": ANSWER_TYPE,
        "v": 1,
        "challenge": challenge.id,
        "provider": to_checksum_address(Account.from_key(private_key).address),
        "roots": [bytes(r) for r in roots],
    }
    body["signature"] = signing.sign(body, private_key)
    return Answer(body["challenge"], body["provider"], tuple(body["roots"]), body["signature"])


_OPEN_KEYS = frozenset({"type", "v", "challenge", "rows"})


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """``gcx.audit.open`` v1: the rows (global indices of ``C``) the verifier wants opened."""

    challenge: bytes
    rows: tuple[int, ...]

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return wire.canonical_bytes(
            {"type": OPEN_TYPE, "v": 1, "challenge": self.challenge, "rows": list(self.rows)}
        )


def decode_open(data: bytes) -> OpenRequest:
    """The open request ``data`` encodes: 1 to :data:`MAX_OPEN_ROWS` distinct row indices;
    :class:`WireError` for anything else."""
    v = _check_map(wire.unpack(data, 8192), "open request", _OPEN_KEYS, OPEN_TYPE)
    rows = v["rows"]
    if type(rows) is not list or not 1 <= len(rows) <= MAX_OPEN_ROWS:
        raise SchemaError(f"rows must be a list of 1 to {MAX_OPEN_ROWS} indices")
    out = tuple(wire.expect_int(r, "row", 0, 2**63) for r in rows)
    if len(set(out)) != len(out):
        raise SchemaError("rows must be distinct")
    return OpenRequest(wire.expect_bytes(v["challenge"], "challenge", HASH_SIZE, HASH_SIZE), out)


_OPENING_KEYS = frozenset({"type", "v", "challenge", "proofs"})


@dataclass(frozen=True, slots=True)
class Opening:
    """``gcx.audit.opening`` v1: one encoded GCX-TP row proof per requested row, in order."""

    challenge: bytes
    proofs: tuple[bytes, ...]

    def encode(self) -> bytes:
        """Canonical msgpack."""
        return wire.canonical_bytes(
            {"type": OPENING_TYPE, "v": 1, "challenge": self.challenge, "proofs": list(self.proofs)}
        )


def decode_opening(data: bytes) -> Opening:
    """The opening ``data`` encodes (proofs still encoded); :class:`WireError` otherwise."""
    v = _check_map(wire.unpack(data, MAX_FRAME), "opening", _OPENING_KEYS, OPENING_TYPE)
    proofs = v["proofs"]
    if type(proofs) is not list or not 1 <= len(proofs) <= MAX_OPEN_ROWS:
        raise SchemaError(f"proofs must be a list of 1 to {MAX_OPEN_ROWS} row proofs")
    return Opening(
        wire.expect_bytes(v["challenge"], "challenge", HASH_SIZE, HASH_SIZE),
        tuple(wire.expect_bytes(p, "proof", 2, MAX_FRAME) for p in proofs),
    )


def prove_rows(proofs: Sequence[RowProof]) -> tuple[bytes, ...]:
    """Encode row proofs for an :class:`Opening`."""
    return tuple(p.encode() for p in proofs)
