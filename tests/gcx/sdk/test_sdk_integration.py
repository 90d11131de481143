"""The SDK and ``gcx trade`` against a real coordinator process serving the exchange.

One coordinator per module, started with the real CLI in a fresh ``$GCX_HOME`` (its journal
starts empty); two trader keys, alice and bob. The tests share the exchange, so each works on
its own instrument or price levels: CH-A-SPOT (SDK trading), CH-B-SPOT (cancel/replace, the
CLI), CH-C-SPOT (feed and replays).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gcx.keys import ParticipantKey, load_key
from gcx.orders import next_nonce, sign_cancel, sign_order
from gcx.sdk import ApiError, Client
from gcx.sdk.messages import cancel_message, order_message

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Exchange:
    api: str
    home: Path
    env: dict[str, str]
    alice: ParticipantKey
    bob: ParticipantKey

    def client(self, key: ParticipantKey | None = None) -> Client:
        return Client(self.api, key, timeout=10)

    def gcx(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gcx", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )

    def gcx_json(self, *args: str) -> Any:
        proc = self.gcx(*args, "--json", "--api", self.api)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return json.loads(proc.stdout)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    env["GCX_HOME"] = str(home)
    return env


def _new_key(env: dict[str, str], name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gcx", "keys", "new", "--name", name, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["created"] is True


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    home = tmp_path_factory.mktemp("exchange-home")
    env = _env(home)
    for name in ("coordinator", "alice", "bob"):
        _new_key(env, name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GCX_HOME", str(home))
        alice, bob = load_key("alice"), load_key("bob")
    log = (home / "coordinator.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcx", "coordinator", "run", "--api-port", "0", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        watchdog = threading.Timer(READY_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            line = proc.stdout.readline()
        finally:
            watchdog.cancel()
        if not line:
            log.flush()
            tail = (home / "coordinator.log").read_text(encoding="utf-8", errors="replace")[-3000:]
            pytest.fail(f"the coordinator exited or was not ready in {READY_TIMEOUT_S} s; its log:\n{tail}")
        api = json.loads(line)["api"]
        yield Exchange(api, home, env, alice, bob)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _open_ids(client: Client, symbol: str) -> set[int]:
    return {o["client_order_id"] for o in client.open_orders() if o["instrument"] == symbol}


# --------------------------------------------------------------------------------------- public


def test_exchange_info_and_instruments(exchange: Exchange) -> None:
    with exchange.client() as client:
        info = client.exchange_info()
        assert info["domain"]["name"] == "GCX Exchange" and info["domain"]["version"] == "1"
        assert {"last_seq", "state_hash", "snapshot_seq"} <= info.keys()
        assert client.domain.chain_id == info["domain"]["chainId"]
        listed = {i["symbol"]: i for i in client.instruments()}
    spot = listed["CH-A-SPOT"]
    assert (spot["kind"], spot["tick_size"], spot["lot_size"]) == ("spot", 1000, 100)
    assert {"price_band_ticks", "reference_price_ticks", "min_lots", "max_lots"} <= spot.keys()


def test_unknown_instrument_is_404(exchange: Exchange) -> None:
    with exchange.client(exchange.alice) as client:
        for call in (
            lambda: client.book("CH-Z-SPOT"),
            lambda: client.trades("CH-Z-SPOT"),
            lambda: client.candles("CH-Z-SPOT"),
            lambda: client.place("CH-Z-SPOT", "buy", 1, 2000),
            lambda: next(client.feed("CH-Z-SPOT")),
        ):
            with pytest.raises(ApiError) as info:
                call()
            assert (info.value.status, info.value.code) == (404, "unknown_instrument")
            assert "CH-Z-SPOT" in info.value.message


# ------------------------------------------------------------------------------------- trading


def test_crossing_orders_trade_and_show_everywhere(exchange: Exchange) -> None:
    symbol = "CH-A-SPOT"
    start = int(time.time())
    with exchange.client(exchange.alice) as alice, exchange.client(exchange.bob) as bob:
        rest = alice.place(symbol, "sell", 10, 2005, client_order_id=1)
        assert rest["status"] == "resting" and rest["fills"] == []
        order = rest["order"]
        assert (order["side"], order["type"], order["price"], order["qty"], order["remaining"]) == (
            "sell",
            "gtc",
            2005,
            10,
            10,
        )
        assert order["client_order_id"] == 1 and order["account"].lower() == exchange.alice.address.lower()
        assert alice.book(symbol)["asks"] == [[2005, 10]]

        take = bob.place(symbol, "buy", 4, 2010, order_type="ioc")
        assert take["status"] == "filled" and take["seq"] == rest["seq"] + 1
        assert len(take["fills"]) == 1
        fill = take["fills"][0]
        assert (fill["price"], fill["qty"], fill["role"], fill["side"]) == (2005, 4, "taker", "buy")

        # both accounts see the fill; each sees only its own
        (bob_fill,) = [f for f in bob.fills() if f["trade_id"] == fill["trade_id"]]
        assert (bob_fill["role"], bob_fill["side"], bob_fill["qty"]) == ("taker", "buy", 4)
        (alice_fill,) = [f for f in alice.fills() if f["trade_id"] == fill["trade_id"]]
        assert (alice_fill["role"], alice_fill["side"], alice_fill["price"], alice_fill["qty"]) == (
            "maker",
            "sell",
            2005,
            4,
        )
        assert alice_fill["client_order_id"] == 1
        assert alice.fills(limit=1) == [alice_fill]

        book = bob.book(symbol, depth=1)
        assert book["type"] == "l2snapshot" and book["instrument"] == symbol
        assert book["asks"] == [[2005, 6]] and book["bids"] == []
        assert book["seq"] >= 2

        trades = bob.trades(symbol)
        assert trades[-1]["trade_id"] == fill["trade_id"]
        assert (trades[-1]["price"], trades[-1]["qty"], trades[-1]["aggressor"]) == (2005, 4, "buy")
        assert bob.trades(symbol, limit=1) == trades[-1:]

        candles = bob.candles(symbol, interval=60, since=start - 60)
        assert candles, "a trade makes a candle"
        start_s, open_, high, low, close, volume = candles[-1]
        assert start_s % 60 == 0 and (open_, high, low, close, volume) == (2005, 2005, 2005, 2005, 4)
        assert bob.candles(symbol, interval=3600)[-1][1:] == [2005, 2005, 2005, 2005, 4]

        (still_open,) = [o for o in alice.open_orders() if o["instrument"] == symbol]
        assert (still_open["client_order_id"], still_open["filled"], still_open["remaining"]) == (1, 4, 6)
        assert _open_ids(bob, symbol) == set()

        events = [e["event"] for e in bob.history()]
        assert "accepted" in events and "trade" in events
        assert {e["event"] for e in alice.history(limit=10)} >= {"accepted", "trade"}


def test_cancel_and_replace(exchange: Exchange) -> None:
    symbol = "CH-B-SPOT"
    with exchange.client(exchange.alice) as alice:
        placed = alice.place(symbol, "buy", 5, 1100, order_type="post_only")
        cid = placed["order"]["client_order_id"]
        assert placed["status"] == "resting" and cid in _open_ids(alice, symbol)

        smaller = alice.replace(symbol, cid, 1100, 3)
        assert smaller["status"] == "replaced" and smaller["kept_priority"] is True
        assert (smaller["order"]["price"], smaller["order"]["remaining"]) == (1100, 3)
        moved = alice.replace(symbol, cid, 1101, 3)
        assert moved["kept_priority"] is False and moved["fills"] == []
        assert alice.book(symbol)["bids"][0] == [1101, 3]

        cancelled = alice.cancel(symbol, cid)
        assert cancelled["status"] == "cancelled" and cancelled["order"]["client_order_id"] == cid
        assert cid not in _open_ids(alice, symbol)
        assert [1101, 3] not in alice.book(symbol)["bids"]

        with pytest.raises(ApiError) as info:
            alice.cancel(symbol, cid)
        assert (info.value.status, info.value.code) == (404, "unknown_order")
        assert info.value.seq is not None  # decided by the engine, so journaled


def test_duplicate_client_order_id_is_409(exchange: Exchange) -> None:
    with exchange.client(exchange.alice) as alice:
        alice.place("CH-B-SPOT", "buy", 1, 1050, client_order_id=424242)
        with pytest.raises(ApiError) as info:
            alice.place("CH-B-SPOT", "buy", 1, 1049, client_order_id=424242)
        assert (info.value.status, info.value.code) == (409, "duplicate_order_id")
        alice.cancel("CH-B-SPOT", 424242)


def test_another_accounts_order_cannot_be_cancelled(exchange: Exchange) -> None:
    symbol = "CH-B-SPOT"
    with exchange.client(exchange.alice) as alice, exchange.client(exchange.bob) as bob:
        cid = alice.place(symbol, "buy", 2, 1000)["order"]["client_order_id"]
        # Client order ids are per account: bob naming alice's id names an order of his own,
        # which does not exist (coordinator.exchange.core.state: "another account's order cannot even
        # be named"), so the answer is unknown_order, never not_owner.
        with pytest.raises(ApiError) as info:
            bob.cancel(symbol, cid)
        assert (info.value.status, info.value.code) == (404, "unknown_order")
        # bob claiming to be alice fails the signature check
        forged = cancel_message(
            account=exchange.alice.address, instrument=symbol, client_order_id=cid, nonce=time.time_ns()
        )
        with pytest.raises(ApiError) as info:
            bob.submit("cancel", forged, sign_cancel(forged, exchange.bob.private_key, bob.domain))
        assert (info.value.status, info.value.code) == (401, "bad_signature")
        assert cid in _open_ids(alice, symbol)
        alice.cancel(symbol, cid)


def test_a_replayed_nonce_is_409(exchange: Exchange) -> None:
    symbol = "CH-C-SPOT"
    with exchange.client(exchange.bob) as bob:
        message = order_message(
            account=exchange.bob.address,
            instrument=symbol,
            side="buy",
            qty=1,
            price=500,
            order_type="gtc",
            client_order_id=777,
            nonce=time.time_ns() // 1000,
            expiry=int(time.time()) + 60,
        )
        signature = sign_order(message, exchange.bob.private_key, bob.domain)
        assert bob.submit("place", message, signature)["status"] == "resting"
        with pytest.raises(ApiError) as info:
            bob.submit("place", message, signature)
        assert (info.value.status, info.value.code) == (409, "replayed_nonce")
        older = {**message, "nonce": message["nonce"] - 1, "clientOrderId": 778}
        with pytest.raises(ApiError) as info:
            bob.submit("place", older, sign_order(older, exchange.bob.private_key, bob.domain))
        assert info.value.code == "replayed_nonce"
        assert bob.cancel(symbol, 777)["status"] == "cancelled"  # the client's own nonces move on


def test_a_client_following_the_documented_nonce_rule_shares_a_key_with_the_sdk(exchange: Exchange) -> None:
    """docs/exchange-api.md states one nonce rule, gcx.orders.next_nonce (µs): a script that
    follows it keeps working after the SDK has used the key; a millisecond clock would not."""
    symbol = "CH-C-SPOT"
    key = exchange.bob
    with exchange.client(key) as bob:
        assert bob.place(symbol, "buy", 1, 505, client_order_id=801)["status"] == "resting"

        def signed(nonce: int, coid: int) -> tuple[dict[str, Any], str]:
            message = order_message(
                account=key.address,
                instrument=symbol,
                side="buy",
                qty=1,
                price=506,
                order_type="gtc",
                client_order_id=coid,
                nonce=nonce,
                expiry=int(time.time()) + 60,
            )
            return message, sign_order(message, key.private_key, bob.domain)

        with pytest.raises(ApiError) as info:  # what the old docs' "a millisecond clock works" gave
            bob.submit("place", *signed(time.time_ns() // 1_000_000, 802))
        assert info.value.code == "replayed_nonce"
        assert bob.submit("place", *signed(next_nonce(), 803))["status"] == "resting"
        assert bob.place(symbol, "buy", 1, 504, client_order_id=804)["status"] == "resting"  # and back
        for coid in (801, 803, 804):
            assert bob.cancel(symbol, coid)["status"] == "cancelled"


def test_the_feed_sends_a_snapshot_then_the_trade_with_the_next_seq(exchange: Exchange) -> None:
    symbol = "CH-C-SPOT"
    with exchange.client(exchange.alice) as alice, exchange.client(exchange.bob) as bob:
        alice.place(symbol, "sell", 5, 610)
        feed = bob.feed(symbol)
        try:
            snapshot = next(feed)
            assert snapshot["type"] == "l2snapshot" and snapshot["instrument"] == symbol
            assert [610, 5] in snapshot["asks"]
            assert snapshot == {**bob.book(symbol), "seq": snapshot["seq"]}
            taken = bob.place(symbol, "buy", 2, 610)
            trade = next(feed)
            assert trade["type"] == "trade" and trade["seq"] == snapshot["seq"] + 1
            assert (trade["price"], trade["qty"], trade["aggressor"]) == (610, 2, "buy")
            assert trade["trade_id"] == taken["fills"][0]["trade_id"]
            update = next(feed)
            assert update["type"] == "l2update" and update["seq"] == trade["seq"] + 1
            assert ["ask", 610, 3] in update["changes"]
        finally:
            feed.close()


# ------------------------------------------------------------------------------------------ CLI


def test_the_cli_trades_end_to_end(exchange: Exchange) -> None:
    symbol = "CH-B-SPOT"
    rest = exchange.gcx_json("trade", "place", symbol, "sell", "3", "--price", "1250", "--key", "alice")
    assert rest["status"] == "resting"
    cid = rest["order"]["client_order_id"]
    assert cid in {o["client_order_id"] for o in exchange.gcx_json("trade", "orders", "--key", "alice")}
    take = exchange.gcx_json(
        "trade",
        "place",
        symbol,
        "buy",
        "3",
        "--price",
        "1250",
        "--type",
        "ioc",
        "--key",
        "bob",
        "--client-id",
        "9",
    )
    assert take["status"] == "filled" and take["order"]["client_order_id"] == 9
    trade_id = take["fills"][0]["trade_id"]
    for name in ("alice", "bob"):
        fills = exchange.gcx_json("trade", "fills", "--key", name, "--limit", "5")
        assert trade_id in {f["trade_id"] for f in fills}, name
    history = exchange.gcx_json("trade", "history", "--key", "bob")
    assert any(e["event"] == "trade" for e in history)
    assert exchange.gcx_json("trade", "trades", symbol)[-1]["trade_id"] == trade_id
    assert exchange.gcx_json("trade", "candles", symbol, "--interval", "300")[-1][4] == 1250
    assert exchange.gcx_json("trade", "book", symbol, "--depth", "1")["instrument"] == symbol
    assert any(i["symbol"] == symbol for i in exchange.gcx_json("trade", "instruments"))

    rest = exchange.gcx_json("trade", "place", symbol, "sell", "2", "--price", "1300", "--key", "alice")
    cid = str(rest["order"]["client_order_id"])
    replaced = exchange.gcx_json(
        "trade", "replace", symbol, cid, "--price", "1290", "--qty", "2", "--key", "alice"
    )
    assert replaced["status"] == "replaced" and replaced["order"]["price"] == 1290
    assert exchange.gcx_json("trade", "cancel", symbol, cid, "--key", "alice")["status"] == "cancelled"

    (line,) = exchange.gcx(
        "trade", "watch", symbol, "--count", "1", "--json", "--api", exchange.api
    ).stdout.splitlines()
    assert json.loads(line)["type"] == "l2snapshot"


def test_the_cli_finds_the_running_coordinator_and_prints_tables(exchange: Exchange) -> None:
    """No --api: the coordinator under this $GCX_HOME wrote its endpoint, and the CLI uses it."""
    for args, needle in [
        (("trade", "instruments"), "CH-A-SPOT"),
        (("trade", "book", "CH-A-SPOT"), "2005"),
        (("trade", "orders", "--key", "alice"), "CH-A-SPOT"),
        (("trade", "fills", "--key", "bob"), "taker"),
        (("trade", "history", "--key", "bob"), "accepted"),
        (("trade", "trades", "CH-A-SPOT"), "2005"),
        (("trade", "candles", "CH-A-SPOT"), "2005"),
        (("trade", "watch", "CH-A-SPOT", "--count", "1"), "snapshot"),
    ]:
        proc = exchange.gcx(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert needle in proc.stdout, (args, proc.stdout)
    proc = exchange.gcx("trade", "cancel", "CH-A-SPOT", "123456789", "--key", "bob")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: unknown_order: "), proc.stderr
