"""Signature checks of order-entry batches in worker processes, beside the event loop.

Why processes: checking an EIP-712 order (typed digest, secp256k1 recovery) costs ~0.1 ms of
CPU, half of what the exchange spends on an order, and it is pure. Threads do not help: the
digest is Python code that holds the GIL, and a worker thread holding it throttles the event
loop (and the loop throttles the worker, one GIL hand-off per switch interval). A worker process
has its own interpreter; the parent only pickles the batch (a few µs per request) and waits for
the verdicts in a trio worker thread, blocked on a pipe without the GIL.

Protocol on each worker's pipe: the parent sends ``(now, [(kind, message, signature), ...])``,
the worker answers a list of verdicts, one per request, in order: ``("ok", address)`` or
``("error", code, text)`` with the :class:`~gcx.orders.AuthError` code. A worker that dies (or
cannot be started) makes :meth:`VerifierPool.verify` raise :class:`VerifierUnavailable`; the
exchange then checks that batch itself, so nothing is lost, only speed.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from gcx.orders import (
    AuthError,
    BadSignature,
    Domain,
    Expired,
    HighS,
    MalformedMessage,
    WrongDomain,
    verify_typed,
)

from .errors import VerifierUnavailable

__all__ = ["Verdict", "VerifierPool", "VerifierUnavailable", "verdict_error"]

log = logging.getLogger("gcx.coordinator.exchange.verifier")

Verdict = tuple[Any, ...]
_ERRORS: dict[str, type[AuthError]] = {
    cls.code: cls for cls in (MalformedMessage, BadSignature, HighS, Expired, WrongDomain)
}


def verdict_error(verdict: Verdict) -> AuthError:
    """The error a refusing verdict stands for."""
    return _ERRORS.get(verdict[1], MalformedMessage)(verdict[2])


def _check(requests: Sequence[tuple[Any, Any, Any]], domain: Domain, now: int) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for kind, message, signature in requests:
        try:
            verdicts.append(("ok", verify_typed(kind, message, signature, domain, now=now)))
        except AuthError as exc:
            verdicts.append(("error", exc.code, str(exc)))
        except Exception as exc:  # anything a hostile message could provoke is its own fault
            verdicts.append(("error", "malformed", f"cannot read the message: {exc!r}"))
    return verdicts


def _worker_main(conn: Connection, chain_id: int, contract: str) -> None:
    domain = Domain(chain_id, contract)
    try:
        while True:
            now, requests = conn.recv()
            conn.send(_check(requests, domain, now))
    except (EOFError, OSError, KeyboardInterrupt):
        return


class VerifierPool:
    """``workers`` processes checking batches for ``domain``; :meth:`verify` blocks (call it
    from a worker thread) and is safe from several threads at once."""

    def __init__(self, domain: Domain, workers: int) -> None:
        if workers < 1:
            raise ValueError("a verifier pool needs at least one worker")
        self.domain = domain
        context = multiprocessing.get_context("spawn")  # no fork of a threaded trio process
        self._idle: queue.SimpleQueue[tuple[Connection, Any]] = queue.SimpleQueue()
        self._all: list[tuple[Connection, Any]] = []
        for _ in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_worker_main,
                args=(child, domain.chain_id, domain.verifying_contract),
                name="gcx-verifier",
                daemon=True,
            )
            proc.start()
            child.close()
            self._all.append((parent, proc))
            self._idle.put((parent, proc))
        self.alive = workers

    def verify(self, requests: Sequence[tuple[Any, Any, Any]], now: int) -> list[Verdict]:
        """One verdict per request, in order; :class:`VerifierUnavailable` if no worker can."""
        if self.alive < 1:
            raise VerifierUnavailable("every signature worker has died")
        conn, proc = self._idle.get()
        try:
            conn.send((now, list(requests)))
            verdicts: list[Verdict] = conn.recv()
        except (EOFError, OSError, ValueError) as exc:  # the worker died, or sent garbage
            self.alive -= 1
            log.error("signature worker %s failed (%s); %d left", proc.pid, exc, self.alive)
            conn.close()
            raise VerifierUnavailable(f"signature worker failed: {exc}") from None
        self._idle.put((conn, proc))
        if len(verdicts) != len(requests):
            raise VerifierUnavailable("a signature worker answered the wrong number of verdicts")
        return verdicts

    def close(self) -> None:
        """Stop every worker (they exit when their pipe closes)."""
        for conn, proc in self._all:
            conn.close()
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
        self.alive = 0
