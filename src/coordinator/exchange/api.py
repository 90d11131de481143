"""The exchange's HTTP and WebSocket API, mounted on the coordinator's FastAPI app.

A thin adapter over :class:`~coordinator.exchange.service.ExchangeService` (docs/exchange-api.md
is the user's reference): order entry (``POST /v1/orders``, ``/v1/orders/cancel``,
``/v1/orders/replace`` and the WebSocket ``/v1/ws/orders``), private reads authenticated by a
signed ``ReadAccount`` token (``/v1/orders``, ``/v1/fills``, ``/v1/history``), public market
data (``/v1/book/{symbol}``, ``/v1/trades/{symbol}``, ``/v1/candles/{symbol}``, the WebSocket
feed ``/v1/feed``) and ``/v1/exchange`` / ``/v1/instruments``.

Every refusal is ``{"error": code, "message": text}`` with a 4xx status (:data:`AUTH_STATUS`,
:data:`REJECT_STATUS`); routes run on the server's trio thread, where the service lives. Every
integer read from text (headers, query parameters) is parsed by :func:`gcx.orders.parse_decimal`:
ASCII digits only, so no odd input reaches ``int()``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import OrderedDict
from enum import Enum
from typing import Annotated, Any, Final

import trio
from fastapi import Depends, FastAPI, Header, Path, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.websockets import WebSocketDisconnect

from gcx.errors import GCXError
from gcx.orders import AuthError, MessageKind, message_schema, parse_decimal, verify_typed

from .core.state import CANDLE_INTERVALS, Outcome
from .errors import AdmissionError
from .service import ExchangeService

__all__ = ["AUTH_STATUS", "REJECT_STATUS", "install_exchange", "outcome_answer"]

log = logging.getLogger("gcx.coordinator.exchange.api")

AUTH_STATUS: Final = {
    "malformed": 400,
    "bad_signature": 401,
    "high_s": 401,
    "expired": 401,
    "wrong_domain": 401,
    "replayed_nonce": 409,
}
REJECT_STATUS: Final = {
    "unknown_instrument": 404,
    "unknown_order": 404,
    "not_owner": 403,
    "duplicate_order_id": 409,
}
MAX_TOKEN_S: Final = 86_400 + 60
OPS: Final[dict[str, MessageKind]] = {"place": "Order", "cancel": "CancelOrder", "replace": "ReplaceOrder"}
WS_WINDOW: Final = 1024  # requests (or batches) in flight per order-entry WebSocket
MAX_BATCH: Final = 256  # requests in one order-entry frame


def _ascii_uint(value: object) -> object:
    """A query integer in ASCII digits only (pydantic alone takes ``" 5"``, ``"+5"``, ``"1_000"``)."""
    if isinstance(value, str):
        parsed = parse_decimal(value, 64)
        if parsed is None:
            raise ValueError("expected an unsigned integer in ASCII digits")
        return parsed
    return value


AsciiUint = BeforeValidator(_ascii_uint)
SymbolParam = Annotated[str, Path(min_length=1, max_length=48)]
LimitParam = Annotated[Annotated[int, Field(ge=1, le=10_000)] | None, AsciiUint, Query()]
AccountHeader = Annotated[str | None, Header(alias="X-GCX-Account")]
ExpiryHeader = Annotated[str | None, Header(alias="X-GCX-Expiry")]
SignatureHeader = Annotated[str | None, Header(alias="X-GCX-Signature")]


class SignedRequest(BaseModel):
    """An EIP-712 message (see docs/exchange-api.md for its fields) and its signature."""

    model_config = ConfigDict(extra="forbid")

    message: dict[str, Any] = Field(description="the signed fields (Order, CancelOrder or ReplaceOrder)")
    signature: str = Field(
        max_length=140,
        description="0x-hex 65-byte secp256k1 signature r ‖ s ‖ v: v 27/28 or 0/1, s low (EIP-2)",
    )
    domain: dict[str, Any] | None = Field(
        default=None,
        description="optional: the EIP-712 domain the message was signed for (name, version, chainId, "
        "verifyingContract, as GET /v1/exchange gives it); when it is not this exchange's the answer "
        "is 401 wrong_domain instead of bad_signature",
    )


class OrderRequest(SignedRequest):
    """A signed ``Order``."""

    message: dict[str, Any] = Field(description="the signed Order", json_schema_extra=message_schema("Order"))


class CancelRequest(SignedRequest):
    """A signed ``CancelOrder``."""

    message: dict[str, Any] = Field(
        description="the signed CancelOrder", json_schema_extra=message_schema("CancelOrder")
    )


class ReplaceRequest(SignedRequest):
    """A signed ``ReplaceOrder``."""

    message: dict[str, Any] = Field(
        description="the signed ReplaceOrder", json_schema_extra=message_schema("ReplaceOrder")
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def outcome_answer(outcome: Outcome, kind: MessageKind) -> tuple[int, dict[str, Any]]:
    """HTTP status and body of a journaled request's outcome."""
    if outcome.error is not None:
        status = REJECT_STATUS.get(outcome.error, 422)
        body: dict[str, Any] = {"error": outcome.error, "message": outcome.message, "seq": outcome.seq}
        if outcome.order is not None:
            body["order"] = outcome.order
        return status, body
    body = {"seq": outcome.seq, "status": outcome.status, "order": outcome.order}
    if kind != "CancelOrder":
        body["fills"] = outcome.fills
    if kind == "ReplaceOrder":
        body["kept_priority"] = outcome.kept_priority
    return 200, body


def _auth_answer(exc: AuthError) -> tuple[int, dict[str, Any]]:
    return AUTH_STATUS.get(exc.code, 400), {"error": exc.code, "message": str(exc)}


def domain_refusal(service: ExchangeService, domain: Any) -> tuple[int, dict[str, Any]] | None:
    """The answer refusing a request whose claimed ``domain`` (optional, None when absent) is not
    the exchange's: 401 ``wrong_domain`` (400 ``malformed`` if it is not domain data)."""
    if domain is None:
        return None
    try:
        service.domain.check(domain)
    except AuthError as exc:
        return _auth_answer(exc)
    return None


async def submit_answer(
    service: ExchangeService, kind: MessageKind, message: Any, signature: Any, domain: Any = None
) -> tuple[int, dict[str, Any]]:
    """Status and body of one order-entry request, whatever happens to it."""
    if not isinstance(message, dict) or not isinstance(signature, str):
        return 422, {"error": "invalid_request", "message": "expected {message: {...}, signature: '0x...'}"}
    if (refusal := domain_refusal(service, domain)) is not None:
        return refusal
    try:
        outcome = await service.submit(kind, message, signature)
    except AuthError as exc:
        return _auth_answer(exc)
    except AdmissionError as exc:
        return exc.status, {"error": exc.code, "message": str(exc)}
    return outcome_answer(outcome, kind)


class _Tokens:
    """Verified ``ReadAccount`` tokens, so a reused token costs a dict lookup, not a recovery."""

    def __init__(self, service: ExchangeService, size: int = 4096) -> None:
        self.service = service
        self.size = size
        self._ok: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()

    def account(self, account: str | None, expiry: str | None, signature: str | None) -> bytes:
        if not account or not expiry or not signature:
            raise _UnauthenticatedError("private reads need X-GCX-Account, X-GCX-Expiry and X-GCX-Signature")
        exp = parse_decimal(expiry, 64)
        if exp is None:
            raise _UnauthenticatedError("X-GCX-Expiry must be Unix seconds in ASCII digits")
        now = self.service.clock_ms() // 1000
        if exp > now + MAX_TOKEN_S:
            raise _UnauthenticatedError("the read token expires more than 24 hours from now")
        key = (account, exp, signature)
        address = self._ok.get(key)
        if address is not None and exp > now:
            return address
        verify_typed(
            "ReadAccount", {"account": account, "expiry": exp}, signature, self.service.domain, now=now
        )
        address = bytes.fromhex(account[2:])
        self._ok[key] = address
        if len(self._ok) > self.size:
            self._ok.popitem(last=False)
        return address


def _reader(
    request: Request,
    account: AccountHeader = None,
    expiry: ExpiryHeader = None,
    signature: SignatureHeader = None,
) -> tuple[str, bytes]:
    """The account a private read is for, proven by its ``ReadAccount`` token headers."""
    tokens: _Tokens = request.app.state.gcx_read_tokens
    try:
        return str(account), tokens.account(account, expiry, signature)
    except AuthError as exc:
        raise _UnauthenticatedError(str(exc), exc.code) from None


Reader = Annotated[tuple[str, bytes], Depends(_reader)]


class _UnauthenticatedError(Exception):
    def __init__(self, message: str, code: str = "unauthenticated") -> None:
        super().__init__(message)
        self.code = code


def install_exchange(app: FastAPI, service: ExchangeService) -> None:  # noqa: PLR0915 - the routes
    """Add the exchange routes to ``app`` (the coordinator's API)."""
    tokens = _Tokens(service)
    state = service.state
    tags: list[str | Enum] = ["exchange"]
    errors: dict[int | str, dict[str, Any]] = {
        code: {"description": text}
        for code, text in (
            (400, "malformed message"),
            (401, "bad signature, high s, expired, wrong domain"),
            (404, "unknown instrument or order"),
            (409, "replayed nonce, duplicate client order id"),
            (422, "invalid request or rejected by the book"),
            (503, "journal unavailable"),
        )
    }

    def _error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": code, "message": message})

    async def _refused_read(_: Request, exc: Exception) -> JSONResponse:
        code = getattr(exc, "code", "unauthenticated")
        return _error(AUTH_STATUS.get(code, 401), code, str(exc))

    app.add_exception_handler(_UnauthenticatedError, _refused_read)

    app.state.gcx_read_tokens = tokens

    def _instrument(symbol: str) -> JSONResponse | None:
        if symbol not in state.engines:
            return _error(404, "unknown_instrument", f"no instrument {symbol!r}")
        return None

    async def _post(kind: MessageKind, body: SignedRequest) -> JSONResponse:
        status, answer = await submit_answer(service, kind, body.message, body.signature, body.domain)
        return JSONResponse(status_code=status, content=answer)

    @app.post("/v1/orders", tags=tags, responses=errors)
    async def place(body: OrderRequest) -> JSONResponse:
        """Place a signed ``Order``; answers once it is journaled and matched."""
        return await _post("Order", body)

    @app.post("/v1/orders/cancel", tags=tags, responses=errors)
    async def cancel(body: CancelRequest) -> JSONResponse:
        """Cancel an open order named by its ``clientOrderId`` (a signed ``CancelOrder``)."""
        return await _post("CancelOrder", body)

    @app.post("/v1/orders/replace", tags=tags, responses=errors)
    async def replace(body: ReplaceRequest) -> JSONResponse:
        """Cancel-replace an open order to a new price and remaining quantity (``ReplaceOrder``)."""
        return await _post("ReplaceOrder", body)

    @app.get("/v1/exchange", tags=tags)
    async def exchange_info() -> dict[str, Any]:
        """The EIP-712 domain to sign for, the journal position and the state hash."""
        return service.info()

    @app.get("/v1/instruments", tags=tags)
    async def instruments() -> dict[str, Any]:
        """Every tradeable instrument with its tick, lot, band and size limits."""
        return {
            "instruments": [
                {"symbol": sym, **inst.model_dump(mode="json")} for sym, inst in state.instruments.items()
            ]
        }

    @app.get("/v1/book/{symbol}", tags=tags, responses=errors)
    async def book(symbol: SymbolParam, depth: LimitParam = None) -> Any:
        """L2 snapshot: levels of both sides, best first, with the feed ``seq`` it includes."""
        return _instrument(symbol) or state.publishers[symbol].snapshot(depth)

    @app.get("/v1/trades/{symbol}", tags=tags, responses=errors)
    async def trades(symbol: SymbolParam, limit: LimitParam = None) -> Any:
        """The most recent trades, oldest first."""
        if (err := _instrument(symbol)) is not None:
            return err
        items = list(state.trades[symbol])
        return {"instrument": symbol, "trades": items[-limit:] if limit else items}

    @app.get("/v1/candles/{symbol}", tags=tags, responses=errors)
    async def candles(
        symbol: SymbolParam,
        interval: Annotated[int, AsciiUint, Query(description=f"seconds, one of {CANDLE_INTERVALS}")] = 60,
        since: Annotated[
            Annotated[int, Field(ge=0)] | None, AsciiUint, Query(description="unix seconds")
        ] = None,
    ) -> Any:
        """OHLCV candles ``[start, open, high, low, close, volume]`` of trades, oldest first."""
        if (err := _instrument(symbol)) is not None:
            return err
        if interval not in CANDLE_INTERVALS:
            return _error(422, "invalid_request", f"interval must be one of {list(CANDLE_INTERVALS)}")
        series = state.candles[symbol][interval].candles(since)
        return {"instrument": symbol, "interval": interval, "candles": series}

    @app.get("/v1/orders", tags=tags, responses=errors)
    async def open_orders(who: Reader) -> Any:
        """The authenticated account's open orders."""
        return {"account": who[0], "orders": state.open_orders(who[1])}

    def _book_of(address: bytes, which: str, limit: int | None) -> list[dict[str, Any]]:
        number = state.account_of(address)
        if number is None:
            return []
        items = list(state.fills[number] if which == "fills" else state.history[number])
        return items[-limit:] if limit else items

    @app.get("/v1/fills", tags=tags, responses=errors)
    async def fills(who: Reader, limit: LimitParam = None) -> Any:
        """The authenticated account's fills, oldest first."""
        return {"account": who[0], "fills": _book_of(who[1], "fills", limit)}

    @app.get("/v1/history", tags=tags, responses=errors)
    async def history(who: Reader, limit: LimitParam = None) -> Any:
        """The authenticated account's order events, oldest first."""
        return {"account": who[0], "history": _book_of(who[1], "history", limit)}

    @app.websocket("/v1/feed")
    async def feed(ws: WebSocket, instrument: str = "") -> None:
        """Market data: an ``l2snapshot``, then every ``trade`` and ``l2update`` in ``seq`` order."""
        await ws.accept()
        if instrument not in state.engines:
            await ws.send_text(
                _dumps(
                    {
                        "type": "error",
                        "error": "unknown_instrument",
                        "message": f"no instrument {instrument!r}",
                    }
                )
            )
            await ws.close(code=1008)
            return
        snapshot, channel = service.subscribe(instrument)
        dropped = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_until_disconnect, ws, nursery.cancel_scope)
            try:
                await ws.send_text(_dumps(snapshot))
                async with channel:
                    async for message in channel:
                        await ws.send_text(_dumps(message))
            except WebSocketDisconnect:
                dropped = False
            nursery.cancel_scope.cancel()
        if dropped:  # the service dropped us as too slow (or is stopping)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.close(code=1013)

    @app.websocket("/v1/ws/orders")
    async def orders_ws(ws: WebSocket) -> None:
        """Order entry: ``{"id", "op", "message", "signature"}`` (or an array of them) in,
        ``{"id", "status", "body"}`` (or an array, in the same order) out."""
        await ws.accept()
        await _OrderSession(ws, service).run()


class _OrderSession:
    """One order-entry WebSocket: many requests in flight, answers as they complete."""

    def __init__(self, ws: WebSocket, service: ExchangeService) -> None:
        self.ws = ws
        self.service = service
        self.lock = trio.Lock()
        self.window = trio.Semaphore(WS_WINDOW)

    async def send(self, answer: Any) -> None:
        async with self.lock:
            # a client that left gets no answer; its requests were still journaled and applied
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.ws.send_text(_dumps(answer))

    async def handle(self, rid: Any, kind: MessageKind, message: Any, signature: Any) -> None:
        try:
            status, body = await submit_answer(self.service, kind, message, signature)
            await self.send({"id": rid, "status": status, "body": body})
        finally:
            self.window.release()

    async def handle_batch(self, frames: list[Any]) -> None:
        try:
            answers: list[dict[str, Any] | None] = [None] * len(frames)
            requests: list[tuple[MessageKind, Any, Any]] = []
            slots: list[int] = []
            for i, frame in enumerate(frames):
                parsed = _parse_frame(frame, self.service)
                if isinstance(parsed, dict):
                    answers[i] = parsed
                    continue
                rid, kind, message, signature = parsed
                if not isinstance(message, dict) or not isinstance(signature, str):
                    answers[i] = {"id": rid, "status": 422, "body": _BAD_BODY}
                    continue
                requests.append((kind, message, signature))
                slots.append(i)
            results = await self.service.submit_many(requests) if requests else []
            for i, (kind, _m, _s), result in zip(slots, requests, results, strict=True):
                status, body = _answer_of(result, kind)
                answers[i] = {"id": frames[i]["id"], "status": status, "body": body}
            await self.send(answers)
        finally:
            self.window.release()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                try:
                    text = await self.ws.receive_text()
                except (WebSocketDisconnect, RuntimeError, KeyError):
                    break  # in-flight requests finish; their answers go nowhere
                try:
                    frame = json.loads(text)
                except ValueError:
                    await self.send({"id": None, "status": 422, "body": _BAD_FRAME})
                    continue
                if isinstance(frame, list) and 0 < len(frame) <= MAX_BATCH:
                    await self.window.acquire()
                    nursery.start_soon(self.handle_batch, frame)
                    continue
                parsed = _parse_frame(frame, self.service)
                if isinstance(parsed, dict):
                    await self.send(parsed)
                    continue
                await self.window.acquire()
                nursery.start_soon(self.handle, *parsed)


_BAD_FRAME: Final = {
    "error": "invalid_request",
    "message": "expected {id, op, message, signature} (op: place, cancel or replace) "
    f"or an array of 1 to {MAX_BATCH} of them",
}
_BAD_BODY: Final = {"error": "invalid_request", "message": "expected {message: {...}, signature: '0x...'}"}


def _parse_frame(frame: Any, service: ExchangeService) -> tuple[Any, MessageKind, Any, Any] | dict[str, Any]:
    """``(id, kind, message, signature)`` of an order-entry frame, or the answer refusing it
    (a frame may name the ``domain`` it was signed for, as the HTTP body may)."""
    rid = frame.get("id") if isinstance(frame, dict) else None
    try:
        parsed = rid, OPS[frame["op"]], frame["message"], frame["signature"]
    except (KeyError, TypeError):
        return {"id": rid if isinstance(rid, int | str) else None, "status": 422, "body": _BAD_FRAME}
    if (refusal := domain_refusal(service, frame.get("domain"))) is not None:
        return {"id": rid, "status": refusal[0], "body": refusal[1]}
    return parsed


def _answer_of(result: Outcome | GCXError, kind: MessageKind) -> tuple[int, dict[str, Any]]:
    if isinstance(result, Outcome):
        return outcome_answer(result, kind)
    if isinstance(result, AuthError):
        return _auth_answer(result)
    if isinstance(result, AdmissionError):
        return result.status, {"error": result.code, "message": str(result)}
    return 400, {"error": "invalid_request", "message": str(result)}


async def _until_disconnect(ws: WebSocket, scope: trio.CancelScope) -> None:
    """Read (and ignore) what a feed subscriber sends, until it goes away."""
    try:
        while True:
            await ws.receive_text()
    except (WebSocketDisconnect, RuntimeError, KeyError):
        scope.cancel()
