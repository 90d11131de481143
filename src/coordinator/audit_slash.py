"""Capacity-audit failures on-chain: the coordinator posts a slashable provider's run of failed
audits to ``AuditSlasher`` and executes the slashes that come due (docs/audits.md, "On-chain:
evidence and the slash").

Theory of operation. When the registry marks a provider slashable (``failures_to_flag`` failed
audits in a row, :mod:`.registry.audits`), its *run* is its newest stored records back to its last
pass. :func:`plan_posts` (pure) says which of them to post and after which predecessor: after the
newest one already on chain (``AuditSlasher.evidenceOf``), or, when none is, from the first one
still inside the contract's ``period``, as a new run. :class:`AuditSlashPoster` posts them in order
(each links the previous one by challenge id, so passes are never posted: a pass simply starts the
next run afresh) and executes pending slashes whose delay has passed. Restart-safe without state
of its own: what is posted is read back from the chain (the contract refuses a challenge id twice,
``EvidenceKnown``), and the slashes to execute are the contract's pending ones.

The store is read on the trio thread (:meth:`AuditSlashPoster.runs`); chain calls are blocking and
run in a worker thread (:meth:`AuditSlashPoster.sync`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from web3.logs import DISCARD

from gcx.audit.core import AuditRecord, decode_record
from gcx.chain.audit_slasher import AUDITOR_ROLE, SLASH_PENDING, ZERO_ID, failure_post
from gcx.errors import GCXError

from .registry.audits import StoredAudit
from .registry.core import Registry

log = logging.getLogger("gcx.coordinator.audit_slash")
#: A record is posted only while it is at least this far inside the contract's period (the
#: transaction needs time to be mined before ``StaleEvidence``).
STALE_MARGIN_S = 60.0


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One failed audit of a run: the stored record, decoded."""

    stored: StoredAudit
    record: AuditRecord

    @property
    def challenge_id(self) -> bytes:
        """The evidence id."""
        return self.record.decoded_challenge().id

    @property
    def issued_at_s(self) -> float:
        """The challenge's issue time on the auditor's clock."""
        return self.record.decoded_challenge().issued_at_ms / 1000


def current_run(newest_first: Sequence[StoredAudit], consecutive: int) -> list[StoredAudit]:
    """A provider's current run of failures, oldest first: its newest ``consecutive`` records,
    stopping at a pass (fewer when older ones were pruned)."""
    run: list[StoredAudit] = []
    for stored in newest_first[: max(0, consecutive)]:
        if stored.verdict == "passed":
            break
        run.append(stored)
    return run[::-1]


def plan_posts(
    issued_at_s: Sequence[float],
    posted: Sequence[bool],
    now: float,
    period_s: float,
    margin_s: float = STALE_MARGIN_S,
) -> int:
    """Which of a run's failures (oldest first) to post: returns the index of the first; it links
    the one before it (which is on chain) or, at index 0 or after stale ones, starts a new run.
    Everything after the newest posted one is posted; with none posted, everything from the first
    failure still ``margin_s`` inside ``period_s``. ``len(posted)``: nothing to post."""
    newest = max((i for i, p in enumerate(posted) if p), default=-1)
    if newest >= 0:
        return newest + 1
    for i, at in enumerate(issued_at_s):
        if at + period_s > now + margin_s:
            return i
    return len(posted)


class AuditSlashPoster:
    """Posts slashable providers' runs to ``AuditSlasher`` and executes due slashes, through
    ``chain`` (a :class:`gcx.chain.Chain` with the auditor's key)."""

    def __init__(self, chain: Any, clock: Callable[[], float] = time.time) -> None:
        self.chain = chain
        self.clock = clock
        self._synced: dict[str, bytes] = {}  # peer -> newest failure known to be on chain
        self._seen_slashes = 0
        self._pending: set[int] = set()
        self.gas: list[tuple[str, int]] = []  # (what, gas used), for logs and tests

    def is_auditor(self) -> bool:
        """Whether the key holds ``AUDITOR_ROLE``."""
        return bool(self.chain.call("AuditSlasher", "hasRole", AUDITOR_ROLE, self.chain.address))

    def runs(self, registry: Registry) -> list[tuple[str, list[RunEntry]]]:
        """The runs of slashable providers with failures not yet known to be on chain (reads the
        registry's store: call on the thread that owns it)."""
        policy = registry.audit_policy
        if policy is None:
            return []
        out = []
        for peer, state in registry.store.audit_states().items():
            if not state.slashable(policy):
                continue
            run = current_run(registry.store.audit_records(peer, policy.keep), state.consecutive_failures)
            entries = [RunEntry(s, decode_record(s.record)) for s in run]
            if entries and self._synced.get(peer) != entries[-1].challenge_id:
                out.append((peer, entries))
        return out

    def sync(self, runs: Sequence[tuple[str, list[RunEntry]]]) -> None:
        """Post every run's missing failures, then execute the slashes that are due (blocking)."""
        period_s = float(self.chain.call("AuditSlasher", "params")[1]) if runs else 0.0
        for peer, entries in runs:
            try:
                self._post_run(peer, entries, period_s)
            except GCXError as exc:
                log.warning("cannot post the audit failures of %s on chain: %s", peer, exc)
        try:
            self._execute_due()
        except GCXError as exc:
            log.warning("cannot execute audit slashes: %s", exc)

    def _post_run(self, peer: str, entries: list[RunEntry], period_s: float) -> None:
        posted = [
            int(self.chain.call("AuditSlasher", "evidenceOf", e.challenge_id)[0], 16) != 0 for e in entries
        ]
        start = plan_posts([e.issued_at_s for e in entries], posted, self.clock(), period_s)
        prev = entries[start - 1].challenge_id if start > 0 and posted[start - 1] else ZERO_ID
        for entry in entries[start:]:
            post = failure_post(entry.record, entry.stored.record, prev)
            receipt = self.chain.transact("AuditSlasher", "postFailure", *post.args())
            gas = int(receipt["gasUsed"])
            self.gas.append(("postFailure", gas))
            contract = self.chain.contract("AuditSlasher")
            count = [
                e["args"]["count"]
                for e in contract.events.FailurePosted().process_receipt(receipt, errors=DISCARD)
            ]
            log.warning(
                "posted audit failure 0x%s of %s (%s, %d bytes of evidence) on chain: run %s, %d gas",
                post.challenge_id.hex(), peer, entry.record.verdict, len(post.record), count[0] if count else "?", gas,
            )  # fmt: skip
            for event in contract.events.SlashProposed().process_receipt(receipt, errors=DISCARD):
                log.warning(
                    "audit slash %d of %s proposed, executable at %d",
                    event["args"]["slashId"], peer, event["args"]["executableAt"],
                )  # fmt: skip
            prev = post.challenge_id
        self._synced[peer] = entries[-1].challenge_id

    def _execute_due(self) -> None:
        count = int(self.chain.call("AuditSlasher", "slashCount"))
        self._pending.update(range(self._seen_slashes + 1, count + 1))
        self._seen_slashes = count
        if not self._pending:
            return
        # The chain's clock decides (the latest block's time): no transaction is sent to be refused.
        now = int(self.chain._read(lambda: self.chain.w3.eth.get_block("latest")["timestamp"]))
        for slash_id in sorted(self._pending):
            provider, executable_at, status, _ = self.chain.call("AuditSlasher", "slashes", slash_id)
            if int(status) != SLASH_PENDING:
                self._pending.discard(slash_id)
                continue
            if executable_at > now:
                continue
            receipt = self.chain.transact("AuditSlasher", "executeSlash", slash_id)
            gas = int(receipt["gasUsed"])
            self.gas.append(("executeSlash", gas))
            events = (
                self.chain.contract("AuditSlasher")
                .events.SlashExecuted()
                .process_receipt(receipt, errors=DISCARD)
            )
            amount = events[0]["args"]["amount"] if events else 0
            log.warning(
                "audit slash %d executed: %d GCX wei of %s's stake, %d gas", slash_id, amount, provider, gas
            )
            self._pending.discard(slash_id)


async def run_audit_slasher(registry: Registry, poster: AuditSlashPoster, poll_s: float = 5.0) -> None:
    """Every ``poll_s``: post slashable providers' failures and execute due slashes. Runs until
    cancelled; a chain error is logged and retried at the next round."""
    while True:
        runs = poster.runs(registry)
        await trio.to_thread.run_sync(poster.sync, runs)
        await trio.sleep(poll_s)


async def start_audit_slasher(
    registry: Registry, rpc_url: str, deployment: Any, key: Any, poll_s: float
) -> None:
    """Connect with the coordinator's key and run :func:`run_audit_slasher` if the deployment has
    an ``AuditSlasher`` and the key holds its ``AUDITOR_ROLE``; otherwise log why not and return."""
    from gcx.chain import connect

    try:
        chain = await trio.to_thread.run_sync(connect, rpc_url, deployment, key)
        if "AuditSlasher" not in chain.deployment.contracts:
            log.info("the deployment has no AuditSlasher: slashable providers are not posted on chain")
            return
        poster = AuditSlashPoster(chain)
        auditor = await trio.to_thread.run_sync(poster.is_auditor)
    except GCXError as exc:
        log.warning("slashable providers are not posted on chain: %s", exc)
        return
    if not auditor:
        log.warning(
            "%s does not hold AUDITOR_ROLE on AuditSlasher: slashable providers are not posted on chain "
            "(grant it with gcx.chain.audit_slasher.grant_auditor)",
            chain.address,
        )
        return
    log.info("posting slashable providers' audit failures to AuditSlasher as %s", chain.address)
    await run_audit_slasher(registry, poster, poll_s)
