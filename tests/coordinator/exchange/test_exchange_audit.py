"""Auditing a journal offline: signatures, nonce order and the replayed state, in code and
through ``gcx coordinator audit-journal``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from coordinator.exchange.audit import audit_journal
from coordinator.exchange.core.entry import encode_entry, entry_from_message
from coordinator.exchange.core.state import ExchangeState
from coordinator.exchange.instruments_file import load_instruments
from coordinator.exchange.journal import Journal
from gcx.orders import Domain, sign_cancel, sign_order
from gcx.paths import configs_dir

DOMAIN = Domain(31337, "0x" + "00" * 20)  # the default domain without a chain
INSTRUMENTS = load_instruments(configs_dir() / "instruments.toml")
_ids = iter(range(1, 1_000_000))


def _order(acct: Any, nonce: int, side: int, price: int, domain: Domain = DOMAIN) -> bytes:
    m = {
        "account": acct.address,
        "instrument": "CH-A-SPOT",
        "side": side,
        "orderType": 0,
        "price": price,
        "qty": 2,
        "clientOrderId": nonce,
        "nonce": nonce,
        "expiry": int(time.time()) + 60,
    }
    sig = bytes.fromhex(sign_order(m, acct.key, domain)[2:])
    return encode_entry(entry_from_message("Order", m, sig, 1_000 + nonce, order_id=next(_ids)))


def _write(path: Path, entries: list[bytes]) -> None:
    with Journal(path, synchronous="NORMAL") as journal:
        journal.append_frame(entries)


def _good(path: Path) -> list[bytes]:
    alice, bob = Account.create(), Account.create()
    m = {"account": alice.address, "instrument": "CH-A-SPOT", "clientOrderId": 1, "nonce": 3}
    cancel = entry_from_message("CancelOrder", m, bytes.fromhex(sign_cancel(m, alice.key, DOMAIN)[2:]), 9)
    entries = [
        _order(alice, 1, 1, 2000),
        _order(bob, 1, 0, 2001),
        _order(alice, 2, 1, 2002),
        encode_entry(cancel),
    ]
    _write(path, entries)
    return entries


def _state() -> ExchangeState:
    return ExchangeState(INSTRUMENTS)


def test_a_clean_journal_audits_ok_and_replays_to_the_live_state(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _good(path)
    with Journal(path) as journal:
        report = audit_journal(journal, DOMAIN, _state)
        live = _state()
        from coordinator.exchange.core.entry import decode_entry

        for seq, data in journal.read_from(1):
            live.apply(seq, decode_entry(data))
    assert report.ok and (report.entries, report.last_seq, report.accounts) == (4, 4, 2)
    assert report.state_hash == live.state_hash().hex()


def test_forged_entries_and_nonces_out_of_order_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    mallory, alice = Account.create(), Account.create()
    forged = bytearray(_order(mallory, 1, 0, 2000))
    forged[forged.index(bytes.fromhex(mallory.address[2:]))] ^= 1  # claims another account
    entries = [
        _order(alice, 5, 1, 2000),
        bytes(forged),
        _order(alice, 4, 1, 2001),
        _order(mallory, 1, 0, 1999, Domain(1, "0x" + "11" * 20)),
    ]
    _write(path, entries)
    with Journal(path) as journal:
        report = audit_journal(journal, DOMAIN, _state)
    assert not report.ok
    assert [p.split(":")[0] for p in report.problems] == ["seq 2", "seq 3", "seq 4"]
    assert "nonce 4" in report.problems[1] and "not above 5" in report.problems[1]


@pytest.mark.slow
def test_the_cli_audits_a_journal_and_fails_on_a_forged_entry(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.sqlite", tmp_path / "bad.sqlite"
    _good(good)
    entries = _good(bad)
    _write(bad, [entries[0]])  # a replayed entry: same nonce again
    env = {"GCX_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}

    def audit(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gcx", "coordinator", "audit-journal", "--journal", str(path), "--json"],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = audit(good)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True and json.loads(ok.stdout)["entries"] == 4
    failed = audit(bad)
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert report["ok"] is False and report["problems"][0].startswith("seq 5:")
    missing = audit(tmp_path / "nope.sqlite")
    assert (
        missing.returncode != 0
        and "no exchange journal at" in missing.stderr
        and "Traceback" not in missing.stderr
    )
