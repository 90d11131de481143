"""The node's job table: one row per accepted ``/gcx/job/1`` offer, in SQLite (WAL, ``synchronous=FULL``).

Theory of operation: a job enters the table when its offer is accepted (state ``queued``) and
moves only along the edges of :data:`TRANSITIONS`::

    queued ─► fetching ─► running ─► submitted ─► finalized
      │          │           │           └──────► refunded   (a lost challenge: the buyer is refunded)
      └──────────┴───────────┴─► failed | refunded
    fetching, running ─► queued                                 (a restart re-runs the job)

Every change is one committed transaction, so after a crash the table says exactly what was
done: a job ``queued``/``fetching``/``running`` is run (again), a ``submitted`` one waits for its
challenge deadline (and resends its ``Result`` until acknowledged). ``ended`` is when a job
reached ``finalized``/``refunded``/``failed``; ``purged`` when its tensors were deleted.

The table is used from the trio thread only (short statements on a local file).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gcx.errors import GCXError
from gcx.jobs.delivery import JOB_STATES, Offer, decode
from gcx.paths import gcx_home
from gcx.tp.commit import OP_BODY_SIZE, OpLeaf, decode_op_leaf

__all__ = [
    "ACTIVE",
    "ENDED",
    "TRANSITIONS",
    "UNSUBMITTED",
    "DuplicateJob",
    "JobRecord",
    "JobStateError",
    "JobTable",
    "default_table_path",
]

UNSUBMITTED: Final = frozenset({"queued", "fetching", "running"})
"""Accepted and not yet submitted: what counts against ``node.max_jobs`` and the advertised hours."""
ENDED: Final = frozenset({"finalized", "refunded", "failed"})
ACTIVE: Final = UNSUBMITTED | {"submitted"}
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "queued": frozenset({"fetching", "running", "failed", "refunded"}),
    "fetching": frozenset({"running", "queued", "failed", "refunded"}),
    "running": frozenset({"submitted", "queued", "failed", "refunded"}),
    "submitted": frozenset({"finalized", "refunded"}),
    "finalized": frozenset(),
    "refunded": frozenset(),
    "failed": frozenset(),
}
assert set(TRANSITIONS) == JOB_STATES - {"unknown"}

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BLOB NOT NULL UNIQUE,
    offer BLOB NOT NULL,
    peer TEXT NOT NULL,
    micro_ch INTEGER NOT NULL,
    state TEXT NOT NULL,
    result_root BLOB,
    leaves BLOB,
    tensors BLOB,
    tx BLOB,
    acked INTEGER NOT NULL DEFAULT 0,
    challenge_deadline INTEGER,
    error TEXT,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    ended INTEGER,
    purged INTEGER
)
"""


def default_table_path() -> Path:
    """``$GCX_HOME/node/jobs.sqlite``."""
    return gcx_home() / "node" / "jobs.sqlite"


class JobStateError(GCXError):
    """A job-table change that the state machine forbids, or an unknown job."""


class DuplicateJob(JobStateError):  # noqa: N818 - reads as the condition
    """The table already holds a job with this id."""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of the job table."""

    seq: int
    job_id: bytes
    offer_bytes: bytes
    peer: str
    """The peer that sent the offer (the coordinator): where ``Result`` goes."""
    micro_ch: int
    """The job's metered micro-CH, as the node computed it."""
    state: str
    result_root: bytes | None
    leaves: tuple[OpLeaf, ...] | None
    tensors: tuple[bytes, ...]
    """Roots of every tensor of the job kept in the node's store (inputs, then op outputs)."""
    tx: bytes | None
    acked: bool
    challenge_deadline: int | None
    error: str | None
    created: int
    updated: int
    ended: int | None
    purged: int | None

    @property
    def offer(self) -> Offer:
        """The accepted offer."""
        msg = decode(self.offer_bytes, (Offer,))
        assert isinstance(msg, Offer)
        return msg

    @property
    def paid(self) -> bool:
        """Whether the escrow paid the node (the job was finalized)."""
        return self.state == "finalized"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (``gcx node jobs --json``)."""
        offer = self.offer
        return {
            "job_id": "0x" + self.job_id.hex(),
            "state": self.state,
            "buyer": offer.buyer,
            "amount": offer.amount,
            "micro_ch": self.micro_ch,
            "submit_deadline": offer.submit_deadline,
            "challenge_deadline": self.challenge_deadline,
            "result_root": None if self.result_root is None else "0x" + self.result_root.hex(),
            "tx": None if self.tx is None else "0x" + self.tx.hex(),
            "acked": self.acked,
            "paid": self.paid,
            "coordinator": self.peer,
            "error": self.error,
            "created": self.created,
            "updated": self.updated,
            "ended": self.ended,
            "purged": self.purged,
        }


def _leaves_blob(leaves: Iterable[OpLeaf]) -> bytes:
    return b"".join(leaf.body() for leaf in leaves)


def _leaves_of(blob: bytes | None) -> tuple[OpLeaf, ...] | None:
    if blob is None:
        return None
    return tuple(decode_op_leaf(blob[i : i + OP_BODY_SIZE]) for i in range(0, len(blob), OP_BODY_SIZE))


def _roots_of(blob: bytes | None) -> tuple[bytes, ...]:
    if not blob:
        return ()
    return tuple(bytes(blob[i : i + 32]) for i in range(0, len(blob), 32))


_COLUMNS: Final = (
    "seq, job_id, offer, peer, micro_ch, state, result_root, leaves, tensors, tx, acked, "
    "challenge_deadline, error, created, updated, ended, purged"
)


def _record(row: tuple[Any, ...]) -> JobRecord:
    (seq, job_id, offer, peer, micro_ch, state, root, leaves, tensors, tx, acked, deadline, error,
     created, updated, ended, purged) = row  # fmt: skip
    return JobRecord(
        seq, bytes(job_id), bytes(offer), peer, micro_ch, state, None if root is None else bytes(root),
        _leaves_of(leaves), _roots_of(tensors), None if tx is None else bytes(tx), bool(acked), deadline,
        error, created, updated, ended, purged,
    )  # fmt: skip


class JobTable:
    """The job table in the SQLite file ``path`` (created with its folder if missing)."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise JobStateError(f"cannot open the job table {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _now(self) -> int:
        return int(self.clock())

    # ------------------------------------------------------------------ reads

    def get(self, job_id: bytes) -> JobRecord | None:
        """The job with this id, or None."""
        row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (bytes(job_id),)).fetchone()
        return None if row is None else _record(row)

    def jobs(self, states: Iterable[str] | None = None) -> list[JobRecord]:
        """Every job (in ``states``), oldest accepted first."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq").fetchall()
        wanted = None if states is None else set(states)
        return [r for r in map(_record, rows) if wanted is None or r.state in wanted]

    def unsubmitted(self) -> list[JobRecord]:
        """Jobs accepted and not yet submitted, in acceptance order (the queue)."""
        return self.jobs(UNSUBMITTED)

    def next_queued(self) -> JobRecord | None:
        """The oldest ``queued`` job."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1"
        ).fetchone()
        return None if row is None else _record(row)

    # ------------------------------------------------------------------ writes

    def add(
        self, offer_bytes: bytes, peer: str, micro_ch: int, *, max_unsubmitted: int | None = None
    ) -> JobRecord:
        """Accept an offer (state ``queued``). :class:`DuplicateJob` if its job is already held;
        with ``max_unsubmitted``, :class:`JobStateError` when that many jobs are already unsubmitted
        (checked in the same transaction)."""
        offer = decode(offer_bytes, (Offer,))
        assert isinstance(offer, Offer)
        now = self._now()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if max_unsubmitted is not None:
                    (n,) = self._db.execute(
                        "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'fetching', 'running')"
                    ).fetchone()
                    if n >= max_unsubmitted:
                        raise JobStateError(
                            f"{n} jobs are accepted and unsubmitted (at most {max_unsubmitted})"
                        )
                self._db.execute(
                    "INSERT INTO jobs (job_id, offer, peer, micro_ch, state, created, updated) "
                    "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                    (offer.job_id, bytes(offer_bytes), peer, micro_ch, now, now),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise DuplicateJob(f"job 0x{offer.job_id.hex()} is already held") from None
        record = self.get(offer.job_id)
        assert record is not None
        return record

    def move(self, job_id: bytes, to: str, **fields: Any) -> JobRecord:
        """Move a job to state ``to`` (a checked transition) and set ``fields`` (``result_root``,
        ``leaves``, ``tensors``, ``tx``, ``challenge_deadline``, ``error``) in one transaction."""
        current = self.get(job_id)
        if current is None:
            raise JobStateError(f"no job 0x{bytes(job_id).hex()} in the table")
        if to not in TRANSITIONS.get(current.state, frozenset()):
            raise JobStateError(f"job 0x{bytes(job_id).hex()} cannot go from {current.state} to {to}")
        now = self._now()
        values: dict[str, Any] = {"state": to, "updated": now}
        if to in ENDED:
            values["ended"] = now
        for name, given in fields.items():
            value = given
            if name == "leaves":
                value = None if given is None else _leaves_blob(given)
            elif name == "tensors":
                value = b"".join(given)
            elif name not in ("result_root", "tx", "challenge_deadline", "error"):
                raise JobStateError(f"unknown job field {name!r}")
            values[name] = value
        sets = ", ".join(f"{k} = ?" for k in values)
        cur = self._db.execute(
            f"UPDATE jobs SET {sets} WHERE job_id = ? AND state = ?",
            (*values.values(), bytes(job_id), current.state),
        )
        if cur.rowcount != 1:
            raise JobStateError(f"job 0x{bytes(job_id).hex()} changed state concurrently")
        updated = self.get(job_id)
        assert updated is not None
        return updated

    def set_tensors(self, job_id: bytes, roots: Iterable[bytes]) -> None:
        """Record the roots of the job's tensors in the node's store (without a state change)."""
        self._db.execute(
            "UPDATE jobs SET tensors = ?, updated = ? WHERE job_id = ?",
            (b"".join(roots), self._now(), bytes(job_id)),
        )

    def mark_acked(self, job_id: bytes) -> None:
        """The coordinator acknowledged the job's ``Result``."""
        self._db.execute(
            "UPDATE jobs SET acked = 1, updated = ? WHERE job_id = ?", (self._now(), bytes(job_id))
        )

    def mark_purged(self, job_id: bytes) -> None:
        """The job's tensors were deleted from the node's store."""
        self._db.execute("UPDATE jobs SET purged = ? WHERE job_id = ?", (self._now(), bytes(job_id)))
