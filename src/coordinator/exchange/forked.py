"""Encode a snapshot in a forked child, off the event loop (the way Redis's BGSAVE does).

Encoding the whole exchange state takes long once it holds tens of thousands of orders (about
half a second at 50,000 resting orders on the reference machine), and done on the event loop it
stalls every client for that long. :func:`fork_encode` forks instead: the child has a
copy-on-write image of the process *as it is at the fork* — the state exactly after the last
applied command, whatever the parent does next — encodes it, writes the bytes to a pipe and
exits with ``os._exit`` (no cleanup, no I/O but the pipe, no lock it could find held). The
parent reads the pipe in a worker thread and reaps the child. Only the thread that forks exists
in the child; it calls nothing but the encoder, which needs no lock another thread could hold.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["ForkedEncodingError", "fork_encode"]


class ForkedEncodingError(RuntimeError):
    """The child died or wrote nothing: no snapshot this time (the journal still has it all)."""


def fork_encode(encode: Callable[[], bytes]) -> Callable[[], bytes] | None:
    """Fork now; the child runs ``encode()`` and sends the bytes back. Returns a blocking
    function that reads them and reaps the child (run it in a worker thread; it raises
    :class:`ForkedEncodingError` if the child failed), or None where there is no ``fork``."""
    if not hasattr(os, "fork"):
        return None
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the child: encode, write, leave
        code = 1
        try:
            os.close(read_fd)
            data = memoryview(encode())
            while data:
                data = data[os.write(write_fd, data) :]
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)

    def collect() -> bytes:
        chunks: list[bytes] = []
        try:
            while chunk := os.read(read_fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(read_fd)
            _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise ForkedEncodingError(f"snapshot child {pid} failed (wait status {status})")
        return b"".join(chunks)

    return collect
