"""The compiled matching engine against the pure-Python source it is compiled from.

``make`` compiles ``engine.py`` with ``engine.pxd`` (C types) into an extension module that
``import`` prefers (see ``coordinator.exchange.native``). The two builds must be one engine:
the same events for every command, the same book, the same state hash, on random command
streams of every kind and on the benchmark's workload, at the edges of the integer domain too.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.matching import command_rows, run
from bench.workload import generate, parse_workload
from coordinator.exchange import native
from coordinator.exchange.core import (
    Cancel,
    Command,
    Engine,
    EngineConfig,
    OrderType,
    PlaceLimit,
    PlaceMarket,
    RejectReason,
    Replace,
    Side,
    STPMode,
)
from coordinator.exchange.core.engine_config import MAX_PRICE, MAX_VALUE
from coordinator.exchange.core.events import REJECTED

PURE = native.load_python_engine().Engine
COMPILED = native.status().build == "compiled"
BUILDS = {"imported": Engine, "python": PURE}


def test_the_compiled_engine_is_built_and_current() -> None:
    """``make`` builds it; an edited engine.py with an old .so in front of it is 'stale'."""
    st_ = native.status()
    assert (st_.build, st_.state) == ("compiled", "current"), f"{st_.describe()}: run `make native`"
    assert Engine is not PURE and PURE.__module__ == "coordinator.exchange.core._engine_python"


def test_a_changed_source_makes_the_compiled_build_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    if not COMPILED:
        pytest.skip("no compiled engine")
    monkeypatch.setattr(native, "source_digest", lambda core_dir: "0" * 64)
    assert native.status().state == "stale"
    assert "STALE" in native.status().describe()


def row(c: Command) -> tuple[int, ...]:
    """A command's flat form (what encode_command packs)."""
    if type(c) is PlaceLimit:
        return (1, c.account, c.order_id, int(c.side), c.price, c.qty, int(c.order_type))
    if type(c) is PlaceMarket:
        return (2, c.account, c.order_id, int(c.side), c.qty)
    if type(c) is Cancel:
        return (3, c.account, c.order_id)
    assert type(c) is Replace
    return (4, c.account, c.order_id, c.price, c.qty)


def snapshot(e: Engine) -> tuple[object, ...]:
    return (
        e.state_hash(),
        e.resting_orders(),
        e.depth(0),
        e.depth(1),
        e.best_bid,
        e.best_ask,
        e.last_price,
        e.volume,
        e.seq,
    )


# Prices near the configured maximum, quantities up to the engine's 2**62 (so per-level totals
# pass 2**63: they must stay exact Python integers in the compiled build).
@st.composite
def setups(draw: st.DrawFn) -> tuple[EngineConfig, int | None, list[Command]]:
    max_price = draw(st.sampled_from([12, 40, 5_000]))
    lo = max(1, max_price - 30)
    prices = st.integers(lo - 1, max_price + 1) if max_price > 40 else st.integers(0, max_price + 2)
    huge = draw(st.booleans())
    max_qty = MAX_VALUE if huge else draw(st.integers(6, 12))
    qtys = st.sampled_from([1, 2, 3, MAX_VALUE // 2, MAX_VALUE]) if huge else st.integers(0, max_qty + 1)
    min_qty = draw(st.integers(0, 2))
    cfg = EngineConfig(
        band_ticks=draw(st.none() | st.integers(0, 8)),
        reference_price=draw(st.none() | st.integers(lo, max_price)),
        min_qty=min_qty,
        max_qty=max_qty,
        stp=draw(st.sampled_from(list(STPMode))),
        initial_price_capacity=draw(st.integers(2, 16)),
        max_price=max_price,
    )
    ids = st.integers(1, 25)
    cmds: list[Command] = []
    for _ in range(draw(st.integers(5, 80))):
        oid, kind = draw(ids), draw(st.integers(0, 9))
        acc = draw(st.integers(1, 3))
        side = draw(st.sampled_from(list(Side)))
        if kind < 4:
            limit_types = [OrderType.GTC, OrderType.IOC, OrderType.FOK, OrderType.POST_ONLY]
            cmds.append(
                PlaceLimit(acc, oid, side, draw(prices), draw(qtys), draw(st.sampled_from(limit_types)))
            )
        elif kind < 5:
            cmds.append(PlaceMarket(acc, oid, side, draw(qtys)))
        elif kind < 7:
            cmds.append(Cancel(acc, oid))
        else:
            cmds.append(Replace(acc, oid, draw(prices), draw(qtys)))
    return cfg, draw(st.none() | st.integers(1, 3)), cmds


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups())
def test_both_builds_give_the_same_events_and_state(
    setup: tuple[EngineConfig, int | None, list[Command]],
) -> None:
    cfg, banned, cmds = setup
    check = None if banned is None else (lambda a, s, p, q: a != banned)
    one, two = Engine(cfg, check), PURE(cfg, check)
    for cmd in cmds:
        assert one.apply(cmd) == two.apply(cmd), cmd
        assert snapshot(one) == snapshot(two), cmd


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups())
def test_execute_rows_equals_applying_commands(setup: tuple[EngineConfig, int | None, list[Command]]) -> None:
    cfg, _, cmds = setup
    for build in BUILDS.values():
        by_rows, by_commands = build(cfg), build(cfg)
        by_rows.execute([row(c) for c in cmds])
        assert by_rows.take_events() == by_commands.apply_batch(cmds)
        assert snapshot(by_rows) == snapshot(by_commands)


def test_execute_refuses_a_row_of_no_command_kind() -> None:
    for build in BUILDS.values():
        engine = build()
        with pytest.raises(ValueError, match="not a command row"):
            engine.execute([(1, 1, 1, 0, 5, 1, 0), (9, 1, 2)])
        assert engine.seq == 1 and engine.best_bid == 5


@pytest.mark.parametrize("name", list(BUILDS))
def test_the_price_limit_bounds_the_book_whatever_the_band(name: str) -> None:
    """Band on but no reference price (so off until the first trade): a limit far above
    ``max_price`` is PRICE_LIMIT, on entry and on replace, and the price array does not grow."""
    engine = BUILDS[name](EngineConfig(band_ticks=800, max_price=1_000, initial_price_capacity=16))
    engine.place_limit(1, 1, 0, 2**40, 1)
    engine.place_limit(1, 2, 0, 1_000, 1)
    engine.replace(1, 2, 1_001, 1)
    rejected = [e for e in engine.take_events() if e[0] == REJECTED]
    assert [(e[1], e[3]) for e in rejected] == [(1, RejectReason.PRICE_LIMIT), (2, RejectReason.PRICE_LIMIT)]
    assert engine.resting_orders() == [(2, 1, 0, 1_000, 1, 0)]
    assert len(engine._levels) <= 1_003
    with pytest.raises(ValueError, match="max_price"):
        EngineConfig(max_price=MAX_PRICE + 1)
    with pytest.raises(ValueError, match="max_qty"):
        EngineConfig(max_qty=MAX_VALUE + 1)


def test_the_compiled_engine_refuses_an_integer_beyond_int64_without_changing_anything() -> None:
    """Its domain: integers up to 2**62 (ExchangeState refuses larger ones before calling)."""
    if not COMPILED:
        pytest.skip("no compiled engine")
    engine = Engine()
    engine.place_limit(1, 1, 0, 10, 1)
    before = snapshot(engine)
    with pytest.raises(OverflowError):
        engine.place_limit(1, 2, 0, 10, 2**63)
    assert snapshot(engine) == before
    PURE().place_limit(1, 2, 0, 10, 2**63)  # the source rejects it (SIZE_LIMIT) instead


def test_the_benchmark_workload_gives_the_same_result_and_hash_on_both_builds() -> None:
    ops = parse_workload("\n".join(generate(20_000, seed=3)) + "\n")
    results = [run(ops, build) for build in BUILDS.values()]
    for r in results:
        r.pop("seconds"), r.pop("ops_per_s")
    assert results[0] == results[1] and results[0]["traded_volume"] > 0
    hashes = []
    for build in BUILDS.values():
        top = max(op[3] for op in ops)
        engine = build(EngineConfig(initial_price_capacity=top + 2, max_price=top))
        engine.execute(command_rows(ops))
        hashes.append(engine.state_hash())
    assert hashes[0] == hashes[1]
