"""The node defends its results in the verification game (docs/jobs-provider.md, "Disputes").

Theory of operation: with a deployment that has the game, :class:`Defender` follows
``VerificationGame.DisputeOpened`` from the block it last read (kept in the dispute journal,
``disputes.sqlite`` beside the job table, so a restart misses none). A dispute on a job of this
node's table is journaled and played by :func:`gcx.game.driver.play` with the honest provider
strategy: the node opens its own commitments — the result-root preimage, op-tree and row-tree
nodes, the op body, the disputed row — from the job's tensors in its store (a disputed job stays
``submitted`` until the game ends, so retention never deletes what a dispute needs). After a
restart every journaled dispute not yet ended is played on. The node's transactions share the
executor's lock (one account, sequential nonces); every move is logged with its gas.

When a dispute ends, the game resolves the job in the escrow itself (the provider's loss: the
buyer refunded and the lock slashed; its win: the job paid once its window has closed and no
dispute is left); the executor's finalizer calls ``VerificationGame.settle`` for a job whose last
dispute ended before its window did.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from gcx.chain import EventWatcher
from gcx.chain.game import GAME, GameClient
from gcx.errors import GCXError
from gcx.game.driver import play
from gcx.game.journal import DisputeJournal
from gcx.game.proofs import Side
from gcx.game.sides import ChainView, ProviderStrategy
from gcx.jobs.spec import job_spec
from gcx.tp.attest import RunCommitment
from gcx.tp.commit import commit_tensor
from gcx.tp.program import decode_program

from .state import JobRecord

if TYPE_CHECKING:
    from .executor import JobExecutor

log = logging.getLogger("gcx.node.defend")

__all__ = ["Defender", "side_of"]

FOLLOW_KEY = "dispute_follow_block"


def side_of(rec: JobRecord, store: Any) -> Side:
    """The node's own data for job ``rec`` from its tensor store: the program, its spec, every
    tensor (inputs, then op outputs) and their commitments, the stored op leaves' result."""
    if rec.result_root is None:
        raise GCXError(f"job 0x{rec.job_id.hex()} has no result to defend")
    program = decode_program(rec.offer.program)
    arrays = tuple(store.load(root) for root in rec.tensors)
    commitments = tuple(commit_tensor(t, a) for t, a in enumerate(arrays))
    run = RunCommitment(commitments, store.result(rec.result_root))
    if run.root != rec.result_root:
        raise GCXError(f"job 0x{rec.job_id.hex()}: the stored tensors do not give the submitted result root")
    return Side(program, job_spec(program), run, arrays)


class Defender:
    """Plays the provider's side of every dispute on ``executor``'s jobs."""

    def __init__(self, executor: JobExecutor, journal: DisputeJournal, *, poll_s: float = 1.0) -> None:
        self.executor, self.journal, self.poll_s = executor, journal, poll_s
        self.game = GameClient(executor.chain)
        self.view = ChainView(self.game)
        self._playing: set[int] = set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Play on the journaled disputes and follow new ones until cancelled."""
        chain = self.executor.chain
        stored = self.journal.get_meta(FOLLOW_KEY)
        watcher = EventWatcher(
            chain, GAME, "DisputeOpened", int(stored) if stored else int(chain.deployment.block)
        )
        try:
            async with trio.open_nursery() as nursery:
                for d in self.journal.live():
                    if d.side == "provider":
                        nursery.start_soon(self._defend, d.id, d.job_id)
                task_status.started()
                while True:
                    try:
                        logs = await trio.to_thread.run_sync(watcher.poll)
                    except GCXError as exc:
                        log.warning("cannot read the game's disputes: %s", exc)
                    else:
                        for event in logs:
                            self._opened(nursery, int(event["args"]["id"]), bytes(event["args"]["jobId"]))
                        self.journal.set_meta(FOLLOW_KEY, str(watcher.next_block))
                    await trio.sleep(self.poll_s)
        finally:
            self.journal.close()

    def _opened(self, nursery: trio.Nursery, dispute_id: int, job_id: bytes) -> None:
        if self.executor.table.get(job_id) is None:
            return  # another provider's job
        key = "0x" + job_id.hex()
        if self.journal.track(dispute_id, key, "provider"):
            log.warning("job %s: dispute %d opened against our result: defending", key, dispute_id)
            nursery.start_soon(self._defend, dispute_id, key)

    async def _defend(self, dispute_id: int, job_id: str) -> None:
        if dispute_id in self._playing:
            return
        self._playing.add(dispute_id)
        try:
            rec = self.executor.table.get(bytes.fromhex(job_id[2:]))
            if rec is None:
                log.error("dispute %d: job %s is not in the job table", dispute_id, job_id)
                return
            side = await trio.to_thread.run_sync(side_of, rec, self.executor.store)
            strategy = ProviderStrategy(self.game, side)
            outcome = await play(
                self.view, self.journal, dispute_id, "provider", strategy,
                poll_s=self.poll_s, tx_lock=self.executor._chain_lock,
            )  # fmt: skip
            level = logging.INFO if outcome != "ChallengerWon" else logging.ERROR
            log.log(level, "dispute %d on job %s: %s", dispute_id, job_id, outcome)
        except GCXError as exc:
            log.error("dispute %d on job %s: cannot defend: %s", dispute_id, job_id, exc)
        finally:
            self._playing.discard(dispute_id)
