"""Crash recovery of the real coordinator process: SIGKILL in the middle of an order load over
HTTP, restart, and check that no acknowledged order is lost and that the recovered state (newest
snapshot + replay) equals a full replay of the journal from seq 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from coordinator.exchange.core.entry import decode_entry
from coordinator.exchange.core.state import ExchangeState
from coordinator.exchange.instruments_file import load_instruments
from coordinator.exchange.journal import Journal
from gcx.keys import new_key
from gcx.orders import Domain, sign_order, sign_read
from gcx.paths import configs_dir

pytestmark = pytest.mark.timeout(180)

SYM = "CH-A-SPOT"


def _start(home: Path) -> tuple[subprocess.Popen[str], str]:
    env = os.environ | {
        "GCX_HOME": str(home),
        "GCX_NETWORK__LISTEN": '["/ip4/127.0.0.1/tcp/0"]',
        "GCX_EXCHANGE__SNAPSHOT_EVERY": "150",
        "GCX_EXCHANGE__HISTORY_LIMIT": "100000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcx", "coordinator", "run", "--api-port", "0", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError("the coordinator exited before it was ready")
    return proc, json.loads(line)["api"]


class Trader(threading.Thread):
    """Places orders one after another until the coordinator goes away; keeps every ack."""

    def __init__(self, api: str, domain: Domain, k: int) -> None:
        super().__init__(daemon=True)
        self.api, self.domain, self.k = api, domain, k
        self.acct = Account.create()
        self.nonce = 0
        self.acked: dict[int, dict[str, Any]] = {}  # seq -> answer body

    def order(self, i: int) -> dict[str, Any]:
        self.nonce += 1
        m = {
            "account": self.acct.address,
            "instrument": SYM,
            "side": (i + self.k) % 2,
            "orderType": 1 if i % 5 == 0 else 0,
            "price": 1990 + (i * 7 + self.k) % 21,
            "qty": 1 + i % 4,
            "clientOrderId": self.nonce,
            "nonce": self.nonce,
            "expiry": int(time.time()) + 120,
        }
        return {"message": m, "signature": sign_order(m, self.acct.key, self.domain)}

    def run(self) -> None:
        with httpx.Client(base_url=self.api, timeout=5) as http:
            for i in range(100_000):
                try:
                    r = http.post("/v1/orders", json=self.order(i))
                except httpx.HTTPError:
                    return  # killed
                if r.status_code in (200, 422):
                    self.acked[r.json()["seq"]] = r.json()

    def history(self, api: str) -> list[dict[str, Any]]:
        exp = int(time.time()) + 600
        sig = sign_read({"account": self.acct.address, "expiry": exp}, self.acct.key, self.domain)
        headers = {"X-GCX-Account": self.acct.address, "X-GCX-Expiry": str(exp), "X-GCX-Signature": sig}
        r = httpx.get(f"{api}/v1/history", headers=headers, params={"limit": 10_000})
        r.raise_for_status()
        return list(r.json()["history"])


def _full_replay(path: Path) -> ExchangeState:
    state = ExchangeState(load_instruments(configs_dir() / "instruments.toml"), history_limit=100_000)
    with Journal(path) as journal:
        for seq, data in journal.read_from(1):
            state.apply(seq, decode_entry(data))
    return state


def test_sigkill_under_load_loses_no_acknowledged_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("GCX_HOME", str(home))
    new_key("coordinator")
    proc, api = _start(home)
    try:
        domain = Domain.from_dict(httpx.get(f"{api}/v1/exchange").json()["domain"])
        traders = [Trader(api, domain, k) for k in range(4)]
        for t in traders:
            t.start()
        deadline = time.monotonic() + 60
        while sum(len(t.acked) for t in traders) < 600 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # in the middle of the load
        proc.wait(10)
        for t in traders:
            t.join(10)
    finally:
        proc.kill()
    acked = {seq: (t, body) for t in traders for seq, body in t.acked.items()}
    assert len(acked) >= 600

    proc, api = _start(home)
    try:
        info = httpx.get(f"{api}/v1/exchange").json()
        assert info["last_seq"] >= max(acked)
        assert 0 < info["snapshot_seq"] <= info["last_seq"]  # recovery started from a snapshot
        for t in traders:
            seen = {h["seq"]: h for h in t.history(api) if h["event"] in ("accepted", "rejected")}
            for seq, body in t.acked.items():
                assert seq in seen, f"acknowledged order at seq {seq} lost"
                assert seen[seq]["client_order_id"] == body["order"]["client_order_id"]
        recovered_hash = info["state_hash"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert _full_replay(home / "coordinator" / "exchange.sqlite").state_hash().hex() == recovered_hash
