"""Protocol and API edge cases of the exchange's HTTP and WebSocket API (issue 11, items 8-11),
against the real app served by hypercorn on loopback with a real SQLite journal: integers in
headers and queries (fuzzed: never a 5xx), the claimed EIP-712 domain (``wrong_domain``), the
signature's ``v`` and ``s``, integer fields sent as decimal strings, and the OpenAPI document."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio
from eth_account import Account
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from coordinator.exchange import verifier_pool
from coordinator.exchange.core.entry import decode_entry, entry_message
from coordinator.exchange.journal import Journal
from coordinator.exchange.service import ExchangeService, open_exchange
from coordinator.http_app import create_app
from coordinator.http_server import serve_api
from coordinator.registry import Registry
from coordinator.registry.store import RegistryStore
from gcx.orders import TYPES, Domain, HighS, sign_cancel, sign_order, sign_read, verify_typed
from gcx.reference import load_profile
from gcx.settings import ExchangeSettings, Settings
from gcx.signing import _N

SYM = "CH-A-SPOT"  # reference 2000 ticks, band 500


@dataclass(frozen=True, slots=True)
class Api:
    url: str
    service: ExchangeService
    journal: Path

    @property
    def domain(self) -> Domain:
        return self.service.domain


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The coordinator's app with the exchange, served in a trio thread for the whole module."""
    tmp = tmp_path_factory.mktemp("api-edges")
    journal = tmp / "exchange.sqlite"
    settings = Settings(exchange=ExchangeSettings(journal=journal, verify_workers=0))
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        service = open_exchange(settings)
        registry = Registry(RegistryStore(tmp / "registry.sqlite"), load_profile())
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                app = create_app(registry, info={}, exchange=service)
                port = await nursery.start(serve_api, app, "127.0.0.1", 0)
                stop = trio.Event()
                box.update(port=port, service=service, stop=stop, token=trio.lowlevel.current_trio_token())
                ready.set()
                await stop.wait()
                nursery.cancel_scope.cancel()
        finally:
            registry.store.close()
            service.journal.close()
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), name="exchange-api", daemon=True)
    thread.start()
    assert ready.wait(60) and "port" in box, "the exchange did not start"
    try:
        yield Api(f"http://127.0.0.1:{box['port']}", box["service"], journal)
    finally:
        trio.from_thread.run_sync(box["stop"].set, trio_token=box["token"])
        thread.join(30)


@pytest.fixture(scope="module")
def http(api: Api) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


class Trader:
    """A fresh account signing for ``domain`` with nonces 1, 2, 3 …"""

    def __init__(self, domain: Domain) -> None:
        self.acct = Account.create()
        self.domain = domain
        self.nonce = 0

    @property
    def address(self) -> str:
        return str(self.acct.address)

    def order_message(self, coid: int, price: int = 2000, side: int = 1) -> dict[str, Any]:
        self.nonce += 1
        return {
            "account": self.address,
            "instrument": SYM,
            "side": side,
            "orderType": 0,
            "price": price,
            "qty": 1,
            "clientOrderId": coid,
            "nonce": self.nonce,
            "expiry": int(time.time()) + 60,
        }

    def order(self, coid: int, price: int = 2000, side: int = 1) -> dict[str, Any]:
        m = self.order_message(coid, price, side)
        return {"message": m, "signature": sign_order(m, self.acct.key, self.domain)}

    def cancel(self, coid: int | str) -> dict[str, Any]:
        self.nonce += 1
        m = {"account": self.address, "instrument": SYM, "clientOrderId": coid, "nonce": self.nonce}
        return {"message": m, "signature": sign_cancel(m, self.acct.key, self.domain)}

    def read_headers(self) -> dict[str, str]:
        exp = int(time.time()) + 600
        sig = sign_read({"account": self.address, "expiry": exp}, self.acct.key, self.domain)
        return {"X-GCX-Account": self.address, "X-GCX-Expiry": str(exp), "X-GCX-Signature": sig}


def _error(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.status_code, response.json()["error"]


# ---------------------------------------------------- item 8: integers in headers and queries


PRIVATE_READS = ("/v1/orders", "/v1/fills", "/v1/history")


@pytest.mark.parametrize("path", PRIVATE_READS)
@pytest.mark.parametrize(
    "expiry", ["²".encode("latin-1"), "٣".encode(), "１".encode(), b"+5", b"1_0", b"9" * 21]
)
def test_an_expiry_header_that_is_not_ascii_digits_is_401_not_500(
    api: Api, http: httpx.Client, path: str, expiry: bytes
) -> None:
    headers = Trader(api.domain).read_headers()
    headers.pop("X-GCX-Expiry")
    raw = [(k.encode(), v.encode()) for k, v in headers.items()] + [(b"X-GCX-Expiry", expiry)]
    assert _error(http.get(path, headers=raw)) == (401, "unauthenticated")
    assert http.get(path, headers=Trader(api.domain).read_headers()).status_code == 200  # control


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (f"/v1/book/{SYM}", "depth"),
        (f"/v1/trades/{SYM}", "limit"),
        ("/v1/fills", "limit"),
        (f"/v1/candles/{SYM}", "interval"),
        (f"/v1/candles/{SYM}", "since"),
    ],
)
def test_query_integers_are_ascii_digits_only(api: Api, http: httpx.Client, path: str, name: str) -> None:
    headers = Trader(api.domain).read_headers()
    good = "60" if name == "interval" else "5"
    assert http.get(path, params={name: good}, headers=headers).status_code == 200
    for bad in ("²", "٣", "１", " 5", "5 ", "+5", "-5", "5.0", "1_0", "0x5", "", "9" * 21):
        assert _error(http.get(path, params={name: bad}, headers=headers)) == (422, "invalid_request"), bad


_HEADER_BYTES = [b for b in range(0x21, 0x100) if b != 0x7F]
_header_value = st.one_of(
    # digits and digit-like characters: Latin-1 ones as one byte (how a server decodes them), others UTF-8
    st.text(alphabet="0123456789²³¹¼½", min_size=1, max_size=25).map(lambda t: t.encode("latin-1")),
    st.text(alphabet="0123456789٣١１߀०", min_size=1, max_size=25).map(lambda t: t.encode()),
    st.lists(st.sampled_from(_HEADER_BYTES), min_size=1, max_size=40).map(bytes),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: str(n).encode()),
)
_query_value = st.one_of(
    st.text(max_size=25),
    st.text(alphabet="0123456789²٣１ +-_.e", max_size=25),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
_ROUTES = [
    ("GET", path) for path in (*PRIVATE_READS, f"/v1/book/{SYM}", f"/v1/trades/{SYM}", f"/v1/candles/{SYM}")
] + [
    ("GET", "/v1/exchange"),
    ("GET", "/v1/instruments"),
    ("POST", "/v1/orders"),
    ("POST", "/v1/orders/cancel"),
    ("POST", "/v1/orders/replace"),
]


@functools.cache
def _read_token(domain: Domain) -> dict[str, bytes]:
    return {k: v.encode() for k, v in Trader(domain).read_headers().items()}


_HEADER_NAMES = ("X-GCX-Account", "X-GCX-Expiry", "X-GCX-Signature", "Content-Type", "Accept", "X-Other")
_QUERY_NAMES = ("depth", "limit", "interval", "since", "instrument", "other")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(_ROUTES),
    token=st.booleans(),
    headers=st.fixed_dictionaries({}, optional=dict.fromkeys(_HEADER_NAMES, _header_value)),
    query=st.fixed_dictionaries({}, optional=dict.fromkeys(_QUERY_NAMES, _query_value)),
    symbol=st.none() | st.text(min_size=1, max_size=60),
)
@example(  # the reported 500: str.isdigit accepts "²", int() then raises
    route=("GET", "/v1/fills"),
    token=False,
    headers={
        "X-GCX-Account": b"0x" + b"ab" * 20,
        "X-GCX-Expiry": "²".encode("latin-1"),
        "X-GCX-Signature": b"0x",
    },
    query={},
    symbol=None,
)
def test_no_header_or_query_parameter_gets_a_5xx(
    api: Api,
    http: httpx.Client,
    route: tuple[str, str],
    token: bool,
    headers: dict[str, bytes],
    query: dict[str, str],
    symbol: str | None,
) -> None:
    """Every header and query parameter, alone or on top of a valid read token (so a fuzzed
    value gets past the checks of the others), never makes the exchange answer 5xx."""
    method, path = route
    if symbol is not None and path.endswith(SYM):
        path = path.removesuffix(SYM) + quote(symbol, safe="")
    sent = {**(_read_token(api.domain) if token else {}), **headers}
    raw = [(name.encode(), value) for name, value in sent.items()]
    body = b'{"message": {"qty": 1}, "signature": "0x00"}' if method == "POST" else None
    response = http.request(method, path, params=query, headers=raw, content=body)
    assert response.status_code < 500, (route, sent, query, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)


# ------------------------------------------------------------ item 9: the claimed EIP-712 domain


def test_a_request_that_names_another_domain_is_401_wrong_domain(api: Api, http: httpx.Client) -> None:
    alice = Trader(api.domain)
    other = Domain(1, "0x" + "12" * 20)
    for domain in (
        other.to_dict(),
        {**api.domain.to_dict(), "chainId": api.domain.chain_id + 1},
        {**api.domain.to_dict(), "name": "Other Exchange"},
        {**api.domain.to_dict(), "version": "2"},
    ):
        body = {**alice.order(coid=1), "domain": domain}
        assert _error(http.post("/v1/orders", json=body)) == (401, "wrong_domain"), domain
    not_a_domain = {**alice.order(coid=1), "domain": {"chainId": 1}}
    assert _error(http.post("/v1/orders", json=not_a_domain)) == (400, "malformed")
    # a signature made for another deployment, sent without its domain: only the signature tells
    stranger = Trader(other)
    assert _error(http.post("/v1/orders", json=stranger.order(coid=1))) == (401, "bad_signature")
    assert _error(http.post("/v1/orders", json={**stranger.order(coid=1), "domain": other.to_dict()})) == (
        401,
        "wrong_domain",
    )
    # the exchange's own domain, in its wire form (chainId as a string too), is accepted
    ours = {**api.domain.to_dict(), "chainId": str(api.domain.chain_id)}
    assert http.post("/v1/orders", json={**alice.order(coid=2), "domain": ours}).status_code == 200
    assert http.post("/v1/orders/cancel", json={**alice.cancel(2), "domain": api.domain.to_dict()}).json()[
        "status"
    ] == ("cancelled")


def test_a_websocket_frame_that_names_another_domain_is_401_wrong_domain(api: Api) -> None:
    alice = Trader(api.domain)
    other = Domain(1, "0x" + "12" * 20).to_dict()
    with connect(api.url.replace("http", "ws") + "/v1/ws/orders", open_timeout=10) as ws:
        ws.send(json.dumps({"id": 1, "op": "place", **alice.order(coid=1), "domain": other}))
        answer = json.loads(ws.recv(timeout=10))
        assert (answer["id"], answer["status"], answer["body"]["error"]) == (1, 401, "wrong_domain")
        ws.send(
            json.dumps(
                [
                    {"id": 2, "op": "place", **alice.order(coid=2), "domain": other},
                    {"id": 3, "op": "place", **alice.order(coid=3), "domain": api.domain.to_dict()},
                ]
            )
        )
        answers = json.loads(ws.recv(timeout=10))
        assert [(a["id"], a["status"]) for a in answers] == [(2, 401), (3, 200)]
        assert answers[0]["body"]["error"] == "wrong_domain"


# ----------------------------------------------------------- item 11: signatures and integers


def _with_v(signature: str, v: int) -> str:
    return signature[:-2] + f"{v:02x}"


def test_v_0_or_1_is_accepted_like_27_or_28_and_journaled_as_27_or_28(api: Api, http: httpx.Client) -> None:
    alice = Trader(api.domain)
    placed = []
    for coid in (11, 12, 13, 14):
        body = alice.order(coid=coid, price=2400 + coid)
        v = int(body["signature"][-2:], 16)
        body["signature"] = _with_v(body["signature"], v - 27)  # what a hardware signer returns
        answer = http.post("/v1/orders", json=body)
        assert (answer.status_code, answer.json()["status"]) == (200, "resting"), answer.text
        placed.append(answer.json()["seq"])
    wrong = alice.order(coid=15, price=2415)
    wrong["signature"] = _with_v(wrong["signature"], 28 - int(wrong["signature"][-2:], 16))  # other id
    assert _error(http.post("/v1/orders", json=wrong)) == (401, "bad_signature")
    with Journal(api.journal) as journal:
        entries = {seq: decode_entry(data) for seq, data in journal.read_from(placed[0])}
    for seq in placed:
        entry = entries[seq]
        assert entry.signature[64] in (27, 28)  # one form in the journal, whatever the client sent
        kind, message = entry_message(entry)
        assert verify_typed(kind, message, "0x" + entry.signature.hex(), api.domain, now=0) == alice.address


def test_a_high_s_signature_is_401_high_s(api: Api, http: httpx.Client) -> None:
    alice = Trader(api.domain)
    body = alice.order(coid=21, price=2421)
    raw = bytes.fromhex(body["signature"][2:])
    s, v = int.from_bytes(raw[32:64], "big"), raw[64]
    body["signature"] = "0x" + (raw[:32] + (_N - s).to_bytes(32, "big") + bytes([55 - v])).hex()
    assert _error(http.post("/v1/orders", json=body)) == (401, "high_s")


def test_the_signature_workers_give_the_same_verdicts(api: Api) -> None:
    """Batches are checked in worker processes (verifier_pool): their verdicts keep the codes."""
    alice = Trader(api.domain)
    zero_based = alice.order(coid=31)
    zero_based["signature"] = _with_v(zero_based["signature"], int(zero_based["signature"][-2:], 16) - 27)
    high = alice.order(coid=32)
    raw = bytes.fromhex(high["signature"][2:])
    s = int.from_bytes(raw[32:64], "big")
    high["signature"] = "0x" + (raw[:32] + (_N - s).to_bytes(32, "big") + bytes([55 - raw[64]])).hex()
    text = alice.order_message(coid=33)
    text_body = {
        "message": {**text, "nonce": str(text["nonce"])},
        "signature": sign_order(text, alice.acct.key, api.domain),
    }
    requests = [("Order", b["message"], b["signature"]) for b in (zero_based, high, text_body)]
    verdicts = verifier_pool._check(requests, api.domain, int(time.time()))
    assert verdicts[0] == ("ok", alice.address) and verdicts[2] == ("ok", alice.address)
    assert verdicts[1][:2] == ("error", "high_s")
    assert type(verifier_pool.verdict_error(verdicts[1])) is HighS


def test_uint64_fields_may_be_decimal_strings(api: Api, http: httpx.Client) -> None:
    """Above 2**53 a JavaScript number is not exact: the field's decimal string is accepted."""
    alice = Trader(api.domain)
    top = 2**64 - 1
    message = alice.order_message(coid=top, price=2431)
    as_text = {
        k: str(v) if k in ("price", "qty", "clientOrderId", "nonce", "expiry") else v
        for k, v in message.items()
    }
    sig = sign_order(as_text, alice.acct.key, api.domain)
    assert sig == sign_order(message, alice.acct.key, api.domain)  # the same signed values
    answer = http.post("/v1/orders", json={"message": as_text, "signature": sig})
    assert answer.status_code == 200, answer.text
    assert answer.json()["order"]["client_order_id"] == top and answer.json()["order"]["price"] == 2431
    orders = http.get("/v1/orders", headers=alice.read_headers()).json()["orders"]
    assert [o["client_order_id"] for o in orders] == [top]
    cancelled = http.post("/v1/orders/cancel", json=alice.cancel(str(top)))
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    for bad in ("+5", " 5", "5 ", "-5", "5.0", "1_0", "0x5", "²", "١", "", str(2**64), "9" * 21):
        m = {**message, "nonce": alice.nonce + 1, "clientOrderId": bad}
        body = {"message": m, "signature": "0x" + "11" * 65}
        assert _error(http.post("/v1/orders", json=body)) == (400, "malformed"), bad


def test_the_openapi_document_lists_the_message_fields(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, model, kind in (
        ("/v1/orders", "OrderRequest", "Order"),
        ("/v1/orders/cancel", "CancelRequest", "CancelOrder"),
        ("/v1/orders/replace", "ReplaceRequest", "ReplaceOrder"),
    ):
        ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{model}"
        message = schemas[model]["properties"]["message"]
        fields = dict(TYPES[kind])
        assert set(message["properties"]) == set(fields) and set(message["required"]) == set(fields)
        assert message["additionalProperties"] is False
        for name, typ in fields.items():
            prop = message["properties"][name]
            if typ == "uint64":
                number, text = prop["oneOf"]
                assert (number["type"], number["minimum"], number["exclusiveMaximum"]) == (
                    "integer",
                    0,
                    2**64,
                )
                assert (text["type"], text["pattern"]) == ("string", "^[0-9]{1,20}$")
            elif typ == "address":
                assert prop["pattern"] == "^0x[0-9a-fA-F]{40}$"
            elif typ == "string":
                assert prop["type"] == "string"
        assert "domain" in schemas[model]["properties"]
        assert "v 27/28 or 0/1" in schemas[model]["properties"]["signature"]["description"]
    side = schemas["OrderRequest"]["properties"]["message"]["properties"]["side"]
    assert side["oneOf"][0]["enum"] == [0, 1] and side["oneOf"][1]["enum"] == ["0", "1"]
    limit = next(p for p in spec["paths"]["/v1/fills"]["get"]["parameters"] if p["name"] == "limit")
    assert {"type": "integer", "minimum": 1, "maximum": 10_000} in limit["schema"]["anyOf"]
