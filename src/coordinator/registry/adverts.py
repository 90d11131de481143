"""Validation of capacity adverts: bytes from the gossip layer in, an accepted advert or a typed
rejection out. Pure: no I/O, no libp2p, no clock (``now`` is an argument).

The checks, in order (cheapest first, so a flood of junk costs little):

1. size, then strict msgpack decoding and the ``gcx.capacity`` v1 schema;
2. the advert names the peer that sent it (``peer_id``) and its ``node`` address is the address
   of that peer's key — a peer cannot advertise for another;
3. the EIP-191 signature over the advert is by ``node``;
4. freshness: not issued in the future (beyond the allowed clock skew), not expired, and a TTL
   above zero (it expires after it was issued) and no longer than the coordinator accepts;
5. the nonce is above the last accepted one from this peer (replays and reordering rejected);
6. the embedded report: digest matches, report signed by the same node and fully verified
   (:func:`gcx.report.verify_report`: CH rate and grades recomputed from its results), and the
   advert's CH rate and grade equal the report's. Verified report digests are cached, since a node
   re-advertises the same report every interval.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gcx import compute_hours, signing, wire
from gcx.advert import MAX_ADVERT_BYTES, CapacityAdvert, report_digest
from gcx.errors import GCXError, WireError
from gcx.reference import ReferenceProfile
from gcx.report import verify_report

# Rejection reasons (a closed set: they label a metric).
#: Refusals of the direct stream (``/gcx/advert/1``) before an advert was read whole:
#: ``gcx.p2p`` serve's rejections (its ``frame_too_large`` is counted as ``oversize``).
STREAM_REASONS = ("peer_busy", "busy", "truncated", "timeout")
REASONS = (
    *STREAM_REASONS,
    "identity",  # the sender's peer ID holds no secp256k1 key, so it has no Ethereum address
    "oversize",
    "malformed",
    "schema",
    "peer_mismatch",
    "signature",
    "future",
    "expired",
    "ttl",
    "replay",
    "report",
    "figures",
    "rate_limited",
)


class AdvertRejected(GCXError):  # noqa: N818 - a verdict, like trio's Cancelled
    """An advert failed validation. ``reason`` is one of :data:`REASONS`."""

    exit_code = 1

    def __init__(self, reason: str, message: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class AdvertPolicy:
    max_bytes: int = MAX_ADVERT_BYTES
    max_ttl_s: int = 3600
    max_clock_skew_s: int = 30


@dataclass(frozen=True, slots=True)
class VerifiedFigures:
    """What a verified report says, kept so a cache hit needs no decoding."""

    node: str
    ch_per_hour_micro: int
    grade: str


class ReportCache:
    """Reports already verified, by digest (bounded LRU)."""

    def __init__(self, size: int = 4096) -> None:
        self._seen: OrderedDict[str, VerifiedFigures] = OrderedDict()
        self._size = size

    def get(self, digest: str) -> VerifiedFigures | None:
        figures = self._seen.get(digest)
        if figures is not None:
            self._seen.move_to_end(digest)
        return figures

    def add(self, digest: str, figures: VerifiedFigures) -> None:
        self._seen[digest] = figures
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)


def check_advert(
    data: bytes,
    *,
    sender_peer_id: str,
    sender_address: str,
    now: int,
    last_nonce: int | None,
    profile: ReferenceProfile,
    policy: AdvertPolicy,
    cache: ReportCache,
) -> tuple[CapacityAdvert, dict[str, Any]]:
    """Validate one advert from ``sender_peer_id``; return it (model and raw map) or raise
    :class:`AdvertRejected`."""
    if len(data) > policy.max_bytes:
        raise AdvertRejected("oversize", f"{len(data)} bytes > {policy.max_bytes}")
    try:
        raw = wire.unpack(data, policy.max_bytes)
    except WireError as exc:
        raise AdvertRejected("malformed", str(exc)) from None
    try:
        advert = wire.validate(CapacityAdvert, raw)
    except WireError as exc:
        raise AdvertRejected("schema", str(exc)) from None
    if advert.peer_id != sender_peer_id:
        raise AdvertRejected("peer_mismatch", f"advert names peer {advert.peer_id}, sent by {sender_peer_id}")
    if advert.node.lower() != sender_address.lower():
        raise AdvertRejected(
            "peer_mismatch", f"advert claims node {advert.node}, sender's key is {sender_address}"
        )
    try:
        signing.verify(raw, advert.node)
    except GCXError as exc:
        raise AdvertRejected("signature", str(exc)) from None
    if advert.issued_at > now + policy.max_clock_skew_s:
        raise AdvertRejected("future", f"issued at {advert.issued_at}, now {now}")
    if advert.expires_at <= now:
        raise AdvertRejected("expired", f"expired at {advert.expires_at}, now {now}")
    if advert.expires_at <= advert.issued_at:
        raise AdvertRejected(
            "ttl", f"expires at {advert.expires_at}, not after it was issued ({advert.issued_at})"
        )
    if advert.expires_at - advert.issued_at > policy.max_ttl_s:
        raise AdvertRejected(
            "ttl", f"lifetime {advert.expires_at - advert.issued_at} s > {policy.max_ttl_s} s"
        )
    if last_nonce is not None and advert.nonce <= last_nonce:
        raise AdvertRejected("replay", f"nonce {advert.nonce} not above the last accepted {last_nonce}")
    check_embedded_report(advert, profile, cache)
    return advert, raw


def _verify_embedded(encoded: bytes, profile: ReferenceProfile) -> VerifiedFigures:
    try:
        report = wire.unpack(encoded, MAX_ADVERT_BYTES)
        if wire.canonical_bytes(report) != encoded:
            raise AdvertRejected("report", "the embedded report is not canonically encoded")
        verified = verify_report(report, profile)
        r = verified.report
        rate_micro = compute_hours.to_micro(r.ch_per_hour)  # as the node's advert converts it
    except AdvertRejected:
        raise
    except GCXError as exc:
        raise AdvertRejected("report", str(exc)) from None
    return VerifiedFigures(r.node, rate_micro, r.grade)


def check_embedded_report(advert: CapacityAdvert, profile: ReferenceProfile, cache: ReportCache) -> None:
    digest = report_digest(advert.report)
    if digest != advert.report_digest:
        raise AdvertRejected("report", "report_digest does not match the embedded report")
    figures = cache.get(digest)
    if figures is None:
        figures = _verify_embedded(advert.report, profile)
        cache.add(digest, figures)
    # Checked on every advert, cached or not: whose report it is (a peer may copy another node's
    # report) and that the advert repeats its figures faithfully.
    if figures.node.lower() != advert.node.lower():
        raise AdvertRejected("report", f"the embedded report belongs to {figures.node}, not {advert.node}")
    if figures.ch_per_hour_micro != advert.ch_per_hour_micro or figures.grade != advert.grade:
        raise AdvertRejected("figures", "CH rate or grade differ from the embedded report's")
