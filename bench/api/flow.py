"""The flow of the order-entry benchmark: generated, signed and JSON-encoded before any timing.

:func:`make_flow` mixes, from K fresh accounts (:func:`make_accounts`):

* ~70 % GTC limits near the reference price (buys 3 ticks above to 20 below it, sells the mirror
  image, so some cross and trade and the rest builds a book within ±20 ticks),
* ~10 % IOC limits priced up to 10 ticks through the reference (they trade or are cancelled),
* ~20 % cancels of an earlier order of the same account (one still open, as far as the client
  knows: an order that has traded away in the meantime is answered 404 ``unknown_order``).

:func:`sign_flow` signs each message by its account (``auth.sign_order`` / ``sign_cancel`` by
eth-account, in a process pool: ~0.7 ms a message); :func:`encode_ws` and :func:`encode_http` give
the texts that go on the wire.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_account import Account

from gcx.orders import Domain, sign_cancel, sign_order

INSTRUMENT = "CH-A-SPOT"
JSON_SEPARATORS = (",", ":")

Kind = Literal["gtc", "ioc", "cancel"]


@dataclass(frozen=True, slots=True)
class Message:
    """One order-entry request of the flow: who sends it, what it is, the signed fields."""

    account: int  # index into the flow's accounts
    kind: Kind
    message: dict[str, Any]

    @property
    def op(self) -> Literal["place", "cancel"]:
        return "cancel" if self.kind == "cancel" else "place"

    @property
    def typed(self) -> Literal["Order", "CancelOrder"]:
        return "CancelOrder" if self.kind == "cancel" else "Order"


@dataclass(frozen=True, slots=True)
class Flow:
    accounts: list[tuple[str, bytes]]  # (checksummed address, private key)
    messages: list[Message]
    signatures: list[str] = field(default_factory=list)


def make_accounts(count: int) -> list[tuple[str, bytes]]:
    """``count`` fresh Ethereum accounts: (address, private key)."""
    out = []
    for _ in range(count):
        acct = Account.create()
        out.append((str(acct.address), bytes(acct.key)))
    return out


def make_flow(
    accounts: list[tuple[str, bytes]],
    count: int,
    *,
    instrument: str = INSTRUMENT,
    reference: int = 2000,
    min_lots: int = 1,
    max_lots: int = 10,
    seed: int = 1,
    expiry: int | None = None,
) -> Flow:
    """``count`` unsigned messages from ``accounts`` (mix in the module docstring), in send order.

    Nonces count up from 1 per account in this order; ``clientOrderId`` counts up from 1 per
    account, so ids never repeat; a cancel names an order of the same account placed earlier in
    the flow and not cancelled yet (the client cannot know whether it has traded meanwhile).
    """
    rng = random.Random(seed)
    expiry = expiry if expiry is not None else int(time.time()) + 6 * 3600
    hi_lots = max(min_lots, min(max_lots, min_lots + 9))
    nonce = [0] * len(accounts)
    next_id = [0] * len(accounts)
    cancellable: list[list[int]] = [[] for _ in accounts]
    messages: list[Message] = []
    for _ in range(count):
        a = rng.randrange(len(accounts))
        address = accounts[a][0]
        nonce[a] += 1
        r = rng.random()
        if r < 0.2 and cancellable[a]:
            victims = cancellable[a]
            j = rng.randrange(len(victims))
            victims[j], victims[-1] = victims[-1], victims[j]
            cancel = {
                "account": address,
                "instrument": instrument,
                "clientOrderId": victims.pop(),
                "nonce": nonce[a],
            }
            messages.append(Message(a, "cancel", cancel))
            continue
        next_id[a] += 1
        side = rng.randrange(2)
        kind: Kind
        if r >= 0.9:  # IOC through the reference: trades, or its remainder is cancelled
            kind, offset = "ioc", -rng.randint(0, 10)
        else:  # GTC at or behind the reference 7 times in 8, up to 3 ticks through it otherwise
            kind, offset = "gtc", rng.randint(-3, 20)
        price = reference - offset if side == 0 else reference + offset
        order = {
            "account": address,
            "instrument": instrument,
            "side": side,
            "orderType": 0 if kind == "gtc" else 1,
            "price": price,
            "qty": rng.randint(min_lots, hi_lots),
            "clientOrderId": next_id[a],
            "nonce": nonce[a],
            "expiry": expiry,
        }
        if kind == "gtc":
            cancellable[a].append(next_id[a])
        messages.append(Message(a, kind, order))
    return Flow(accounts, messages)


_worker_keys: list[bytes] = []
_worker_domain: list[Domain] = []  # the one domain of this (worker) process


def _set_signer(keys: list[bytes], chain_id: int, contract: str) -> None:
    _worker_keys[:] = keys
    _worker_domain[:] = [Domain(chain_id, contract)]


def _init_signer(keys: list[bytes], chain_id: int, contract: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends the pool
    _set_signer(keys, chain_id, contract)


def _sign_one(item: tuple[int, str, dict[str, Any]]) -> str:
    account, typed, message = item
    sign = sign_cancel if typed == "CancelOrder" else sign_order
    return sign(message, _worker_keys[account], _worker_domain[0])


def sign_flow(flow: Flow, domain: Domain, processes: int | None = None, progress: bool = False) -> Flow:
    """``flow`` with every message signed by its account for ``domain``, in a process pool."""
    processes = processes or os.cpu_count() or 1
    items = [(m.account, m.typed, m.message) for m in flow.messages]
    keys = [key for _, key in flow.accounts]
    initargs = (keys, domain.chain_id, domain.verifying_contract)
    signatures: list[str] = []
    started = time.perf_counter()
    if processes == 1 or len(items) < 64:
        _set_signer(*initargs)
        signatures = [_sign_one(item) for item in items]
    else:
        with multiprocessing.Pool(processes, _init_signer, initargs) as pool:
            for sig in pool.imap(_sign_one, items, chunksize=64):
                signatures.append(sig)
                if progress and len(signatures) % 500 == 0:
                    rate = len(signatures) / (time.perf_counter() - started)
                    print(f"\rsigning {len(signatures)}/{len(items)} ({rate:.0f}/s)", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
    return Flow(flow.accounts, flow.messages, signatures)


def encode_ws(flow: Flow) -> list[str]:
    """The WebSocket frame of each message, ``id`` = its index in the flow."""
    return [
        json.dumps({"id": i, "op": m.op, "message": m.message, "signature": s}, separators=JSON_SEPARATORS)
        for i, (m, s) in enumerate(zip(flow.messages, flow.signatures, strict=True))
    ]


def encode_http(flow: Flow) -> list[tuple[str, bytes]]:
    """The route and body of each message."""
    return [
        (
            "/v1/orders/cancel" if m.kind == "cancel" else "/v1/orders",
            json.dumps({"message": m.message, "signature": s}, separators=JSON_SEPARATORS).encode(),
        )
        for m, s in zip(flow.messages, flow.signatures, strict=True)
    ]
