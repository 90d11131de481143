"""The errors of GCX tensor programs: every one a :class:`gcx.errors.GCXError`.

A malformed program or job file is a :class:`ProgramError` / :class:`JobFileError` (both wire
schema errors, exit code 2: the file is bad input); input values that do not match the program's
declarations are a :class:`TensorValueError`. Decoding and validation raise nothing else.
"""

from __future__ import annotations

from gcx.errors import GCXError, SchemaError


class ProgramError(SchemaError):
    """A program's encoding or structure is refused (unknown op, bad dtype, shape mismatch,
    reference to a later or unknown tensor, a limit exceeded, an extra or missing key...)."""

    exit_code = 2


class JobFileError(SchemaError):
    """A job file (a program with its inputs) is refused."""

    exit_code = 2


class TensorValueError(GCXError):
    """A tensor value does not match its declaration (dtype, shape, layout)."""
