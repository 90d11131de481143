"""Capacity-audit cost: what checking an audit costs the verifier vs recomputing the GEMM.

Usage: ``python -m bench.audit [--json] [--target-s S] [--claimed-tops T]``.

The claim defaults to this machine's measured NumPy int8 GEMM rate, so the challenge is the one
an honest CPU provider here would get. Three figures, each measured on this machine:

* ``verify_s`` — the verifier's work once the roots have come: generating the seeded ``B`` and
  recomputing the ``r`` opened rows exactly (``gcx.audit.core.expected_rows``, what
  ``check_opening`` runs), plus checking ``r`` row proofs against the block roots;
* ``recompute_s`` — recomputing the whole GEMM instead (every block: seeded ``A_j`` and
  ``A_j·Bᵀ``), the hashing a recomputation would also need not counted;
* ``audit`` — one real audit over libp2p on loopback (an honest ``AuditServer`` on NumPy): its
  verdict, the root's round trip and the opening's.

``ratio = recompute_s / verify_s`` (target ≥ 20); ``ratio_model`` is the element-operation
model the sizing enforces (``cost_ratio``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import time
from typing import Any

import numpy as np
import trio

from gcx.audit.client import run_audit
from gcx.audit.core import (
    AuditConfig,
    ChallengeShape,
    cost_ratio,
    expected_rows,
    pick_rows,
    seeded_b,
    seeded_rows,
    size_challenge,
)
from gcx.audit.server import AuditServer
from gcx.tp.backends.numpy_backend import NumpyBackend
from gcx.tp.commit import commit_tensor, prove_row, verify_row

SEED = 0x5EED


def measured_rate(backend: NumpyBackend, size: int = 1024) -> float:
    """int8 GEMM ops per second of ``backend`` on ``size³`` seeded operands (best of 3)."""
    a = seeded_rows(np, SEED, 1, size, 0, size)
    b = seeded_rows(np, SEED, 0, size, 0, size)
    backend.matmul_nt(a, b)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        backend.matmul_nt(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def time_recompute(backend: NumpyBackend, shape: ChallengeShape) -> tuple[float, list[np.ndarray]]:
    """Seconds to recompute every block (inputs generated, no hashing), and the blocks."""
    t = time.perf_counter()
    b = seeded_b(SEED, shape)
    blocks = [
        backend.matmul_nt(seeded_rows(np, SEED, j + 1, shape.k, 0, shape.m), b) for j in range(shape.blocks)
    ]
    return time.perf_counter() - t, blocks


def time_verify(shape: ChallengeShape, blocks: list[np.ndarray], rows: tuple[int, ...]) -> dict[str, float]:
    """The verifier's side: proofs made by the (honest) provider beforehand, then timed: ``B``,
    the opened rows recomputed, each proof checked against its block root."""
    commitments = [commit_tensor(j, c) for j, c in enumerate(blocks)]
    proofs = [prove_row(commitments[r // shape.m], blocks[r // shape.m], r % shape.m) for r in rows]
    t0 = time.perf_counter()
    b = seeded_b(SEED, shape)
    want = expected_rows(SEED, shape, rows, b)
    t1 = time.perf_counter()
    ok = all(
        verify_row(commitments[r // shape.m].root, p) and p.row == w
        for r, p, w in zip(rows, proofs, want, strict=True)
    )
    t2 = time.perf_counter()
    if not ok:
        raise AssertionError("an honest opening did not verify")
    return {"verify_s": t2 - t0, "rows_s": t1 - t0, "proofs_s": t2 - t1}


async def real_audit(claimed: float, config: AuditConfig) -> dict[str, Any]:
    """One audit over libp2p on loopback against an honest NumPy provider."""
    from gcx.p2p import connect, listen_addrs, open_host

    vkey, pkey = secrets.token_bytes(32), secrets.token_bytes(32)
    async with open_host(vkey) as verifier, open_host(pkey) as provider:
        server = AuditServer(pkey, "numpy")
        server.register(provider)
        await connect(verifier, listen_addrs(provider)[0], timeout_s=10)
        t = time.perf_counter()
        record = await run_audit(verifier, provider.get_id(), claimed, config, private_key=vkey)
        total = time.perf_counter() - t
        await server.wait_idle(120)
    return {
        "verdict": str(record.verdict),
        "root_s": record.elapsed_ms / 1000,
        "deadline_s": record.decoded_challenge().deadline_s,
        "open_s": record.open_ms / 1000,
        "total_s": round(total, 3),
    }


def run(target_s: float, claimed_tops: float | None) -> dict[str, Any]:
    backend = NumpyBackend()
    claimed = claimed_tops * 1e12 if claimed_tops else measured_rate(backend)
    config = AuditConfig(target_s=target_s)
    shape = size_challenge(claimed, target_s, rows_to_open=config.rows_to_open, min_ratio=config.min_ratio)
    recompute_s, blocks = time_recompute(backend, shape)
    rows = pick_rows(shape, config.rows_to_open, random.Random(1))
    verify = time_verify(shape, blocks, rows)
    del blocks
    audit = trio.run(real_audit, claimed, config)
    return {
        "bench": "audit",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "claimed_tops": round(claimed / 1e12, 6),
        "target_s": target_s,
        "shape": {"m": shape.m, "blocks": shape.blocks, "n": shape.n, "k": shape.k},
        "rows_opened": config.rows_to_open,
        "recompute_s": round(recompute_s, 4),
        "verify_s": round(verify["verify_s"], 4),
        "verify_rows_s": round(verify["rows_s"], 4),
        "verify_proofs_s": round(verify["proofs_s"], 4),
        "ratio": round(recompute_s / verify["verify_s"], 1),
        "ratio_model": round(cost_ratio(shape, config.rows_to_open), 1),
        "target_ratio": config.min_ratio,
        "audit": audit,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one compact JSON object")
    parser.add_argument("--target-s", type=float, default=5.0, help="audit duration at the claim (default 5)")
    parser.add_argument("--claimed-tops", type=float, default=None, help="default: this machine's NumPy rate")
    args = parser.parse_args(argv)
    out = run(args.target_s, args.claimed_tops)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
