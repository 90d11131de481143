"""``python -m bench.data [--json] [--quick]``: ``/gcx/data/1`` on loopback (issue 13's figure,
target ≥ 100 MB/s).

A server process (this module with ``--serve``: a real py-libp2p host, TCP + Noise + Yamux on
127.0.0.1, serving a :class:`gcx.jobs.store.TensorStore` in a temporary directory through
:class:`gcx.jobs.data.DataServer`) holds a seeded int8 tensor of 64 MiB (8192 × 8192; ``--quick``:
8 MiB, 2048 × 4096); this process fetches it with :class:`gcx.jobs.data.DataClient` (the
defaults: :data:`~gcx.jobs.data.MAX_DATA` chunks, :data:`~gcx.jobs.data.DEFAULT_DEPTH` in
flight). Two processes, as a fetcher and a provider are; each runs one trio thread. It prints
one JSON object (``"bench": "gcx.data/1"``, with the machine):

* ``transfer`` — ``{bytes, chunk_bytes, depth, runs, ...}``: ``transfer_mb_s`` is
  :meth:`DataClient.fetch_rows` of every row (the bytes moved, no hashing), ``fetch_mb_s`` is
  :meth:`DataClient.fetch_tensor` (moved *and* verified against the root: SHA-256 of every row
  and node), ``upload_mb_s`` is :meth:`DataClient.upload` into the server's store (hashed by the
  client, then by the server before it becomes visible); medians of ``runs`` (``*_best``: the
  fastest run); MB = 10**6 bytes. ``met`` compares ``fetch_mb_s`` with ``target_mb_s`` (``null``
  with ``--quick``).
* ``proofs`` — median latency of one :meth:`DataClient.fetch_row_proof` and one
  :meth:`DataClient.fetch_element_proof` (request, proof read from the stored levels, reply,
  verification), over random rows, in ms, and the row proof's encoded size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import trio

from gcx.jobs.data import DEFAULT_DEPTH, MAX_DATA, DataClient, DataServer
from gcx.jobs.store import TensorStore
from gcx.p2p import configure_libp2p_logging, connect, listen_addrs, open_host

BENCH = "gcx.data/1"
TARGET_MB_S = 100.0
SHAPE = (8192, 8192)  # int8: 64 MiB
QUICK_SHAPE = (2048, 4096)  # int8: 8 MiB
SEED = 1
TENSOR_ID = 0


def seeded(shape: tuple[int, int]) -> np.ndarray:
    """The benchmark's int8 tensor."""
    return np.random.default_rng(SEED).integers(-128, 128, size=shape, dtype=np.int8)


async def serve(shape: tuple[int, int], directory: Path) -> None:
    """The server process: store the tensor, print ``addr root`` and serve until stdin closes."""
    store = TensorStore(directory)
    root = store.put(TENSOR_ID, seeded(shape))
    async with open_host(secrets.token_bytes(32)) as host:
        DataServer(store).register(host)
        print(listen_addrs(host)[0], root.hex(), flush=True)
        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)  # type: ignore[call-arg]


def _mb_s(nbytes: int, seconds: float) -> float:
    return round(nbytes / seconds / 1e6, 1)


async def measure(addr: str, root: bytes, shape: tuple[int, int], runs: int, proofs: int) -> dict[str, Any]:
    """Every figure, against the server at ``addr``."""
    array = seeded(shape)
    nbytes = array.nbytes
    async with open_host(secrets.token_bytes(32)) as host:
        peer = await connect(host, addr, timeout_s=10)
        client = DataClient(host)
        await client.fetch_rows(peer, root, 0, 1)  # warm the connection
        transfer, fetch, upload = [], [], []
        for run in range(runs):
            t = time.perf_counter()
            data = await client.fetch_rows(peer, root, 0, shape[0])
            transfer.append(time.perf_counter() - t)
            assert len(data) == nbytes
            del data
            t = time.perf_counter()
            got = await client.fetch_tensor(peer, root)
            fetch.append(time.perf_counter() - t)
            assert np.array_equal(got, array)
            del got
            t = time.perf_counter()
            await client.upload(peer, TENSOR_ID + 1 + run, array)  # a new id: a new root each run
            upload.append(time.perf_counter() - t)
        rng = np.random.default_rng(SEED)
        row_ms, element_ms = [], []
        size = 0
        for _ in range(proofs):
            i, col = int(rng.integers(shape[0])), int(rng.integers(shape[1]))
            t = time.perf_counter()
            proof = await client.fetch_row_proof(peer, root, i)
            row_ms.append((time.perf_counter() - t) * 1e3)
            size = len(proof.encode())
            t = time.perf_counter()
            await client.fetch_element_proof(peer, root, i, col)
            element_ms.append((time.perf_counter() - t) * 1e3)
    return {
        "transfer": {
            "bytes": nbytes,
            "shape": list(shape),
            "dtype": "int8",
            "chunk_bytes": client.chunk,
            "depth": client.depth,
            "runs": runs,
            "transfer_mb_s": _mb_s(nbytes, statistics.median(transfer)),
            "transfer_mb_s_best": _mb_s(nbytes, min(transfer)),
            "fetch_mb_s": _mb_s(nbytes, statistics.median(fetch)),
            "fetch_mb_s_best": _mb_s(nbytes, min(fetch)),
            "upload_mb_s": _mb_s(nbytes, statistics.median(upload)),
            "upload_mb_s_best": _mb_s(nbytes, min(upload)),
            "seconds_runs": {"transfer": transfer, "fetch": fetch, "upload": upload},
        },
        "proofs": {
            "samples": proofs,
            "row_proof_ms": round(statistics.median(row_ms), 3),
            "element_proof_ms": round(statistics.median(element_ms), 3),
            "row_proof_bytes": size,
        },
    }


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
    }


def run(quick: bool) -> dict[str, Any]:
    """Start the server process, measure, stop it (see the module's docstring)."""
    started = time.perf_counter()
    shape = QUICK_SHAPE if quick else SHAPE
    with tempfile.TemporaryDirectory(prefix="gcx-bench-data-") as tmp:
        cmd = [sys.executable, "-m", "bench.data", "--serve", tmp]
        if quick:
            cmd.append("--quick")
        server = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            line = server.stdout.readline().split()
            if len(line) != 2:
                raise SystemExit(f"the server process did not start (exit {server.poll()})")
            addr, root = line[0], bytes.fromhex(line[1])
            figures = trio.run(measure, addr, root, shape, 2 if quick else 3, 20 if quick else 100)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    fetch = figures["transfer"]["fetch_mb_s"]
    figures["transfer"]["target_mb_s"] = TARGET_MB_S
    figures["transfer"]["met"] = None if quick else fetch >= TARGET_MB_S
    return {
        "bench": BENCH,
        "machine": machine(),
        "quick": quick,
        "chunk_bytes": MAX_DATA,
        "depth": DEFAULT_DEPTH,
        **figures,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one compact JSON object")
    parser.add_argument("--quick", action="store_true", help="an 8 MiB tensor (a smoke run, a few seconds)")
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configure_libp2p_logging()
    if args.serve is not None:
        trio.run(serve, QUICK_SHAPE if args.quick else SHAPE, args.serve)
        return
    result = run(args.quick)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
