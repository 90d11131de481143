"""The exchange service through its real HTTP and WebSocket API (hypercorn on trio, real SQLite
journal), in process: order entry, every refusal as a 4xx, private reads, the feed, recovery."""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from eth_account import Account
from eth_account.signers.local import LocalAccount
from trio_websocket import ConnectionClosed, open_websocket_url

from coordinator.exchange import native
from coordinator.exchange.core.marketdata import BID, FeedClient, FeedGapError
from coordinator.exchange.core.state import ExchangeState
from coordinator.exchange.journal import Journal
from coordinator.exchange.service import ExchangeService, open_exchange, recover_state
from coordinator.http_app import create_app
from coordinator.http_server import serve_api
from coordinator.registry import Registry
from coordinator.registry.store import RegistryStore
from gcx.orders import Domain, sign_cancel, sign_order, sign_read, sign_replace
from gcx.reference import load_profile
from gcx.settings import ExchangeSettings, Settings

pytestmark = pytest.mark.trio

SYM = "CH-A-SPOT"  # reference 2000 ticks, band 500


def _settings(tmp: Path, **exchange: Any) -> Settings:
    """Exchange settings for a test; signatures checked in the event loop unless the test asks
    for verifier processes (each takes a second or two to start)."""
    exchange.setdefault("verify_workers", 0)
    return Settings(exchange=ExchangeSettings(journal=tmp / "exchange.sqlite", **exchange))


class Trader:
    def __init__(self, domain: Domain, account: LocalAccount | None = None) -> None:
        self.acct = account or Account.create()
        self.domain = domain
        self.nonce = 0

    @property
    def address(self) -> str:
        return str(self.acct.address)

    def _next(self) -> int:
        self.nonce += 1
        return self.nonce

    def order(self, side: int, price: int, qty: int, coid: int, t: int = 0, sym: str = SYM) -> dict[str, Any]:
        m = {
            "account": self.address,
            "instrument": sym,
            "side": side,
            "orderType": t,
            "price": price,
            "qty": qty,
            "clientOrderId": coid,
            "nonce": self._next(),
            "expiry": int(time.time()) + 60,
        }
        return {"message": m, "signature": sign_order(m, self.acct.key, self.domain)}

    def cancel(self, coid: int, sym: str = SYM) -> dict[str, Any]:
        m = {"account": self.address, "instrument": sym, "clientOrderId": coid, "nonce": self._next()}
        return {"message": m, "signature": sign_cancel(m, self.acct.key, self.domain)}

    def replace(self, coid: int, price: int, qty: int) -> dict[str, Any]:
        m = {
            "account": self.address,
            "instrument": SYM,
            "clientOrderId": coid,
            "price": price,
            "qty": qty,
            "nonce": self._next(),
        }
        return {"message": m, "signature": sign_replace(m, self.acct.key, self.domain)}

    def read_headers(self, expiry: int | None = None) -> dict[str, str]:
        exp = expiry or int(time.time()) + 600
        sig = sign_read({"account": self.address, "expiry": exp}, self.acct.key, self.domain)
        return {"X-GCX-Account": self.address, "X-GCX-Expiry": str(exp), "X-GCX-Signature": sig}


@asynccontextmanager
async def running(settings: Settings, tmp: Path) -> AsyncIterator[tuple[str, ExchangeService]]:
    service = open_exchange(settings)
    registry = Registry(RegistryStore(tmp / "registry.sqlite"), load_profile())
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            app = create_app(registry, info={}, exchange=service)
            port = await nursery.start(serve_api, app, "127.0.0.1", 0)
            yield f"127.0.0.1:{port}", service
            nursery.cancel_scope.cancel()
    finally:
        registry.store.close()
        service.journal.close()


async def test_orders_trade_and_show_up_in_reads_books_candles_and_history(tmp_path: Path) -> None:
    async with (
        running(_settings(tmp_path), tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        info = (await http.get("/v1/exchange")).json()
        assert info["engine"] == native.status().build  # "compiled" after `make native`
        domain = Domain.from_dict(info["domain"])
        alice, bob = Trader(domain), Trader(domain)
        r = await http.post("/v1/orders", json=alice.order(1, 2000, 10, coid=1))
        assert r.status_code == 200 and r.json()["status"] == "resting"
        r = await http.post("/v1/orders", json=bob.order(0, 2005, 4, coid=9))
        body = r.json()
        assert (r.status_code, body["status"], body["fills"][0]["price"]) == (200, "filled", 2000)
        r = await http.post("/v1/orders/replace", json=alice.replace(1, 2000, 2))
        assert (r.status_code, r.json()["kept_priority"], r.json()["order"]["remaining"]) == (200, True, 2)

        book = (await http.get(f"/v1/book/{SYM}")).json()
        assert book["asks"] == [[2000, 2]] and book["bids"] == []
        trades = (await http.get(f"/v1/trades/{SYM}")).json()["trades"]
        assert [(t["price"], t["qty"], t["aggressor"]) for t in trades] == [(2000, 4, "buy")]
        candles = (await http.get(f"/v1/candles/{SYM}", params={"interval": 300})).json()["candles"]
        assert candles[-1][1:] == [2000, 2000, 2000, 2000, 4]

        orders = (await http.get("/v1/orders", headers=alice.read_headers())).json()
        assert [(o["client_order_id"], o["remaining"], o["filled"]) for o in orders["orders"]] == [(1, 2, 4)]
        fills = (await http.get("/v1/fills", headers=bob.read_headers())).json()["fills"]
        assert [(f["role"], f["client_order_id"]) for f in fills] == [("taker", 9)]
        history = (await http.get("/v1/history", headers=alice.read_headers(), params={"limit": 10})).json()
        assert [h["event"] for h in history["history"]] == ["accepted", "trade", "replaced"]

        r = await http.post("/v1/orders/cancel", json=alice.cancel(1))
        assert (r.status_code, r.json()["status"]) == (200, "cancelled")
        info = (await http.get("/v1/exchange")).json()
        assert info["last_seq"] == 4 and info["state_hash"] == service.state.state_hash().hex()
        instruments = (await http.get("/v1/instruments")).json()["instruments"]
        assert {i["symbol"] for i in instruments} >= {SYM} and all("tick_size" in i for i in instruments)
        spec = (await http.get("/openapi.json")).json()
        assert {"/v1/orders", "/v1/orders/cancel", "/v1/book/{symbol}", "/v1/candles/{symbol}"} <= set(
            spec["paths"]
        )


async def test_bad_requests_get_a_4xx_with_a_reason_never_a_500(tmp_path: Path) -> None:
    async with (
        running(_settings(tmp_path), tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        domain = service.domain
        alice, mallory = Trader(domain), Trader(domain)

        async def post(path: str, body: Any, **kw: Any) -> tuple[int, str]:
            r = await http.post(path, json=body, **kw) if body is not None else await http.post(path, **kw)
            assert r.headers["content-type"].startswith("application/json")
            return r.status_code, r.json()["error"]

        assert (await http.post("/v1/orders", json=alice.order(1, 2000, 5, coid=1))).status_code == 200
        forged = alice.order(1, 2000, 5, coid=2)
        forged["message"]["qty"] = 500
        assert await post("/v1/orders", forged) == (401, "bad_signature")
        claim = mallory.order(0, 2000, 5, coid=1)
        claim["message"]["account"] = alice.address  # Mallory signs an order for Alice's account
        assert await post("/v1/orders", claim) == (401, "bad_signature")
        assert await post("/v1/orders/cancel", mallory.cancel(1)) == (404, "unknown_order")  # Alice's id
        replayed = alice.order(1, 2001, 5, coid=3)
        assert (await http.post("/v1/orders", json=replayed)).status_code == 200
        assert await post("/v1/orders", replayed) == (409, "replayed_nonce")
        assert await post("/v1/orders", alice.order(1, 2000, 5, coid=1)) == (409, "duplicate_order_id")
        assert await post("/v1/orders", alice.order(1, 9000, 5, coid=4)) == (422, "price_band")
        assert await post("/v1/orders", alice.order(1, 2000, 5, coid=5, sym="NOPE")) == (
            404,
            "unknown_instrument",
        )
        other_domain = Trader(Domain(1, "0x" + "12" * 20), alice.acct)
        other_domain.nonce = 100
        assert await post("/v1/orders", other_domain.order(1, 2000, 1, coid=6)) == (401, "bad_signature")
        expired = alice.order(1, 2000, 1, coid=7)
        expired["message"]["expiry"] = 1
        assert await post("/v1/orders", expired) == (401, "expired")
        missing = alice.order(1, 2000, 1, coid=8)
        del missing["message"]["qty"]
        assert await post("/v1/orders", missing) == (400, "malformed")
        assert await post("/v1/orders", None, content=b"{not json") == (422, "invalid_request")
        assert await post("/v1/orders", {"message": [], "signature": "0x"}) == (422, "invalid_request")
        assert await post("/v1/orders", {"message": {}, "signature": 5}) == (422, "invalid_request")
        bad_sig = alice.order(1, 2000, 1, coid=9)
        bad_sig["signature"] = "0xzz"
        assert await post("/v1/orders", bad_sig) == (401, "bad_signature")
        r = await http.get("/v1/orders")
        assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")
        r = await http.get("/v1/fills", headers=alice.read_headers(expiry=int(time.time()) + 10 * 86_400))
        assert r.status_code == 401
        stolen = alice.read_headers() | {"X-GCX-Account": mallory.address}
        assert (await http.get("/v1/history", headers=stolen)).json()["error"] == "bad_signature"
        assert (await http.get("/v1/book/NOPE")).status_code == 404
        assert (await http.get(f"/v1/candles/{SYM}", params={"interval": 7})).status_code == 422
        assert service.state.last_seq == 5  # 2 orders, a cancel and 2 rejected orders were journaled


@pytest.mark.parametrize("in_child", [True, False])
async def test_concurrent_order_entry_is_group_committed_and_recovers_identically(
    tmp_path: Path, in_child: bool
) -> None:
    settings = _settings(tmp_path, snapshot_every=50, snapshot_in_child=in_child)
    async with (
        running(settings, tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}", limits=httpx.Limits(max_connections=20)) as http,
    ):
        traders = [Trader(service.domain) for _ in range(8)]
        acks: list[int] = []

        async def flow(t: Trader, k: int) -> None:
            for i in range(40):
                side = (i + k) % 2
                body = t.order(side, 1995 + (i * 7 + k) % 11, 1 + i % 3, coid=i + 1)
                r = await http.post("/v1/orders", json=body)
                assert r.status_code in (200, 422), r.text
                acks.append(r.json()["seq"])

        async with trio.open_nursery() as nursery:
            for k, t in enumerate(traders):
                nursery.start_soon(flow, t, k)
        assert sorted(acks) == list(range(1, 321))
        assert service.stats["batches"] < 320  # requests arriving together shared a commit
        with trio.fail_after(20):  # snapshots are encoded by a forked child, in the background
            while service.snapshot_seq < 300:
                await trio.sleep(0.01)
        live_hash = service.state.state_hash()
    with Journal(tmp_path / "exchange.sqlite") as journal:
        instruments = service.state.instruments
        full, snap = recover_state(journal, lambda: ExchangeState(instruments))  # type: ignore[arg-type]
        assert snap >= 300 and full.state_hash() == live_hash
    reopened = open_exchange(settings)
    try:
        assert reopened.state.state_hash() == live_hash and reopened.state.last_seq == 320
    finally:
        reopened.journal.close()


async def test_a_failing_journal_refuses_the_requests_and_applies_nothing(tmp_path: Path) -> None:
    async with (
        running(_settings(tmp_path), tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        alice = Trader(service.domain)
        before = service.state.state_hash()

        def broken(_: object) -> int:
            raise OSError("disk full")

        good = service.journal.append_frame
        service.journal.append_frame = broken  # type: ignore[method-assign]
        r = await http.post("/v1/orders", json=alice.order(1, 2000, 5, coid=1))
        assert (r.status_code, r.json()["error"]) == (503, "unavailable")
        assert service.state.state_hash() == before and service.stats["journal_failures"] == 1
        service.journal.append_frame = good  # type: ignore[method-assign]
        r = await http.post("/v1/orders", json=alice.order(1, 2000, 5, coid=1))  # a new nonce
        assert r.status_code == 200 and r.json()["seq"] == 1


async def test_websocket_feed_is_gapless_and_rebuilds_the_book(tmp_path: Path) -> None:
    async with (
        running(_settings(tmp_path), tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        traders = [Trader(service.domain) for _ in range(3)]
        await http.post("/v1/orders", json=traders[0].order(1, 2010, 5, coid=1))
        async with open_websocket_url(f"ws://{host}/v1/feed?instrument={SYM}") as ws:
            client = FeedClient(SYM)
            client.apply(json.loads(await ws.get_message()))
            assert client.book.depth(1) == [(2010, 5)]
            for i in range(30):
                t = traders[i % 3]
                await http.post("/v1/orders", json=t.order(i % 2, 2000 + i % 13, 1 + i % 4, coid=100 + i))
            while client.seq < service.state.publishers[SYM].seq:
                client.apply(json.loads(await ws.get_message()))
            engine = service.state.engines[SYM]
            assert client.book.depth(BID) == engine.depth(BID) and client.book.depth(1) == engine.depth(1)
            assert client.trades  # some orders crossed
            with pytest.raises(FeedGapError):
                client.apply(
                    {
                        "type": "trade",
                        "seq": client.seq + 2,
                        "instrument": SYM,
                        "price": 1,
                        "qty": 1,
                        "aggressor": "buy",
                        "trade_id": 999,
                    }
                )
        async with open_websocket_url(f"ws://{host}/v1/feed?instrument=NOPE") as ws:
            assert json.loads(await ws.get_message())["error"] == "unknown_instrument"


async def test_a_slow_feed_subscriber_is_dropped_not_buffered(tmp_path: Path) -> None:
    async with running(_settings(tmp_path, feed_buffer=16), tmp_path) as (_host, service):
        snapshot, channel = service.subscribe(SYM)
        trader = Trader(service.domain)
        for i in range(20):
            await service.submit("Order", *trader.order(i % 2, 2000, 1, coid=i + 1).values())
        assert service.stats["dropped_subscribers"] == 1
        received = [m async for m in channel]  # the buffer, then the end of the stream
        assert len(received) == 16 and received[0]["seq"] == snapshot["seq"] + 1


async def test_order_entry_over_websocket_answers_every_request_by_id(tmp_path: Path) -> None:
    async with running(_settings(tmp_path), tmp_path) as (host, service):
        trader = Trader(service.domain)
        async with open_websocket_url(f"ws://{host}/v1/ws/orders") as ws:
            for i in range(50):
                frame = {"id": i, "op": "place", **trader.order(i % 2, 1990 + i % 20, 2, coid=i + 1)}
                await ws.send_message(json.dumps(frame))
            await ws.send_message(json.dumps({"id": 50, "op": "cancel", **trader.cancel(4242)}))
            await ws.send_message("not json")
            await ws.send_message(json.dumps({"id": 51, "op": "explode", "message": {}, "signature": ""}))
            answers = [json.loads(await ws.get_message()) for _ in range(53)]
        by_id = {a["id"]: a for a in answers if a["id"] is not None}
        assert set(by_id) == set(range(52))
        assert all(by_id[i]["status"] in (200, 422) for i in range(50))
        assert (by_id[50]["status"], by_id[50]["body"]["error"]) == (404, "unknown_order")
        assert (by_id[51]["status"], by_id[51]["body"]["error"]) == (422, "invalid_request")  # unknown op
        [bad] = [a for a in answers if a["id"] is None]
        assert (bad["status"], bad["body"]["error"]) == (422, "invalid_request")  # not JSON
        assert service.state.last_seq == 51


async def test_a_batch_frame_is_answered_in_order_one_answer_per_request(tmp_path: Path) -> None:
    async with running(_settings(tmp_path), tmp_path) as (host, service):
        alice, bob = Trader(service.domain), Trader(service.domain)
        frames: list[Any] = [
            {"id": i, "op": "place", **(bob if i % 2 else alice).order(i % 2, 2000, 1, coid=i + 1)}
            for i in range(20)
        ]
        forged = {"id": "forged", "op": "place", **bob.order(0, 2000, 1, coid=1)}
        forged["message"]["qty"] = 2
        replayed = {"id": "replayed", "op": "place", **alice.order(0, 2000, 1, coid=99)}
        replayed["message"]["nonce"] = 1
        replayed["signature"] = sign_order(replayed["message"], alice.acct.key, service.domain)
        frames[5:5] = [forged, {"id": "junk", "op": "place"}, replayed, "not a frame"]
        async with open_websocket_url(f"ws://{host}/v1/ws/orders") as ws:
            await ws.send_message(json.dumps(frames))
            answers = json.loads(await ws.get_message())
            await ws.send_message(json.dumps([{"id": 1}] * 300))  # too many in one frame
            too_many = json.loads(await ws.get_message())
        assert [a["id"] for a in answers] == [f.get("id") if isinstance(f, dict) else None for f in frames]
        statuses = {
            a["id"]: (a["status"], a["body"].get("error")) for a in answers if isinstance(a["id"], str)
        }
        assert statuses == {
            "forged": (401, "bad_signature"),
            "junk": (422, "invalid_request"),
            "replayed": (409, "replayed_nonce"),
        }
        placed = [a for a in answers if isinstance(a["id"], int)]
        assert [a["body"]["seq"] for a in placed] == list(range(1, 21))  # journaled in frame order
        assert sum(a["body"]["status"] == "filled" for a in placed) == 10
        assert (too_many["status"], too_many["id"]) == (422, None)


async def test_orders_on_an_expired_future_are_refused_but_cancels_pass(tmp_path: Path) -> None:
    path = tmp_path / "instruments.toml"
    path.write_text(
        """
[instruments.OLD-F]
kind = "future"
grade = "A"
tenor = "daily"
expiry = 2020-01-01T00:00:00Z
delivery_start = 2020-01-01T00:00:00Z
delivery_end = 2020-01-02T00:00:00Z
tick_size = 1000
lot_size = 100
""",
        encoding="utf-8",
    )
    async with (
        running(_settings(tmp_path, instruments=path), tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        trader = Trader(service.domain)
        r = await http.post("/v1/orders", json=trader.order(0, 100, 1, coid=1, sym="OLD-F"))
        assert (r.status_code, r.json()["error"]) == (422, "instrument_expired")
        r = await http.post("/v1/orders/cancel", json=trader.cancel(1, sym="OLD-F"))
        assert (r.status_code, r.json()["error"]) == (404, "unknown_order")


async def test_oversized_bodies_and_frames_are_refused(tmp_path: Path) -> None:
    async with (
        running(_settings(tmp_path), tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        huge = b'{"message": {}, "signature": "' + b"0" * 300_000 + b'"}'
        r = await http.post("/v1/orders", content=huge, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):
                yield b"0" * 10_000  # no Content-Length: counted as it streams

        r = await http.post("/v1/orders", content=chunks(), headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
        code = None
        with trio.move_on_after(5):  # trio-websocket's closing handshake after a 1009 can linger
            async with open_websocket_url(f"ws://{host}/v1/ws/orders", max_message_size=4 << 20) as ws:
                await ws.send_message("x" * (2 << 20))
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
                code = closed.value.reason.code
        assert code == 1009  # message too big
        assert service.state.last_seq == 0
        assert (await http.get("/v1/exchange")).status_code == 200  # still serving


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1, 2**64, 2**256, -(2**70), rng.randrange(-1000, 1000)])
    if kind == 2:
        return rng.choice([0.5, 1e308, -0.0])
    if kind == 3:
        return rng.choice(["", "0x", "0x" + "ab" * 65, "CH-A-SPOT", "\u0000", "é" * 40, "9" * 500])
    if kind == 4:
        return rng.choice(["account", "instrument", "side", "nonce", "price", "qty", "expiry"])
    if kind == 5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "message",
        "signature",
        "account",
        "instrument",
        "side",
        "orderType",
        "price",
        "qty",
        "clientOrderId",
        "nonce",
        "expiry",
        "id",
        "op",
        "x",
    ]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


async def test_fuzzed_bodies_and_frames_never_get_a_5xx(tmp_path: Path) -> None:
    rng = random.Random(1234)
    async with (
        running(_settings(tmp_path), tmp_path) as (host, service),
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        alice = Trader(service.domain)
        template = alice.order(0, 2000, 1, coid=1)
        for i in range(300):
            if i % 3 == 0:  # a valid order with one field replaced by junk
                body = json.loads(json.dumps(template))
                body["message"][rng.choice(list(body["message"]))] = _random_json(rng)
            else:
                body = _random_json(rng)
            path = rng.choice(["/v1/orders", "/v1/orders/cancel", "/v1/orders/replace"])
            r = await http.post(path, json=body)
            assert 400 <= r.status_code < 500, (body, r.text)
            assert "error" in r.json()
        async with open_websocket_url(f"ws://{host}/v1/ws/orders") as ws:
            frames = [_random_json(rng) for _ in range(200)]
            for frame in frames:
                await ws.send_message(json.dumps(frame))
            for _ in frames:
                answer = json.loads(await ws.get_message())
                for a in answer if isinstance(answer, list) else [answer]:
                    assert 400 <= a["status"] < 500
        assert (await http.get("/v1/exchange")).status_code == 200


async def test_batches_checked_in_a_verifier_process_keep_arrival_order_and_survive_its_death(
    tmp_path: Path,
) -> None:
    async with running(_settings(tmp_path, verify_workers=1), tmp_path) as (host, service):
        assert service.verifiers is not None
        alice, bob = Trader(service.domain), Trader(service.domain)
        batches: list[list[Any]] = []
        for b in range(6):  # alice's nonces increase across batches, which race in flight
            frames = [
                {"id": f"{b}-{i}", "op": "place", **alice.order(0, 1990 + i, 1, coid=b * 10 + i + 1)}
                for i in range(8)
            ]
            batches.append(frames)
        forged = {"id": "forged", "op": "place", **bob.order(1, 2000, 1, coid=1)}
        forged["message"]["price"] = 1
        batches[2].append(forged)
        async with open_websocket_url(f"ws://{host}/v1/ws/orders") as ws:
            for frames in batches:
                await ws.send_message(json.dumps(frames))
            answers = [a for _ in batches for a in json.loads(await ws.get_message())]
            by_id = {a["id"]: a for a in answers}
            assert (by_id["forged"]["status"], by_id["forged"]["body"]["error"]) == (401, "bad_signature")
            placed = [by_id[f"{b}-{i}"] for b in range(6) for i in range(8)]
            assert all(a["status"] == 200 for a in placed)  # no nonce arrived out of order
            assert [a["body"]["seq"] for a in placed] == list(range(1, 49))  # journaled in arrival order

            for _conn, proc in service.verifiers._all:  # the worker dies: batches are checked here
                proc.kill()
                proc.join()
            await ws.send_message(
                json.dumps([{"id": 1, "op": "place", **bob.order(1, 2100, 1, coid=2)}, forged])
            )
            [ok, bad] = json.loads(await ws.get_message())
        assert (ok["status"], bad["status"], bad["body"]["error"]) == (200, 401, "bad_signature")
        assert service.verifiers.alive == 0
