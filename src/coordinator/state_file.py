"""Opening the coordinator's SQLite state files (the exchange journal, the provider registry) so
that damage is refused and never taken for a fresh start.

Theory of operation
-------------------
SQLite opens an empty file, or a missing one, as a new empty database. For a state file that is
the worst reading of damage there is: a journal truncated to 0 bytes became a new, empty exchange
and every acknowledged order was gone without a word. So :func:`open_state_file`:

* **creates** a file only where none exists — neither the file nor a ``-wal`` left of it — and
  atomically: the new database is built under a temporary name, stamped with its kind's
  ``application_id``, closed and then linked into place. A file at the real path was complete
  when it appeared, so an empty one is damage, not a file we were about to initialise;
* accepts an **existing** file only if it starts with the SQLite header, carries its kind's
  ``application_id`` (or, for files made before the stamp existed, holds its kind's tables, and
  is then stamped) and opens without an SQLite error; with ``check``, ``PRAGMA quick_check`` (it
  reads every page, ~0.1–0.5 s per GB here) must pass too;
* raises :class:`~gcx.errors.ConfigError` (exit 2) for a path that cannot be one — a directory,
  a missing parent directory, no permission — and the caller's ``damaged(problem)`` error for
  everything else, so journal and registry errors stay in their own hierarchies. Messages name
  the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gcx.errors import ConfigError, GCXError

__all__ = [
    "JOURNAL_APPLICATION_ID",
    "REGISTRY_APPLICATION_ID",
    "StateFileKind",
    "open_state_file",
    "quick_check",
    "quick_check_file",
]

SQLITE_HEADER: Final = b"SQLite format 3\x00"
JOURNAL_APPLICATION_ID: Final = 0x4743584A  # "GCXJ"
REGISTRY_APPLICATION_ID: Final = 0x47435852  # "GCXR"
_KIND_NAMES: Final = {
    JOURNAL_APPLICATION_ID: "an exchange journal",
    REGISTRY_APPLICATION_ID: "a provider registry",
}
# SQLite result codes that say the file is fine but cannot be used from here or now.
_NOT_DAMAGE: Final = {
    "SQLITE_CANTOPEN",
    "SQLITE_PERM",
    "SQLITE_READONLY",
    "SQLITE_AUTH",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
}


@dataclass(frozen=True, slots=True)
class StateFileKind:
    """What a state file is: a name for messages, its ``application_id``, the tables a file made
    before the stamp must hold to count as one, and the DDL that creates (or completes) it."""

    what: str
    application_id: int
    tables: frozenset[str]
    ddl: str


def sqlite_problem(exc: sqlite3.Error) -> str:
    """``exc`` as a phrase for an error line: SQLite's message and its result code."""
    name = getattr(exc, "sqlite_errorname", None)
    return f"{exc} ({name})" if name else str(exc)


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether an SQLite error says the file's content is damaged (not locked, not forbidden)."""
    return getattr(exc, "sqlite_errorname", None) not in _NOT_DAMAGE


def quick_check(db: sqlite3.Connection) -> list[str]:
    """The problems ``PRAGMA quick_check`` finds (at most 10), or [] when the file is intact."""
    try:
        rows = db.execute("PRAGMA quick_check(10)").fetchall()
    except sqlite3.DatabaseError as exc:
        return [sqlite_problem(exc)]
    lines = [line for (text,) in rows for line in str(text).splitlines()]
    return [] if lines == ["ok"] else [line for line in lines if not line.startswith("***")]


def quick_check_file(path: Path) -> list[str]:
    """:func:`quick_check` of ``path`` through a connection of its own, read-only and without the
    leniency of a read-only state-file connection (see :func:`open_state_file`)."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [sqlite_problem(exc)]
    try:
        return quick_check(db)
    finally:
        db.close()


def _a(what: str) -> str:
    return f"{'an' if what[:1] in 'aeiou' else 'a'} {what}"


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if not read_only:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    # SQLite refuses a whole file that is shorter than its header says; a reader that cannot
    # write may read what is left, up to the damage (an audit wants to know where that is).
    db.execute("PRAGMA writable_schema=ON")
    return db


def _check_path(path: Path, kind: StateFileKind) -> None:
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not {_a(kind.what)} file")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ConfigError(f"cannot use {path} as {_a(kind.what)}: its directory {parent} {what}")


def _create(path: Path, kind: StateFileKind) -> None:
    """Build a new, complete file of ``kind`` under a temporary name and link it into place."""
    tmp = path.with_name(f".{path.name}.creating")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute(f"PRAGMA application_id={kind.application_id}")
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(kind.ddl)
        finally:
            db.close()  # checkpoints: everything is in the main file now
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # somebody else created it meanwhile: use theirs
            os.link(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot create {_a(kind.what)} at {path}: {reason}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _check_existing_bytes(path: Path, kind: StateFileKind, damaged: Callable[[str], GCXError]) -> None:
    try:
        with path.open("rb") as fh:
            head = fh.read(100)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise ConfigError(f"cannot read the {kind.what} {path}: {exc.strerror}") from None
    if size == 0:
        raise damaged(
            f"is empty (0 bytes): not a new {kind.what} but a truncated or damaged one; "
            "restore it from a backup (a new one is created only where no file exists)"
        )
    if len(head) < 100 or not head.startswith(SQLITE_HEADER):
        raise damaged(f"is not an SQLite database ({size} bytes without the SQLite header)")


def _check_kind(
    db: sqlite3.Connection, kind: StateFileKind, damaged: Callable[[str], GCXError], read_only: bool
) -> None:
    app_id = int(db.execute("PRAGMA application_id").fetchone()[0]) & 0xFFFFFFFF
    if app_id == kind.application_id:
        return
    if app_id != 0:
        other = _KIND_NAMES.get(app_id, f"another application's file (application_id {app_id:#010x})")
        raise damaged(f"is {other}, not {_a(kind.what)}")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and not kind.tables <= tables:
        raise damaged(f"is not {_a(kind.what)}: it holds the tables {', '.join(sorted(tables))}")
    if not read_only:  # ours, from before the stamp (or an empty database): stamp it
        db.execute(f"PRAGMA application_id={kind.application_id}")


def open_state_file(
    path: Path,
    kind: StateFileKind,
    *,
    damaged: Callable[[str], GCXError],
    create: bool = True,
    read_only: bool = False,
    check: bool = False,
) -> sqlite3.Connection:
    """An autocommit connection (usable from any thread) to the state file ``path`` of ``kind``.

    Creates the file where none exists when ``create`` (never with ``read_only``); raises
    ``ConfigError`` for path problems and ``damaged(problem)`` for a file that is not an intact
    one of ``kind`` (see the module docstring). The caller sets its own pragmas after.

    A ``read_only`` connection reads a file shorter than its header says up to where it ends
    (``writable_schema``) so that an audit finds the first damaged record; check such a file
    with :func:`quick_check_file`, which has no such leniency.
    """
    _check_path(path, kind)
    if not path.exists():
        wal = Path(f"{path}-wal")
        if wal.exists():
            raise damaged(
                f"is missing but {wal.name} is there: the database file was deleted or moved; "
                "restore it (do not delete the -wal file: it may hold the latest transactions)"
            )
        if not create or read_only:
            raise ConfigError(f"no {kind.what} at {path}")
        _create(path, kind)
    else:
        _check_existing_bytes(path, kind, damaged)
    try:
        db = _connect(path, read_only)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open the {kind.what} {path}: {sqlite_problem(exc)}") from None
    try:
        _check_kind(db, kind, damaged, read_only)
        if not read_only:
            db.executescript(kind.ddl)
        if check and (problems := quick_check(db)):
            raise damaged(f"is damaged: {'; '.join(problems[:3])}")
    except sqlite3.Error as exc:
        db.close()
        if not is_damage(exc):
            raise ConfigError(f"cannot use the {kind.what} {path}: {sqlite_problem(exc)}") from None
        raise damaged(f"is damaged: {sqlite_problem(exc)}") from None
    except BaseException:
        db.close()
        raise
    return db
