"""Errors of the chain client. Every RPC, deployment or transaction failure becomes one of these."""

from __future__ import annotations

from gcx.errors import GCXError


class ChainError(GCXError):
    """The chain cannot be used as configured (RPC down, wrong chain id, missing or stale deployment)."""


class RpcUnreachable(ChainError):  # noqa: N818 - reads as a state, like PeerUnreachable
    """The RPC did not answer (connection refused, reset or timed out): the one chain failure
    that waiting can fix. ``reason`` is the short cause (e.g. ``[Errno 111] Connection refused``)."""

    def __init__(self, rpc_url: str, reason: str) -> None:
        super().__init__(f"the Ethereum RPC at {rpc_url} is unreachable: {reason}")
        self.rpc_url = rpc_url
        self.reason = reason


class TransactionFailed(ChainError):  # noqa: N818 - reads as what happened
    """A transaction reverted or could not be sent; ``reason`` names the custom error when known,
    ``data`` holds the raw revert data (``0x`` + selector + ABI-encoded arguments) of a custom error."""

    exit_code = 1

    def __init__(self, message: str, reason: str | None = None, data: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.data = data
