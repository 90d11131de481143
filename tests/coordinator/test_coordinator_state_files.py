"""Damaged state files through the real CLI (issue 11, items 1-3): the exchange journal and the
provider registry, damaged on disk the ways disks and operators damage them, must be refused by
``gcx coordinator run`` and ``gcx coordinator audit-journal`` with exactly one ``error:`` line
naming the file (no traceback, the README's exit status), the audit naming the first bad sequence
number; never taken for a fresh start. A damaged advert inside an intact registry is left out,
never answered with a 500.

Where damage is expected is computed independently of the code under test: the frames' pages
are read from the raw file (the SQLite b-tree format), so "the first bad sequence number" is the
first frame whose page was damaged.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from coordinator.exchange.core.entry import encode_entry, entry_from_message
from coordinator.exchange.journal import Journal
from coordinator.registry import Registry
from coordinator.registry.store import RegistryStore
from coordinator.state_file import JOURNAL_APPLICATION_ID, REGISTRY_APPLICATION_ID
from gcx.advert import make_advert
from gcx.errors import ConfigError
from gcx.keys import ParticipantKey, new_key
from gcx.orders import Domain, sign_order
from gcx.reference import load_profile

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DOMAIN = Domain(31337, "0x" + "00" * 20)  # the exchange's domain without a chain
FRAMES, PER_FRAME = 90, 3
NOW = 1_700_000_100  # the reports' time (conftest's make_report) plus a little


# -- building real files ------------------------------------------------------------------------


def _entries(n: int) -> list[bytes]:
    accounts = [Account.create() for _ in range(3)]
    out = []
    for i in range(n):
        acct, nonce = accounts[i % 3], i // 3 + 1
        m = {
            "account": acct.address,
            "instrument": "CH-A-SPOT",
            "side": i % 2,
            "orderType": 0,
            "price": 1990 + i % 21,
            "qty": 1 + i % 4,
            "clientOrderId": nonce,
            "nonce": nonce,
            "expiry": int(time.time()) + 3600,
        }
        sig = bytes.fromhex(sign_order(m, acct.key, DOMAIN)[2:])
        out.append(encode_entry(entry_from_message("Order", m, sig, 1_000 + i, order_id=i + 1)))
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """A real journal of signed orders, FRAMES frames of PER_FRAME entries, spread over pages."""
    path = tmp_path_factory.mktemp("pristine") / "exchange.sqlite"
    entries = _entries(FRAMES * PER_FRAME)
    with Journal(path, synchronous="NORMAL") as journal:
        for i in range(FRAMES):
            journal.append_frame(entries[i * PER_FRAME : (i + 1) * PER_FRAME])
    return path, entries


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    for k in range(9):
        byte = buf[i + k]
        if k == 8:
            return (value << 8) | byte, i + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + k + 1
    raise AssertionError("unreachable")


def frame_pages(path: Path) -> dict[int, tuple[int, ...]]:
    """first_seq -> the pages (root first, leaf last) holding that frame's row, from the raw file."""
    with closing(sqlite3.connect(path)) as db, db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name='frames'").fetchone()
    data = path.read_bytes()
    size = int.from_bytes(data[16:18], "big")
    size = 65536 if size == 1 else size
    out: dict[int, tuple[int, ...]] = {}

    def walk(page: int, above: tuple[int, ...]) -> None:
        base = (page - 1) * size
        hdr = base + (100 if page == 1 else 0)
        kind, cells = data[hdr], int.from_bytes(data[hdr + 3 : hdr + 5], "big")
        here = (*above, page)
        if kind == 0x05:  # interior table page: children left to right, then the right-most
            pointers = hdr + 12
            for c in range(cells):
                cell = base + int.from_bytes(data[pointers + 2 * c : pointers + 2 * c + 2], "big")
                walk(int.from_bytes(data[cell : cell + 4], "big"), here)
            walk(int.from_bytes(data[hdr + 8 : hdr + 12], "big"), here)
        elif kind == 0x0D:  # leaf table page: (payload size, rowid) per cell
            pointers = hdr + 8
            for c in range(cells):
                cell = base + int.from_bytes(data[pointers + 2 * c : pointers + 2 * c + 2], "big")
                _, after = _varint(data, cell)
                rowid, _ = _varint(data, after)
                out[rowid] = here
        else:
            raise AssertionError(f"page {page} is not a table b-tree page ({kind:#x})")

    walk(root, ())
    return out


def first_frame_on(pages: dict[int, tuple[int, ...]], damaged: Callable[[int], bool]) -> int:
    return min(seq for seq, path in pages.items() if any(damaged(p) for p in path))


def leaf_pages(pages: dict[int, tuple[int, ...]]) -> list[int]:
    return sorted({path[-1] for path in pages.values()})


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _page_size(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:18], "big")


# -- the damage ---------------------------------------------------------------------------------
# Each takes the copy of the pristine journal (and the pristine file's entries) and returns
# (a phrase the error line must contain, the first bad sequence number or None).


def _empty(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    os.truncate(path, 0)
    return "empty (0 bytes)", 1


def _half_truncated(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    pages = frame_pages(path)
    size = _page_size(path)
    keep = path.stat().st_size // size // 2
    os.truncate(path, keep * size)
    return "damaged", first_frame_on(pages, lambda p: p > keep)


def _flipped_magic(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    _flip(path, 0)
    return "not an SQLite database", 1


def _flipped_application_id(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    _flip(path, 68)
    return "not an exchange journal", 1


def _flipped_page(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    pages = frame_pages(path)
    leaf = leaf_pages(pages)[len(leaf_pages(pages)) // 2]
    _flip(path, (leaf - 1) * _page_size(path))  # the page-type byte of a leaf of frames
    return "damaged", first_frame_on(pages, lambda p: p == leaf)


def _zeroed_page(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    pages = frame_pages(path)
    leaf = leaf_pages(pages)[len(leaf_pages(pages)) // 3]
    size = _page_size(path)
    data = bytearray(path.read_bytes())
    data[(leaf - 1) * size : leaf * size] = bytes(size)
    path.write_bytes(bytes(data))
    return "damaged", first_frame_on(pages, lambda p: p == leaf)


def _crc_mismatch(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    frame = FRAMES // 2
    first_seq = frame * PER_FRAME + 1
    body = b"".join(entries[frame * PER_FRAME : (frame + 1) * PER_FRAME])
    data = path.read_bytes()
    at = data.index(body)  # the frame's body, as SQLite stored it (one cell, no overflow)
    _flip(path, at + len(body) // 2)
    return f"journal corrupt at seq {first_seq}: CRC mismatch", first_seq


def _sequence_gap(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    first_seq = 40 * PER_FRAME + 1
    with closing(sqlite3.connect(path)) as db, db:
        assert db.execute("DELETE FROM frames WHERE first_seq=?", (first_seq,)).rowcount == 1
    return f"expected seq {first_seq}", first_seq


def _foreign_sqlite(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    path.unlink()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, body BLOB)")
        db.execute("INSERT INTO orders VALUES (1, x'00')")
    return "not an exchange journal", 1


def _a_registry(path: Path, entries: list[bytes]) -> tuple[str, int | None]:
    path.unlink()
    RegistryStore(path).close()
    return "is a provider registry, not an exchange journal", 1


DAMAGE = {
    "truncated to 0": _empty,
    "half truncated": _half_truncated,
    "flipped header magic": _flipped_magic,
    "flipped application id": _flipped_application_id,
    "flipped page byte": _flipped_page,
    "zeroed page": _zeroed_page,
    "CRC mismatch": _crc_mismatch,
    "sequence gap": _sequence_gap,
    "foreign SQLite file": _foreign_sqlite,
    "a registry, not a journal": _a_registry,
}


# -- the CLI ------------------------------------------------------------------------------------


def _env(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")}
    return env | {"GCX_HOME": str(home), "GCX_NETWORK__LISTEN": '["/ip4/127.0.0.1/tcp/0"]', **settings}


def _gcx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gcx", "coordinator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str], path: Path) -> str:
    """The one ``error:`` line, after checking there is exactly one, naming ``path``, and no
    traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def home(isolated_home: Path) -> Path:
    new_key("coordinator")  # an unencrypted key in the isolated home, as the daemon needs one
    return isolated_home


@pytest.fixture
def damaged_copy(tmp_path: Path, pristine: tuple[Path, list[bytes]]) -> Iterator[Callable[[str], Any]]:
    def make(kind: str) -> tuple[Path, str, int | None]:
        path = tmp_path / "state" / "exchange.sqlite"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(pristine[0], path)
        phrase, first_bad = DAMAGE[kind](path, pristine[1])
        return path, phrase, first_bad

    yield make


# -- the journal --------------------------------------------------------------------------------


def test_the_pristine_journal_audits_clean(home: Path, pristine: tuple[Path, list[bytes]]) -> None:
    """Positive control: without damage the audit passes, and the page oracle sees every frame."""
    result = _gcx(_env(home), "audit-journal", "--journal", str(pristine[0]), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["entries"] == FRAMES * PER_FRAME and report["first_bad_seq"] is None
    pages = frame_pages(pristine[0])
    assert sorted(pages) == [1 + i * PER_FRAME for i in range(FRAMES)] and len(leaf_pages(pages)) >= 6


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_coordinator_run_refuses_a_damaged_journal(
    kind: str, home: Path, damaged_copy: Callable[[str], tuple[Path, str, int | None]]
) -> None:
    path, phrase, _ = damaged_copy(kind)
    before = path.read_bytes() if path.exists() else None
    result = _gcx(_env(home, GCX_EXCHANGE__JOURNAL=str(path)), "run", "--api-port", "0", "--json")
    assert result.returncode == 2, result.stderr
    assert phrase in error_line(result, path)
    assert result.stdout == ""  # never ready
    if before is not None:
        assert path.read_bytes() == before  # not re-initialised, not repaired: left as found


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_audit_journal_names_the_first_bad_sequence_number(
    kind: str, home: Path, damaged_copy: Callable[[str], tuple[Path, str, int | None]]
) -> None:
    path, _, first_bad = damaged_copy(kind)
    before = path.read_bytes()
    result = _gcx(_env(home), "audit-journal", "--journal", str(path))
    assert result.returncode == 1, result.stderr
    line = error_line(result, path)
    assert f"first bad seq {first_bad};" in line or f"first bad seq {first_bad})" in line, line
    assert path.read_bytes() == before  # an audit writes nothing


def test_a_wal_without_its_database_is_refused(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "exchange.sqlite"
    Path(f"{path}-wal").write_bytes(b"\x37\x7f\x06\x82" + bytes(28))
    result = _gcx(_env(home, GCX_EXCHANGE__JOURNAL=str(path)), "run", "--api-port", "0", "--json")
    assert result.returncode == 2
    assert "-wal is there" in error_line(result, path)
    assert not path.exists()


@pytest.mark.parametrize("where", ["directory", "missing parent"])
def test_a_journal_path_that_cannot_be_one_is_a_config_error(home: Path, tmp_path: Path, where: str) -> None:
    path = tmp_path if where == "directory" else tmp_path / "no" / "such" / "exchange.sqlite"
    phrase = "is a directory" if where == "directory" else "does not exist"
    run = _gcx(_env(home, GCX_EXCHANGE__JOURNAL=str(path)), "run", "--api-port", "0", "--json")
    audit = _gcx(_env(home), "audit-journal", "--journal", str(path))
    for result in (run, audit):
        assert result.returncode == 2, result.stderr
        assert phrase in error_line(result, path)
    assert not (tmp_path / "no").exists()  # nothing created on the way


# -- the registry -------------------------------------------------------------------------------


@pytest.fixture
def providers(
    tmp_path: Path,
    make_key: Callable[[str], ParticipantKey],
    make_report: Callable[..., dict[str, Any]],
) -> tuple[Path, dict[str, bytes]]:
    """A real registry with two providers; their adverts by peer id."""
    path = tmp_path / "state" / "registry.sqlite"
    path.parent.mkdir(exist_ok=True)
    registry = Registry(RegistryStore(path), load_profile())
    adverts = {}
    for name in ("alpha", "beta"):
        key = make_key(name)
        data = make_advert(
            key, f"peer-{name}", make_report(key), price_per_ch=400_000, hours=24, nonce=1, now=NOW,
            ttl_s=600, listen_addrs=["/ip4/127.0.0.1/tcp/4001"],
        )  # fmt: skip
        assert registry.ingest_advert(data, f"peer-{name}", key.address, now=NOW)
        adverts[f"peer-{name}"] = data
    registry.store.close()
    return path, adverts


def _registry_page_flip(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name='providers'").fetchone()
    _flip(path, (root - 1) * _page_size(path))


REGISTRY_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated to 0": (lambda p: os.truncate(p, 0), "empty (0 bytes)"),
    "flipped header magic": (lambda p: _flip(p, 0), "not an SQLite database"),
    "flipped b-tree page": (_registry_page_flip, "damaged"),
    "a journal, not a registry": (
        lambda p: (p.unlink(), Journal(p).close()),
        "is an exchange journal, not a provider registry",
    ),
}


@pytest.mark.parametrize("kind", list(REGISTRY_DAMAGE))
def test_coordinator_run_refuses_a_damaged_registry(
    kind: str, home: Path, providers: tuple[Path, dict[str, bytes]]
) -> None:
    path, _ = providers
    damage, phrase = REGISTRY_DAMAGE[kind]
    damage(path)
    result = _gcx(_env(home, GCX_COORDINATOR__DATABASE=str(path)), "run", "--api-port", "0", "--json")
    assert result.returncode == 2, result.stderr
    assert phrase in error_line(result, path)
    assert result.stdout == ""


@pytest.mark.parametrize("where", ["directory", "missing parent"])
def test_a_registry_path_that_cannot_be_one_is_a_config_error(home: Path, tmp_path: Path, where: str) -> None:
    path = tmp_path if where == "directory" else tmp_path / "no" / "registry.sqlite"
    result = _gcx(_env(home, GCX_COORDINATOR__DATABASE=str(path)), "run", "--api-port", "0", "--json")
    assert result.returncode == 2, result.stderr
    assert ("is a directory" if where == "directory" else "does not exist") in error_line(result, path)


def test_a_damaged_advert_is_left_out_never_a_500(
    home: Path, providers: tuple[Path, dict[str, bytes]]
) -> None:
    """A flip inside one stored advert: the coordinator starts, finds it at once, logs it, and
    answers 404 for that provider (200 for the other) until it advertises again."""
    path, adverts = providers
    data = path.read_bytes()
    alpha = adverts["peer-alpha"]
    at = next(  # a stretch of alpha's embedded report found once in the file (the reports differ
        i  # only in their node and signature)
        for i in range(len(alpha) // 3, len(alpha) - 32)
        if data.count(alpha[i : i + 32]) == 1 and alpha[i : i + 32] not in adverts["peer-beta"]
    )
    _flip(path, data.index(alpha[at : at + 32]) + 16)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcx", "coordinator", "run", "--api-port", "0", "--json"],
        env=_env(home, GCX_COORDINATOR__DATABASE=str(path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "the coordinator did not start"
        api = json.loads(line)["api"]
        damaged = httpx.get(f"{api}/v1/providers/peer-alpha", timeout=10)
        intact = httpx.get(f"{api}/v1/providers/peer-beta", timeout=10)
        listing = httpx.get(f"{api}/v1/providers", params={"include_expired": True}, timeout=10).json()
        metrics = httpx.get(f"{api}/metrics", timeout=10).text
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert damaged.status_code == 404 and damaged.json()["error"] == "unknown_provider"
    assert intact.status_code == 200 and intact.json()["peer_id"] == "peer-beta"
    assert [p["peer_id"] for p in listing["providers"]] == ["peer-beta"]
    assert "gcx_registry_damaged_records_total 1.0" in metrics
    assert "stored record of provider peer-alpha is damaged" in stderr
    assert "Traceback" not in stderr


# -- in process: what the checks accept ---------------------------------------------------------


def _application_id(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db, db:
        return int(db.execute("PRAGMA application_id").fetchone()[0])


def test_new_files_are_stamped_and_files_from_before_the_stamp_still_open(tmp_path: Path) -> None:
    journal, registry = tmp_path / "j.sqlite", tmp_path / "r.sqlite"
    with Journal(journal) as opened:
        opened.append_batch([b"one", b"two"])
    RegistryStore(registry).close()
    assert _application_id(journal) == JOURNAL_APPLICATION_ID
    assert _application_id(registry) == REGISTRY_APPLICATION_ID
    for path in (journal, registry):  # as written before application ids: 0
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("PRAGMA application_id=0")
    with Journal(journal) as reopened:
        assert [c for _, c in reopened.read_from(1)] == [b"one", b"two"]
    RegistryStore(registry).close()
    assert _application_id(journal) == JOURNAL_APPLICATION_ID  # stamped on the way
    assert _application_id(registry) == REGISTRY_APPLICATION_ID
    with pytest.raises(ConfigError, match="no exchange journal"):
        Journal(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
