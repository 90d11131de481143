"""Capacity adverts and heartbeats: what a node agent tells the network (``docs/protocol.md``).

A **capacity advert** (``gcx.capacity`` v1) offers ``hours`` of a node's graded capacity at
``price_per_ch`` (integer micro-units of the quote currency per CH). It embeds the node's signed
benchmark report as its canonical msgpack bytes (so a reader hashes it without re-encoding, and
decodes it only the first time it sees that digest), repeats the figures a reader needs without
decoding it (CH rate as integer micro-CH per hour, grade, report digest), and is itself signed
(EIP-191, :mod:`gcx.signing`) by the same key. ``nonce`` strictly increases with every advert a node publishes; ``expires_at``
bounds how long it may be listed.

Adverts go to the coordinator on a direct stream (``/gcx/advert/1``, which answers with the
verdict) *and* on the gossip topic ``gcx/capacity/1`` for everyone else: gossip is for discovery,
and may drop a message, so what must arrive does not rely on it (DESIGN §4).

A **heartbeat** (``gcx.heartbeat`` v1) says "still here" on a direct stream
(``/gcx/heartbeat/1``); it carries no claim, so the authenticated stream (Noise, keyed by the
node key) is its authentication.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_hash.auto import keccak
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from . import compute_hours, signing, wire
from .keys import ParticipantKey

CAPACITY_TOPIC = "gcx/capacity/1"
ADVERT_PROTOCOL = "/gcx/advert/1"
HEARTBEAT_PROTOCOL = "/gcx/heartbeat/1"
MAX_ADVERT_BYTES = 64 * 1024
MAX_HEARTBEAT_BYTES = 256

Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
U64 = Annotated[int, Field(ge=0, lt=2**64)]
Multiaddr = Annotated[str, Field(min_length=1, max_length=256)]


def _exact_int(value: Any) -> Any:
    """Refuse ``True`` and ``1.0`` where an integer literal is expected (pydantic's ``Literal``
    compares by equality even in strict mode, and ``True == 1.0 == 1``)."""
    if type(value) is not int:
        raise ValueError(f"must be an integer, not {type(value).__name__}")
    return value


#: Version 1 of a message: the integer 1 and nothing that merely equals it.
V1 = Annotated[Literal[1], BeforeValidator(_exact_int)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


@wire.register("gcx.capacity", 1)
class CapacityAdvert(_Message):
    """A signed offer of graded capacity. Validate semantics with :func:`coordinator.registry.adverts`."""

    type: Literal["gcx.capacity"]
    v: V1
    node: Address
    peer_id: Annotated[str, Field(min_length=1, max_length=128)]
    report: Annotated[
        bytes, Field(max_length=MAX_ADVERT_BYTES)
    ]  # canonical msgpack of the gcx.bench/1 report
    report_digest: Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
    ch_per_hour_micro: Annotated[int, Field(ge=1, le=10**15)]
    grade: Annotated[str, Field(pattern=r"^[ABCD][1234?][XYZ?]$")]
    price_per_ch: U64
    hours: Annotated[int, Field(ge=0, le=24 * 366)]
    issued_at: U64
    expires_at: U64
    nonce: U64
    stake_address: Address
    listen_addrs: Annotated[list[Multiaddr], Field(max_length=8)]
    signature: Annotated[str, Field(pattern=r"^0x[0-9a-f]{130}$")]


@wire.register("gcx.heartbeat", 1)
class Heartbeat(_Message):
    type: Literal["gcx.heartbeat"]
    v: V1
    seq: U64
    sent_at: U64
    report_digest: Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]


def report_digest(report: dict[str, Any] | bytes) -> str:
    """``0x``-keccak of the canonical encoding of the whole signed report (signature included)."""
    encoded = report if isinstance(report, bytes) else wire.canonical_bytes(report)
    return "0x" + keccak(encoded).hex()


def make_advert(
    key: ParticipantKey,
    peer_id: str,
    report: dict[str, Any],
    *,
    price_per_ch: int,
    hours: int,
    nonce: int,
    now: int,
    ttl_s: int,
    listen_addrs: list[str],
    stake_address: str | None = None,
) -> bytes:
    """Build, sign and encode a capacity advert for ``report``."""
    encoded = wire.canonical_bytes(report)
    body: dict[str, Any] = {
        "type": "gcx.capacity",
        "v": 1,
        "node": key.address,
        "peer_id": peer_id,
        "report": encoded,
        "report_digest": report_digest(encoded),
        "ch_per_hour_micro": compute_hours.to_micro(report["ch_per_hour"]),
        "grade": report["grade"],
        "price_per_ch": price_per_ch,
        "hours": hours,
        "issued_at": now,
        "expires_at": now + ttl_s,
        "nonce": nonce,
        "stake_address": stake_address or key.address,
        "listen_addrs": listen_addrs,
    }
    body["signature"] = signing.sign(body, key.private_key)
    return wire.canonical_bytes(body)


def make_heartbeat(seq: int, now: int, digest: str) -> bytes:
    return wire.canonical_bytes(
        {"type": "gcx.heartbeat", "v": 1, "seq": seq, "sent_at": now, "report_digest": digest}
    )
