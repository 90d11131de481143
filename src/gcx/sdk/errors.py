"""The SDK's errors: one small hierarchy under :class:`gcx.errors.GCXError`.

* :class:`ApiError` — the exchange answered, and refused (any non-2xx status) or answered
  something that is not the contract's JSON. ``code`` is the API's stable error code
  (``replayed_nonce``, ``not_owner`` …, see ``docs/exchange-api.md``).
* :class:`ApiUnreachable` — no answer at all: connection refused, timeout, DNS, TLS.
* :class:`InvalidRequest` — the call's arguments are wrong; nothing was sent.
* :class:`FeedClosed` — the market-data WebSocket was closed by the server with an error code.

``str(err)`` is a one-line message for a human; the CLI prints it as ``error: <message>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from gcx.errors import GCXError
from gcx.feed import FeedGapError

__all__ = ["CODE_STATUS", "ApiError", "ApiUnreachable", "FeedClosed", "FeedGap", "InvalidRequest", "SdkError"]

CODE_STATUS: Final[Mapping[str, int]] = {
    **dict.fromkeys(("malformed", "invalid_request"), 400),
    **dict.fromkeys(("bad_signature", "high_s", "expired", "wrong_domain", "unauthenticated"), 401),
    "not_owner": 403,
    **dict.fromkeys(("unknown_instrument", "unknown_order"), 404),
    **dict.fromkeys(("replayed_nonce", "duplicate_order_id"), 409),
    "unavailable": 503,
}
"""The HTTP status of each documented error code (the others are 422 rejections); used where
an error arrives without one, as on the market-data WebSocket."""


class SdkError(GCXError):
    """Base class of the SDK's errors."""

    exit_code = 1


class InvalidRequest(SdkError):  # noqa: N818 - names the reason, like the API's codes
    """The call's arguments are invalid (unknown side, a limit order without a price, no key …);
    nothing was sent."""

    exit_code = 2


class ApiUnreachable(SdkError):  # noqa: N818 - reads as a state, like trio's Cancelled
    """The exchange API did not answer (connection refused, timeout, bad host). ``url`` is the
    URL that was tried."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the GCX API at {url}: {reason}")
        self.url = url
        self.reason = reason


class ApiError(SdkError):
    """The exchange answered with a non-2xx status (or with something that is not its JSON).

    ``status`` is the HTTP status, ``code`` the API's error code, ``message`` its text and
    ``body`` the decoded answer (a dict; ``{}`` when the body was not a JSON object).
    """

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body: dict[str, Any] = body if body is not None else {}

    @property
    def seq(self) -> int | None:
        """The journal sequence number of a rejection the matching engine decided, else None."""
        seq = self.body.get("seq")
        return seq if isinstance(seq, int) and not isinstance(seq, bool) else None

    @classmethod
    def from_answer(cls, status: int, text: str) -> ApiError:
        """Parse an error answer: the contract's ``{"error", "message"}``, FastAPI's
        ``{"detail"}``, or any other text (shortened), so that no answer escapes as a crash."""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            code, message = data.get("error"), data.get("message")
            if isinstance(code, str) and code:
                return cls(status, code, message if isinstance(message, str) else "", data)
            if "detail" in data:
                return cls(status, f"http_{status}", str(data["detail"]), data)
        snippet = " ".join(text.split())[:200] or "(empty body)"
        return cls(status, f"http_{status}", snippet, data if isinstance(data, dict) else {})


class FeedClosed(SdkError):  # noqa: N818 - reads as a state, like trio's Cancelled
    """The server closed the market-data feed with an error code (1013: the subscriber was too
    slow; resubscribe)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"the feed was closed by the server (code {code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class FeedGap(SdkError, FeedGapError):  # noqa: N818 - like FeedClosed, reads as a state
    """The feed lost its sequence (the rule of :class:`gcx.feed.FeedSequence`: a gap, a stale or a
    duplicate message): resubscribe from a new snapshot. Both an :class:`SdkError` and a
    :class:`gcx.feed.FeedGapError`, with its ``expected`` and ``got``."""


# ------------------------------------------------------------------------------ the job path
# (gcx.sdk.jobs, docs/jobs-buyer.md)


class QuoteRejected(SdkError):  # noqa: N818 - reads as what happened
    """The coordinator's quote does not hold up: a price above ``max_price`` or not the formula's,
    an escrow, token or chain other than this deployment's, a provider whose address is not its
    peer id's, a digest or metering that is not the job's … Nothing was escrowed."""


class EscrowError(SdkError):
    """Opening (or refunding) a job's escrow on chain failed; ``reason`` names the contract's
    custom error when it reverted."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class InsufficientBalance(EscrowError):  # noqa: N818 - reads as a state
    """The buyer holds less MockUSD than the job's amount."""


class ProviderNotStaked(EscrowError):  # noqa: N818 - reads as a state
    """The quoted provider is not active in the StakingRegistry, so JobEscrow refuses the job."""


class JobFailed(SdkError):  # noqa: N818 - reads as what happened
    """A job ended without a result (refunded and not re-offered, or its chain state contradicts
    the coordinator). ``job_id`` is the job, ``state`` its last state."""

    def __init__(self, job_id: str, state: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.state = state


class WaitTimeout(SdkError):  # noqa: N818 - reads as what happened
    """:meth:`gcx.sdk.jobs.JobsClient.wait` ran out of time; ``job_id`` and ``state`` are the last seen."""

    def __init__(self, job_id: str, state: str, timeout_s: float) -> None:
        super().__init__(f"job {job_id} is still {state} after {timeout_s:g} s")
        self.job_id = job_id
        self.state = state


class ResultError(SdkError):
    """A job's result cannot be had (not submitted yet, no local record, nothing on chain)."""


class ResultMismatch(ResultError):  # noqa: N818 - the name says what was found
    """A job's result does not verify: the op leaves do not commit to the on-chain result root,
    they do not describe the program, or a downloaded tensor is not its committed root."""


class ProviderUnreachable(ResultError):  # noqa: N818 - reads as a state
    """The provider could not be dialled, or it does not (or no longer) serve the result's tensors."""
