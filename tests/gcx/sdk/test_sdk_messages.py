"""gcx.sdk.messages: nonces, the signed messages of every order type, the read-token cache."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from eth_account import Account

from gcx.orders import (
    Domain,
    sign_cancel,
    sign_order,
    sign_read,
    sign_replace,
    verify_cancel,
    verify_order,
    verify_replace,
    verify_typed,
)
from gcx.sdk import InvalidRequest
from gcx.sdk.messages import (
    ORDER_TYPES,
    ReadTokenCache,
    StrictCounter,
    cancel_message,
    now_us,
    order_message,
    replace_message,
)

ACCOUNT = Account.create()
ADDRESS = ACCOUNT.address
PRIVATE = bytes(ACCOUNT.key)
DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
NOW = 1_764_111_000


def _order(**over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "account": ADDRESS,
        "instrument": "CH-A-SPOT",
        "side": "buy",
        "qty": 10,
        "price": 2010,
        "order_type": "gtc",
        "client_order_id": 7,
        "nonce": 1,
        "expiry": NOW + 60,
    }
    args.update(over)
    return order_message(**args)


# ---------------------------------------------------------------------------------------- nonces


def test_counter_is_strictly_increasing_within_one_clock_tick() -> None:
    counter = StrictCounter(lambda: 1000)
    assert [counter.next() for _ in range(4)] == [1000, 1001, 1002, 1003]
    assert counter.last == 1003


def test_counter_survives_a_clock_stepping_back() -> None:
    ticks = iter([5000, 4000, 4000, 6000, 6000])
    counter = StrictCounter(lambda: next(ticks))
    assert [counter.next() for _ in range(5)] == [5000, 5001, 5002, 6000, 6001]


def test_counter_follows_the_microsecond_clock() -> None:
    before = now_us()
    counter = StrictCounter()
    first = counter.next()
    assert before <= first <= now_us()
    values = [counter.next() for _ in range(10_000)]  # many calls per microsecond
    assert all(b > a for a, b in zip([first, *values], values, strict=False))


def test_counter_is_strictly_increasing_across_threads() -> None:
    counter = StrictCounter(lambda: 1)
    out: list[list[int]] = [[] for _ in range(4)]

    def work(i: int) -> None:
        out[i].extend(counter.next() for _ in range(2000))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = sorted(v for chunk in out for v in chunk)
    assert every == list(range(1, 8001))  # no value handed out twice


def test_nonces_of_two_processes_in_a_row_increase() -> None:
    """Each CLI call is a new process with a new counter: the clock keeps their nonces rising."""
    first = StrictCounter().next()
    time.sleep(0.001)
    assert StrictCounter().next() > first


# -------------------------------------------------------------------------------------- messages


@pytest.mark.parametrize("order_type", list(ORDER_TYPES))
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_every_order_type_builds_a_message_the_exchange_verifies(order_type: str, side: str) -> None:
    price = None if order_type == "market" else 2010
    message = _order(side=side, order_type=order_type, price=price)
    assert message == {
        "account": ADDRESS,
        "instrument": "CH-A-SPOT",
        "side": {"buy": 0, "sell": 1}[side],
        "orderType": ORDER_TYPES[order_type],
        "price": 0 if order_type == "market" else 2010,
        "qty": 10,
        "clientOrderId": 7,
        "nonce": 1,
        "expiry": NOW + 60,
    }
    assert ORDER_TYPES == {"gtc": 0, "ioc": 1, "fok": 2, "post_only": 3, "market": 4}
    signature = sign_order(message, PRIVATE, DOMAIN)
    assert verify_order(message, signature, DOMAIN, now=NOW) == ADDRESS


def test_cancel_and_replace_messages_verify() -> None:
    cancel = cancel_message(account=ADDRESS, instrument="CH-A-SPOT", client_order_id=7, nonce=2)
    assert cancel == {"account": ADDRESS, "instrument": "CH-A-SPOT", "clientOrderId": 7, "nonce": 2}
    assert verify_cancel(cancel, sign_cancel(cancel, PRIVATE, DOMAIN), DOMAIN, now=NOW) == ADDRESS
    replace = replace_message(
        account=ADDRESS, instrument="CH-A-SPOT", client_order_id=7, price=2011, qty=5, nonce=3
    )
    assert replace == {
        "account": ADDRESS,
        "instrument": "CH-A-SPOT",
        "clientOrderId": 7,
        "price": 2011,
        "qty": 5,
        "nonce": 3,
    }
    assert verify_replace(replace, sign_replace(replace, PRIVATE, DOMAIN), DOMAIN, now=NOW) == ADDRESS


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"side": "hold"}, "side must be 'buy' or 'sell'"),
        ({"side": 0}, "side must be"),
        ({"order_type": "stop"}, "order type must be one of gtc, ioc, fok, post_only, market"),
        ({"price": None}, "a gtc order needs a price"),
        ({"order_type": "post_only", "price": None}, "a post_only order needs a price"),
        ({"order_type": "market", "price": 2010}, "a market order takes no price"),
        ({"price": 0}, "price must be between 1"),
        ({"price": 20.5}, "price must be an integer"),
        ({"qty": 0}, "qty must be between 1"),
        ({"qty": True}, "qty must be an integer"),
        ({"client_order_id": -1}, "client order id must be between 0"),
        ({"client_order_id": 1 << 64}, "client order id must be between 0"),
        ({"instrument": ""}, "instrument must be a non-empty symbol"),
    ],
)
def test_bad_order_arguments_are_refused_before_signing(over: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidRequest, match=needle) as info:
        _order(**over)
    assert info.value.exit_code == 2


def test_a_market_order_accepts_price_zero() -> None:
    assert _order(order_type="market", price=0)["price"] == 0


# ------------------------------------------------------------------------------------ read tokens


class _Signer:
    def __init__(self) -> None:
        self.signed: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> str:
        self.signed.append(dict(message))
        return sign_read(message, PRIVATE, DOMAIN)


def test_read_token_is_signed_once_and_reused_until_a_minute_before_expiry() -> None:
    signer = _Signer()
    cache = ReadTokenCache(ADDRESS, signer)
    first = cache.token(NOW)
    assert signer.signed == [{"account": ADDRESS, "expiry": NOW + 3600}]
    assert verify_typed("ReadAccount", signer.signed[0], first.signature, DOMAIN, now=NOW) == ADDRESS
    assert first.headers() == {
        "X-GCX-Account": ADDRESS,
        "X-GCX-Expiry": str(NOW + 3600),
        "X-GCX-Signature": first.signature,
    }
    for later in (NOW + 1, NOW + 1800, NOW + 3600 - 61, NOW + 3600 - 60.5):
        assert cache.token(later) is first
    assert len(signer.signed) == 1
    renewed = cache.token(NOW + 3600 - 60)
    assert renewed is not first
    assert renewed.expiry == NOW + 3600 - 60 + 3600
    assert len(signer.signed) == 2
    assert cache.token(NOW + 3600 + 10) is renewed  # the new one is valid well past the old expiry


def test_read_token_clear_signs_a_new_one() -> None:
    signer = _Signer()
    cache = ReadTokenCache(ADDRESS, signer)
    first = cache.token(NOW)
    cache.clear()
    assert cache.token(NOW) == first  # same account and expiry: the same deterministic signature
    assert len(signer.signed) == 2


def test_read_token_lifetime_must_exceed_the_margin() -> None:
    with pytest.raises(ValueError, match="refresh_margin_s"):
        ReadTokenCache(ADDRESS, _Signer(), lifetime_s=60, refresh_margin_s=60)
