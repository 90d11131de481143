"""``AuditSlasher`` (contracts/src/AuditSlasher.sol) from Python: its deployment parameters, its
deployment and wiring, and the arguments of a failed audit's evidence post.

The contract holds the StakingRegistry's ``SLASHER_ROLE``; the coordinator's key (``AUDITOR_ROLE``)
posts the failures of a run (docs/audits.md, "On-chain: evidence and the slash"). Kept apart from
:mod:`.deploy` so that :func:`deploy_audit_slasher` is called from one line of
:func:`~.deploy.deploy_all`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eth_hash.auto import keccak

from .errors import ChainError

if TYPE_CHECKING:  # the audit core (NumPy) is imported by whoever has a record to post
    from gcx.audit.core import AuditRecord

TOKEN: Final = 10**18
AUDITOR_ROLE: Final = keccak(b"AUDITOR_ROLE")
GUARDIAN_ROLE: Final = keccak(b"GUARDIAN_ROLE")
SLASHER_ROLE: Final = keccak(b"SLASHER_ROLE")
#: ``AuditSlasher.Verdict`` (``Passed`` = 0 is never posted).
VERDICT_CODES: Final = {
    "passed": 0,
    "late": 1,
    "wrong_root_format": 2,
    "bad_signature": 3,
    "wrong_row": 4,
    "bad_proof": 5,
    "no_answer": 6,
}
#: ``AuditSlasher.SlashStatus``.
SLASH_PENDING: Final = 1
#: Largest record the contract takes (``MAX_RECORD_BYTES``).
MAX_RECORD_BYTES: Final = 256 * 1024
ZERO_ID: Final = b"\0" * 32


@dataclass(frozen=True, slots=True)
class AuditSlasherParams:
    """``AuditSlasher.Params``: ``threshold`` failures in a row within ``period_s`` (of the first
    counted) propose a slash of ``slash_bps`` of the provider's slashable stake, at most
    ``max_slash`` (GCX wei), executable ``slash_delay_s`` later (the guardian's veto window; 0:
    at once); at most ``max_slashes_per_window`` proposals per ``rate_window_s``; the registry's
    reward and compensation shares go to ``reward_to`` / ``compensate_to`` (None: burned).
    ``period_s + slash_delay_s`` must not exceed the registry's unbonding delay."""

    threshold: int = 3
    period_s: int = 86_400
    slash_delay_s: int = 86_400
    slash_bps: int = 1_000
    max_slash: int = 1_000 * TOKEN
    max_slashes_per_window: int = 10
    rate_window_s: int = 86_400
    reward_to: str | None = None
    compensate_to: str | None = None

    @classmethod
    def for_unbonding(cls, unbonding_delay_s: int) -> AuditSlasherParams:
        """The defaults, with the period and the delay each at most a third of the unbonding delay
        (so a short devnet delay still leaves stake in reach of a slash)."""
        third = max(1, unbonding_delay_s // 3)
        return cls(period_s=min(86_400, third), slash_delay_s=min(86_400, third))

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``Params`` struct as web3 takes it."""
        zero = "0x" + "00" * 20
        return (
            self.threshold, self.period_s, self.slash_delay_s, self.slash_bps, self.max_slash,
            self.max_slashes_per_window, self.rate_window_s, self.reward_to or zero, self.compensate_to or zero,
        )  # fmt: skip


def deploy_audit_slasher(
    deploy: Callable[..., Any],
    send: Callable[..., None],
    staking: Any,
    admin: str,
    unbonding_delay_s: int,
    params: AuditSlasherParams | None = None,
) -> Any:
    """Deploy ``AuditSlasher`` over ``staking`` (``deploy(name, *args)`` returns the contract,
    ``send(contract, fn, *args)`` sends from the admin) and grant it the registry's
    ``SLASHER_ROLE``. ``admin`` gets the admin and guardian roles; nobody gets ``AUDITOR_ROLE``
    here: grant it to the coordinator's key (:func:`grant_auditor`)."""
    p = params or AuditSlasherParams.for_unbonding(unbonding_delay_s)
    slasher = deploy("AuditSlasher", staking.address, admin, p.as_tuple())
    send(staking, "grantRole", SLASHER_ROLE, slasher.address)
    return slasher


@dataclass(frozen=True, slots=True)
class FailurePost:
    """One failed audit as :meth:`AuditSlasher.postFailure` takes it."""

    provider: str
    challenge_id: bytes
    prev_id: bytes
    verdict: int
    seed: int
    claimed_ops_per_s: int
    issued_at_ms: int
    record: bytes

    def args(self) -> tuple[tuple[Any, ...], bytes]:
        """``(Failure, record)`` for web3."""
        failure = (
            self.provider, self.challenge_id, self.prev_id, self.verdict, self.seed,
            self.claimed_ops_per_s, self.issued_at_ms,
        )  # fmt: skip
        return failure, self.record


def failure_post(record: AuditRecord, raw: bytes, prev_id: bytes = ZERO_ID) -> FailurePost:
    """The evidence post of the failed audit ``record`` (canonical bytes ``raw``) following
    failure ``prev_id`` (zero: the first of a run). :class:`ChainError` for a pass or a record
    too large for the contract."""
    if record.passed:
        raise ChainError("a passed audit is not posted as a failure")
    if len(raw) > MAX_RECORD_BYTES:
        raise ChainError(f"audit record of {len(raw)} bytes is above the contract's {MAX_RECORD_BYTES}")
    c = record.decoded_challenge()
    return FailurePost(
        provider=c.provider,
        challenge_id=c.id,
        prev_id=prev_id,
        verdict=VERDICT_CODES[str(record.verdict)],
        seed=c.seed,
        claimed_ops_per_s=c.claimed_ops_per_s,
        issued_at_ms=c.issued_at_ms,
        record=raw,
    )


def grant_auditor(admin_chain: Any, auditor: str) -> None:
    """Grant ``auditor`` (the coordinator's address, which signs its challenges) ``AUDITOR_ROLE``
    on the deployment's ``AuditSlasher``, from ``admin_chain`` (a :class:`~.client.Chain` with the
    admin's key)."""
    admin_chain.transact("AuditSlasher", "grantRole", AUDITOR_ROLE, auditor)
