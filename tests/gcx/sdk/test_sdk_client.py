"""gcx.sdk.Client without the exchange: error answers, unreachable APIs, what it signs and sends
(checked by the exchange's own verifier), read tokens, the API URL resolution, and the feed
against a real WebSocket server on loopback."""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from gcx.errors import ConfigError, GCXError
from gcx.feed import FeedGapError
from gcx.keys import ParticipantKey
from gcx.orders import Domain, MessageKind, ReplayedNonce, next_nonce, nonce_clock, verify_typed
from gcx.sdk import (
    DEFAULT_API_URL,
    ApiError,
    ApiUnreachable,
    Client,
    FeedClosed,
    FeedGap,
    InvalidRequest,
    SdkError,
    resolve_api_url,
)

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
NOW = 1_764_111_000


def _key() -> ParticipantKey:
    account = Account.create()
    return ParticipantKey("trader", account.address, Path("/nonexistent"), False, bytes(account.key))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeExchange:
    """An httpx transport that verifies every signed body as the exchange would (signature,
    domain and strictly increasing nonces) and records what it got."""

    def __init__(self) -> None:
        self.nonces: dict[str, int] = {}  # the last nonce of each account, as admission keeps it
        self.requests: list[httpx.Request] = []
        self.info_calls = 0
        self.read_status = 200
        self.domain = DOMAIN  # what GET /v1/exchange names

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v1/exchange":
            self.info_calls += 1
            return httpx.Response(200, json={"domain": self.domain.to_dict(), "last_seq": 0})
        if request.method == "POST":
            kinds: dict[str, MessageKind] = {"/v1/orders": "Order", "/v1/orders/cancel": "CancelOrder"}
            kind = kinds.get(path, "ReplaceOrder")
            body = json.loads(request.content)
            if "domain" in body and body["domain"] != DOMAIN.to_dict():
                return httpx.Response(401, json={"error": "wrong_domain", "message": "another deployment"})
            signer = verify_typed(kind, body["message"], body["signature"], DOMAIN, now=NOW)
            nonce = body["message"]["nonce"]
            if nonce <= self.nonces.get(signer, -1):
                raise ReplayedNonce(f"nonce {nonce} is not above {self.nonces[signer]}")
            self.nonces[signer] = nonce
            return httpx.Response(200, json={"seq": 1, "status": "resting", "signer": signer, **body})
        if path in ("/v1/orders", "/v1/fills", "/v1/history"):
            if self.read_status != 200:
                return httpx.Response(self.read_status, json={"error": "expired", "message": "token expired"})
            h = request.headers
            message = {"account": h["X-GCX-Account"], "expiry": int(h["X-GCX-Expiry"])}
            account = verify_typed("ReadAccount", message, h["X-GCX-Signature"], DOMAIN, now=NOW)
            name = path.rsplit("/", 1)[1]
            return httpx.Response(200, json={"account": account, name: [{"seen": account}]})
        return httpx.Response(404, json={"error": "not_found", "message": f"no route {path}"})


@pytest.fixture
def fake() -> FakeExchange:
    return FakeExchange()


@pytest.fixture
def key() -> ParticipantKey:
    return _key()


def _client(
    fake: FakeExchange, key: ParticipantKey | None, clock: Callable[[], float] = lambda: NOW
) -> Client:
    return Client("http://exchange.test", key, transport=httpx.MockTransport(fake), clock=clock)


# ----------------------------------------------------------------------------------------- errors


def test_api_error_parses_the_contract_error_body() -> None:
    body = '{"error": "price_band", "message": "price 9999 is outside the band", "seq": 1044}'
    err = ApiError.from_answer(422, body)
    assert (err.status, err.code, err.message, err.seq) == (
        422,
        "price_band",
        "price 9999 is outside the band",
        1044,
    )
    assert err.body == json.loads(body)
    assert str(err) == "price_band: price 9999 is outside the band"
    assert isinstance(err, GCXError) and err.exit_code == 1


@pytest.mark.parametrize(
    ("status", "text", "code", "message"),
    [
        (404, '{"detail": "Not Found"}', "http_404", "Not Found"),
        (
            502,
            "<html>\n<body>Bad   gateway</body></html>",
            "http_502",
            "<html> <body>Bad gateway</body></html>",
        ),
        (500, "", "http_500", "(empty body)"),
        (409, '{"error": "replayed_nonce"}', "replayed_nonce", ""),
        (400, "[1, 2]", "http_400", "[1, 2]"),
    ],
)
def test_api_error_parses_any_other_answer(status: int, text: str, code: str, message: str) -> None:
    err = ApiError.from_answer(status, text)
    assert (err.status, err.code, err.message, err.seq) == (status, code, message, None)


def test_a_non_2xx_answer_raises_api_error(fake: FakeExchange) -> None:
    with _client(fake, None) as client, pytest.raises(ApiError) as info:
        client.book("CH-Z-SPOT")
    assert (info.value.status, info.value.code) == (404, "not_found")
    assert info.value.body == {"error": "not_found", "message": "no route /v1/book/CH-Z-SPOT"}


def test_a_2xx_answer_that_is_not_an_object_raises_api_error() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="[]"))
    with Client("http://x.test", transport=transport) as client, pytest.raises(ApiError) as info:
        client.instruments()
    assert info.value.code == "invalid_response"
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"instrument": "X"}))
    with Client("http://x.test", transport=transport) as client, pytest.raises(ApiError, match="'trades'"):
        client.trades("X")


def test_an_unreachable_api_raises_api_unreachable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with Client(url, timeout=2) as client, pytest.raises(ApiUnreachable) as info:
        client.instruments()
    assert info.value.url == url
    assert str(info.value).startswith(f"cannot reach the GCX API at {url}: ")
    assert "refused" in str(info.value).lower()
    assert info.value.__suppress_context__  # no httpx traceback chained under it


def test_a_timeout_raises_api_unreachable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with (
        Client("http://x.test", transport=httpx.MockTransport(slow)) as client,
        pytest.raises(ApiUnreachable, match=r"at http://x.test: no answer in time \(ReadTimeout\)"),
    ):
        client.exchange_info()


def test_a_bad_url_is_a_config_error() -> None:
    for bad in ("127.0.0.1:8600", "ftp://host", "http://"):
        with pytest.raises(ConfigError, match="invalid API URL"):
            Client(bad)


def test_without_a_key_only_public_reads_work(fake: FakeExchange) -> None:
    with _client(fake, None) as client:
        assert client.exchange_info()["domain"]["chainId"] == 31337
        for call in (lambda: client.place("CH-A-SPOT", "buy", 1, 2000), client.open_orders, client.fills):
            with pytest.raises(InvalidRequest, match="this client has no key"):
                call()
    assert [r.url.path for r in fake.requests] == ["/v1/exchange"]


# ------------------------------------------------------------------------------------ order entry


def test_orders_cancels_and_replaces_are_signed_with_strictly_increasing_nonces(
    fake: FakeExchange, key: ParticipantKey
) -> None:
    with _client(fake, key) as client:
        answers = [
            client.place("CH-A-SPOT", "buy", 10, 2010),
            client.place("CH-A-SPOT", "sell", 3, None, "market", client_order_id=99),
            client.place("CH-A-SPOT", "sell", 1, 2100, "post_only"),
            client.cancel("CH-A-SPOT", 99),
            client.replace("CH-A-SPOT", 7, 2011, 5),
        ]
        answers += [client.place("CH-A-SPOT", "buy", 1, 2000, "ioc") for _ in range(50)]  # same µs
    assert fake.info_calls == 1  # the domain is fetched once
    assert all(a["signer"] == key.address for a in answers)  # verified by the exchange's verifier
    nonces = [a["message"]["nonce"] for a in answers]
    assert all(b > a for a, b in itertools.pairwise(nonces))
    first, market = answers[0]["message"], answers[1]["message"]
    assert (first["side"], first["orderType"], first["price"], first["qty"]) == (0, 0, 2010, 10)
    assert first["expiry"] == NOW + 60
    assert (market["side"], market["orderType"], market["price"], market["clientOrderId"]) == (1, 4, 0, 99)
    assert answers[3]["message"] == {
        "account": key.address,
        "instrument": "CH-A-SPOT",
        "clientOrderId": 99,
        "nonce": nonces[3],
    }
    assert answers[4]["message"]["price"] == 2011 and answers[4]["message"]["qty"] == 5
    auto_ids = [a["message"]["clientOrderId"] for i, a in enumerate(answers) if i not in (1, 3, 4)]
    assert len(set(auto_ids)) == len(auto_ids)  # automatic client order ids never repeat


def test_nonces_are_unix_microseconds_by_the_documented_rule(fake: FakeExchange, key: ParticipantKey) -> None:
    """docs/exchange-api.md: a nonce is Unix time in µs, or one above the last (gcx.orders.next_nonce)."""
    before = nonce_clock()
    with _client(fake, key) as client:
        answers = [client.place("CH-A-SPOT", "buy", 1, 2000, "ioc") for _ in range(20)]
    after = nonce_clock()
    nonces = [a["message"]["nonce"] for a in answers]
    assert before <= nonces[0] <= after  # microseconds, not milliseconds: 1000x larger
    assert all(b > a for a, b in itertools.pairwise(nonces)) and nonces[-1] <= after + len(nonces)
    assert next_nonce(nonces[-1], before) == nonces[-1] + 1  # the rule when the clock lags
    assert next_nonce(0, after) == after


def test_orders_name_their_domain_and_a_wrong_domain_fetches_it_again(
    fake: FakeExchange, key: ParticipantKey
) -> None:
    fake.domain = Domain(chain_id=1, verifying_contract="0x" + "12" * 20)  # a stale deployment
    with _client(fake, key) as client:
        with pytest.raises(ApiError) as info:
            client.place("CH-A-SPOT", "buy", 1, 2000)
        assert (info.value.status, info.value.code) == (401, "wrong_domain")
        fake.domain = DOMAIN
        answer = client.place("CH-A-SPOT", "buy", 1, 2000)  # signs for the domain fetched again
    assert answer["signer"] == key.address and answer["domain"] == DOMAIN.to_dict()
    assert fake.info_calls == 2


def test_bad_order_input_sends_nothing(fake: FakeExchange, key: ParticipantKey) -> None:
    with _client(fake, key) as client:
        calls: list[tuple[Callable[[], object], str]] = [
            (lambda: client.place("CH-A-SPOT", "hold", 1, 2000), "side must be"),
            (lambda: client.place("CH-A-SPOT", "buy", 1), "a gtc order needs a price"),
            (lambda: client.place("CH-A-SPOT", "buy", 1, 2000, "market"), "market order takes no price"),
            (lambda: client.place("CH-A-SPOT", "buy", 1, 2000, expiry_s=0), "expiry_s"),
            (lambda: client.cancel("CH-A-SPOT", -1), "client order id must be"),
            (lambda: client.replace("CH-A-SPOT", 1, 0, 1), "price must be between 1"),
            (lambda: client.book(""), "non-empty symbol"),
        ]
        for call, needle in calls:
            with pytest.raises(InvalidRequest, match=needle):
                call()
    assert fake.requests == []  # refused before even fetching the domain


# ---------------------------------------------------------------------------------- private reads


def test_private_reads_reuse_one_token_and_renew_it_before_expiry(
    fake: FakeExchange, key: ParticipantKey
) -> None:
    now = [float(NOW)]
    with _client(fake, key, clock=lambda: now[0]) as client:
        assert client.open_orders() == [{"seen": key.address}]
        assert client.fills(limit=5) == [{"seen": key.address}]
        now[0] += 3000
        assert client.history() == [{"seen": key.address}]
        now[0] += 541  # 59 s before expiry: renew
        client.fills()
    reads = [r for r in fake.requests if r.url.path != "/v1/exchange"]
    assert [r.url.path for r in reads] == ["/v1/orders", "/v1/fills", "/v1/history", "/v1/fills"]
    assert reads[1].url.params["limit"] == "5" and "limit" not in reads[0].url.params
    signatures = [r.headers["X-GCX-Signature"] for r in reads]
    assert signatures[0] == signatures[1] == signatures[2] != signatures[3]
    assert [int(r.headers["X-GCX-Expiry"]) for r in reads] == [NOW + 3600] * 3 + [NOW + 3541 + 3600]


def test_a_refused_token_is_signed_afresh(fake: FakeExchange, key: ParticipantKey) -> None:
    now = [float(NOW)]
    with _client(fake, key, clock=lambda: now[0]) as client:
        fake.read_status = 401
        with pytest.raises(ApiError) as info:
            client.open_orders()
        assert (info.value.status, info.value.code) == (401, "expired")
        fake.read_status = 200
        now[0] += 1
        client.open_orders()
    reads = [r for r in fake.requests if r.url.path == "/v1/orders"]
    assert reads[0].headers["X-GCX-Expiry"] != reads[1].headers["X-GCX-Expiry"]


# --------------------------------------------------------------------------------- API resolution


def test_api_url_resolution_order(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_api_url() == DEFAULT_API_URL == "http://127.0.0.1:8600"
    endpoint = isolated_home / "coordinator" / "endpoint.json"
    endpoint.parent.mkdir(parents=True)
    endpoint.write_text(json.dumps({"api": "http://127.0.0.1:4321", "peer_id": "x"}), encoding="utf-8")
    assert resolve_api_url() == "http://127.0.0.1:4321"
    monkeypatch.setenv("GCX_NETWORK__COORDINATOR_API", '"http://10.0.0.1:8600/"')
    assert resolve_api_url() == "http://10.0.0.1:8600"
    assert resolve_api_url("https://gcx.example/") == "https://gcx.example"
    monkeypatch.delenv("GCX_NETWORK__COORDINATOR_API")
    (isolated_home / "config.toml").write_text(
        '[network]\ncoordinator_api = "http://h:1"\n', encoding="utf-8"
    )
    assert resolve_api_url() == "http://h:1"


def test_a_corrupt_endpoint_file_is_a_config_error(isolated_home: Path) -> None:
    endpoint = isolated_home / "coordinator" / "endpoint.json"
    endpoint.parent.mkdir(parents=True)
    endpoint.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="unreadable"):
        resolve_api_url()
    endpoint.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'api' URL"):
        resolve_api_url()


# ------------------------------------------------------------------------------------------- feed


def test_feed_url() -> None:
    assert (
        Client("http://127.0.0.1:8600").feed_url("CH-A-SPOT")
        == "ws://127.0.0.1:8600/v1/feed?instrument=CH-A-SPOT"
    )
    assert (
        Client("https://gcx.example/api/").feed_url("A B") == "wss://gcx.example/api/v1/feed?instrument=A+B"
    )


@contextmanager
def ws_server(
    handler: Callable[[ServerConnection], None],
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
) -> Iterator[tuple[str, list[str]]]:
    """A real WebSocket server on loopback; yields its http URL and the request paths it saw."""
    paths: list[str] = []

    def wrapped(ws: ServerConnection) -> None:
        assert ws.request is not None
        paths.append(ws.request.path)
        handler(ws)

    server = serve(wrapped, "127.0.0.1", 0, process_request=process_request)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", paths
    finally:
        server.shutdown()
        thread.join(5)


def _snapshot(seq: int) -> dict[str, Any]:
    return {"type": "l2snapshot", "seq": seq, "instrument": "CH-A-SPOT", "bids": [[2000, 5]], "asks": []}


def _trade(seq: int) -> dict[str, Any]:
    return {
        "type": "trade",
        "seq": seq,
        "instrument": "CH-A-SPOT",
        "price": 2000,
        "qty": 1,
        "aggressor": "sell",
    }


def _sender(
    *messages: dict[str, Any], close: tuple[int, str] = (1000, "")
) -> Callable[[ServerConnection], None]:
    def handler(ws: ServerConnection) -> None:
        for m in messages:
            ws.send(json.dumps(m))
        ws.close(*close)

    return handler


def test_feed_yields_the_snapshot_then_updates_and_ends_on_a_normal_close() -> None:
    messages = [
        _snapshot(5),
        _trade(6),
        {"type": "l2update", "seq": 7, "instrument": "CH-A-SPOT", "changes": []},
    ]
    with ws_server(_sender(*messages)) as (url, paths), Client(url) as client:
        assert list(client.feed("CH-A-SPOT")) == messages
    assert paths == ["/v1/feed?instrument=CH-A-SPOT"]


def test_feed_raises_on_a_seq_gap() -> None:
    with ws_server(_sender(_snapshot(5), _trade(6), _trade(8))) as (url, _), Client(url) as client:
        feed = client.feed("CH-A-SPOT")
        assert [next(feed)["seq"], next(feed)["seq"]] == [5, 6]
        with pytest.raises(FeedGap, match="expected seq 7, got 8") as gap:
            next(feed)
    # one SdkError for every SDK failure, and still the feed rule's own error
    assert isinstance(gap.value, SdkError) and isinstance(gap.value, FeedGapError)
    assert (gap.value.expected, gap.value.got) == (7, 8)
    with ws_server(_sender(_snapshot(5), _trade(8))) as (url, _), Client(url) as client:
        assert [m["seq"] for m in client.feed("CH-A-SPOT", check_seq=False)] == [5, 8]


def test_feed_closed_for_a_slow_subscriber_raises_feed_closed() -> None:
    with ws_server(_sender(_snapshot(1), close=(1013, "too slow"))) as (url, _), Client(url) as client:
        feed = client.feed("CH-A-SPOT")
        next(feed)
        with pytest.raises(FeedClosed, match=r"code 1013: too slow") as info:
            next(feed)
    assert info.value.code == 1013


def test_a_refused_feed_handshake_raises_api_error() -> None:
    def refuse(ws: ServerConnection, request: Request) -> Response:
        return ws.respond(404, '{"error": "unknown_instrument", "message": "no instrument CH-Z"}')

    with ws_server(_sender(), refuse) as (url, _), Client(url) as client, pytest.raises(ApiError) as info:
        next(client.feed("CH-Z"))
    assert (info.value.status, info.value.code, info.value.message) == (
        404,
        "unknown_instrument",
        "no instrument CH-Z",
    )


def test_an_error_message_on_the_feed_raises_api_error_with_the_documented_status() -> None:
    error = {"type": "error", "error": "unknown_instrument", "message": "no instrument 'CH-Z'"}
    with (
        ws_server(_sender(error, close=(1008, ""))) as (url, _),
        Client(url) as client,
        pytest.raises(ApiError) as info,
    ):
        next(client.feed("CH-Z"))
    assert (info.value.status, info.value.code, info.value.message) == (
        404,
        "unknown_instrument",
        "no instrument 'CH-Z'",
    )


def test_an_error_message_on_the_feed_keeps_its_own_status() -> None:
    error = {"error": "too_many", "message": "slow down", "status": 429}
    with ws_server(_sender(error)) as (url, _), Client(url) as client, pytest.raises(ApiError) as info:
        next(client.feed("CH-Z"))
    assert (info.value.status, info.value.code) == (429, "too_many")


def test_an_unreachable_feed_raises_api_unreachable() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with (
        Client(url) as client,
        pytest.raises(ApiUnreachable, match=f"ws://127.0.0.1:{url.rsplit(':', 1)[1]}/v1/feed"),
    ):
        next(client.feed("CH-A-SPOT"))


def test_closing_the_feed_generator_closes_the_connection() -> None:
    closed = threading.Event()

    def handler(ws: ServerConnection) -> None:
        ws.send(json.dumps(_snapshot(1)))
        for _ in ws:  # until the client closes
            pass
        closed.set()

    with ws_server(handler) as (url, _), Client(url) as client:
        feed = client.feed("CH-A-SPOT")
        assert next(feed)["type"] == "l2snapshot"
        feed.close()
        assert closed.wait(5)
