"""The coordinator's provider registry in SQLite (WAL): providers, their latest accepted advert,
the slots in which they were seen, and the coordinator's own observation sessions (so that its
downtime is not counted against providers). Survives restarts; one connection, one thread.

Damage is refused, never taken for a fresh start (:mod:`coordinator.state_file`): a registry is
created only where no file exists; an existing file that is empty, not SQLite, another
application's or fails ``PRAGMA quick_check`` raises :class:`~.errors.RegistryStoreError`. A
single row that does not decode raises :class:`~.errors.StoredRecordError` naming its provider,
so the core can leave that provider out instead of failing every listing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, Final

from coordinator.state_file import REGISTRY_APPLICATION_ID, StateFileKind, open_state_file, sqlite_problem
from gcx.advert import CapacityAdvert
from gcx.errors import ConfigError

from .audits import AuditState, StoredAudit
from .base import ProviderRecord
from .errors import RegistryStoreError, StoredRecordError

__all__ = ["SCHEMA_VERSION", "ProviderRecord", "RegistryStore"]

SCHEMA_VERSION = 1

_DDL: Final = """
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
CREATE TABLE IF NOT EXISTS audit_state (
    peer_id TEXT PRIMARY KEY,
    claim INTEGER NOT NULL,
    report_digest TEXT NOT NULL,
    due_at REAL NOT NULL,
    audited_claim INTEGER NOT NULL,
    last_verdict TEXT,
    last_at REAL,
    consecutive_failures INTEGER NOT NULL,
    audits INTEGER NOT NULL,
    failures INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    peer_id TEXT NOT NULL,
    at REAL NOT NULL,
    verdict TEXT NOT NULL,
    claimed_ops_per_s INTEGER NOT NULL,
    elapsed_ms INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    challenge_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_by_peer ON audit_records (peer_id, seq);
"""


_KIND: Final = StateFileKind(
    "provider registry", REGISTRY_APPLICATION_ID, frozenset({"meta", "providers"}), _DDL
)


class RegistryStore:
    """SQLite persistence of the provider registry (a :class:`~.base.ProviderStore`)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open the registry at ``path`` (created where no file exists, when ``create``)."""

        def damaged(problem: str) -> RegistryStoreError:
            return RegistryStoreError(path, problem)

        self._db = open_state_file(path, _KIND, damaged=damaged, create=create, check=True)
        # A damaged TEXT column must not make a whole listing fail in the decoder: it decodes to
        # a string that agrees with nothing (and the row is then left out as damaged).
        self._db.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise ConfigError(
                    f"{path} has registry schema {row[0]}, this coordinator reads {SCHEMA_VERSION}"
                )
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise damaged(f"is damaged: {sqlite_problem(exc)}") from None
        except BaseException:
            self._db.close()
            raise
        self.path = path
        self._adopt_unsessioned_history()

    def close(self) -> None:
        self._db.close()

    def last_nonce(self, peer_id: str) -> int | None:
        row = self._db.execute("SELECT nonce FROM providers WHERE peer_id=?", (peer_id,)).fetchone()
        if row is None:
            return None
        if type(row[0]) is not int:
            raise StoredRecordError(peer_id, f"nonce is {row[0]!r}")
        return int(row[0])

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

    def replace_advert(self, advert: CapacityAdvert, data: bytes, now: int, slot: int) -> None:
        """Like :meth:`upsert_advert`, but the provider's row is written afresh (first seen now):
        for a provider whose stored row was damaged. Its seen slots are kept."""
        with self._tx():
            self._db.execute("DELETE FROM providers WHERE peer_id=?", (advert.peer_id,))
        self.upsert_advert(advert, data, now, slot)

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

    def providers(self, skip: Collection[str] = ()) -> list[ProviderRecord]:
        """Every provider but those in ``skip``, by peer id; ``StoredRecordError`` at the first
        other row that does not decode."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM providers ORDER BY peer_id")
        return [self._record(r) for r in rows if r[0] not in skip]

    def provider(self, peer_id: str) -> ProviderRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM providers WHERE peer_id=?", (peer_id,)).fetchone()
        return None if row is None else self._record(row)

    @staticmethod
    def _record(row: tuple[Any, ...]) -> ProviderRecord:
        """The record of one row, every column of the type the schema says (SQLite does not
        enforce them, and damage on disk can change a value's type)."""
        peer_id = row[0]
        for value, (name, kind) in zip(row, _TYPES, strict=True):
            if type(value) is not kind:
                raise StoredRecordError(str(peer_id), f"{name} is {value!r:.40}, not {kind.__name__}")
        try:
            addrs = json.loads(row[14])
        except ValueError as exc:
            raise StoredRecordError(peer_id, f"listen_addrs is not JSON: {exc}") from None
        if not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
            raise StoredRecordError(peer_id, "listen_addrs is not a list of strings")
        values = list(row)
        values[14] = tuple(addrs)
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

    # -- capacity audits (see registry.audits) ---------------------------------------------------

    def audit_states(self) -> dict[str, AuditState]:
        """Every provider's audit state, by peer id (a row that does not decode is skipped: its
        provider is audited afresh, which is the safe side)."""
        out: dict[str, AuditState] = {}
        for row in self._db.execute(f"SELECT {_AUDIT_STATE_COLUMNS} FROM audit_state"):
            state = _audit_state(row)
            if state is not None:
                out[state.peer_id] = state
        return out

    def audit_state(self, peer_id: str) -> AuditState | None:
        """One provider's audit state, or None."""
        row = self._db.execute(
            f"SELECT {_AUDIT_STATE_COLUMNS} FROM audit_state WHERE peer_id=?", (peer_id,)
        ).fetchone()
        return None if row is None else _audit_state(row)

    def put_audit_state(self, state: AuditState, record: StoredAudit | None = None, keep: int = 20) -> None:
        """Store ``state`` and, in the same transaction, ``record`` (keeping the provider's
        latest ``keep`` records)."""
        with self._tx():
            self._db.execute(
                f"INSERT OR REPLACE INTO audit_state ({_AUDIT_STATE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (state.peer_id, state.claim, state.report_digest, state.due_at, state.audited_claim,
                 state.last_verdict, state.last_at, state.consecutive_failures, state.audits,
                 state.failures),
            )  # fmt: skip
            if record is not None:
                self._db.execute(
                    f"INSERT INTO audit_records ({_AUDIT_RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                    (record.peer_id, record.at, record.verdict, record.claimed_ops_per_s,
                     record.elapsed_ms, record.deadline_ms, record.challenge_id, record.detail,
                     record.record),
                )  # fmt: skip
                self._db.execute(
                    """DELETE FROM audit_records WHERE peer_id=? AND seq NOT IN
                       (SELECT seq FROM audit_records WHERE peer_id=? ORDER BY seq DESC LIMIT ?)""",
                    (record.peer_id, record.peer_id, keep),
                )

    def audit_records(self, peer_id: str, limit: int = 20) -> list[StoredAudit]:
        """``peer_id``'s latest ``limit`` audit records, newest first."""
        rows = self._db.execute(
            f"SELECT {_AUDIT_RECORD_COLUMNS} FROM audit_records WHERE peer_id=? ORDER BY seq DESC LIMIT ?",
            (peer_id, limit),
        )
        out = []
        for row in rows:
            kinds = (str, float, str, int, int, int, str, str, bytes)
            if all(isinstance(v, k) for v, k in zip(row, kinds, strict=True)):
                out.append(StoredAudit(*row))
        return out

    def iter_peer_ids(self) -> Iterator[str]:
        for (peer_id,) in self._db.execute("SELECT peer_id FROM providers"):
            yield peer_id


_AUDIT_STATE_COLUMNS: Final = (
    "peer_id, claim, report_digest, due_at, audited_claim, last_verdict, last_at, consecutive_failures, "
    "audits, failures"
)
_AUDIT_RECORD_COLUMNS: Final = (
    "peer_id, at, verdict, claimed_ops_per_s, elapsed_ms, deadline_ms, challenge_id, detail, record"
)


def _audit_state(row: tuple[Any, ...]) -> AuditState | None:
    kinds: tuple[type | tuple[type, ...], ...] = (
        str, int, str, (int, float), int, (str, type(None)), (int, float, type(None)), int, int, int,
    )  # fmt: skip
    if not all(isinstance(v, k) for v, k in zip(row, kinds, strict=True)):
        return None
    peer_id, claim, digest, due_at, audited, verdict, last_at, consecutive, audits, failures = row
    return AuditState(
        peer_id, claim, digest, float(due_at), audited, verdict,
        None if last_at is None else float(last_at), consecutive, audits, failures,
    )  # fmt: skip


_COLUMNS = (
    "peer_id, address, nonce, first_seen, last_seen, first_slot, issued_at, expires_at, ch_per_hour_micro, "
    "grade, price_per_ch, hours, stake_address, report_digest, listen_addrs, advert"
)
_TYPES: Final = tuple(
    zip(
        _COLUMNS.split(", "),
        (str, str, int, int, int, int, int, int, int, str, int, int, str, str, str, bytes),
        strict=True,
    )
)
