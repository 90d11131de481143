"""docs/exchange-api.md states the rules the code implements: the nonce unit, the signature
rules, integers as strings, and every 401 code the API can answer (issue 11, items 9-11)."""

from __future__ import annotations

import re
from pathlib import Path

from coordinator.exchange.api import AUTH_STATUS
from gcx.orders import next_nonce, nonce_clock
from gcx.sdk.errors import CODE_STATUS

DOCS = Path(__file__).resolve().parents[2] / "docs"
API_DOC = (DOCS / "exchange-api.md").read_text(encoding="utf-8")


def _bullet(text: str, start: str) -> str:
    """The markdown bullet of ``text`` that begins with ``start`` (its continuation lines included)."""
    match = re.search(rf"^\* {re.escape(start)}.*?(?=^\* |^\n|\Z)", text, re.M | re.S)
    assert match is not None, f"no bullet starting {start!r}"
    return " ".join(match.group(0).split())


def test_the_nonce_rule_is_stated_once_in_microseconds_and_is_the_codes() -> None:
    rule = _bullet(API_DOC, "`nonce`")
    assert "Unix time in microseconds, strictly increasing per account" in rule
    assert "max(now_us, last + 1)" in rule and "gcx.orders.next_nonce()" in rule
    assert "millisecond" not in API_DOC  # the old, contradicting advice
    for doc in ("sdk.md", "exchange.md", "exchange-api.md"):
        text = (DOCS / doc).read_text(encoding="utf-8")
        assert not re.search(r"millisecond[^.]*nonce|nonce[^.]*millisecond", text, re.S), doc
    # what the doc says is what next_nonce does
    now = nonce_clock()
    assert abs(next_nonce() - now) < 60_000_000  # µs: within a minute of the clock read just now
    assert next_nonce(last=now + 10, now_us=now) == now + 11 and next_nonce(last=5, now_us=now) == now


def test_the_signature_and_integer_rules_are_documented() -> None:
    text = " ".join(API_DOC.split())
    assert "0 or 1 (what many hardware signers and raw secp256k1 libraries return) is accepted" in text
    assert "`s` must be low" in text and "401 `high_s`" in text
    assert "its decimal string" in text and "1 to 20 ASCII digits" in text


def _codes_of_status(status: int) -> set[str]:
    row = next(line for line in API_DOC.splitlines() if line.startswith(f"| {status} |"))
    cell = re.sub(r"\([^)]*\)", "", row.split("|")[2])  # the codes, not the explanations
    return set(re.findall(r"`([a-z_]+)`", cell))


def test_every_documented_401_code_is_one_the_api_answers_and_vice_versa() -> None:
    documented = _codes_of_status(401)
    answered = {code for code, status in AUTH_STATUS.items() if status == 401} | {"unauthenticated"}
    assert documented == answered
    assert _codes_of_status(400) == {code for code, status in AUTH_STATUS.items() if status == 400}
    assert all(CODE_STATUS[code] == 401 for code in documented)  # the SDK maps them the same
