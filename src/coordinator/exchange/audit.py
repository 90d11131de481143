"""Auditing a journal offline: every entry's signature, nonce order and the state it replays to.

The journal keeps each admitted request exactly as its account signed it (``entry.py``), so
anyone with the journal file and the exchange's EIP-712 domain can check, without trusting the
operator, that every order, cancel and replace was signed by the account it acted for, that
nonces only ever increased, and what state the exchange reached (the same ``state_hash`` that
``GET /v1/exchange`` reports). ``gcx coordinator audit-journal`` runs it.

A damaged journal (a CRC that fails, a missing sequence number, a page SQLite cannot read, or
damage ``PRAGMA quick_check`` finds elsewhere in the file) ends the audit: the report says what
and, where it is known, the first bad sequence number; every entry before it was checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gcx.orders import AuthError, Domain, verify_typed

from .core.entry import EntryDecodeError, decode_entry, entry_message
from .core.state import ExchangeState
from .errors import JournalCorruptError, JournalFileError, JournalGapError
from .journal import Journal

__all__ = ["AuditReport", "audit_journal"]


@dataclass(slots=True)
class AuditReport:
    entries: int = 0
    last_seq: int = 0
    accounts: int = 0
    state_hash: str = ""
    problems: list[str] = field(default_factory=list)  # "seq N: what is wrong", first ones only
    damage: str = ""  # what is damaged in the file ("" when intact)
    first_bad_seq: int | None = None  # the first sequence number the damage takes, when known

    @property
    def ok(self) -> bool:
        return not self.problems and not self.damage


def audit_journal(
    journal: Journal,
    domain: Domain,
    make_state: Callable[[], ExchangeState],
    *,
    max_problems: int = 20,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Check every entry of ``journal`` (see the module docstring) and replay it from seq 1."""
    report = AuditReport()
    state = make_state()
    last_nonce: dict[bytes, int] = {}

    def problem(seq: int, text: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(f"seq {seq}: {text}")

    def check_entries() -> None:
        for seq, data in journal.read_from(1):
            report.entries += 1
            report.last_seq = seq
            try:
                entry = decode_entry(data)
            except EntryDecodeError as exc:
                problem(seq, str(exc))
                continue
            kind, message = entry_message(entry)
            try:
                # expiry was checked against the clock at admission; here only the signature counts
                verify_typed(kind, message, "0x" + entry.signature.hex(), domain, now=0)
            except AuthError as exc:
                problem(seq, f"{kind} for {message['account']}: {exc}")
            if entry.nonce <= last_nonce.get(entry.account, -1):
                problem(
                    seq,
                    f"nonce {entry.nonce} of {message['account']} is not above {last_nonce[entry.account]}",
                )
            last_nonce[entry.account] = max(entry.nonce, last_nonce.get(entry.account, -1))
            state.apply(seq, entry)
            if progress is not None and seq % 100_000 == 0:
                progress(seq)

    try:
        check_entries()
    except (JournalCorruptError, JournalGapError) as exc:
        report.damage, report.first_bad_seq = str(exc), exc.first_bad_seq
    except JournalFileError as exc:
        report.damage, report.first_bad_seq = str(exc), exc.first_bad_seq or report.last_seq + 1
    else:
        if found := journal.integrity_problems():  # damage outside the frames just read
            report.damage = f"{journal.path}: is damaged: {'; '.join(found[:3])}"
    report.accounts = len(last_nonce)
    report.state_hash = state.state_hash().hex()
    return report
