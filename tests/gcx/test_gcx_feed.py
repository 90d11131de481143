"""gcx.feed: the feed's one sequence rule, and that every subscriber uses it."""

from __future__ import annotations

import pytest

from coordinator.exchange.core import marketdata
from gcx.feed import FeedError, FeedGapError, FeedSequence
from gcx.sdk import client as sdk_client

SYM = "CH-A-SPOT"


def _msg(kind: str, seq: object) -> dict[str, object]:
    return {"type": kind, "seq": seq, "instrument": SYM}


def test_a_snapshot_then_exactly_seq_plus_one() -> None:
    sequence = FeedSequence()
    assert (sequence.seq, sequence.synced) == (0, False)
    with pytest.raises(FeedGapError, match="no snapshot") as info:
        sequence.check(_msg("trade", 1))
    assert (info.value.expected, info.value.got) == (None, 1)
    assert sequence.check(_msg("l2snapshot", 5)) == 5
    assert sequence.check(_msg("trade", 6)) == 6
    assert sequence.check(_msg("l2update", 7)) == 7
    assert sequence.reflects(7) and not sequence.reflects(8)
    with pytest.raises(FeedGapError, match="gap: expected seq 8, got 9") as info:
        sequence.check(_msg("l2update", 9))
    assert (info.value.expected, info.value.got, sequence.synced) == (8, 9, False)
    with pytest.raises(FeedGapError, match="no snapshot"):  # refused until a new snapshot
        sequence.check(_msg("l2update", 8))
    sequence.check(_msg("l2snapshot", 9))
    with pytest.raises(FeedGapError, match="stale or duplicate"):
        sequence.check(_msg("trade", 9))


@pytest.mark.parametrize("seq", [None, "7", -1, 7.0, True])
def test_a_bad_seq_or_type_is_a_feed_error(seq: object) -> None:
    sequence = FeedSequence()
    with pytest.raises(FeedError) as info:
        sequence.check(_msg("l2snapshot", seq))
    assert not isinstance(info.value, FeedGapError) and not sequence.synced
    with pytest.raises(FeedError, match="unknown message type"):
        sequence.check(_msg("bogus", 1))


def test_the_exchange_core_and_the_sdk_share_the_rule_and_the_error() -> None:
    """One gap error class, whoever detects the gap (issue 10.1: one feed client)."""
    assert marketdata.FeedGapError is FeedGapError and marketdata.FeedError is FeedError
    assert sdk_client.FeedSequence is FeedSequence
    client = marketdata.FeedClient(SYM)
    client.apply({**_msg("l2snapshot", 3), "bids": [], "asks": []})
    with pytest.raises(FeedGapError) as info:
        client.apply({**_msg("l2update", 5), "changes": []})
    assert (info.value.expected, info.value.got) == (4, 5)
