"""The job book's SQLite file: quotes, jobs (with their job files), history, the feed, mismatches
and flagged providers (WAL, ``synchronous=FULL``: an acknowledged write survives power loss).

Restart-safe by construction: every state the service acts on is a row here, so a restarted
coordinator resumes the delivery of ``open`` jobs and the refunds at their deadlines, and the
feed's ``seq`` (an ``AUTOINCREMENT`` key) continues where it stopped and never repeats.
Single-threaded use: the service calls it from the trio thread only.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .core import JOB_STATES, transition

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quotes (
    quote_id TEXT PRIMARY KEY, job_digest TEXT NOT NULL, program_digest TEXT NOT NULL,
    micro_ch INTEGER NOT NULL, amount INTEGER NOT NULL, provider TEXT NOT NULL,
    challenge_window INTEGER NOT NULL, submit_deadline INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, quote_id TEXT NOT NULL, buyer TEXT NOT NULL,
    provider_peer TEXT NOT NULL, provider_address TEXT NOT NULL, provider_addrs TEXT NOT NULL,
    state TEXT NOT NULL, reoffer INTEGER NOT NULL DEFAULT 0, micro_ch INTEGER NOT NULL,
    amount INTEGER NOT NULL, program_digest TEXT NOT NULL, job_digest TEXT NOT NULL,
    submit_deadline INTEGER NOT NULL, challenge_window INTEGER NOT NULL,
    challenge_deadline INTEGER, result_root TEXT, leaves BLOB, outputs TEXT,
    reoffer_of TEXT, inputs TEXT NOT NULL, created INTEGER NOT NULL, job BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_buyer ON jobs (buyer, created);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, time INTEGER NOT NULL,
    event TEXT NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS history_job ON history (job_id, id);
CREATE TABLE IF NOT EXISTS feed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, kind TEXT NOT NULL,
    job_id TEXT NOT NULL, provider TEXT NOT NULL, program_digest TEXT NOT NULL,
    result_root TEXT, micro_ch INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mismatches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, provider_address TEXT NOT NULL,
    provider_peer TEXT NOT NULL, verifier TEXT NOT NULL, op INTEGER NOT NULL, row INTEGER,
    time INTEGER NOT NULL, evidence BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS flagged (
    address TEXT PRIMARY KEY, peer_id TEXT NOT NULL, time INTEGER NOT NULL, job_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_JOB_LIST = (
    "job_id, quote_id, buyer, provider_peer, provider_address, provider_addrs, state, reoffer, "
    "micro_ch, amount, program_digest, job_digest, submit_deadline, challenge_window, "
    "challenge_deadline, result_root, leaves, outputs, reoffer_of, inputs, created"
)


class JobStore:
    """The job book's rows in the SQLite file at ``path`` (created with its schema if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # opened in a worker thread by the daemon, then used from the trio thread only
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- quotes ------------------------------------------------------------------------------

    def put_quote(self, q: dict[str, Any]) -> None:
        """Store a quote (``provider`` is a dict, stored as JSON)."""
        self.db.execute(
            "INSERT INTO quotes VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                q["quote_id"], q["job_digest"], q["program_digest"], q["micro_ch"], q["amount"],
                json.dumps(q["provider"]), q["challenge_window_s"], q["submit_deadline"],
                q["expires_at"], q["created"],
            ),
        )  # fmt: skip

    def quote(self, quote_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM quotes WHERE quote_id = ?", (quote_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["provider"] = json.loads(out["provider"])
        return out

    def prune_quotes(self, before: int) -> int:
        """Forget quotes that expired before ``before``."""
        return self.db.execute("DELETE FROM quotes WHERE expires_at < ?", (before,)).rowcount

    # -- jobs --------------------------------------------------------------------------------

    def add_job(self, job: dict[str, Any], data: bytes, now: int) -> None:
        """Insert a new ``open`` job, its job file and its first history entry, atomically."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                f"INSERT INTO jobs ({_JOB_LIST}, job) VALUES ({','.join('?' * 22)})",
                (
                    job["job_id"], job["quote_id"], job["buyer"], job["provider_peer"],
                    job["provider_address"], json.dumps(job["provider_addrs"]), "open", 0,
                    job["micro_ch"], job["amount"], job["program_digest"], job["job_digest"],
                    job["submit_deadline"], job["challenge_window"], None, None, None, None,
                    job.get("reoffer_of"), json.dumps(job["inputs"]), now, data,
                ),
            )  # fmt: skip
            self._history(job["job_id"], now, "escrowed", f"{job['amount']} micro-USDC")

    def job(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {_JOB_LIST} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def job_file(self, job_id: str) -> bytes | None:
        row = self.db.execute("SELECT job FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def jobs(
        self, *, buyer: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Jobs newest first, optionally of one buyer and/or in one state."""
        where, args = [], []
        if buyer is not None:
            where.append("buyer = ?")
            args.append(buyer.lower())
        if state is not None:
            where.append("state = ?")
            args.append(state)
        sql = f"SELECT {_JOB_LIST} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, rowid DESC LIMIT ?"
        return [_job(r) for r in self.db.execute(sql, (*args, limit))]

    def in_states(self, states: frozenset[str] | set[str]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        rows = self.db.execute(
            f"SELECT {_JOB_LIST} FROM jobs WHERE state IN ({marks}) ORDER BY created", tuple(states)
        )
        return [_job(r) for r in rows]

    def reoffered_from(self, buyer: str, job_digest: str) -> str | None:
        """The newest refunded-for-reoffer job of ``buyer`` with this job file not yet re-offered."""
        row = self.db.execute(
            "SELECT job_id FROM jobs j WHERE buyer = ? AND job_digest = ? AND state = 'refunded' "
            "AND reoffer = 1 AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.reoffer_of = j.job_id) "
            "ORDER BY created DESC, rowid DESC LIMIT 1",
            (buyer.lower(), job_digest),
        ).fetchone()
        return None if row is None else str(row[0])

    def set_state(
        self,
        job_id: str,
        new: str,
        now: int,
        *,
        event: str | None = None,
        detail: str | None = None,
        feed: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Move ``job_id`` to ``new`` (checked by :func:`~.core.transition`), set ``fields``,
        and append the history entry and (``feed``: its kind) the feed event, in one
        transaction. Returns the updated job."""
        assert new in JOB_STATES
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            job = self.job(job_id)
            if job is None:
                raise KeyError(job_id)
            transition(job_id, job["state"], new)
            self._update(job_id, state=new, **fields)
            self._history(job_id, now, event or new, detail)
            job = self.job(job_id)
            assert job is not None
            if feed is not None:
                self._feed(feed, job, now)
        return job

    def update(self, job_id: str, now: int, *, event: str, detail: str | None = None, **fields: Any) -> None:
        """Set ``fields`` of a job without a state change, with a history entry."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._update(job_id, **fields)
            self._history(job_id, now, event, detail)

    def note(self, job_id: str, now: int, event: str, detail: str | None = None) -> None:
        """Append a history entry."""
        self._history(job_id, now, event, detail)

    def _update(self, job_id: str, **fields: Any) -> None:
        if not fields:
            return
        enc = {k: (json.dumps(v) if k in ("outputs",) and v is not None else v) for k, v in fields.items()}
        enc = {k: (int(v) if isinstance(v, bool) else v) for k, v in enc.items()}
        sets = ", ".join(f"{k} = ?" for k in enc)
        self.db.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", (*enc.values(), job_id))

    def _history(self, job_id: str, now: int, event: str, detail: str | None) -> None:
        self.db.execute(
            "INSERT INTO history (job_id, time, event, detail) VALUES (?,?,?,?)", (job_id, now, event, detail)
        )

    def history(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT time, event, detail FROM history WHERE job_id = ? ORDER BY id", (job_id,)
        )
        return [dict(r) for r in rows]

    # -- feed --------------------------------------------------------------------------------

    def _feed(self, kind: str, job: dict[str, Any], now: int) -> None:
        provider = {
            "peer_id": job["provider_peer"],
            "address": job["provider_address"],
            "listen_addrs": job["provider_addrs"],
        }
        self.db.execute(
            "INSERT INTO feed (time, kind, job_id, provider, program_digest, result_root, micro_ch) "
            "VALUES (?,?,?,?,?,?,?)",
            (now, kind, job["job_id"], json.dumps(provider), job["program_digest"], job["result_root"],
             job["micro_ch"]),
        )  # fmt: skip

    def feed(self, after: int, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM feed WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        out = []
        for r in rows:
            e = dict(r)
            e["provider"] = json.loads(e["provider"])
            out.append(e)
        return out

    def last_seq(self) -> int:
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'feed'").fetchone()
        return 0 if row is None else int(row[0])

    # -- mismatches and flags ----------------------------------------------------------------

    def add_mismatch(
        self, job: dict[str, Any], verifier: str, op: int, row: int | None, evidence: bytes, now: int
    ) -> None:
        """Record a verified mismatch on ``job``, flag its provider and append the feed event."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO mismatches (job_id, provider_address, provider_peer, verifier, op, row, time, "
                "evidence) VALUES (?,?,?,?,?,?,?,?)",
                (job["job_id"], job["provider_address"].lower(), job["provider_peer"], verifier.lower(), op, row,
                 now, evidence),
            )  # fmt: skip
            self.db.execute(
                "INSERT OR IGNORE INTO flagged VALUES (?,?,?,?)",
                (job["provider_address"].lower(), job["provider_peer"], now, job["job_id"]),
            )
            self._history(job["job_id"], now, "mismatch", f"op {op}" + ("" if row is None else f" row {row}"))
            self._feed("mismatch", job, now)

    def mismatches(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT verifier, op, row, time FROM mismatches WHERE job_id = ? ORDER BY id", (job_id,)
        )
        return [dict(r) for r in rows]

    def mismatches_against(self, address: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT job_id, verifier, op, row, time FROM mismatches WHERE provider_address = ? ORDER BY id",
            (address.lower(),),
        )
        return [dict(r) for r in rows]

    def flagged_addresses(self) -> set[str]:
        return {str(r[0]) for r in self.db.execute("SELECT address FROM flagged")}

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def _job(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["provider_addrs"] = json.loads(out["provider_addrs"])
    out["inputs"] = json.loads(out["inputs"])
    out["outputs"] = None if out["outputs"] is None else json.loads(out["outputs"])
    out["reoffer"] = bool(out["reoffer"])
    if out["leaves"] is not None:
        out["leaves"] = bytes(out["leaves"])
    return out
