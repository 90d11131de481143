"""The other side of the buyer's wires, for the job SDK tests: a real anvil chain with the real
contracts and staked providers, a small coordinator implementing the job routes of
docs/JOBS-SPEC (quote, submit with its on-chain escrow check, views, list, spec) over real HTTP,
and small classifier job files."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from eth_account import Account
from eth_hash.auto import keccak

from gcx.chain import AnvilNode, Chain, Deployment, faucet
from gcx.keys import ParticipantKey
from gcx.p2p import peer_id_of
from gcx.reference import load_profile
from gcx.tp.attest import commit_inputs
from gcx.tp.jobfile import Evaluation, JobFile, SeededInput, decode_job, encode_job, make_job
from gcx.tp.metering import meter
from gcx.tp.ops import Argmax, MatmulNT
from gcx.tp.program import InputDecl, OutputDecl, make_program
from gcx.tp.tensor import TensorType

PROFILE = load_profile()
STATES = ("None", "Open", "Submitted", "Challenged", "Finalized", "Refunded")


@dataclass(frozen=True)
class JobsChain:
    node: AnvilNode
    deployment: Deployment
    deployer: bytes
    providers: tuple[bytes, ...]  # staked provider keys
    unstaked: bytes  # a funded key that never staked


def participant(private_key: bytes, name: str = "buyer") -> ParticipantKey:
    """A key object for ``private_key`` (no file: the SDK only needs its address and bytes)."""
    return ParticipantKey(
        name, Account.from_key(private_key).address, Path("/nonexistent"), False, private_key
    )


def funded_key(rpc_url: str, deployment: Deployment, deployer: bytes, usd: int = 100_000 * 10**6) -> bytes:
    """A fresh key with ETH, GCX and ``usd`` micro-USDC of MockUSD."""
    raw = bytes(Account.create().key)
    faucet(rpc_url, deployment, deployer, Account.from_key(raw).address, usd=usd)
    return raw


def classifier_job(seed: int = 1, rows: int = 16, with_evaluation: bool = True) -> tuple[JobFile, bytes]:
    """``pred = argmax(matmul_nt(x, w))`` with seeded inputs (roots committed) and an evaluation
    whose labels agree with the true predictions on all rows but the first."""
    from gcx.tp.backends import open_backend
    from gcx.tp.execute import execute

    decls = [InputDecl("x", TensorType("int8", (rows, 8))), InputDecl("w", TensorType("int8", (4, 8)))]
    ops = [MatmulNT(0, 1), Argmax(2)]
    outputs = [OutputDecl("pred", 3), OutputDecl("logits", 2)]
    unrooted = make_program(decls, ops, outputs)
    sources = {"x": SeededInput(seed), "w": SeededInput(seed + 1)}
    values = make_job(unrooted, sources).values()
    roots = commit_inputs(unrooted, values)
    program = make_program(
        [InputDecl(d.name, d.type, c.root) for d, c in zip(decls, roots, strict=True)], ops, outputs
    )
    evaluation = None
    if with_evaluation:
        pred = execute(program, values, open_backend("numpy")).outputs["pred"].astype(np.int32)
        labels = pred.copy()
        labels[0] = (labels[0] + 1) % 4
        evaluation = Evaluation("pred", labels, pred.copy())
    job = make_job(program, sources, evaluation)
    return job, encode_job(job)


@dataclass
class FakeProvider:
    peer_id: str
    address: str
    price_per_ch: int
    grade: str = "A"
    listen_addrs: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, private_key: bytes, price_per_ch: int, grade: str = "A") -> FakeProvider:
        return cls(str(peer_id_of(private_key)), Account.from_key(private_key).address, price_per_ch, grade)

    def wire(self) -> dict[str, Any]:
        return {
            "peer_id": self.peer_id,
            "address": self.address,
            "price_per_ch": self.price_per_ch,
            "grade": self.grade,
            "listen_addrs": list(self.listen_addrs),
        }


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


class FakeCoordinator:
    """The job routes of the coordinator, minimally: quote (cheapest qualifying provider,
    the spec's price and deadlines), submit (checks the quote, the job digest and the escrow on
    chain), views, list, spec. Tests move jobs between states through :attr:`jobs` (as the
    real coordinator's follower would) and can tamper with quotes through :attr:`tamper`."""

    def __init__(self, deployment: Deployment, providers: list[FakeProvider]) -> None:
        self.deployment = deployment
        self.chain = Chain(deployment)
        self.providers = providers
        self.quotes: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_files: dict[str, bytes] = {}
        self.tamper: Callable[[dict[str, Any]], None] | None = None
        self.submit_s = 600
        self.challenge_window_s = 600
        self.fail_posts = 0  # answer this many POST /v1/jobs with 503 before taking one
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ routes

    def quote(self, body: dict[str, Any]) -> tuple[int, Any]:
        data = base64.b64decode(body["job"])
        try:
            job = decode_job(data)
        except Exception as exc:
            return 422, {"error": "bad_job", "message": str(exc)}
        micro_ch = meter(job.program, PROFILE).micro_ch
        exclude = set(body.get("exclude") or [])
        candidates = [
            p
            for p in self.providers
            if p.peer_id not in exclude
            and "ABCD".index(p.grade) <= "ABCD".index(body["grade"])
            and (body.get("provider") is None or p.peer_id == body["provider"])
        ]
        priced = sorted(
            ((max(1, -(-(micro_ch * p.price_per_ch) // 10**6)), p) for p in candidates), key=lambda t: t[0]
        )
        priced = [(a, p) for a, p in priced if a <= body["max_price"]]
        if not priced:
            return 409, {"error": "no_provider", "message": "no provider qualifies"}
        amount, p = priced[0]
        now = int(time.time())
        q = {
            "quote_id": secrets.token_hex(16),
            "job_digest": _hex(keccak(data)),
            "program_digest": _hex(job.program.digest),
            "micro_ch": micro_ch,
            "amount": amount,
            "provider": p.wire(),
            "challenge_window_s": self.challenge_window_s,
            "submit_deadline": now + self.submit_s,
            "escrow": self.deployment.address("JobEscrow"),
            "token": self.deployment.address("MockUSD"),
            "chain_id": self.deployment.chain_id,
            "expires_at": now + 300,
        }
        if self.tamper is not None:
            self.tamper(q)
        self.quotes[q["quote_id"]] = q
        return 200, q

    def submit(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self.fail_posts > 0:
            self.fail_posts -= 1
            return 503, {"error": "jobs_unavailable", "message": "try again"}
        job_id = body["job_id"]
        if job_id in self.jobs:
            return 200, self.jobs[job_id]
        q = self.quotes.get(body["quote_id"])
        if q is None:
            return 404, {"error": "unknown_quote", "message": "no such quote"}
        data = base64.b64decode(body["job"])
        if _hex(keccak(data)) != q["job_digest"]:
            return 409, {"error": "job_mismatch", "message": "not the quoted job"}
        j = self.chain.call("JobEscrow", "getJob", bytes.fromhex(job_id[2:]))
        if STATES[j[1]] == "None":
            return 409, {"error": "not_escrowed", "message": "no such escrow"}
        checks = [
            ("state", STATES[j[1]], "Open"),
            ("buyer", j[0].lower(), "0x" + job_id[2:42]),
            ("provider", j[5].lower(), q["provider"]["address"].lower()),
            ("window", j[3], q["challenge_window_s"]),
            ("deadline", j[2], q["submit_deadline"]),
        ]
        for what, got, want in checks:
            if got != want:
                return 409, {"error": "escrow_mismatch", "message": f"{what}: {got} != {want}"}
        if j[6] < q["amount"]:
            return 409, {"error": "escrow_mismatch", "message": "amount"}
        p = q["provider"]
        view = {
            "job_id": job_id,
            "buyer": j[0],
            "provider": {"peer_id": p["peer_id"], "address": p["address"], "listen_addrs": p["listen_addrs"]},
            "state": "open",
            "reoffer": False,
            "micro_ch": q["micro_ch"],
            "amount": q["amount"],
            "program_digest": q["program_digest"],
            "job_digest": q["job_digest"],
            "submit_deadline": q["submit_deadline"],
            "challenge_deadline": None,
            "result_root": None,
            "leaves": None,
            "outputs": None,
            "mismatches": [],
            "reoffer_of": None,
            "history": [{"time": int(time.time()), "event": "open", "detail": None}],
            "created": int(time.time()),
        }
        self.jobs[job_id] = view
        self.job_files[job_id] = data
        return 201, view

    def handle(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        parts = urlsplit(url)
        path = parts.path
        with self.lock:
            self.requests.append((method, path, body))
            if method == "POST" and path == "/v1/jobs/quote":
                return self.quote(body)
            if method == "POST" and path == "/v1/jobs":
                return self.submit(body)
            if method == "GET" and path == "/v1/jobs":
                qs = parse_qs(parts.query)
                buyer = qs.get("buyer", [""])[0].lower()
                state = qs.get("state", [None])[0]
                views = [
                    v
                    for v in reversed(self.jobs.values())
                    if v["buyer"].lower() == buyer and (state is None or v["state"] == state)
                ]
                return 200, {"jobs": views}
            if method == "GET" and path.startswith("/v1/jobs/"):
                rest = path.removeprefix("/v1/jobs/")
                if rest.endswith("/spec"):
                    job_id = rest.removesuffix("/spec")
                    if job_id not in self.job_files:
                        return 404, {"error": "unknown_job", "message": "no such job"}
                    job = decode_job(self.job_files[job_id])
                    return 200, encode_job(JobFile(job.program, job.sources, None))
                if rest in self.jobs:
                    return 200, self.jobs[rest]
                return 404, {"error": "unknown_job", "message": f"no job {rest}"}
        return 404, {"error": "not_found", "message": path}


@contextmanager
def serve(fake: FakeCoordinator) -> Iterator[str]:
    """Serve ``fake`` on a free loopback port; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = fake.handle(method, self.path, body)
            if isinstance(answer, bytes):
                data, ctype = answer, "application/octet-stream"
            else:
                data, ctype = json.dumps(answer).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
