"""The coordinator's job book, pure part (docs/jobs-api.md; JOBS-SPEC "The flow").

Nothing here does I/O: the service (:mod:`.service`) reads the chain, the registry and the clock
and hands the values in. What lives here:

* the job states and their legal transitions (:func:`transition`; anything else is an
  :class:`IllegalTransition`);
* pricing (:func:`job_amount`), deadlines (:func:`submit_deadline`) and provider selection from
  the registry's view dicts (:func:`select_provider`);
* the checks of an escrow (:func:`check_escrow`) and of a provider's ``Result``
  (:func:`check_result`) against what the chain shows;
* every error the job API answers, as :class:`JobsError` with its HTTP status and code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from gcx.errors import GCXError
from gcx.tp.commit import OpLeaf, commit_result

JobState = Literal["open", "delivered", "submitted", "finalized", "refunded", "lost", "challenged"]
JOB_STATES: Final = frozenset(JobState.__args__)  # type: ignore[attr-defined]
#: States in which the provider still owes a result (they count against its capacity; at the
#: submit deadline they are refunded).
UNSUBMITTED: Final = frozenset({"open", "delivered", "lost"})
#: Legal transitions. The chain is the truth: a provider may submit on chain after it was
#: marked lost, so ``lost → submitted`` is legal; terminal states have no way out.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "open": frozenset({"delivered", "lost", "submitted", "refunded"}),
    "delivered": frozenset({"lost", "submitted", "refunded"}),
    "lost": frozenset({"submitted", "refunded"}),
    "submitted": frozenset({"finalized", "challenged"}),
    "challenged": frozenset({"finalized", "refunded"}),
    "finalized": frozenset(),
    "refunded": frozenset(),
}
GRADES: Final = ("A", "B", "C", "D")
#: JobEscrow.State, in the contract's order.
ESCROW_STATES: Final = ("None", "Open", "Submitted", "Challenged", "Finalized", "Refunded")
MICRO: Final = 1_000_000


class IllegalTransition(GCXError):  # noqa: N818 - reads as what happened
    """A job state change the state machine does not allow."""

    def __init__(self, job_id: str, old: str, new: str) -> None:
        super().__init__(f"job {job_id}: no transition from {old} to {new}")
        self.job_id, self.old, self.new = job_id, old, new


class JobsError(GCXError):
    """An error the job API answers: HTTP ``status``, machine-readable ``code``, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def transition(job_id: str, old: str, new: str) -> str:
    """``new`` when ``old → new`` is legal, else :class:`IllegalTransition`."""
    if new not in TRANSITIONS.get(old, frozenset()):
        raise IllegalTransition(job_id, old, new)
    return new


# -- pricing and deadlines -------------------------------------------------------------------


def job_amount(micro_ch: int, price_per_ch: int) -> int:
    """The job's price in micro-USDC: ``max(1, ceil(micro_ch * price_per_ch / 1e6))`` (exact)."""
    if micro_ch < 0 or price_per_ch < 0:
        raise ValueError("micro_ch and price_per_ch must be >= 0")
    return max(1, -(-micro_ch * price_per_ch // MICRO))


def reference_seconds(micro_ch: int) -> float:
    """How long the job runs on the reference machine (1 CH = one reference hour)."""
    return micro_ch * 3600 / MICRO


def submit_deadline(now: int, micro_ch: int, min_submit_s: int, submit_slack: float) -> int:
    """``now + max(min_submit_s, ceil(submit_slack * reference_seconds))``."""
    return now + max(min_submit_s, math.ceil(submit_slack * reference_seconds(micro_ch)))


def estimated_hours(micro_ch: int, ch_per_hour_micro: int) -> float:
    """Wall-clock hours the job takes on a provider of this rate (infinite at rate 0)."""
    return math.inf if ch_per_hour_micro <= 0 else micro_ch / ch_per_hour_micro


# -- provider selection ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen provider's view and the job's price with it."""

    provider: Mapping[str, Any]
    amount: int


def _grade_ok(letter: Any, asked: str) -> bool:
    return letter in GRADES and GRADES.index(letter) <= GRADES.index(asked)


def disqualified(
    p: Mapping[str, Any],
    *,
    micro_ch: int,
    grade: str,
    max_price: int,
    load_hours: float,
    flagged: bool,
    excluded: bool,
    free_stake: int | None = None,
    lock: LockParams | None = None,
) -> str | None:
    """Why provider view ``p`` cannot take the job, or None when it qualifies.

    ``load_hours``: the estimated hours of its jobs not yet submitted; ``free_stake`` its bonded
    stake not locked by open jobs (None: unknown, not checked) and ``lock`` the escrow's lock
    parameters: ``JobEscrow.open`` would revert if the job's lock exceeds the free stake."""
    if excluded:
        return "excluded by the buyer"
    if flagged:
        return "flagged by a verified mismatch"
    if not p.get("listed"):
        return "not listed (advert expired or stake missing)"
    if p.get("verified", True) is not True:
        return "not verified by a capacity audit"
    if p.get("staked") is False:
        return "its stake does not cover the minimum"
    letter = p.get("grades", {}).get("performance")
    if not _grade_ok(letter, grade):
        return f"performance grade {letter} is below {grade}"
    amount = job_amount(micro_ch, int(p.get("price", 0)))
    if amount > max_price:
        return f"its price for the job, {amount} micro-USDC, is above the maximum {max_price}"
    hours = int(p.get("hours", 0))
    if hours < 1 or load_hours >= hours:
        return f"no free capacity ({load_hours:.3g} of {hours} advertised hours taken)"
    if free_stake is not None and lock is not None and free_stake < lock.amount_for(amount):
        return f"its free stake ({free_stake} wei of GCX) does not cover the job's stake lock ({lock.amount_for(amount)})"
    return None


@dataclass(frozen=True, slots=True)
class LockParams:
    """``JobEscrow``'s per-job stake lock: ``max(min_job_lock, amount · lock_per_unit)`` GCX wei."""

    min_job_lock: int
    lock_per_unit: int

    def amount_for(self, amount: int) -> int:
        """The stake a job paying ``amount`` micro-USDC locks (``JobEscrow.lockAmountFor``)."""
        return max(self.min_job_lock, amount * self.lock_per_unit)


def _rank(p: Mapping[str, Any], micro_ch: int) -> tuple[int, float, str]:
    uptime = p.get("uptime")
    return (job_amount(micro_ch, int(p.get("price", 0))), -(uptime or 0.0), str(p.get("peer_id", "")))


def select_provider(
    views: Iterable[Mapping[str, Any]],
    *,
    micro_ch: int,
    grade: str,
    max_price: int,
    load: Mapping[str, float],
    flagged: Iterable[str] = (),
    exclude: Iterable[str] = (),
    named: str | None = None,
    free_stake: Mapping[str, int] | None = None,
    lock: LockParams | None = None,
) -> Selection:
    """The provider for a job of ``micro_ch`` (see the spec's rules and :func:`disqualified`):
    the cheapest that qualifies (ties: higher uptime, then peer id), or exactly ``named``.

    ``load`` maps peer id → estimated hours of its unsubmitted jobs; ``flagged`` holds the
    lower-cased addresses of flagged providers; ``exclude`` peer ids; ``free_stake`` maps
    lower-cased addresses to unlocked bonded stake (a provider missing from it is not checked)
    and ``lock`` is the escrow's lock rule. :class:`JobsError`
    409 ``no_provider`` saying why when none qualifies."""
    if grade not in GRADES:
        raise JobsError(422, "invalid_request", f"grade must be one of {', '.join(GRADES)}")
    bad_flags = {a.lower() for a in flagged}
    excluded = set(exclude)
    candidates = list(views)

    def why(p: Mapping[str, Any]) -> str | None:
        return disqualified(
            p,
            micro_ch=micro_ch,
            grade=grade,
            max_price=max_price,
            load_hours=load.get(str(p.get("peer_id")), 0.0),
            flagged=str(p.get("address", "")).lower() in bad_flags,
            excluded=p.get("peer_id") in excluded,
            free_stake=None if free_stake is None else free_stake.get(str(p.get("address", "")).lower()),
            lock=lock,
        )

    if named is not None:
        for p in candidates:
            if p.get("peer_id") == named:
                reason = why(p)
                if reason is not None:
                    raise JobsError(409, "no_provider", f"provider {named} does not qualify: {reason}")
                return Selection(p, job_amount(micro_ch, int(p["price"])))
        raise JobsError(409, "no_provider", f"provider {named} is not known to this coordinator")
    ok = sorted((p for p in candidates if why(p) is None), key=lambda p: _rank(p, micro_ch))
    if ok:
        return Selection(ok[0], job_amount(micro_ch, int(ok[0]["price"])))
    text = f"no verified provider of grade {grade} or better with free capacity at or below {max_price} micro-USDC"
    if candidates:
        cheapest = min(candidates, key=lambda p: _rank(p, micro_ch))
        text += (
            f"; cheapest: {cheapest.get('peer_id')} at {_rank(cheapest, micro_ch)[0]} micro-USDC "
            f"({why(cheapest)})"
        )
    else:
        text += "; no provider is listed"
    raise JobsError(409, "no_provider", text)


# -- escrow and result checks ----------------------------------------------------------------


def buyer_of(job_id: bytes) -> str:
    """The buyer bound to a JobEscrow job id: its top 20 bytes, as a lower-case 0x address."""
    if len(job_id) != 32:
        raise ValueError("a job id is 32 bytes")
    return "0x" + job_id[:20].hex()


@dataclass(frozen=True, slots=True)
class EscrowJob:
    """``JobEscrow.getJob`` as plain values (addresses lower-cased)."""

    buyer: str
    state: str
    deadline: int
    challenge_window: int
    provider: str
    amount: int
    result_root: bytes

    @classmethod
    def from_call(cls, raw: Sequence[Any]) -> EscrowJob:
        """From the contract's ``Job`` struct tuple (buyer, state, deadline, challengeWindow,
        feeBps, provider, amount, resultRoot)."""
        state = int(raw[1])
        return cls(
            buyer=str(raw[0]).lower(),
            state=ESCROW_STATES[state] if 0 <= state < len(ESCROW_STATES) else f"unknown({state})",
            deadline=int(raw[2]),
            challenge_window=int(raw[3]),
            provider=str(raw[5]).lower(),
            amount=int(raw[6]),
            result_root=bytes(raw[7]),
        )


def check_escrow(
    escrow: EscrowJob, *, job_id: bytes, provider: str, amount: int, challenge_window: int, deadline: int
) -> None:
    """That the escrowed job is what the quote priced; :class:`JobsError` 409 ``not_escrowed``
    or ``escrow_mismatch`` naming the first difference."""
    if escrow.state == "None":
        raise JobsError(409, "not_escrowed", f"JobEscrow has no job {'0x' + job_id.hex()} (yet)")
    checks = (
        ("state", escrow.state, "Open", escrow.state == "Open"),
        ("buyer", escrow.buyer, buyer_of(job_id), escrow.buyer == buyer_of(job_id)),
        ("provider", escrow.provider, provider.lower(), escrow.provider == provider.lower()),
        ("amount", escrow.amount, f">= {amount}", escrow.amount >= amount),
        (
            "challenge window",
            escrow.challenge_window,
            challenge_window,
            escrow.challenge_window == challenge_window,
        ),
        ("submit deadline", escrow.deadline, deadline, escrow.deadline == deadline),
    )
    for what, got, want, ok in checks:
        if not ok:
            raise JobsError(
                409, "escrow_mismatch", f"the escrowed job's {what} is {got}, the quote's is {want}"
            )


def check_result(
    *,
    job_state: str,
    provider_peer: str,
    sender_peer: str,
    program_digest: bytes,
    result_root: bytes,
    leaves: Sequence[OpLeaf],
    n_ops: int,
    escrow: EscrowJob | None,
) -> str | None:
    """Why a provider's ``Result`` is refused, or None when it is accepted: it must come from
    the job's provider, its leaves (one per op) must commit to ``result_root`` under the
    program's digest, and the chain must show that root submitted."""
    if sender_peer != provider_peer:
        return "not the job's provider"
    if job_state not in UNSUBMITTED and job_state != "submitted":
        return f"the job is {job_state}"
    if len(leaves) != n_ops:
        return f"{len(leaves)} leaves for a program of {n_ops} ops"
    try:
        root = commit_result(program_digest, leaves).root
    except GCXError as exc:
        return f"the leaves do not commit: {exc}"
    if root != result_root:
        return "the leaves do not commit to the result root"
    if escrow is None or escrow.state not in ("Submitted", "Challenged", "Finalized"):
        return "the chain does not show the result submitted"
    if escrow.result_root != result_root:
        return "the chain shows another result root"
    return None
