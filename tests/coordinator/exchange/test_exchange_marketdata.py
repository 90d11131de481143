"""Market data against a real engine: the L2 book, the sequenced feed and its client, candles."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.exchange.core import (
    Cancel,
    Command,
    Engine,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    Replace,
    Side,
)
from coordinator.exchange.core.events import TRADE, view
from coordinator.exchange.core.marketdata import (
    ASK,
    BID,
    Candles,
    FeedClient,
    FeedError,
    FeedGapError,
    FeedMessage,
    FeedPublisher,
    L2Book,
)
from gcx.errors import GCXError

B, S = Side.BUY, Side.SELL
INSTR = "CH-A-SPOT"

_ids = st.integers(1, 30)
_acct = st.integers(1, 3)
_price = st.integers(95, 105)
_qty = st.integers(1, 12)
_commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(
        PlaceLimit, _acct, _ids, st.sampled_from([B, S]), _price, _qty, st.sampled_from(list(OrderType)[:4])
    ),
    st.builds(PlaceLimit, _acct, _ids, st.sampled_from([B, S]), _price, _qty),
    st.builds(PlaceMarket, _acct, _ids, st.sampled_from([B, S]), _qty),
    st.builds(Cancel, _acct, _ids),
    st.builds(Replace, _acct, _ids, _price, _qty),
)
_batches = st.lists(st.lists(_commands, min_size=1, max_size=4), min_size=1, max_size=40)


def _wire(messages: list[FeedMessage]) -> list[dict[str, Any]]:
    """Messages as a WebSocket subscriber decodes them."""
    return [json.loads(json.dumps(m)) for m in messages]


def _assert_same(book: L2Book, engine: Engine) -> None:
    assert book.depth(BID) == engine.depth(BID)
    assert book.depth(ASK) == engine.depth(ASK)


@settings(max_examples=300, deadline=None)
@given(_batches)
def test_book_publisher_and_client_follow_the_engine(batches: list[list[Command]]) -> None:
    engine = Engine()
    book = L2Book()
    pub = FeedPublisher(INSTR)
    client = FeedClient(INSTR)
    client.apply(_wire([pub.snapshot()])[0])
    late: FeedClient | None = None
    seen = 0
    trades = 0
    for i, batch in enumerate(batches):
        events = engine.apply_batch(batch)
        book.apply(events)
        assert book.seq == i + 1  # one per applied batch
        _assert_same(book, engine)
        messages = pub.publish(events)
        seqs = [m["seq"] for m in messages]
        assert seqs == list(range(seen + 1, seen + 1 + len(messages)))  # strictly increasing, no holes
        seen = pub.seq if messages else seen
        assert pub.seq == seen
        trade_ids = [m["trade_id"] for m in messages if m["type"] == "trade"]
        assert trade_ids == list(range(trades + 1, trades + 1 + sum(ev[0] == TRADE for ev in events)))
        trades += len(trade_ids)
        for m in _wire(messages):
            client.apply(m)
            if late is not None:
                late.apply(m)
        assert client.seq == pub.seq
        _assert_same(client.book, engine)
        assert pub.book == book
        if i == len(batches) // 2:  # a subscriber joining mid-stream from a snapshot
            late = FeedClient(INSTR)
            late.resync(_wire([pub.snapshot()])[0])
    assert late is None or late.book == book
    snap = pub.snapshot(depth=3)
    assert snap["bids"] == [list(x) for x in engine.depth(BID, 3)]
    assert snap["asks"] == [list(x) for x in engine.depth(ASK, 3)]
    assert book.snapshot(3)["bids"] == snap["bids"]


def test_message_shapes() -> None:
    engine, pub = Engine(), FeedPublisher(INSTR)
    assert pub.publish(engine.apply(PlaceLimit(1, 1, S, 101, 5))) == [
        {"type": "l2update", "seq": 1, "instrument": INSTR, "changes": [["ask", 101, 5]]}
    ]
    assert pub.publish(engine.apply(PlaceLimit(1, 2, B, 99, 4))) == [
        {"type": "l2update", "seq": 2, "instrument": INSTR, "changes": [["bid", 99, 4]]}
    ]
    assert pub.publish(engine.apply(Cancel(1, 77))) == []  # a reject moves nothing: no seq used
    msgs = pub.publish(engine.apply(PlaceMarket(2, 3, B, 2)))
    assert msgs == [
        {
            "type": "trade",
            "seq": 3,
            "instrument": INSTR,
            "price": 101,
            "qty": 2,
            "aggressor": "buy",
            "trade_id": 1,
        },
        {"type": "l2update", "seq": 4, "instrument": INSTR, "changes": [["ask", 101, 3]]},
    ]
    assert pub.snapshot() == {
        "type": "l2snapshot",
        "seq": 4,
        "instrument": INSTR,
        "bids": [[99, 4]],
        "asks": [[101, 3]],
    }
    sell = pub.publish(engine.apply(PlaceLimit(3, 4, S, 99, 4)))
    assert [(m["type"], m["seq"]) for m in sell] == [("trade", 5), ("l2update", 6)]
    assert sell[0]["aggressor"] == "sell" and sell[0]["trade_id"] == 2  # type: ignore[typeddict-item]
    assert sell[1]["changes"] == [["bid", 99, 0]]  # type: ignore[typeddict-item]


def test_net_changes_drop_levels_that_end_where_they_started() -> None:
    book = L2Book()
    book.apply([(6, 0, 100, 5)])
    assert book.apply([(6, 0, 100, 0), (6, 0, 100, 5), (6, 1, 101, 2), (6, 1, 101, 3)]) == [(1, 101, 3)]
    assert book.seq == 2
    assert book.snapshot() == {"seq": 2, "bids": [[100, 5]], "asks": [[101, 3]]}
    assert book.level(BID, 100) == 5 and book.level(ASK, 100) == 0


def _stream(n: int) -> tuple[Engine, FeedPublisher, list[dict[str, Any]]]:
    engine, pub = Engine(), FeedPublisher(INSTR)
    out: list[dict[str, Any]] = []
    for i in range(n):
        side = B if i % 2 else S
        price = 100 - (i % 5) if side is B else 101 + (i % 5)
        out += _wire(pub.publish(engine.apply(PlaceLimit(1 + i % 3, i + 1, side, price, 1 + i % 4))))
        if i % 7 == 6:
            out += _wire(pub.publish(engine.apply(PlaceMarket(9, 1000 + i, side, 3))))
    return engine, pub, out


def _synced(client: FeedClient) -> bool:
    return client.synced  # a call, so that mypy does not narrow the property across calls


def test_gap_detection_and_recovery_from_a_fresh_snapshot() -> None:
    engine, pub, stream = _stream(30)
    first, rest = stream[:10], stream[10:]
    dropped = rest.pop(3)
    client = FeedClient(INSTR)
    with pytest.raises(FeedGapError):  # no snapshot yet
        client.apply(first[0])
    client.apply(_wire([FeedPublisher(INSTR).snapshot()])[0])  # empty book at seq 0
    for m in first + rest[:3]:
        client.apply(m)
    with pytest.raises(FeedGapError) as info:
        client.apply(rest[3])
    assert isinstance(info.value, GCXError)
    assert (info.value.expected, info.value.got) == (dropped["seq"], dropped["seq"] + 1)
    assert not _synced(client)
    with pytest.raises(FeedGapError):  # refuses updates until a snapshot, even the right one
        client.apply(dropped)
    client.resync(_wire([pub.snapshot()])[0], rest)  # the buffered messages are all stale now
    assert _synced(client) and client.seq == pub.seq
    _assert_same(client.book, engine)
    # the stream goes on after the resync
    more = _wire(pub.publish(engine.apply(PlaceLimit(1, 500, B, 100, 7))))
    for m in more:
        client.apply(m)
    _assert_same(client.book, engine)


def test_duplicate_and_stale_messages_raise() -> None:
    _, _, stream = _stream(8)
    client = FeedClient(INSTR)
    client.apply({"type": "l2snapshot", "seq": 0, "instrument": INSTR, "bids": [], "asks": []})
    client.apply(stream[0])
    client.apply(stream[1])
    with pytest.raises(FeedGapError, match="stale or duplicate"):
        client.apply(stream[1])
    client.resync({"type": "l2snapshot", "seq": 0, "instrument": INSTR, "bids": [], "asks": []}, stream[:3])
    with pytest.raises(FeedGapError, match="stale or duplicate"):
        client.apply(stream[0])


def test_resync_with_buffered_updates_across_the_snapshot() -> None:
    engine, pub, early = _stream(12)
    snap = _wire([pub.snapshot()])[0]
    later = _wire(pub.publish(engine.apply(PlaceLimit(2, 900, S, 100, 9))))  # trades and rests
    later += _wire(pub.publish(engine.apply(Cancel(1, 1))))
    client = FeedClient(INSTR)
    client.resync(snap, early[-4:] + later)  # buffered from before the snapshot arrived
    _assert_same(client.book, engine)
    assert [t["price"] for t in client.trades] == [m["price"] for m in later if m["type"] == "trade"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "l2update", "seq": 1, "instrument": "CH-B-SPOT", "changes": []},
        {"type": "bogus", "seq": 1, "instrument": INSTR},
        {"type": "l2update", "seq": "1", "instrument": INSTR, "changes": []},
        {"type": "l2update", "seq": 1, "instrument": INSTR, "changes": [["up", 100, 1]]},
        {"type": "l2update", "seq": 1, "instrument": INSTR, "changes": [["bid", 100, -1]]},
        {"type": "l2update", "seq": 1, "instrument": INSTR, "changes": "x"},
        {"type": "l2snapshot", "seq": 1, "instrument": INSTR, "bids": [[100, 0]], "asks": []},
        {"type": "l2snapshot", "seq": 1, "instrument": INSTR, "bids": [], "asks": None},
    ],
)
def test_malformed_messages_are_feed_errors(message: dict[str, Any]) -> None:
    client = FeedClient(INSTR)
    client.apply({"type": "l2snapshot", "seq": 0, "instrument": INSTR, "bids": [], "asks": []})
    with pytest.raises(FeedError):
        client.apply(message)


def test_publisher_restart_continues_its_counters() -> None:
    engine, pub, _ = _stream(10)
    snap = pub.snapshot()
    book = L2Book()
    book.apply_changes([(BID, p, q) for p, q in snap["bids"]] + [(ASK, p, q) for p, q in snap["asks"]], 0)
    again = FeedPublisher(INSTR, book, seq=pub.seq, next_trade_id=7)
    msgs = again.publish(engine.apply(PlaceMarket(5, 999, B, 1)))
    assert msgs[0]["seq"] == pub.seq + 1 and msgs[0]["trade_id"] == 7  # type: ignore[typeddict-item]
    _assert_same(again.book, engine)


# -- candles -----------------------------------------------------------------------------------


def _oracle(trades: list[tuple[int, int, int]], interval: int) -> list[list[int]]:
    buckets: dict[int, list[tuple[int, int]]] = {}
    for ts, price, qty in trades:
        buckets.setdefault(ts // interval * interval, []).append((price, qty))
    return [
        [start, ts_[0][0], max(p for p, _ in ts_), min(p for p, _ in ts_), ts_[-1][0], sum(q for _, q in ts_)]
        for start, ts_ in sorted(buckets.items())
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), st.integers(1, 50), st.integers(1, 9)), max_size=60),
    st.sampled_from([1, 7, 60]),
    st.integers(-100, 500),
)
def test_candles_against_an_oracle(trades: list[tuple[int, int, int]], interval: int, since: int) -> None:
    trades = sorted(trades, key=lambda t: t[0])  # stable: same-time trades keep their order
    c = Candles(interval)
    for ts, price, qty in trades:
        c.add(ts, price, qty)
    expected = _oracle(trades, interval)
    assert c.candles() == expected
    assert c.candles(since) == [x for x in expected if x[0] + interval > since]


def test_candles_from_engine_events_and_clock_steps() -> None:
    engine = Engine()
    c = Candles(60)
    engine.apply(PlaceLimit(1, 1, S, 100, 5))
    engine.apply(PlaceLimit(1, 2, S, 102, 5))
    c.add_events(61, engine.apply(PlaceMarket(2, 3, B, 7)))  # 5 @ 100, 2 @ 102
    assert [view(e).kind for e in engine.apply(PlaceLimit(1, 4, B, 90, 1))] == [1, 6]  # rests, no trade
    c.add_events(200, engine.apply(PlaceMarket(2, 5, B, 1)))  # 1 @ 102; 120..180 empty
    c.add(150, 101, 4)  # the clock stepped back: counts at 200
    assert c.candles() == [[60, 100, 102, 100, 102, 7], [180, 102, 102, 101, 101, 5]]
    assert c.candles(since=180) == [[180, 102, 102, 101, 101, 5]]
    assert c.candles(since=179) == c.candles()[1:]
    assert c.candles(since=119) == c.candles()
    assert c.candles(since=240) == []
    t = c.candles()
    t[0][1] = -1  # copies
    assert c.candles()[0][1] == 100
    capped = Candles(10, keep=2)
    for ts in (0, 10, 20):
        capped.add(ts, 5, 1)
    assert [x[0] for x in capped.candles()] == [10, 20]
    with pytest.raises(ValueError):
        Candles(0)
