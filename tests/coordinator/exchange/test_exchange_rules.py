"""Engine rules one by one: every rejection reason, cancel-replace priority, STP, bands, codecs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.exchange.core import (
    Cancel,
    CancelReason,
    CommandDecodeError,
    Engine,
    EngineConfig,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    RejectReason,
    Replace,
    Side,
    STPMode,
    decode_command,
    encode_command,
    encode_event,
    view,
)
from coordinator.exchange.core.events import Accepted, BookDelta, Cancelled, Rejected, Replaced, Trade
from coordinator.exchange.core.instruments import Future, Option, Perpetual, Spot
from coordinator.exchange.instruments_file import load_instruments
from gcx.errors import ConfigError

B, S = Side.BUY, Side.SELL
R = RejectReason


def _reason(events: list[tuple[int, ...]]) -> RejectReason:
    assert len(events) == 1 and events[0][0] == 2, events
    return RejectReason(events[0][3])


def test_every_reject_reason() -> None:
    e = Engine(
        EngineConfig(band_ticks=10, reference_price=100, min_qty=2, max_qty=50, stp=STPMode.CANCEL_TAKER),
        pre_trade=lambda a, s, p, q: q != 13,
    )
    assert _reason(e.apply(PlaceMarket(1, 1, B, 5))) is R.NO_LIQUIDITY
    e.apply(PlaceLimit(1, 1, S, 101, 5))
    assert _reason(e.apply(PlaceLimit(2, 1, B, 99, 5))) is R.DUPLICATE_ORDER_ID
    assert _reason(e.apply(PlaceLimit(2, 2, B, 0, 5))) is R.BAD_TICK_LOT
    assert _reason(e.apply(PlaceLimit(2, 2, B, 99, 0))) is R.BAD_TICK_LOT
    assert _reason(e.apply(PlaceLimit(2, 2, B, 99, 1))) is R.SIZE_LIMIT
    assert _reason(e.apply(PlaceLimit(2, 2, B, 99, 51))) is R.SIZE_LIMIT
    assert _reason(e.apply(PlaceLimit(2, 2, B, 89, 5))) is R.PRICE_BAND
    assert _reason(e.apply(PlaceLimit(2, 2, B, 99, 13))) is R.INSUFFICIENT_BALANCE
    assert _reason(e.apply(PlaceLimit(2, 2, B, 101, 5, OrderType.POST_ONLY))) is R.POST_ONLY_WOULD_CROSS
    assert _reason(e.apply(PlaceLimit(2, 2, B, 101, 6, OrderType.FOK))) is R.FOK_NOT_FILLABLE
    assert _reason(e.apply(PlaceLimit(1, 2, B, 101, 5, OrderType.FOK))) is R.SELF_TRADE_PREVENTED
    assert _reason(e.apply(Cancel(1, 99))) is R.UNKNOWN_ORDER
    assert _reason(e.apply(Cancel(2, 1))) is R.NOT_OWNER
    assert _reason(e.apply(Replace(2, 1, 101, 4))) is R.NOT_OWNER
    assert e.resting_orders() == [(1, 1, 1, 101, 5, False)]  # nothing changed the book


def test_order_types() -> None:
    e = Engine()
    e.apply(PlaceLimit(1, 1, S, 100, 5))
    ioc = e.apply(PlaceLimit(2, 2, B, 100, 7, OrderType.IOC))
    assert view(ioc[-1]) == Cancelled(4, 2, 2, 2, CancelReason.IOC_REMAINDER)
    e.apply(PlaceLimit(1, 3, S, 100, 5))
    mkt = e.apply(PlaceMarket(3, 4, B, 8))
    assert view(mkt[0]) == Accepted(1, 4, 3, 0, 0, 8, OrderType.MARKET)
    assert view(mkt[1]) == Trade(3, 3, 4, 100, 5, 1, 3, B)
    assert view(mkt[-1]) == Cancelled(4, 4, 3, 3, CancelReason.MARKET_REMAINDER)
    assert [x[0] for x in e.apply(PlaceLimit(1, 5, S, 100, 5, OrderType.POST_ONLY))] == [1, 6]  # rests
    fok = e.apply(PlaceLimit(2, 6, B, 100, 5, OrderType.FOK))
    assert [view(x) for x in fok] == [
        Accepted(1, 6, 2, 0, 100, 5, 2),
        Trade(3, 5, 6, 100, 5, 1, 2, 0),
        BookDelta(6, 1, 100, 0),
    ]
    assert e.resting_orders() == [] and e.volume == 15 and e.last_price == 100


def test_price_time_priority_and_sweep() -> None:
    e = Engine()
    for oid, price in [(1, 102), (2, 101), (3, 101), (4, 103)]:
        e.apply(PlaceLimit(oid, oid, S, price, 2))
    events = e.apply(PlaceLimit(9, 9, B, 102, 7))
    assert [(x[1], x[3]) for x in events if x[0] == 3] == [(2, 101), (3, 101), (1, 102)]
    assert e.resting_orders() == [(9, 9, 0, 102, 1, False), (4, 4, 1, 103, 2, False)]
    assert (e.best_bid, e.best_ask) == (102, 103)


def test_cancel_replace_priority() -> None:
    e = Engine()
    for oid in (1, 2, 3):
        e.apply(PlaceLimit(oid, oid, B, 100, 5))
    assert view(e.apply(Replace(1, 1, 100, 3))[0]) == Replaced(5, 1, 1, B, 100, 3, 1)  # smaller: kept
    assert [o[0] for o in e.resting_orders()] == [1, 2, 3] and e.depth(B) == [(100, 13)]
    assert e.apply(Replace(2, 2, 100, 6))[0][-1] == 0  # larger: lost
    assert [o[0] for o in e.resting_orders()] == [1, 3, 2]
    e.apply(Replace(1, 1, 99, 3))  # price change: lost, even back to the same price later
    e.apply(Replace(1, 1, 100, 3))
    assert [o[0] for o in e.resting_orders()] == [3, 2, 1] and e.depth(B) == [(100, 14)]
    e.apply(PlaceLimit(7, 7, S, 105, 4))
    crossed = e.apply(Replace(7, 7, 100, 4))  # a replace that crosses trades as an aggressor
    assert [x[1] for x in crossed if x[0] == 3] == [3]
    e.apply(PlaceLimit(8, 8, S, 105, 4, OrderType.POST_ONLY))
    assert _reason(e.apply(Replace(8, 8, 100, 4))) is R.POST_ONLY_WOULD_CROSS
    assert (8, 8, 1, 105, 4, True) in e.resting_orders()


@pytest.mark.parametrize("mode", list(STPMode))
def test_self_trade_prevention(mode: STPMode) -> None:
    e = Engine(EngineConfig(stp=mode))
    e.apply(PlaceLimit(1, 1, S, 100, 5))
    e.apply(PlaceLimit(2, 2, S, 100, 5))
    events = e.apply(PlaceLimit(1, 3, B, 100, 7))
    trades = [view(x) for x in events if x[0] == 3]
    if mode is STPMode.NONE:
        assert [(t.maker_id, t.qty) for t in trades] == [(1, 5), (2, 2)]
    elif mode is STPMode.CANCEL_RESTING:
        assert Cancelled(4, 1, 1, 5, CancelReason.SELF_TRADE) in events
        assert [(t.maker_id, t.qty) for t in trades] == [(2, 5)]
        assert e.resting_orders() == [(3, 1, 0, 100, 2, False)]
    else:
        assert trades == [] and Cancelled(4, 3, 1, 7, CancelReason.SELF_TRADE) in events
        assert [o[0] for o in e.resting_orders()] == [1, 2]


def test_price_band_follows_last_trade() -> None:
    e = Engine(EngineConfig(band_ticks=5))
    e.apply(PlaceLimit(1, 1, S, 1000, 1))  # no reference yet: no band
    e.apply(PlaceLimit(2, 2, B, 1000, 1))
    assert e.last_price == 1000
    assert _reason(e.apply(PlaceLimit(3, 3, B, 994, 1))) is R.PRICE_BAND
    assert e.apply(PlaceLimit(3, 3, B, 995, 1))[0][0] == 1
    e.apply(PlaceLimit(4, 4, S, 1005, 1))
    assert _reason(e.apply(Replace(4, 4, 1006, 1))) is R.PRICE_BAND


def test_deltas_and_state_hash() -> None:
    a, b = Engine(EngineConfig(initial_price_capacity=4)), Engine()
    for e in (a, b):
        e.apply(PlaceLimit(1, 1, B, 90, 3))
        e.apply(PlaceLimit(1, 2, B, 90, 4))
        assert view(e.apply(Cancel(1, 1))[-1]) == BookDelta(6, 0, 90, 4)
    assert a.state_hash() == b.state_hash()  # the array's size is not state
    b.apply(Cancel(1, 9))
    assert a.state_hash() != b.state_hash()  # the sequence is
    with pytest.raises(ValueError, match="unknown event kind"):
        view((99, 1))
    assert view((2, 1, 2, 3)) == Rejected(2, 1, 2, 3)
    assert encode_event((3, 1, 2, 3, 4, 5, 6, 0)) == bytes([0x98, 3, 1, 2, 3, 4, 5, 6, 0])


commands = st.one_of(
    st.builds(
        PlaceLimit,
        st.integers(0, 2**40),
        st.integers(0, 2**63 - 1),
        st.sampled_from(Side),
        st.integers(-5, 10**6),
        st.integers(-5, 10**9),
        st.sampled_from(list(OrderType)[:4]),
    ),
    st.builds(PlaceMarket, st.integers(), st.integers(), st.sampled_from(Side), st.integers()),
    st.builds(Cancel, st.integers(-(2**63), 2**64 - 1), st.integers(0, 9)),
    st.builds(Replace, st.integers(), st.integers(), st.integers(0, 10**6), st.integers(0, 10)),
)


@given(commands.filter(lambda c: all(-(2**63) <= v < 2**64 for v in _ints(c))))
def test_command_codec_round_trip(cmd: PlaceLimit | PlaceMarket | Cancel | Replace) -> None:
    data = encode_command(cmd)
    assert decode_command(data) == cmd and encode_command(decode_command(data)) == data


def _ints(c: object) -> list[int]:
    return [int(getattr(c, f)) for f in c.__slots__]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x90",
        b"\x93\x03\x01",
        b"\x93\x03\x01\xc3",
        b"\x97\x01\x01\x01\x05\x01\x01\x04",
        b"\x95\x09\x01\x01\x01\x01",
        b"\x83\x01\x01\x02\x02\x03\x03",
    ],
)
def test_command_decode_rejects(data: bytes) -> None:
    with pytest.raises(CommandDecodeError):
        decode_command(data)


def test_instruments_file() -> None:
    insts = load_instruments(Path(__file__).parents[3] / "configs" / "instruments.toml")
    kinds = {type(i) for i in insts.values()}
    assert kinds == {Spot, Future, Option, Perpetual}
    assert "CH-A-SPOT" in insts and insts["CH-A-SPOT"].price_to_ticks(2_001_000) == 2001
    assert (
        insts["CH-A-SPOT"].price_to_ticks(2_001_500) is None and insts["CH-A-SPOT"].qty_to_lots(250) is None
    )
    for inst in insts.values():  # every kind trades
        engine = Engine(inst.engine_config())
        price = inst.reference_price_ticks or 2000
        engine.apply(PlaceLimit(1, 1, S, price, 3))
        assert [x[0] for x in engine.apply(PlaceLimit(2, 2, B, price, 3))][:2] == [1, 3]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            '[instruments.X]\nkind = "spot"\ngrade = "A"\ntick_size = 0\nlot_size = 1\n',
            "instruments.X.spot.tick_size",
        ),
        (
            '[instruments.X]\nkind = "spot"\ngrade = "A"\ntick_size = 1\nlot_size = 1\ntick = 2\n',
            "unknown key",
        ),
        (
            '[instruments.O]\nkind = "option"\nunderlying = "F"\nstrike_ticks = 5\nright = "call"\n'
            "expiry = 2026-01-01T00:00:00Z\ntick_size = 1\nlot_size = 1\n",
            "instruments.O.underlying",
        ),
        (
            '[instruments.F]\nkind = "future"\ngrade = "A"\ntenor = "daily"\nexpiry = 2026-01-03T00:00:00Z\n'
            "delivery_start = 2026-01-02T00:00:00Z\ndelivery_end = 2026-01-03T00:00:00Z\ntick_size = 1\nlot_size = 1\n",
            "instruments.F.future",
        ),
    ],
)
def test_instrument_errors_name_the_key(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "i.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_instruments(path)


@pytest.mark.parametrize(("new_qty", "keeps_priority"), [(9, True), (1, True), (10, True), (11, False)])
def test_replace_by_a_single_lot_keeps_or_loses_priority(new_qty: int, keeps_priority: bool) -> None:
    """The edge the property test rarely hits: one lot less (or the same) keeps the place in the
    queue, one lot more loses it; the next taker shows who is first."""
    e = Engine()
    e.apply(PlaceLimit(1, 1, B, 100, 10))
    e.apply(PlaceLimit(2, 2, B, 100, 10))
    e.apply(Replace(1, 1, 100, new_qty))
    trades = [view(x) for x in e.apply(PlaceMarket(9, 9, S, 1)) if x[0] == 3]
    assert [t.maker_id for t in trades] == [1 if keeps_priority else 2]
    assert e.depth(B) == [(100, new_qty + 10 - 1)]


def test_restore_loads_a_book_in_priority_order_and_refuses_a_bad_one() -> None:
    e = Engine(EngineConfig(min_qty=5, initial_price_capacity=4))
    for oid, (side, price) in enumerate([(B, 99), (B, 100), (B, 100), (S, 101), (S, 300)], 1):
        e.apply(
            PlaceLimit(oid, oid, side, price, 6 + oid, OrderType.POST_ONLY if oid == 4 else OrderType.GTC)
        )
    e.apply(PlaceMarket(9, 9, S, 5))  # leaves order 2 with 3 lots, under min_qty
    restored = Engine(EngineConfig(min_qty=5, initial_price_capacity=4))
    restored.restore(e.resting_orders(), e.seq, e.last_price, e.volume)
    assert restored.out == [] and restored.state_hash() == e.state_hash()
    assert (restored.best_bid, restored.best_ask, restored.depth(B)) == (100, 101, [(100, 12), (99, 7)])
    with pytest.raises(ValueError, match="fresh"):
        restored.restore([], 0, 0, 0)
    with pytest.raises(ValueError, match="crossed"):
        Engine().restore([(1, 1, 0, 101, 1, 0), (2, 2, 1, 100, 1, 0)], 2, 0, 0)
    with pytest.raises(ValueError, match="bad resting order"):
        Engine().restore([(1, 1, 2, 101, 1, 0)], 1, 0, 0)
