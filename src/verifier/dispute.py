"""The verifier's disputes: open one on every result its re-execution contradicts, play it to the
end, take the bond back and the reward (docs/jobs-verifier.md, "Disputes"; the game:
docs/verification.md).

Theory of operation
-------------------
As soon as a sampled job's own result root differs from the provider's, :meth:`Disputer.start`
opens a dispute (in parallel with locating the first mismatch for the coordinator's report, which
needs the provider's proofs; the game does not — a provider that withholds them loses on chain):

1. the job's spec committed on chain must be its program's (``JobSpecs.specOf`` =
   :func:`gcx.jobs.spec.job_spec`'s hash), else there is nothing the game could decide and the
   job is left alone (logged);
2. the spec's preimage is published unless someone did (``JobSpecs.publish``);
3. ``VerificationGame.open`` with the bond, unless this verifier already disputes the job
   (``disputeOf``: a restart after the open was mined);
4. the dispute is journaled (``$GCX_HOME/verifier/disputes.sqlite``) and played by
   :func:`gcx.game.driver.play` with the honest challenger strategy on the verifier's own run.

After a restart, every journaled dispute not yet ended (or whose credit was not withdrawn) is
played on: the job is fetched from the coordinator again and re-executed (deterministic), and the
provider's reveals are read back from the dispute's calldata. One lock serializes all of the
verifier's transactions (one account, sequential nonces). Every move is logged with its gas.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from gcx.chain import Chain
from gcx.chain.game import GameClient, GameReverted
from gcx.errors import GCXError
from gcx.game.driver import play
from gcx.game.journal import DisputeJournal
from gcx.game.proofs import Side
from gcx.game.sides import ChainView, ChallengerStrategy
from gcx.jobs.spec import job_spec
from gcx.tp.jobfile import JobFile

log = logging.getLogger("gcx.verifier.dispute")

__all__ = ["Disputer"]


class Disputer:
    """Opens and plays this verifier's disputes over ``chain`` (with the verifier's key),
    journaled in ``journal``. ``reload(job_id)`` gives a job's file and the verifier's own run of
    it again after a restart (the coordinator's spec, re-executed)."""

    def __init__(
        self,
        chain: Chain,
        journal: DisputeJournal,
        reload: Callable[[str], Awaitable[tuple[JobFile, Any]]],
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.game = GameClient(chain)
        self.view = ChainView(self.game)
        self.journal, self.reload, self.poll_s = journal, reload, poll_s
        self.tx_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._playing: set[int] = set()
        self.opened = 0

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Play on every journaled dispute, then serve :meth:`start` until cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for d in self.journal.live():
                    if d.side == "challenger":
                        nursery.start_soon(self._resume, d.id, d.job_id)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self.journal.close()

    def start(self, job_id: str, job: JobFile, own: Any) -> None:
        """Dispute job ``job_id`` (its own run ``own`` contradicts the provider's root)."""
        if self._nursery is None:
            raise RuntimeError("Disputer.run is not running")
        self._nursery.start_soon(self._dispute, job_id, job, own)

    async def _chain(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    async def _tx(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self.tx_lock:
            return await trio.to_thread.run_sync(fn, *args)

    async def _dispute(self, job_id: str, job: JobFile, own: Any) -> None:
        jid = bytes.fromhex(job_id[2:])
        spec = job_spec(job.program)
        try:
            dispute_id = await self._chain(self.game.dispute_of, jid, self.view.address)
            if dispute_id == 0:
                committed = await self._chain(self.game.spec_of, jid)
                if committed != spec.hash:
                    log.warning(
                        "job %s: its committed spec 0x%s is not its program's 0x%s: the game cannot "
                        "decide it, not disputing", job_id, committed.hex(), spec.hash.hex(),
                    )  # fmt: skip
                    return
                if not await self._chain(self.game.is_published, jid):
                    sent = await self._tx(self.game.publish_spec, jid, spec)
                    log.info("job %s: spec published, %d gas", job_id, sent.gas_used)
                opened = await self._tx(self.game.open, jid)
                dispute_id = opened.dispute_id
                self.opened += 1
                log.warning(
                    "job %s: dispute %d opened with a bond of %d wei, %d gas",
                    job_id, dispute_id, opened.bond, opened.sent.gas_used,
                )  # fmt: skip
        except GameReverted as exc:  # window closed, job ended, another's freeze, …
            log.warning("job %s: cannot dispute: %s", job_id, exc)
            return
        except GCXError as exc:
            log.warning("job %s: cannot dispute now: %s", job_id, exc)
            return
        self.journal.track(dispute_id, job_id, "challenger")
        await self._play(dispute_id, job, own, spec)

    async def _resume(self, dispute_id: int, job_id: str) -> None:
        while True:
            try:
                job, own = await self.reload(job_id)
                break
            except GCXError as exc:
                log.warning("dispute %d: cannot reload job %s yet: %s", dispute_id, job_id, exc)
                await trio.sleep(max(self.poll_s, 5.0))
        log.info("dispute %d on job %s: playing on after a restart", dispute_id, job_id)
        await self._play(dispute_id, job, own, job_spec(job.program))

    async def _play(self, dispute_id: int, job: JobFile, own: Any, spec: Any) -> None:
        if dispute_id in self._playing:
            return
        self._playing.add(dispute_id)
        try:
            side = Side(job.program, spec, own.commitment, tuple(own.execution.tensors))
            strategy = ChallengerStrategy(self.game, side)
            outcome = await play(
                self.view,
                self.journal,
                dispute_id,
                "challenger",
                strategy,
                poll_s=self.poll_s,
                tx_lock=self.tx_lock,
            )
            level = logging.WARNING if outcome == "ProviderWon" else logging.INFO
            log.log(level, "dispute %d: %s", dispute_id, outcome)
        finally:
            self._playing.discard(dispute_id)
