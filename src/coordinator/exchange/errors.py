"""Every error the exchange raises, in one hierarchy rooted in :class:`gcx.errors.GCXError`.

The CLI prints any of them as one ``error:`` line (no traceback); the API maps the admission
errors to their ``code`` and HTTP ``status``. Pure: the core imports this module, so it must not
import any I/O library.

* :class:`ExchangeError` — the base.
* :class:`JournalError` and its kinds (:class:`JournalFileError`, :class:`JournalGapError`,
  :class:`JournalCorruptError`, :class:`JournalConflictError`, :class:`StateSnapshotError`) — the
  durable log or a snapshot in it cannot be used as it is; :class:`JournalAuditError` — an audit
  found the journal damaged.
* :class:`AdmissionError` and its kinds — a request refused before it reached the journal.
* :class:`VerifierUnavailable`, :class:`ForkedEncodingError` — an adapter's helper process failed.
* :class:`CommandDecodeError`, :class:`EntryDecodeError` — bytes that are not a journal record.
"""

from __future__ import annotations

from gcx.errors import DecodeError, GCXError

__all__ = [
    "AdmissionError",
    "CommandDecodeError",
    "EntryDecodeError",
    "ExchangeError",
    "ExchangeUnavailable",
    "ForkedEncodingError",
    "InstrumentExpired",
    "JournalAuditError",
    "JournalConflictError",
    "JournalCorruptError",
    "JournalError",
    "JournalFileError",
    "JournalGapError",
    "StateSnapshotError",
    "UnknownInstrument",
    "VerifierUnavailable",
]


class ExchangeError(GCXError):
    """Base of every exchange error."""


# -- the journal and its snapshots ---------------------------------------------------------------


class JournalError(ExchangeError):
    """Base of every journal error: the log (or a snapshot in it) cannot be used as it is."""


def _in(path: object | None) -> str:
    return "" if path is None else f"{path}: "


class JournalFileError(JournalError):
    """The journal file as a whole cannot be used: empty, not SQLite, another application's file,
    or damaged where SQLite itself cannot read it. ``first_bad_seq`` when it is known."""

    def __init__(self, path: object, problem: str, first_bad_seq: int | None = None) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.first_bad_seq = first_bad_seq


class JournalGapError(JournalError):
    """A sequence number is missing from the log (or a frame overlaps its predecessor)."""

    def __init__(self, expected: int, found: int, path: object | None = None) -> None:
        super().__init__(
            f"{_in(path)}journal gap: expected seq {expected}, found a frame starting at {found}"
        )
        self.expected = expected
        self.found = found
        self.path = path

    @property
    def first_bad_seq(self) -> int:
        return self.expected


class JournalCorruptError(JournalError):
    """A frame or snapshot cannot be decoded (CRC mismatch, inconsistent lengths, or a page SQLite
    cannot read)."""

    def __init__(self, seq: int, reason: str, path: object | None = None) -> None:
        super().__init__(f"{_in(path)}journal corrupt at seq {seq}: {reason}")
        self.seq = seq
        self.reason = reason
        self.path = path

    @property
    def first_bad_seq(self) -> int:
        return self.seq


class JournalConflictError(JournalError):
    """Another writer appended to the same journal file behind this one's back."""


class StateSnapshotError(JournalError):
    """A state snapshot cannot be decoded or does not restore to what it recorded."""


class JournalAuditError(JournalError):
    """An audit found the journal damaged: the check failed (exit status 1)."""

    exit_code = 1


# -- admission ------------------------------------------------------------------------------------


class AdmissionError(ExchangeError):
    """A request refused before it reached the journal; ``code`` and ``status`` for the API."""

    code = "invalid_request"
    status = 400


class UnknownInstrument(AdmissionError):  # noqa: N818 - names the reason, like the API codes
    code = "unknown_instrument"
    status = 404


class InstrumentExpired(AdmissionError):  # noqa: N818 - names the reason, like the API codes
    """Orders on a future or option are refused from its expiry on (cancels still pass)."""

    code = "instrument_expired"
    status = 422


class ExchangeUnavailable(AdmissionError):  # noqa: N818 - names the reason, like the API codes
    """The journal cannot write: nothing of the request was accepted."""

    code = "unavailable"
    status = 503


# -- helper processes -----------------------------------------------------------------------------


class VerifierUnavailable(ExchangeError):  # noqa: N818 - a state, like the API's codes
    """No worker process could check the batch."""


class ForkedEncodingError(ExchangeError):
    """The child died or wrote nothing: no snapshot this time (the journal still has it all)."""


# -- records --------------------------------------------------------------------------------------


class CommandDecodeError(DecodeError):
    """The bytes are not the encoding of a command."""


class EntryDecodeError(DecodeError):
    """The bytes are not a journal entry of this format."""
