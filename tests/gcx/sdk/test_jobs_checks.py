"""The buyer SDK's pure checks: the price formula, quotes from a lying coordinator refused field
by field, job views decoded strictly, result leaves verified against the result root (tampered
leaves refused), outputs scored."""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import pytest
from buyer_fakes import PROFILE, classifier_job
from eth_account import Account
from eth_hash.auto import keccak

from gcx.p2p import peer_id_of
from gcx.sdk.errors import ApiError, InvalidRequest, QuoteRejected, ResultMismatch
from gcx.sdk.jobs_checks import (
    buyer_of,
    check_quote,
    decode_job_view,
    job_id_for,
    quote_amount,
    score_outputs,
    verify_result,
)
from gcx.tp.backends import open_backend
from gcx.tp.commit import decode_op_leaf
from gcx.tp.metering import meter
from gcx.tp.runner import run_job

ESCROW = "0x" + "e5" * 20
TOKEN = "0x" + "70" * 20
PROVIDER_KEY = bytes(Account.create().key)
JOB, JOB_BYTES = classifier_job()
MICRO_CH = meter(JOB.program, PROFILE).micro_ch


def honest_quote(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    price = 3_000_000_000
    q: dict[str, Any] = {
        "quote_id": "ab" * 16,
        "job_digest": "0x" + keccak(JOB_BYTES).hex(),
        "program_digest": "0x" + JOB.program.digest.hex(),
        "micro_ch": MICRO_CH,
        "amount": quote_amount(MICRO_CH, price),
        "provider": {
            "peer_id": str(peer_id_of(PROVIDER_KEY)),
            "address": Account.from_key(PROVIDER_KEY).address,
            "price_per_ch": price,
            "grade": "A",
            "listen_addrs": ["/ip4/127.0.0.1/tcp/4001"],
        },
        "challenge_window_s": 600,
        "submit_deadline": now + 120,
        "escrow": ESCROW,
        "token": TOKEN,
        "chain_id": 31337,
        "expires_at": now + 300,
    }
    q.update(changes)
    return q


def check(answer: dict[str, Any], max_price: int = 10**9, **kw: Any) -> Any:
    return check_quote(
        answer,
        job_bytes=JOB_BYTES,
        program=JOB.program,
        micro_ch=MICRO_CH,
        max_price=max_price,
        escrow=ESCROW,
        token=TOKEN,
        chain_id=31337,
        **kw,
    )


@pytest.mark.parametrize(
    ("micro_ch", "price", "amount"),
    [(1, 1, 1), (1, 999_999, 1), (1, 1_000_001, 2), (3, 2_000_000, 6), (7, 333_334, 3), (0, 5, 1)],
)
def test_quote_amount_is_the_spec_formula_in_exact_integers(micro_ch: int, price: int, amount: int) -> None:
    assert quote_amount(micro_ch, price) == amount
    big = 10**30 + 1  # floats would lose the ceiling here
    assert quote_amount(big, 1_000_000) == big and quote_amount(big, 1) == -(-big // 10**6)


def test_job_id_layout_is_buyer_then_nonce() -> None:
    buyer = Account.create().address
    job_id = job_id_for(buyer, 5)
    assert job_id == "0x" + buyer[2:].lower() + "0" * 23 + "5" and len(job_id) == 66
    assert buyer_of(job_id) == buyer
    assert job_id_for(buyer, 2**96 - 1).endswith("f" * 24)
    for bad in (-1, 2**96, True):
        with pytest.raises(InvalidRequest):
            job_id_for(buyer, bad)  # type: ignore[arg-type]


def test_an_honest_quote_is_taken_with_every_field() -> None:
    q = check(honest_quote())
    assert q.amount == quote_amount(MICRO_CH, 3_000_000_000) and q.provider.grade == "A"
    assert q.provider.listen_addrs == ("/ip4/127.0.0.1/tcp/4001",)
    assert check(q.to_dict()) == q  # the record's round trip


def _lie(path: str, value: Any) -> dict[str, Any]:
    q = honest_quote()
    target = q
    *parents, last = path.split(".")
    for p in parents:
        target = target[p]
    target[last] = value
    return q


OTHER = Account.create().address
LIES = {
    "amount above the formula": (_lie("amount", quote_amount(MICRO_CH, 3_000_000_000) + 1), "is "),
    "price above what it says": (_lie("provider.price_per_ch", 1_000_000), "is "),
    "metering inflated": (_lie("micro_ch", MICRO_CH + 1), "meters"),
    "another escrow": (_lie("escrow", OTHER), "JobEscrow"),
    "another token": (_lie("token", OTHER), "MockUSD"),
    "another chain": (_lie("chain_id", 1), "chain"),
    "payee not the peer": (_lie("provider.address", OTHER), "peer id"),
    "another job": (_lie("job_digest", "0x" + "00" * 32), "job_digest"),
    "another program": (_lie("program_digest", "0x" + "00" * 32), "program_digest"),
    "expired": (_lie("expires_at", 1), "expired"),
    "deadline passed": (_lie("submit_deadline", 1), "expired"),
    "bad grade": (_lie("provider.grade", "?"), "grade"),
    "no performance letter": (_lie("provider.grade", "?2X"), "performance letter"),
    "amount not an int": (_lie("amount", "1"), "amount"),
    "amount a bool": (_lie("amount", True), "amount"),
    "no provider": (_lie("provider", None), "provider"),
    "bad quote id": (_lie("quote_id", "x"), "quote id"),
    "garbage peer id": (_lie("provider.peer_id", "nope"), "peer id"),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_lying_coordinator_is_refused(lie: str) -> None:
    answer, needle = LIES[lie]
    with pytest.raises(QuoteRejected, match=needle):
        check(answer)


def test_a_price_above_max_price_a_wrong_or_excluded_provider_are_refused() -> None:
    q = honest_quote()
    with pytest.raises(QuoteRejected, match="above the maximum"):
        check(q, max_price=q["amount"] - 1)
    assert check(q, max_price=q["amount"]).amount == q["amount"]
    me = q["provider"]["peer_id"]
    with pytest.raises(QuoteRejected, match="asked for provider"):
        check(q, provider=str(peer_id_of(bytes(Account.create().key))))
    with pytest.raises(QuoteRejected, match="excluded"):
        check(q, exclude=[me])
    with pytest.raises(QuoteRejected):
        check_quote([], job_bytes=JOB_BYTES, program=JOB.program, micro_ch=None, max_price=1,
                    escrow=ESCROW, token=TOKEN, chain_id=31337)  # fmt: skip


def view(**changes: Any) -> dict[str, Any]:
    v: dict[str, Any] = {
        "job_id": "0x" + "11" * 32,
        "buyer": "0x" + "11" * 20,
        "provider": {"peer_id": "16U", "address": "0x" + "22" * 20, "listen_addrs": []},
        "state": "open",
        "reoffer": False,
        "micro_ch": 1,
        "amount": 3,
        "program_digest": "0x" + "33" * 32,
        "job_digest": "0x" + "44" * 32,
        "submit_deadline": 10,
        "challenge_deadline": None,
        "result_root": None,
        "leaves": None,
        "outputs": None,
        "mismatches": [],
        "reoffer_of": None,
        "history": [{"time": 1, "event": "open", "detail": None}],
        "created": 1,
    }
    v.update(changes)
    return v


def test_job_views_decode_and_malformed_ones_are_invalid_responses() -> None:
    v = decode_job_view(view())
    assert v.state == "open" and v.leaves is None and v.history[0]["event"] == "open"
    for bad in (
        view(state="paid"),
        view(amount="3"),
        view(provider=None),
        view(leaves="0x"),
        [],
        view(created=None),
    ):
        with pytest.raises(ApiError) as info:
            decode_job_view(bad)
        assert info.value.code == "invalid_response"


@pytest.fixture(scope="module")
def run() -> Any:
    return run_job(JOB, open_backend("numpy"), PROFILE)


def test_leaves_that_commit_to_the_result_root_give_the_output_roots(run: Any) -> None:
    bodies = [leaf.body() for leaf in run.commitment.result.leaves]
    roots = verify_result(JOB.program, bodies, run.result_root)
    assert roots == {
        "pred": run.commitment.tensors[3].root,
        "logits": run.commitment.tensors[2].root,
    }


def test_tampered_leaves_or_another_root_are_refused(run: Any) -> None:
    bodies = [leaf.body() for leaf in run.commitment.result.leaves]
    with pytest.raises(ResultMismatch, match="posted on chain"):
        verify_result(JOB.program, bodies, b"\x01" * 32)
    # another output root in the last leaf: decodes, describes the op, but commits elsewhere
    forged = bytearray(bodies[1])
    forged[-1] ^= 1
    assert decode_op_leaf(bytes(forged)).op_index == 1
    with pytest.raises(ResultMismatch, match="commit to"):
        verify_result(JOB.program, [bodies[0], bytes(forged)], run.result_root)
    with pytest.raises(ResultMismatch, match="op leaves"):
        verify_result(JOB.program, bodies[:1], run.result_root)
    with pytest.raises(ResultMismatch, match="decode"):
        verify_result(JOB.program, [bodies[0], bodies[1][:-1]], run.result_root)
    with pytest.raises(ResultMismatch, match="describe"):
        verify_result(JOB.program, [bodies[1], bodies[0]], run.result_root)


def test_leaves_of_another_program_are_refused_even_when_they_commit(run: Any) -> None:
    other, _ = classifier_job(seed=1, rows=8)  # same ops, other shapes
    other_run = run_job(other, open_backend("numpy"), PROFILE)
    bodies = [leaf.body() for leaf in other_run.commitment.result.leaves]
    with pytest.raises(ResultMismatch, match="output header"):
        verify_result(JOB.program, bodies, other_run.result_root)


def test_outputs_are_scored_against_the_evaluation(run: Any) -> None:
    outputs = copy.deepcopy(run.execution.outputs)
    s = score_outputs(JOB, outputs)
    assert s is not None and s.images == 16 and s.agreement == 1.0 and s.accuracy == 15 / 16
    plain, _ = classifier_job(with_evaluation=False)
    assert score_outputs(plain, outputs) is None
    assert isinstance(outputs["pred"], np.ndarray)


def test_a_full_grade_is_checked_by_its_performance_letter() -> None:
    """Quotes name the provider's full grade (``C2X``, ``D??``): the letter counts."""
    assert (
        check(
            honest_quote(**{"provider": {**honest_quote()["provider"], "grade": "C2X"}}), grade="C"
        ).provider.grade
        == "C2X"
    )
    assert (
        check(
            honest_quote(**{"provider": {**honest_quote()["provider"], "grade": "A??"}}), grade="D"
        ).provider.grade
        == "A??"
    )
    with pytest.raises(QuoteRejected, match="below the asked B"):
        check(honest_quote(**{"provider": {**honest_quote()["provider"], "grade": "C2X"}}), grade="B")
