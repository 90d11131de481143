"""The other side of the verifier's wires, for its tests: a fake coordinator (a stdlib HTTP server
on 127.0.0.1 serving the job feed, job specs and views, recording mismatch reports) and a fake
provider (a real libp2p host serving ``/gcx/data/1`` from a real :class:`TensorStore` holding a
committed run and its op leaves, honest or with one corrupted element).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gcx.jobs.data import DataServer
from gcx.jobs.store import TensorStore
from gcx.p2p import Host, listen_addrs, open_host
from gcx.tp import Add, InputDecl, MatmulNT, OutputDecl, Relu, Requant, TensorType, execute, make_program
from gcx.tp.attest import RunCommitment, commit_inputs, commit_run
from gcx.tp.backends import NumpyBackend
from gcx.tp.execute import ExecutionResult
from gcx.tp.jobfile import JobFile, SeededInput, encode_job, make_job

NP = NumpyBackend()
PROGRAM = make_program(
    [
        InputDecl("x", TensorType("int8", (6, 16))),
        InputDecl("w", TensorType("int8", (5, 16))),
        InputDecl("b", TensorType("int32", (5,))),
    ],
    [MatmulNT(0, 1), Add(3, 2), Relu(4), Requant(5, 3, 4, -2)],
    [OutputDecl("y", 6)],
)
N_IN = len(PROGRAM.inputs)


def job(seed: int) -> JobFile:
    """A job of :data:`PROGRAM` on seeded inputs."""
    return make_job(PROGRAM, {d.name: SeededInput(seed * 10 + t) for t, d in enumerate(PROGRAM.inputs)})


def provider_run(
    j: JobFile, corrupt: tuple[int, int, int] | None = None
) -> tuple[ExecutionResult, RunCommitment]:
    """The provider's run of ``j``: honest, or op ``k``'s output with element ``(row, col)``'s low
    bit flipped (``corrupt=(k, row, col)``; later ops computed from the true values)."""
    values = j.values()
    run = execute(PROGRAM, values, NP)
    tensors = [t.copy() for t in run.tensors]
    if corrupt is not None:
        k, i, c = corrupt
        tensors[N_IN + k].reshape(tensors[N_IN + k].shape[0], -1)[i, c] ^= 1
    bad = ExecutionResult(run.backend, tuple(tensors), run.outputs)
    return bad, commit_run(PROGRAM, bad, commit_inputs(PROGRAM, values))


# --------------------------------------------------------------------------- fake provider


@dataclass
class FakeProvider:
    host: Host
    store: TensorStore
    withhold: bool = False

    @property
    def peer_id(self) -> str:
        return self.host.get_id().to_base58()

    def holds(self, run: ExecutionResult, c: RunCommitment) -> bytes:
        """Keep every tensor of a committed run and its op leaves; return the result root."""
        if not self.withhold:
            for tid, t in enumerate(c.tensors):
                self.store.put(tid, run.tensors[tid], commitment=t)
            self.store.put_result(PROGRAM.digest, c.result.leaves)
        return c.root


@asynccontextmanager
async def fake_provider(directory: Path, *, withhold: bool = False) -> AsyncIterator[FakeProvider]:
    """A provider host on loopback serving ``/gcx/data/1`` (tensors, rows, op proofs) from a store."""
    async with open_host(secrets.token_bytes(32), ["/ip4/127.0.0.1/tcp/0"]) as host:
        p = FakeProvider(host, TensorStore(directory), withhold=withhold)
        DataServer(p.store).register(host)
        yield p


# --------------------------------------------------------------------------- fake coordinator


class FakeCoordinator:
    """The coordinator's verifier-facing routes on a stdlib HTTP server thread.

    ``down`` makes every route answer 503; ``report_status`` is what mismatch POSTs get;
    ``posts`` records their bodies, ``spec_gets`` counts spec downloads per job."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.specs: dict[str, bytes] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.spec_gets: Counter[str] = Counter()
        self.feed_gets = 0
        self.feed_afters: list[int] = []
        self.down = False
        self.report_status = 202
        self.lock = threading.Lock()
        coordinator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with coordinator.lock:
                    status, body, ctype = coordinator.get(self.path)
                self._reply(status, body, ctype)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with coordinator.lock:
                    status, answer = coordinator.post(self.path, body)
                self._reply(status, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.api = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def add_job(
        self, j: JobFile, provider: FakeProvider, result_root: bytes, *, challenge_deadline: int | None = None
    ) -> str:
        """Announce a submitted job on the feed; return its id."""
        job_id = "0x" + secrets.token_bytes(32).hex()
        with self.lock:
            self.specs[job_id] = encode_job(j)
            self.views[job_id] = {
                "job_id": job_id,
                "state": "submitted",
                "challenge_deadline": challenge_deadline,
            }
            self.events.append(
                {
                    "seq": len(self.events) + 1,
                    "time": 1,
                    "kind": "submitted",
                    "job_id": job_id,
                    "provider": {
                        "peer_id": provider.peer_id,
                        "address": "0x" + "00" * 20,
                        "listen_addrs": listen_addrs(provider.host),
                    },
                    "program_digest": "0x" + PROGRAM.digest.hex(),
                    "result_root": "0x" + result_root.hex(),
                    "micro_ch": 1,
                }
            )
        return job_id

    def get(self, path: str) -> tuple[int, Any, str]:
        if self.down:
            return 503, {"error": "unavailable", "message": "down"}, "application/json"
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        if url.path == "/v1/jobs/feed":
            self.feed_gets += 1
            q = parse_qs(url.query)
            after, limit = int(q["after"][0]), int(q.get("limit", ["100"])[0])
            self.feed_afters.append(after)
            page = [e for e in self.events if e["seq"] > after][:limit]
            return 200, {"events": page, "last_seq": len(self.events)}, "application/json"
        if len(parts) == 4 and parts[3] == "spec" and parts[2] in self.specs:
            self.spec_gets[parts[2]] += 1
            return 200, self.specs[parts[2]], "application/octet-stream"
        if len(parts) == 3 and parts[2] in self.views:
            return 200, self.views[parts[2]], "application/json"
        return 404, {"error": "unknown_job", "message": path}, "application/json"

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if self.down:
            return 503, {"error": "unavailable", "message": "down"}
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[3] == "mismatch" and parts[2] in self.views:
            self.posts.append((parts[2], body))
            if self.report_status == 202:
                return 202, {"accepted": True, "provider_flagged": True}
            return self.report_status, {"error": "wrong_state", "message": "the job is not submitted"}
        return 404, {"error": "unknown_job", "message": path}
