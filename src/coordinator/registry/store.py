"""The coordinator's provider registry in SQLite (WAL): providers, their latest accepted advert,
the slots in which they were seen, and the coordinator's own observation sessions (so that its
downtime is not counted against providers). Survives restarts; one connection, one thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gcx.advert import CapacityAdvert
from gcx.errors import ConfigError

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS providers (
    peer_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    first_slot INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ch_per_hour_micro INTEGER NOT NULL,
    grade TEXT NOT NULL,
    price_per_ch INTEGER NOT NULL,
    hours INTEGER NOT NULL,
    stake_address TEXT NOT NULL,
    report_digest TEXT NOT NULL,
    listen_addrs TEXT NOT NULL,
    advert BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_slots (
    peer_id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    PRIMARY KEY (peer_id, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS observer_sessions (
    started_at REAL PRIMARY KEY,
    alive_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    peer_id: str
    address: str
    nonce: int
    first_seen: int
    last_seen: int
    first_slot: int
    issued_at: int
    expires_at: int
    ch_per_hour_micro: int
    grade: str  # as advertised: reliability '?' (the registry fills it in)
    price_per_ch: int
    hours: int
    stake_address: str
    report_digest: str
    listen_addrs: tuple[str, ...]
    advert: bytes


class RegistryStore:
    """SQLite persistence of the provider registry."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_DDL)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the registry database {path}: {exc}") from None
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise ConfigError(f"{path} has registry schema {row[0]}, this coordinator reads {SCHEMA_VERSION}")
        self.path = path
        self._adopt_unsessioned_history()

    def close(self) -> None:
        self._db.close()

    def last_nonce(self, peer_id: str) -> int | None:
        row = self._db.execute("SELECT nonce FROM providers WHERE peer_id=?", (peer_id,)).fetchone()
        return None if row is None else int(row[0])

    def upsert_advert(self, advert: CapacityAdvert, data: bytes, now: int, slot: int) -> None:
        """Store an accepted advert (replacing the provider's previous one) and mark ``slot`` up."""
        with self._tx():
            self._db.execute(
                """INSERT INTO providers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(peer_id) DO UPDATE SET address=excluded.address, nonce=excluded.nonce,
                   last_seen=excluded.last_seen, issued_at=excluded.issued_at,
                   expires_at=excluded.expires_at, ch_per_hour_micro=excluded.ch_per_hour_micro,
                   grade=excluded.grade, price_per_ch=excluded.price_per_ch, hours=excluded.hours,
                   stake_address=excluded.stake_address, report_digest=excluded.report_digest,
                   listen_addrs=excluded.listen_addrs, advert=excluded.advert""",
                (advert.peer_id, advert.node, advert.nonce, now, now, slot, advert.issued_at,
                 advert.expires_at, advert.ch_per_hour_micro, advert.grade, advert.price_per_ch,
                 advert.hours, advert.stake_address, advert.report_digest,
                 json.dumps(advert.listen_addrs), data),
            )  # fmt: skip
            self._db.execute("INSERT OR IGNORE INTO seen_slots VALUES (?, ?)", (advert.peer_id, slot))

    def mark_seen(self, peer_id: str, now: int, slot: int) -> bool:
        """Record a heartbeat from a known provider; False if the peer is unknown."""
        with self._tx():
            cur = self._db.execute("UPDATE providers SET last_seen=? WHERE peer_id=?", (now, peer_id))
            if cur.rowcount == 0:
                return False
            self._db.execute("INSERT OR IGNORE INTO seen_slots VALUES (?, ?)", (peer_id, slot))
        return True

    def up_slots(self, peer_id: str, start: int, end: int) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM seen_slots WHERE peer_id=? AND slot>=? AND slot<?", (peer_id, start, end)
        ).fetchone()
        return int(row[0])

    def prune_slots(self, before_slot: int) -> int:
        return self._db.execute("DELETE FROM seen_slots WHERE slot<?", (before_slot,)).rowcount

    def providers(self) -> list[ProviderRecord]:
        return [
            self._record(r) for r in self._db.execute(f"SELECT {_COLUMNS} FROM providers ORDER BY peer_id")
        ]

    def provider(self, peer_id: str) -> ProviderRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM providers WHERE peer_id=?", (peer_id,)).fetchone()
        return None if row is None else self._record(row)

    @staticmethod
    def _record(row: tuple[Any, ...]) -> ProviderRecord:
        values = list(row)
        values[14] = tuple(json.loads(values[14]))
        return ProviderRecord(*values)

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, *_: object) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> RegistryStore._Tx:
        return RegistryStore._Tx(self._db)

    # -- the coordinator's own observation sessions (see registry.uptime) -----------------------

    def _adopt_unsessioned_history(self) -> None:
        """A registry written before sessions were recorded: its history counts as observed
        without a break (what uptime assumed then), as one session."""
        if self._db.execute("SELECT 1 FROM observer_sessions LIMIT 1").fetchone() is None:
            first, last = self._db.execute("SELECT MIN(first_seen), MAX(last_seen) FROM providers").fetchone()
            if first is not None:
                self.mark_alive(float(first) - 86_400.0, float(last))  # before first_seen: no grace

    def mark_alive(self, started_at: float, alive_at: float) -> None:
        """Record that the session started at ``started_at`` was observing at ``alive_at``."""
        self._db.execute(
            """INSERT INTO observer_sessions VALUES (?, ?)
               ON CONFLICT(started_at) DO UPDATE SET alive_at=MAX(alive_at, excluded.alive_at)""",
            (started_at, alive_at),
        )

    def sessions(self, alive_since: float) -> list[tuple[float, float]]:
        """``(started_at, alive_at)`` of the sessions alive at or after ``alive_since``."""
        rows = self._db.execute(
            "SELECT started_at, alive_at FROM observer_sessions WHERE alive_at>=? ORDER BY started_at",
            (alive_since,),
        )
        return [(float(a), float(b)) for a, b in rows]

    def prune_sessions(self, alive_before: float) -> int:
        return self._db.execute("DELETE FROM observer_sessions WHERE alive_at<?", (alive_before,)).rowcount

    def seen_slots(self, peer_id: str, start: int, end: int) -> set[int]:
        """The provider's up slots in ``[start, end)``."""
        rows = self._db.execute(
            "SELECT slot FROM seen_slots WHERE peer_id=? AND slot>=? AND slot<?", (peer_id, start, end)
        )
        return {int(r[0]) for r in rows}

    def iter_peer_ids(self) -> Iterator[str]:
        for (peer_id,) in self._db.execute("SELECT peer_id FROM providers"):
            yield peer_id


_COLUMNS = (
    "peer_id, address, nonce, first_seen, last_seen, first_slot, issued_at, expires_at, ch_per_hour_micro, "
    "grade, price_per_ch, hours, stake_address, report_digest, listen_addrs, advert"
)
