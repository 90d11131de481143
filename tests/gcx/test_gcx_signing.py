"""gcx.signing: EIP-191 signatures over the canonical digest of a document."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx import signing
from gcx.errors import SignatureError
from gcx.wire import canonical_bytes

KEY = Account.from_key(bytes(range(1, 33)))
OTHER = Account.from_key(bytes(range(2, 34)))

DOC: dict[str, Any] = {
    "schema": "gcx.test/1",
    "n": 42,
    "x": 1.5,
    "name": "node-1",
    "flag": True,
    "nothing": None,
    "items": [1, 2.0, "three"],
    "nested": {"a": 1, "b": [True, None]},
    "blob": b"\x00\x01",
}


def signed(doc: dict[str, Any], key: Any = KEY) -> dict[str, Any]:
    return {**doc, "signature": signing.sign(doc, bytes(key.key))}


SIGNED = signed(DOC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def test_round_trip() -> None:
    assert signing.recover(SIGNED) == KEY.address
    signing.verify(SIGNED, KEY.address)
    signing.verify(SIGNED, KEY.address.lower())  # address comparison ignores checksum case


def test_signature_format() -> None:
    sig = SIGNED["signature"]
    assert sig.startswith("0x")
    assert len(sig) == 132
    int(sig, 16)


def test_digest_excludes_signature_and_ignores_key_order() -> None:
    assert signing.digest(SIGNED) == signing.digest(DOC)
    reordered = dict(reversed(list(DOC.items())))
    reordered["nested"] = {"b": [True, None], "a": 1}
    assert list(reordered) != list(DOC)
    assert signing.digest(reordered) == signing.digest(DOC)
    signing.verify({**reordered, "signature": SIGNED["signature"]}, KEY.address)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(DOC)), json_values)
def test_tampering_any_field_breaks_the_signature(field: str, value: Any) -> None:
    tampered = {**SIGNED, field: value}
    if canonical_bytes(value) == canonical_bytes(DOC[field]):
        return  # not a change
    with pytest.raises(SignatureError):
        signing.verify(tampered, KEY.address)


@settings(max_examples=20, deadline=None)
@given(st.text(min_size=1, max_size=10).filter(lambda k: k not in SIGNED), json_values)
def test_adding_a_field_breaks_the_signature(field: str, value: Any) -> None:
    with pytest.raises(SignatureError):
        signing.verify({**SIGNED, field: value}, KEY.address)


def test_removing_a_field_breaks_the_signature() -> None:
    for field in DOC:
        doc = {k: v for k, v in SIGNED.items() if k != field}
        with pytest.raises(SignatureError):
            signing.verify(doc, KEY.address)


def test_signature_by_another_key() -> None:
    by_other = signed(DOC, OTHER)
    assert signing.recover(by_other) == OTHER.address
    with pytest.raises(SignatureError, match="not by the claimed"):
        signing.verify(by_other, KEY.address)


def test_signature_from_another_document() -> None:
    other = signed({**DOC, "n": 43})
    with pytest.raises(SignatureError):
        signing.verify({**DOC, "signature": other["signature"]}, KEY.address)


GOOD = SIGNED["signature"]


@pytest.mark.parametrize(
    "sig",
    [
        None,
        123,
        b"0x" + b"a" * 130,
        "",
        "0x",
        GOOD[2:],  # no 0x
        "0X" + GOOD[2:],
        GOOD[:-2],  # 64 bytes
        GOOD + "00",  # 66 bytes
        "0x" + "zz" + GOOD[4:],  # non-hex
        "0x" + "g" * 130,
        "0x" + " " * 130,
        "0x" + "00" * 65,  # r = s = 0
        "0x" + "ff" * 65,  # out of range
        GOOD[:-2] + "05",  # bad v
        GOOD[:-2] + "1c" if GOOD.endswith("1b") else GOOD[:-2] + "1b",  # flipped v: another signer
        "0x" + "é" * 130,
    ],
)
def test_malformed_signature_is_signature_error(sig: Any) -> None:
    doc = {**DOC, "signature": sig}
    with pytest.raises(SignatureError):
        signing.verify(doc, KEY.address)


def test_missing_signature() -> None:
    with pytest.raises(SignatureError):
        signing.recover(DOC)


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=140) | st.binary(max_size=66).map(lambda b: "0x" + b.hex()))
def test_arbitrary_signature_strings_only_raise_signature_error(sig: str) -> None:
    doc = {**DOC, "signature": sig}
    try:
        signing.verify(doc, KEY.address)
    except SignatureError:
        pass
    else:  # pragma: no cover - would be a forgery
        pytest.fail(f"accepted forged signature {sig!r}")
