"""The verifier's durable state: the coordinator feed's cursor and every job's outcome (SQLite).

Theory of operation: a page of feed events is recorded in **one transaction** together with the
new cursor (:meth:`VerifierState.record_events`): each ``submitted`` event becomes a job row,
``pending`` when it was sampled and ``skipped`` when not, so a restart resumes exactly after
the last recorded event and re-reads nothing it has recorded. A pending job leaves that state
once, with its outcome (:meth:`VerifierState.finish`: ``verified``, ``mismatch``, ``withheld``
or ``failed``); a job interrupted mid-check is still ``pending`` and is checked again after a
restart (no job is skipped), and a finished one is never checked again (none is repeated).
A mismatch carries its evidence and a report state (``pending`` until the coordinator
answers, then ``accepted`` or ``rejected`` with its reason), so reports also survive restarts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gcx.errors import ConfigError

VERDICTS: Final = ("pending", "skipped", "verified", "mismatch", "withheld", "failed")
"""A job's outcome; ``pending`` until it is checked."""
FINAL_VERDICTS: Final = frozenset(VERDICTS[2:])
REPORT_STATES: Final = ("pending", "accepted", "rejected")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    provider_peer TEXT NOT NULL,
    provider_address TEXT NOT NULL,
    listen_addrs TEXT NOT NULL,
    program_digest TEXT NOT NULL,
    result_root TEXT,
    verdict TEXT NOT NULL,
    op INTEGER,
    row INTEGER,
    detail TEXT,
    seconds REAL,
    evidence BLOB,
    report TEXT,
    report_detail TEXT,
    seen INTEGER NOT NULL,
    done INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (verdict, seq);
"""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One event of ``GET /v1/jobs/feed`` (the fields the verifier uses)."""

    seq: int
    kind: str
    job_id: str
    provider_peer: str
    provider_address: str
    listen_addrs: tuple[str, ...]
    program_digest: str
    result_root: str | None
    time: int


class FeedError(ValueError):
    """A feed reply that is not the documented shape (logged; the poll is retried)."""


def _hex(value: Any, what: str, size: int | None = None) -> str:
    if type(value) is not str or not value.startswith("0x"):
        raise FeedError(f"{what} must be a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise FeedError(f"{what} is not hex") from None
    if size is not None and len(raw) != size:
        raise FeedError(f"{what} must be {size} bytes, not {len(raw)}")
    return value.lower()


def parse_feed(body: Any, after: int) -> tuple[list[FeedEvent], int]:
    """The events and ``last_seq`` of a feed reply to ``?after=after``; :class:`FeedError` when
    it is malformed or its sequence numbers are not strictly increasing past ``after``."""
    if type(body) is not dict or type(body.get("events")) is not list:
        raise FeedError("a feed reply is an object with an 'events' list")
    last_seq = body.get("last_seq")
    if type(last_seq) is not int:
        raise FeedError("a feed reply needs an integer 'last_seq'")
    out: list[FeedEvent] = []
    prev = after
    for raw in body["events"]:
        if type(raw) is not dict:
            raise FeedError("a feed event is an object")
        seq, kind, provider = raw.get("seq"), raw.get("kind"), raw.get("provider")
        if type(seq) is not int or seq <= prev:
            raise FeedError(f"feed sequence numbers must increase past {prev}, got {seq!r}")
        if type(kind) is not str:
            raise FeedError(f"event {seq}: 'kind' must be a string")
        if type(provider) is not dict:
            raise FeedError(f"event {seq}: 'provider' must be an object")
        peer, address, addrs = provider.get("peer_id"), provider.get("address"), provider.get("listen_addrs")
        if type(peer) is not str or type(address) is not str:
            raise FeedError(f"event {seq}: provider peer_id and address must be strings")
        if type(addrs) is not list or any(type(a) is not str for a in addrs):
            raise FeedError(f"event {seq}: provider listen_addrs must be a list of strings")
        root = raw.get("result_root")
        stamp = raw.get("time")
        out.append(
            FeedEvent(
                seq,
                kind,
                _hex(raw.get("job_id"), f"event {seq}: job_id", 32),
                peer,
                address,
                tuple(addrs),
                _hex(raw.get("program_digest"), f"event {seq}: program_digest", 32),
                None if root is None else _hex(root, f"event {seq}: result_root", 32),
                stamp if type(stamp) is int else 0,
            )
        )
        prev = seq
    return out, last_seq


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job the verifier has seen, with its outcome so far."""

    job_id: str
    seq: int
    provider_peer: str
    provider_address: str
    listen_addrs: tuple[str, ...]
    program_digest: str
    result_root: str | None
    verdict: str
    op: int | None
    row: int | None
    detail: str | None
    seconds: float | None
    report: str | None
    report_detail: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a check ended: ``verdict`` one of the final :data:`VERDICTS`; ``evidence`` (the encoded
    :class:`~verifier.compare.Mismatch`) with ``op``/``row`` for a mismatch."""

    verdict: str
    detail: str | None = None
    op: int | None = None
    row: int | None = None
    evidence: bytes | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.verdict not in FINAL_VERDICTS:
            raise ValueError(f"not a final verdict: {self.verdict!r}")
        if (self.verdict == "mismatch") != (self.evidence is not None):
            raise ValueError("a mismatch outcome carries its evidence, and only a mismatch does")


_COLUMNS: Final = (
    "job_id, seq, provider_peer, provider_address, listen_addrs, program_digest, result_root, verdict, "
    "op, row, detail, seconds, report, report_detail"
)


def _record(row: tuple[Any, ...]) -> JobRecord:
    values = list(row)
    values[4] = tuple(json.loads(values[4]))
    return JobRecord(*values)


class VerifierState:
    """The state file (created with its folder on first use). Not shared between threads: use
    it from the event loop only."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path, self.clock = path, clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the verifier state {path}: {exc}") from None

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> VerifierState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> int:
        """The last feed sequence number recorded (0 before the first)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
        return 0 if row is None else int(row[0])

    def record_events(self, events: Iterable[FeedEvent], sample: Callable[[FeedEvent], bool]) -> list[str]:
        """Record a page of feed events and move the cursor past them, atomically; return the
        ids of the newly pending (sampled) jobs. Events at or below the cursor are ignored; a
        job already recorded keeps its row."""
        cursor = self.cursor()
        fresh: list[str] = []
        now = int(self.clock())
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for ev in events:
                if ev.seq <= cursor:
                    continue
                cursor = ev.seq
                if ev.kind != "submitted" or ev.result_root is None:
                    continue
                verdict = "pending" if sample(ev) else "skipped"
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO jobs (job_id, seq, provider_peer, provider_address, listen_addrs, "
                    "program_digest, result_root, verdict, seen, done) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        ev.job_id, ev.seq, ev.provider_peer, ev.provider_address, json.dumps(ev.listen_addrs),
                        ev.program_digest, ev.result_root, verdict, now, None if verdict == "pending" else now,
                    ),
                )  # fmt: skip
                if cur.rowcount and verdict == "pending":
                    fresh.append(ev.job_id)
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('cursor', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(cursor),),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return fresh

    def job(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id``, if seen."""
        row = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def jobs(self) -> list[JobRecord]:
        """Every job seen, in feed order."""
        return [_record(r) for r in self.db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq")]

    def pending(self) -> list[JobRecord]:
        """The sampled jobs not yet checked, in feed order."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE verdict = 'pending' ORDER BY seq")
        return [_record(r) for r in rows]

    def finish(self, job_id: str, outcome: Outcome) -> bool:
        """Record a pending job's outcome (a mismatch's report becomes ``pending``); ``False`` when
        the job is not pending (already finished: nothing is overwritten)."""
        cur = self.db.execute(
            "UPDATE jobs SET verdict = ?, detail = ?, op = ?, row = ?, evidence = ?, seconds = ?, report = ?, "
            "done = ? WHERE job_id = ? AND verdict = 'pending'",
            (
                outcome.verdict, outcome.detail, outcome.op, outcome.row, outcome.evidence, outcome.seconds,
                "pending" if outcome.verdict == "mismatch" else None, int(self.clock()), job_id,
            ),
        )  # fmt: skip
        return cur.rowcount == 1

    def pending_reports(self) -> list[tuple[str, bytes]]:
        """``(job_id, evidence)`` of every mismatch the coordinator has not yet answered."""
        rows = self.db.execute(
            "SELECT job_id, evidence FROM jobs WHERE verdict = 'mismatch' AND report = 'pending' ORDER BY seq"
        )
        return [(str(j), bytes(e)) for j, e in rows]

    def reported(self, job_id: str, state: str, detail: str | None = None) -> None:
        """Record the coordinator's answer to a mismatch report (``accepted`` / ``rejected``)."""
        if state not in REPORT_STATES[1:]:
            raise ValueError(f"not a report outcome: {state!r}")
        self.db.execute(
            "UPDATE jobs SET report = ?, report_detail = ? WHERE job_id = ? AND report = 'pending'",
            (state, detail, job_id),
        )

    def summary(self) -> dict[str, Any]:
        """Counts for ``gcx verifier status``: ``seen`` (submitted jobs read from the feed),
        ``sampled``, one count per verdict, and every mismatch (job, provider, op, row, report)."""
        counts = dict.fromkeys(VERDICTS, 0)
        for verdict, n in self.db.execute("SELECT verdict, COUNT(*) FROM jobs GROUP BY verdict"):
            counts[str(verdict)] = int(n)
        mismatches = [
            {
                "job_id": j.job_id,
                "provider": j.provider_peer,
                "provider_address": j.provider_address,
                "op": j.op,
                "row": j.row,
                "report": j.report,
                "report_detail": j.report_detail,
            }
            for j in self.jobs()
            if j.verdict == "mismatch"
        ]
        return {
            "cursor": self.cursor(),
            "seen": sum(counts.values()),
            "sampled": sum(counts.values()) - counts["skipped"],
            "pending": counts["pending"],
            "verified": counts["verified"],
            "mismatches": mismatches,
            "withheld": counts["withheld"],
            "failed": counts["failed"],
            "skipped": counts["skipped"],
        }
