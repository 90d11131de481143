"""The synchronous exchange client: one keep-alive HTTP connection pool, a signer and a nonce clock.

:class:`Client` maps each route of ``docs/exchange-api.md`` to a method. Public reads need no
key; order entry and private reads sign with the client's :class:`~gcx.keys.ParticipantKey`
for the EIP-712 domain that ``GET /v1/exchange`` names (fetched once, then cached). Every
failure is a :class:`~gcx.sdk.errors.SdkError`; no httpx or websockets exception escapes.

Not meant for concurrent order entry from several threads: nonces are handed out in call
order, and two requests racing on the wire can arrive out of it (``replayed_nonce``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.sync.client import connect

from gcx import __version__
from gcx.feed import FeedError, FeedGapError, FeedSequence
from gcx.orders import Domain, nonce_clock, sign_cancel, sign_order, sign_read, sign_replace

from .endpoint import normalize_api_url
from .errors import CODE_STATUS, ApiError, ApiUnreachable, FeedClosed, FeedGap, InvalidRequest
from .messages import (
    ReadTokenCache,
    StrictCounter,
    cancel_message,
    order_message,
    replace_message,
)

if TYPE_CHECKING:
    from gcx.keys import ParticipantKey

__all__ = ["Client"]

FEED_MAX_MESSAGE: Final = 16 * 1024 * 1024
_SEQUENCED: Final = frozenset({"l2snapshot", "l2update", "trade"})
_ORDER_PATHS: Final = {"place": "/v1/orders", "cancel": "/v1/orders/cancel", "replace": "/v1/orders/replace"}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Client:
    """A client of one exchange API, e.g. ``Client("http://127.0.0.1:8600", key)``.

    ``key`` signs orders, cancels, replaces and the private-read token; leave it ``None`` for
    public reads only. ``timeout`` bounds each request (and the feed's opening handshake), in
    seconds. ``transport`` replaces httpx's network transport (tests); ``clock`` gives Unix
    seconds (order expiries, read tokens). Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        api_url: str,
        key: ParticipantKey | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = normalize_api_url(api_url)
        self.key = key
        self.timeout = timeout
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"gcx-sdk/{__version__}"},
        )
        self._domain: Domain | None = None
        self._nonces = StrictCounter(nonce_clock)  # gcx.orders.next_nonce's rule, µs
        self._order_ids = StrictCounter(_now_ms)
        self._reads: ReadTokenCache | None = None
        if key is not None:
            self._reads = ReadTokenCache(key.address, self._sign_read)

    # ------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the HTTP connections (feeds close when their generator does)."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = self.key.address if self.key is not None else "no key"
        return f"Client({self.api_url!r}, {who})"

    # ---------------------------------------------------------------------------------- plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one request; the decoded JSON object of a 2xx answer, else :class:`ApiError`."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=query, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise ApiUnreachable(self.api_url, _describe(exc)) from None
        status = response.status_code
        if not 200 <= status < 300:
            raise ApiError.from_answer(status, response.text)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ApiError(status, "invalid_response", f"{method} {path}: the answer is not a JSON object")
        return data

    @staticmethod
    def _field(answer: dict[str, Any], name: str, path: str) -> list[Any]:
        value = answer.get(name)
        if not isinstance(value, list):
            raise ApiError(200, "invalid_response", f"{path}: the answer has no {name!r} list", answer)
        return value

    def _require_key(self) -> ParticipantKey:
        if self.key is None:
            raise InvalidRequest("this client has no key; order entry and private reads need one")
        return self.key

    @property
    def domain(self) -> Domain:
        """The exchange's EIP-712 domain (from :meth:`exchange_info`, fetched once)."""
        if self._domain is None:
            self.exchange_info()
        assert self._domain is not None
        return self._domain

    def _sign_read(self, message: dict[str, Any]) -> str:
        return sign_read(message, self._require_key().private_key, self.domain)

    def _private_get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._require_key()
        assert self._reads is not None
        token = self._reads.token(self._clock())
        try:
            return self._request("GET", path, params=params, headers=token.headers())
        except ApiError as exc:
            if exc.status == 401:
                self._reads.clear()  # sign a new token next time (expired, or the domain changed)
            raise

    # ----------------------------------------------------------------------------- public reads

    def exchange_info(self) -> dict[str, Any]:
        """``GET /v1/exchange``: the EIP-712 ``domain``, ``last_seq``, ``state_hash``,
        ``snapshot_seq``, ``engine`` (the matching engine's build). Caches the domain for signing."""
        info = self._request("GET", "/v1/exchange")
        self._domain = Domain.from_dict(info.get("domain"))
        return info

    def instruments(self) -> list[dict[str, Any]]:
        """``GET /v1/instruments``: the instruments (``symbol``, ``kind``, ``tick_size`` …)."""
        return self._field(self._request("GET", "/v1/instruments"), "instruments", "/v1/instruments")

    def book(self, symbol: str, depth: int | None = None) -> dict[str, Any]:
        """``GET /v1/book/{symbol}``: an ``l2snapshot`` (``seq``, ``bids``/``asks`` as
        ``[price, qty]`` pairs, best first), ``depth`` levels per side (all when None)."""
        return self._request("GET", f"/v1/book/{_path(symbol)}", params={"depth": depth})

    def trades(self, symbol: str, limit: int | None = None) -> list[dict[str, Any]]:
        """``GET /v1/trades/{symbol}``: the latest trade messages, oldest first."""
        answer = self._request("GET", f"/v1/trades/{_path(symbol)}", params={"limit": limit})
        return self._field(answer, "trades", "/v1/trades")

    def candles(self, symbol: str, interval: int = 60, since: int | None = None) -> list[list[int]]:
        """``GET /v1/candles/{symbol}``: ``[start_s, open, high, low, close, volume]`` rows of
        ``interval`` seconds (60, 300 or 3600), from Unix second ``since`` when given."""
        answer = self._request(
            "GET", f"/v1/candles/{_path(symbol)}", params={"interval": interval, "since": since}
        )
        return self._field(answer, "candles", "/v1/candles")

    # ---------------------------------------------------------------------------- order entry

    def place(
        self,
        symbol: str,
        side: str,
        qty: int,
        price: int | None = None,
        order_type: str = "gtc",
        client_order_id: int | None = None,
        expiry_s: int = 60,
    ) -> dict[str, Any]:
        """``POST /v1/orders``: place an order; the answer's ``status``, ``order`` and ``fills``.

        ``side`` ``"buy"``/``"sell"``; ``qty`` in lots; ``price`` in ticks (required unless
        ``order_type`` is ``"market"``); ``order_type`` ``gtc``, ``ioc``, ``fok``, ``post_only``
        or ``market``. ``client_order_id`` names the order for cancels and replaces (chosen
        from a clock-seeded counter when None; the answer's ``order.client_order_id`` has it).
        The signature may be submitted for ``expiry_s`` seconds.
        """
        key = self._require_key()
        if isinstance(expiry_s, bool) or not isinstance(expiry_s, int) or expiry_s <= 0:
            raise InvalidRequest(f"expiry_s must be a positive integer, not {expiry_s!r}")
        message = order_message(
            account=key.address,
            instrument=symbol,
            side=side,
            qty=qty,
            price=price,
            order_type=order_type,
            client_order_id=self._order_ids.next() if client_order_id is None else client_order_id,
            nonce=self._nonces.next(),
            expiry=int(self._clock()) + expiry_s,
        )
        signature = sign_order(message, key.private_key, self.domain)
        return self._submit_signed("place", message, signature)

    def cancel(self, symbol: str, client_order_id: int) -> dict[str, Any]:
        """``POST /v1/orders/cancel``: cancel the open order ``client_order_id`` on ``symbol``."""
        key = self._require_key()
        message = cancel_message(
            account=key.address, instrument=symbol, client_order_id=client_order_id, nonce=self._nonces.next()
        )
        signature = sign_cancel(message, key.private_key, self.domain)
        return self._submit_signed("cancel", message, signature)

    def replace(self, symbol: str, client_order_id: int, price: int, qty: int) -> dict[str, Any]:
        """``POST /v1/orders/replace``: give an open order a new price (ticks) and quantity
        (lots); the answer says whether it ``kept_priority`` and lists any ``fills``."""
        key = self._require_key()
        message = replace_message(
            account=key.address,
            instrument=symbol,
            client_order_id=client_order_id,
            price=price,
            qty=qty,
            nonce=self._nonces.next(),
        )
        signature = sign_replace(message, key.private_key, self.domain)
        return self._submit_signed("replace", message, signature)

    def submit(
        self,
        op: str,
        message: Mapping[str, Any],
        signature: str,
        domain: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send an order-entry message signed elsewhere (a wallet's ``eth_signTypedData_v4``,
        a hardware signer): ``op`` is ``"place"``, ``"cancel"`` or ``"replace"``, ``message``
        the ``Order`` / ``CancelOrder`` / ``ReplaceOrder`` fields and ``signature`` its ``0x``
        signature (``v`` 27/28 or 0/1). ``domain``, the EIP-712 domain it was signed for, is
        sent along when given, so a signature for another deployment is refused as
        ``wrong_domain`` (then the cached domain is dropped and fetched again on next use).
        Nothing else is checked here; the exchange's answer is returned or raised."""
        path = _ORDER_PATHS.get(op)
        if path is None:
            raise InvalidRequest(f"op must be one of {', '.join(_ORDER_PATHS)}, not {op!r}")
        body: dict[str, Any] = {"message": dict(message), "signature": signature}
        if domain is not None:
            body["domain"] = dict(domain)
        try:
            return self._request("POST", path, body=body)
        except ApiError as exc:
            if exc.code == "wrong_domain":
                self._domain = None  # the exchange was redeployed: ask it for its domain again
                if self._reads is not None:
                    self._reads.clear()
            raise

    def _submit_signed(self, op: str, message: Mapping[str, Any], signature: str) -> dict[str, Any]:
        """Send a message this client signed, naming the domain it signed for."""
        return self.submit(op, message, signature, self.domain.to_dict())

    # ---------------------------------------------------------------------------- private reads

    def open_orders(self) -> list[dict[str, Any]]:
        """``GET /v1/orders``: this account's open orders."""
        return self._field(self._private_get("/v1/orders"), "orders", "/v1/orders")

    def fills(self, limit: int | None = None) -> list[dict[str, Any]]:
        """``GET /v1/fills``: this account's fills, oldest first (the latest ``limit``)."""
        return self._field(self._private_get("/v1/fills", {"limit": limit}), "fills", "/v1/fills")

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """``GET /v1/history``: this account's order events (``accepted``, ``rejected``,
        ``trade``, ``cancelled``, ``replaced``), oldest first."""
        return self._field(self._private_get("/v1/history", {"limit": limit}), "history", "/v1/history")

    # ------------------------------------------------------------------------------------- feed

    def feed_url(self, symbol: str) -> str:
        """The WebSocket URL of ``symbol``'s market-data feed."""
        parts = urlsplit(self.api_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/") + "/v1/feed"
        return urlunsplit((scheme, parts.netloc, path, urlencode({"instrument": symbol}), ""))

    def feed(self, symbol: str, *, check_seq: bool = True) -> Generator[dict[str, Any], None, None]:
        """The market-data feed of ``symbol``: a generator of decoded messages, an
        ``l2snapshot`` first, then ``trade`` and ``l2update`` messages.

        Connects on the first ``next()``; closing the generator (or leaving a ``for`` loop
        over it) closes the connection. It ends when the server closes normally, and raises
        :class:`FeedClosed` when it closes with an error (1013: this subscriber was too slow).
        With ``check_seq``, the feed's sequence rule (:class:`gcx.feed.FeedSequence`) is
        enforced: an update before the snapshot, or one whose ``seq`` is not the previous one
        plus one, raises :class:`~gcx.sdk.errors.FeedGap` (a :class:`~gcx.feed.FeedGapError`): resubscribe.
        """
        url = self.feed_url(symbol)
        try:
            ws = connect(
                url,
                open_timeout=self.timeout,
                max_size=FEED_MAX_MESSAGE,
                user_agent_header=f"gcx-sdk/{__version__}",
            )
        except InvalidStatus as exc:
            body = exc.response.body or b""
            raise ApiError.from_answer(exc.response.status_code, body.decode("utf-8", "replace")) from None
        except InvalidURI as exc:
            raise InvalidRequest(f"invalid feed URL {url}: {exc}") from None
        except (OSError, WebSocketException) as exc:  # refused, timed out, handshake failed
            raise ApiUnreachable(url, _describe(exc)) from None
        with ws:
            try:
                sequence = FeedSequence()
                while True:
                    try:
                        raw = ws.recv()
                    except ConnectionClosedOK:
                        return
                    except ConnectionClosedError as exc:
                        rcvd = exc.rcvd
                        raise FeedClosed(
                            rcvd.code if rcvd else None, rcvd.reason if rcvd else "connection lost"
                        ) from None
                    message = _decode_feed(raw, url)
                    if check_seq:
                        _check_seq(sequence, message, url)
                    yield message
            finally:
                ws.close()  # a normal closure (1000), also when the caller stops iterating


def _path(symbol: str) -> str:
    """``symbol`` as one URL path segment."""
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRequest(f"instrument must be a non-empty symbol such as 'CH-A-SPOT', not {symbol!r}")
    return quote(symbol, safe="")


def _decode_feed(raw: str | bytes, url: str) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except ValueError:
        raise ApiError(200, "invalid_response", f"{url}: a feed message is not JSON") from None
    if not isinstance(message, dict):
        raise ApiError(200, "invalid_response", f"{url}: a feed message is not a JSON object")
    if "error" in message:  # e.g. {"type": "error", "error": "unknown_instrument", "message": …}
        code, status = str(message["error"]), message.get("status")
        if not isinstance(status, int) or isinstance(status, bool):
            status = CODE_STATUS.get(code, 400)
        raise ApiError(status, code, str(message.get("message", "")), message)
    return message


def _check_seq(sequence: FeedSequence, message: dict[str, Any], url: str) -> None:
    """Hold a sequenced message to the feed's rule (other types, if the server adds some, pass)."""
    if message.get("type") not in _SEQUENCED:
        return
    try:
        sequence.check(message)
    except FeedGapError as exc:
        raise FeedGap(str(exc), exc.expected, exc.got) from None
    except FeedError as exc:  # a seq that is not a non-negative integer
        raise ApiError(200, "invalid_response", f"{url}: {exc}", message) from None
