"""The job book's pure core: transitions, pricing, deadlines, provider selection (with
property tests against the spec's rules), escrow and result checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.jobs.core import (
    GRADES,
    TRANSITIONS,
    EscrowJob,
    IllegalTransition,
    JobsError,
    LockParams,
    buyer_of,
    check_escrow,
    check_result,
    disqualified,
    job_amount,
    select_provider,
    submit_deadline,
    transition,
)
from gcx.reference import load_profile
from gcx.tp.backends import NumpyBackend
from gcx.tp.examples.matmul import matmul_job
from gcx.tp.runner import run_job


def view(peer: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "peer_id": peer,
        "address": "0x" + peer.encode().hex().ljust(40, "0")[:40],
        "listed": True,
        "staked": True,
        "grade": "B??",
        "grades": {"performance": "B"},
        "price": 1000,
        "hours": 4,
        "uptime": 90.0,
        "ch_per_hour_micro": 1_000_000,
        "listen_addrs": [],
    }
    base.update(kw)
    return base


def test_every_legal_transition_and_no_other() -> None:
    states = set(TRANSITIONS)
    for old in states:
        for new in states:
            if new in TRANSITIONS[old]:
                assert transition("0x1", old, new) == new
            else:
                with pytest.raises(IllegalTransition):
                    transition("0x1", old, new)
    assert not TRANSITIONS["finalized"] and not TRANSITIONS["refunded"]


def test_amount_rounds_up_and_is_at_least_one() -> None:
    assert job_amount(0, 5) == 1
    assert job_amount(1, 1) == 1
    assert job_amount(1_000_000, 7) == 7
    assert job_amount(1_000_001, 7) == 8
    assert job_amount(2**63 + 1, 10**9) == (2**63 + 1) * 1000  # exact integer math, no float rounding
    assert job_amount(3 * 10**12 + 1, 10**6) == 3 * 10**12 + 1


@given(st.integers(0, 2**64), st.integers(0, 2**40), st.integers(0, 2**40))
def test_amount_is_exact_and_monotone_in_price(micro_ch: int, p1: int, p2: int) -> None:
    lo, hi = sorted((p1, p2))
    assert job_amount(micro_ch, lo) <= job_amount(micro_ch, hi)
    a = job_amount(micro_ch, hi)
    assert a >= 1 and micro_ch * hi <= a * 10**6
    assert a == 1 or (a - 1) * 10**6 < micro_ch * hi  # the smallest such amount


def test_submit_deadline() -> None:
    assert submit_deadline(1000, 1, 120, 10.0) == 1120  # tiny job: the minimum
    assert submit_deadline(1000, 1_000_000, 120, 10.0) == 1000 + 36_000  # 1 CH = 1 h × slack 10


def test_selection_cheapest_then_uptime_then_peer() -> None:
    views = [
        view("c", price=10),
        view("b", price=10, uptime=99.0),
        view("a", price=10, uptime=99.0),
        view("d"),
    ]
    chosen = select_provider(views, micro_ch=1_000_000, grade="B", max_price=100, load={})
    assert chosen.provider["peer_id"] == "a" and chosen.amount == 10


def test_selection_reasons() -> None:
    def why(**kw: Any) -> str | None:
        p = view("x", **kw.pop("v", {}))
        args: dict[str, Any] = {
            "micro_ch": 1_000_000, "grade": "B", "max_price": 10_000, "load_hours": 0.0,
            "flagged": False, "excluded": False,
        }  # fmt: skip
        args.update(kw)
        return disqualified(p, **args)

    assert why() is None
    assert "excluded" in (why(excluded=True) or "")
    assert "flagged" in (why(flagged=True) or "")
    assert "not listed" in (why(v={"listed": False}) or "")
    assert "verified" in (why(v={"verified": False}) or "")
    assert why(v={"staked": None}) is None  # no chain: stake is not checked
    assert "stake" in (why(v={"staked": False}) or "")
    assert "grade" in (why(v={"grades": {"performance": "C"}}) or "")
    assert "grade" in (why(v={"grades": {"performance": "?"}}, grade="D") or "")
    assert "price" in (why(max_price=999) or "")
    assert "capacity" in (why(load_hours=4.0) or "")
    assert "capacity" in (why(v={"hours": 0}) or "")


def test_a_provider_whose_free_stake_cannot_cover_the_lock_is_skipped() -> None:
    """JobEscrow.open would revert (InsufficientFreeStake): the quote must not name it."""
    lock = LockParams(min_job_lock=10 * 10**18, lock_per_unit=10**12)
    assert lock.amount_for(1) == 10 * 10**18 and lock.amount_for(10**8) == 10**20  # floor, then scaled
    a, b = view("a", price=1000), view("b", price=2000)
    free = {a["address"].lower(): 10 * 10**18 - 1, b["address"].lower(): 10 * 10**18}
    sel = select_provider(
        [a, b], micro_ch=1000, grade="B", max_price=10**6, load={}, free_stake=free, lock=lock
    )
    assert sel.provider["peer_id"] == "b"  # the cheaper one is 1 wei short
    with pytest.raises(JobsError, match="free stake"):
        select_provider(
            [a], micro_ch=1000, grade="B", max_price=10**6, load={}, free_stake=free, lock=lock, named="a"
        )
    unknown = select_provider(
        [a], micro_ch=1000, grade="B", max_price=10**6, load={}, free_stake={}, lock=lock
    )
    assert unknown.provider["peer_id"] == "a"  # not read yet: not held against it


def test_named_provider_is_refused_with_its_reason() -> None:
    views = [view("a"), view("b", grades={"performance": "D"})]
    assert (
        select_provider(views, micro_ch=1, grade="B", max_price=10, load={}, named="a").provider["peer_id"]
        == "a"
    )
    with pytest.raises(JobsError, match="does not qualify: performance grade D") as err:
        select_provider(views, micro_ch=1, grade="B", max_price=10, load={}, named="b")
    assert err.value.code == "no_provider" and err.value.status == 409
    with pytest.raises(JobsError, match="not known"):
        select_provider(views, micro_ch=1, grade="B", max_price=10, load={}, named="z")


def test_no_provider_names_the_cheapest() -> None:
    with pytest.raises(
        JobsError, match=r"grade A or better .* at or below 5 micro-USDC; cheapest: a at 1000"
    ):
        select_provider([view("a")], micro_ch=1_000_000, grade="A", max_price=5, load={})


_views = st.lists(
    st.builds(
        lambda i, listed, verified, staked, letter, price, hours, uptime, rate: view(
            f"p{i}",
            listed=listed,
            verified=verified,
            staked=staked,
            grades={"performance": letter},
            price=price,
            hours=hours,
            uptime=uptime,
            ch_per_hour_micro=rate,
        ),
        st.integers(0, 30),
        st.booleans(),
        st.booleans(),
        st.sampled_from([True, False, None]),
        st.sampled_from(["A", "B", "C", "D", "?"]),
        st.integers(0, 5000),
        st.integers(0, 5),
        st.none() | st.floats(0, 100),
        st.integers(1, 5_000_000),
    ),
    max_size=12,
    unique_by=lambda v: v["peer_id"],
)


@settings(max_examples=300, deadline=None)
@given(
    _views,
    st.integers(1, 10_000_000),
    st.sampled_from(GRADES),
    st.integers(1, 20_000),
    st.dictionaries(st.sampled_from([f"p{i}" for i in range(31)]), st.floats(0, 10), max_size=5),
    st.sets(st.sampled_from([f"p{i}" for i in range(31)]), max_size=4),
)
def test_selection_never_violates_a_rule_and_is_cheapest(
    views: list[dict[str, Any]],
    micro_ch: int,
    grade: str,
    max_price: int,
    load: dict[str, float],
    excl: set[str],
) -> None:
    flagged = {views[0]["address"]} if views else set()
    try:
        chosen = select_provider(
            views,
            micro_ch=micro_ch,
            grade=grade,
            max_price=max_price,
            load=load,
            flagged=flagged,
            exclude=excl,
        )
    except JobsError as exc:
        assert exc.code == "no_provider"
        qualifying = []
    else:
        p = chosen.provider
        assert p["listed"] and p["verified"] and p["staked"] is not False
        assert p["grades"]["performance"] in GRADES[: GRADES.index(grade) + 1]
        assert chosen.amount == job_amount(micro_ch, p["price"]) <= max_price
        assert p["hours"] >= 1 and load.get(p["peer_id"], 0.0) < p["hours"]
        assert p["address"] not in flagged and p["peer_id"] not in excl
        qualifying = [p]
    # the oracle: filter by the rules written out independently, then take the cheapest
    oracle = [
        v for v in views
        if v["listed"] and v["verified"] and v["staked"] is not False and v["grades"]["performance"] in GRADES
        and GRADES.index(v["grades"]["performance"]) <= GRADES.index(grade)
        and job_amount(micro_ch, v["price"]) <= max_price and v["hours"] >= 1
        and load.get(v["peer_id"], 0.0) < v["hours"] and v["address"] not in flagged and v["peer_id"] not in excl
    ]  # fmt: skip
    assert bool(oracle) == bool(qualifying)
    if oracle:
        best = min(
            oracle, key=lambda v: (job_amount(micro_ch, v["price"]), -(v["uptime"] or 0.0), v["peer_id"])
        )
        assert qualifying[0]["peer_id"] == best["peer_id"]


JOB_ID = bytes.fromhex("11" * 20) + (7).to_bytes(12, "big")


def escrow(**kw: Any) -> EscrowJob:
    base: dict[str, Any] = {
        "buyer": "0x" + "11" * 20, "state": "Open", "deadline": 2000, "challenge_window": 600,
        "provider": "0x" + "22" * 20, "amount": 50, "result_root": b"\0" * 32,
    }  # fmt: skip
    base.update(kw)
    return EscrowJob(**base)


def test_escrow_checks_name_the_first_difference() -> None:
    terms = {
        "job_id": JOB_ID,
        "provider": "0x" + "22" * 20,
        "amount": 50,
        "challenge_window": 600,
        "deadline": 2000,
    }
    assert buyer_of(JOB_ID) == "0x" + "11" * 20
    check_escrow(escrow(), **terms)  # type: ignore[arg-type]
    check_escrow(escrow(amount=51), **terms)  # type: ignore[arg-type]  # paying more is fine
    cases = {
        "not_escrowed": escrow(state="None"),
        "state": escrow(state="Refunded"),
        "buyer": escrow(buyer="0x" + "33" * 20),
        "provider": escrow(provider="0x" + "33" * 20),
        "amount": escrow(amount=49),
        "challenge window": escrow(challenge_window=601),
        "submit deadline": escrow(deadline=2001),
    }
    for what, e in cases.items():
        with pytest.raises(JobsError) as err:
            check_escrow(e, **terms)  # type: ignore[arg-type]
        assert err.value.code == ("not_escrowed" if what == "not_escrowed" else "escrow_mismatch")
        assert what == "not_escrowed" or what in err.value.message


def test_escrow_from_call_reads_the_struct() -> None:
    raw = ("0x" + "AB" * 20, 2, 99, 600, 100, "0x" + "CD" * 20, 5, b"\1" * 32)
    e = EscrowJob.from_call(raw)
    assert e.state == "Submitted" and e.buyer == "0x" + "ab" * 20 and e.provider == "0x" + "cd" * 20


def test_result_checks() -> None:
    job = matmul_job(4)
    run = run_job(job, NumpyBackend(), load_profile())
    leaves = run.commitment.result.leaves
    root = run.result_root
    ok = dict(
        job_state="delivered", provider_peer="P", sender_peer="P", program_digest=job.program.digest,
        result_root=root, leaves=leaves, n_ops=len(job.program.ops),
        escrow=escrow(state="Submitted", result_root=root),
    )  # fmt: skip
    assert check_result(**ok) is None  # type: ignore[arg-type]
    assert check_result(**{**ok, "sender_peer": "Q"}) == "not the job's provider"  # type: ignore[arg-type]
    assert "do not commit" in (check_result(**{**ok, "result_root": b"\2" * 32}) or "")  # type: ignore[arg-type]
    assert "not show" in (check_result(**{**ok, "escrow": escrow(result_root=root)}) or "")  # type: ignore[arg-type]
    other = escrow(state="Submitted", result_root=b"\3" * 32)
    assert "another result root" in (check_result(**{**ok, "escrow": other}) or "")  # type: ignore[arg-type]
    assert "refunded" in (check_result(**{**ok, "job_state": "refunded"}) or "")  # type: ignore[arg-type]
