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
import select
import signal
import time
from collections.abc import Callable

from .errors import ForkedEncodingError

__all__ = ["ForkedEncodingError", "fork_encode"]


def fork_encode(encode: Callable[[], bytes], timeout_s: float = 600.0) -> Callable[[], bytes] | None:
    """Fork now; the child runs ``encode()`` and sends the bytes back. Returns a blocking
    function that reads them and reaps the child (run it in a worker thread; it raises
    :class:`ForkedEncodingError` if the child failed, or was killed for taking longer than
    ``timeout_s``), or None where there is no ``fork``."""
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
        deadline = time.monotonic() + timeout_s
        timed_out = False
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                    timed_out = True  # a child stuck for whatever reason must not stop snapshots
                    os.kill(pid, signal.SIGKILL)
                    break
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(read_fd)
            _, status = os.waitpid(pid, 0)
        if timed_out:
            raise ForkedEncodingError(f"snapshot child {pid} took more than {timeout_s:g} s; killed")
        if os.waitstatus_to_exitcode(status) != 0:
            raise ForkedEncodingError(f"snapshot child {pid} failed (wait status {status})")
        return b"".join(chunks)

    return collect
