"""A player's record of its verification-game disputes, in SQLite (WAL, ``synchronous=FULL``).

The chain is the truth about a dispute (its phase, whose turn, the revealed nodes); this journal
is what a player needs besides, across restarts: which disputes it plays and on which side, each
move it sent with its transaction and gas (the log an operator reads), how each dispute ended and
whether its credit was withdrawn. Every change is one committed transaction. Used from one thread.

Tables: ``disputes(id, job_id, side, opened_at, outcome, ended_at, credit_withdrawn)`` and
``moves(dispute_id, seq, kind, tx, gas, at)``; ``meta(key, value)`` (e.g. the block an event
follower has read up to).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["SIDES", "DisputeJournal", "DisputeRow", "MoveRow"]

SIDES: Final = ("provider", "challenger")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS disputes (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('provider', 'challenger')),
    opened_at REAL NOT NULL,
    outcome TEXT,
    ended_at REAL,
    credit_withdrawn INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS disputes_job ON disputes (job_id);
CREATE TABLE IF NOT EXISTS moves (
    dispute_id INTEGER NOT NULL REFERENCES disputes (id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    tx TEXT NOT NULL,
    gas INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (dispute_id, seq)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class DisputeRow:
    """One dispute this player plays."""

    id: int
    job_id: str
    side: str
    opened_at: float
    outcome: str | None
    ended_at: float | None
    credit_withdrawn: bool


@dataclass(frozen=True, slots=True)
class MoveRow:
    """One move this player sent (``kind``: the game function, e.g. ``bisect``)."""

    dispute_id: int
    seq: int
    kind: str
    tx: str
    gas: int
    at: float


class DisputeJournal:
    """The journal at ``path`` (created with its folder); ``clock`` gives unix seconds."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.clock = path, clock
        # Opened in one thread (e.g. a worker) and used in another (the trio thread): never by two at once.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def __enter__(self) -> DisputeJournal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def track(self, dispute_id: int, job_id: str, side: str) -> bool:
        """Start recording dispute ``dispute_id`` on job ``job_id`` as ``side``; False when it
        is recorded already (a restart, or a second sighting of its event)."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {side!r}")
        cur = self.db.execute(
            "INSERT OR IGNORE INTO disputes (id, job_id, side, opened_at) VALUES (?, ?, ?, ?)",
            (dispute_id, job_id.lower(), side, self.clock()),
        )
        return cur.rowcount == 1

    def dispute(self, dispute_id: int) -> DisputeRow | None:
        """The dispute's row, or None."""
        row = self.db.execute(f"SELECT {_COLS} FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
        return None if row is None else _dispute(row)

    def disputes(self) -> list[DisputeRow]:
        """Every dispute, oldest first."""
        return [_dispute(r) for r in self.db.execute(f"SELECT {_COLS} FROM disputes ORDER BY id")]

    def live(self) -> list[DisputeRow]:
        """Disputes not yet ended, or ended with a credit not yet withdrawn."""
        return [d for d in self.disputes() if d.outcome is None or not d.credit_withdrawn]

    def of_job(self, job_id: str) -> list[DisputeRow]:
        """The disputes on job ``job_id``."""
        rows = self.db.execute(
            f"SELECT {_COLS} FROM disputes WHERE job_id = ? ORDER BY id", (job_id.lower(),)
        )
        return [_dispute(r) for r in rows]

    def record_move(self, dispute_id: int, kind: str, tx: str, gas: int) -> MoveRow:
        """Record a move this player sent (after its receipt)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            (seq,) = self.db.execute(
                "SELECT COUNT(*) FROM moves WHERE dispute_id = ?", (dispute_id,)
            ).fetchone()
            at = self.clock()
            self.db.execute(
                "INSERT INTO moves (dispute_id, seq, kind, tx, gas, at) VALUES (?, ?, ?, ?, ?, ?)",
                (dispute_id, seq, kind, tx, int(gas), at),
            )
        return MoveRow(dispute_id, int(seq), kind, tx, int(gas), at)

    def moves(self, dispute_id: int | None = None) -> list[MoveRow]:
        """This player's moves (in one dispute, or in all), in order."""
        sql = "SELECT dispute_id, seq, kind, tx, gas, at FROM moves"
        args: tuple[Any, ...] = ()
        if dispute_id is not None:
            sql, args = sql + " WHERE dispute_id = ?", (dispute_id,)
        return [MoveRow(*r) for r in self.db.execute(sql + " ORDER BY dispute_id, seq", args)]

    def end(self, dispute_id: int, outcome: str) -> bool:
        """Record how the dispute ended (once); False when it was recorded already."""
        cur = self.db.execute(
            "UPDATE disputes SET outcome = ?, ended_at = ? WHERE id = ? AND outcome IS NULL",
            (outcome, self.clock(), dispute_id),
        )
        return cur.rowcount == 1

    def withdrawn(self, dispute_id: int) -> None:
        """Record that the dispute's credit (if any) was withdrawn or that there is none."""
        self.db.execute("UPDATE disputes SET credit_withdrawn = 1 WHERE id = ?", (dispute_id,))

    def get_meta(self, key: str) -> str | None:
        """A stored value (None: none)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def summary(self) -> dict[str, Any]:
        """Counts by side and outcome, moves and gas: what ``status`` commands print."""
        out: dict[str, Any] = {
            "disputes": 0,
            "live": 0,
            "won": 0,
            "lost": 0,
            "cancelled": 0,
            "moves": 0,
            "gas": 0,
        }
        for d in self.disputes():
            out["disputes"] += 1
            if d.outcome is None:
                out["live"] += 1
            elif d.outcome == "Cancelled":
                out["cancelled"] += 1
            elif (d.outcome == "ProviderWon") == (d.side == "provider"):
                out["won"] += 1
            else:
                out["lost"] += 1
        (n, gas) = self.db.execute("SELECT COUNT(*), COALESCE(SUM(gas), 0) FROM moves").fetchone()
        out["moves"], out["gas"] = int(n), int(gas)
        return out


_COLS: Final = "id, job_id, side, opened_at, outcome, ended_at, credit_withdrawn"


def _dispute(row: tuple[Any, ...]) -> DisputeRow:
    i, job, side, opened, outcome, ended, withdrawn = row
    return DisputeRow(int(i), job, side, float(opened), outcome, ended, bool(withdrawn))
