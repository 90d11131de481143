"""The GCX exception hierarchy.

Every error a user or a peer can cause is a :class:`GCXError`. Programs translate them at their
boundary: the CLI prints ``error: <message>`` and exits non-zero; network handlers answer with a
typed rejection. Anything else escaping is a bug.
"""

from __future__ import annotations


class GCXError(Exception):
    """Base class of every expected GCX failure. ``str(err)`` is a message for a human."""

    exit_code: int = 2


class ConfigError(GCXError):
    """A settings file, environment override or reference profile is missing or invalid."""


class KeyStoreError(GCXError):
    """A key file is missing, unreadable, has unsafe permissions or cannot be decrypted."""


class WireError(GCXError):
    """Base class of wire-format failures: the bytes cannot be accepted as a message."""

    exit_code = 1


class DecodeError(WireError):
    """The bytes are not well-formed msgpack of the shape we accept."""


class OversizeError(WireError):
    """The message exceeds the size limit for its kind (checked before decoding)."""


class SchemaError(WireError):
    """Well-formed msgpack whose fields fail validation (type, range, size, unknown field)."""


class SignatureError(GCXError):
    """A signature is malformed or was not made by the claimed key."""

    exit_code = 1


class ReportError(GCXError):
    """A capacity report is inconsistent: its figures do not follow from its results."""

    exit_code = 1


class BenchmarkError(GCXError):
    """The benchmark could not run, or a kernel computed wrong numbers."""

    exit_code = 1


class BackendUnavailable(GCXError):  # noqa: N818 - reads as a state, like trio's Cancelled
    """A compute backend cannot be used on this machine; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
