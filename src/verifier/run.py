"""``gcx verifier run``: follow the coordinator's job feed, re-execute sampled jobs, report
mismatches (JOBS-SPEC flow step 6, docs/jobs-verifier.md).

Theory of operation
-------------------
The verifier loads its key (``verifier.key``), bonds the verifier minimum stake when a chain is
configured (:func:`gcx.chain.staking.ensure_verifier_stake`), starts a libp2p host with that key
(for ``/gcx/data/1`` fetches from providers) and then runs three loops until SIGTERM/SIGINT:

* **feed** — every ``verifier.poll_s``: ``GET {api}/v1/jobs/feed?after=cursor``, pages until
  empty. Each page is recorded in the state file with the new cursor in one transaction
  (:class:`verifier.state.VerifierState`); a ``submitted`` job is sampled there and then with
  :func:`verifier.sampling.sampled` (HMAC under the verifier's secret): ``pending`` or
  ``skipped``. An unreachable coordinator is logged once per outage and retried with backoff.
* **check** — every pending job (at most :data:`PARALLEL_JOBS` at once; one re-execution at a
  time): ``GET /v1/jobs/{id}/spec`` (decoded by :func:`gcx.tp.jobfile.decode_job`; refused above
  ``verifier.max_job_elements`` tensor elements or when its program is not the event's),
  :func:`gcx.tp.runner.run_job` on ``verifier.backend`` in a worker thread, and the result roots
  compared. Equal: ``verified``. Different: :func:`verifier.compare.first_mismatch` runs in a
  worker thread and fetches the provider's op and row proofs over ``/gcx/data/1`` (through
  ``trio.from_thread.run``): a :class:`~verifier.compare.Mismatch` → ``mismatch`` (evidence kept).
  A provider that does not serve them (``DataNotFound``, unreachable, timeouts) is retried with
  backoff until the job's challenge deadline (from ``GET /v1/jobs/{id}``), then ``withheld``;
  one that serves proofs that do not verify is ``withheld`` at once (the on-chain game of the
  next issue deals with both).
* **report** — every pending mismatch report: ``POST /v1/jobs/{id}/mismatch`` with the evidence
  signed by the verifier (:func:`sign_mismatch`), retried until the coordinator answers; 202 is
  ``accepted``, another 4xx ``rejected`` with its code and message (a 429 is retried later).

Every outcome is one log line (job, provider, verdict, first bad op/row, seconds).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import trio
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak

from gcx.errors import GCXError
from gcx.jobs.data import DataClient
from gcx.jobs.errors import DataError, DataMismatch
from gcx.keys import ParticipantKey
from gcx.p2p import P2PError, connect, open_host
from gcx.paths import gcx_home
from gcx.settings import Settings
from gcx.tp.commit import OpProof, RowProof
from gcx.tp.errors import JobFileError, ProgramError
from gcx.tp.jobfile import JobFile, decode_job

from .compare import EvidenceError, Mismatch, first_mismatch
from .sampling import load_secret, sampled
from .state import FeedError, FeedEvent, JobRecord, Outcome, VerifierState, parse_feed

log = logging.getLogger("gcx.verifier")

MISMATCH_DOMAIN: Final = b"gcx-mismatch/1"
PARALLEL_JOBS: Final = 4
"""Sampled jobs checked at once (fetches and waits overlap; re-executions run one at a time)."""
FEED_PAGE: Final = 100
MAX_BACKOFF_S: Final = 30.0
RATE_LIMITED_RETRY_S: Final = 60.0
DEFAULT_FETCH_WINDOW_S: Final = 600.0
"""How long a provider's proofs are retried when the job's challenge deadline is unknown."""
HTTP_TIMEOUT_S: Final = 30.0


# --------------------------------------------------------------------------- signing


def mismatch_payload(job_id: bytes, evidence: bytes) -> bytes:
    """The bytes a verifier signs for a mismatch report: ``b"gcx-mismatch/1" ‖ job_id (32 bytes)
    ‖ keccak(evidence)``."""
    if len(job_id) != 32:
        raise ValueError(f"a job id is 32 bytes, not {len(job_id)}")
    return MISMATCH_DOMAIN + job_id + keccak(evidence)


def sign_mismatch(private_key: bytes, job_id: bytes, evidence: bytes) -> str:
    """The EIP-191 ``personal_sign`` signature (``0x`` + 130 hex) of :func:`mismatch_payload`."""
    signed = Account.sign_message(encode_defunct(primitive=mismatch_payload(job_id, evidence)), private_key)
    return "0x" + bytes(signed.signature).hex()


def mismatch_report(key: ParticipantKey, job_id: bytes, evidence: bytes) -> dict[str, str]:
    """The body of ``POST /v1/jobs/{id}/mismatch``."""
    return {
        "evidence": base64.b64encode(evidence).decode("ascii"),
        "verifier": key.address,
        "signature": sign_mismatch(key.private_key, job_id, evidence),
    }


# --------------------------------------------------------------------------- coordinator API


class CoordinatorUnreachable(GCXError):  # noqa: N818 - reads as a state
    """The coordinator did not answer (connection refused, timeout, a 5xx)."""

    exit_code = 1


class CoordinatorRefused(GCXError):  # noqa: N818 - reads as a state
    """The coordinator answered a 4xx: ``status``, its error ``code`` and ``message``."""

    exit_code = 1

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class CoordinatorApi:
    """The few coordinator routes a verifier uses, over one keep-alive connection pool
    (blocking: call from a worker thread)."""

    def __init__(self, api_url: str, *, timeout_s: float = HTTP_TIMEOUT_S) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = httpx.Client(base_url=self.api_url, timeout=timeout_s)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise CoordinatorUnreachable(f"{self.api_url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 500:
            raise CoordinatorUnreachable(f"{self.api_url}{path}: HTTP {response.status_code}")
        if response.status_code >= 400:
            code, message = "http_error", response.text[:300]
            try:
                body = response.json()
                if isinstance(body, dict):
                    code = str(body.get("error", code))[:64]
                    message = str(body.get("message", message))[:300]
            except ValueError:
                pass
            raise CoordinatorRefused(response.status_code, code, message)
        return response

    def feed(self, after: int, limit: int = FEED_PAGE) -> Any:
        """``GET /v1/jobs/feed?after=…&limit=…`` (decoded JSON)."""
        try:
            return self._send("GET", "/v1/jobs/feed", params={"after": after, "limit": limit}).json()
        except ValueError as exc:
            raise FeedError(f"the feed reply is not JSON: {exc}") from None

    def spec(self, job_id: str) -> bytes:
        """``GET /v1/jobs/{id}/spec``: the job file without its evaluation."""
        return self._send("GET", f"/v1/jobs/{job_id}/spec").content

    def job(self, job_id: str) -> dict[str, Any]:
        """``GET /v1/jobs/{id}``: the job view."""
        try:
            body = self._send("GET", f"/v1/jobs/{job_id}").json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise CoordinatorRefused(200, "bad_view", "the job view is not a JSON object")
        return body

    def report(self, job_id: str, body: dict[str, str]) -> dict[str, Any]:
        """``POST /v1/jobs/{id}/mismatch``; the 2xx answer's JSON (or ``{}``)."""
        response = self._send("POST", f"/v1/jobs/{job_id}/mismatch", json=body)
        try:
            answer = response.json()
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}


# --------------------------------------------------------------------------- the daemon


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    """Everything :class:`Verifier` needs, resolved from the settings (:func:`config_from_settings`)."""

    api: str
    state: Path
    secret: Path
    sample_ppm: int
    backend: str
    poll_s: float
    max_job_elements: int
    listen: tuple[str, ...]
    dial_timeout_s: float
    request_timeout_s: float
    rpc_url: str | None
    deployment: Path | None
    reference: Path | None
    dispute: bool = True
    """Open and play an on-chain dispute on every contradicted result (with a chain)."""
    disputes: Path | None = None
    wrong_op: int | None = None
    """``fault.wrong_op``: corrupt this op in every re-execution (a dishonest challenger, for
    tests and demos only)."""


def config_from_settings(settings: Settings) -> VerifierConfig:
    """Resolve the ``[verifier]`` settings (defaults under ``$GCX_HOME/verifier``); the API is
    ``verifier.coordinator_api`` or ``network.coordinator_api`` (:class:`ConfigError` if neither)."""
    from gcx.errors import ConfigError
    from gcx.sdk.endpoint import normalize_api_url

    v, net = settings.verifier, settings.network
    api = v.coordinator_api or net.coordinator_api
    if not api:
        raise ConfigError(
            "no coordinator API to follow: set verifier.coordinator_api or network.coordinator_api "
            "(e.g. GCX_VERIFIER__COORDINATOR_API=http://127.0.0.1:8600)"
        )
    home = gcx_home() / "verifier"
    return VerifierConfig(
        api=normalize_api_url(api),
        state=v.state or home / "state.sqlite",
        secret=v.secret or home / "sampling.key",
        sample_ppm=v.sample_ppm,
        backend=v.backend,
        poll_s=v.poll_s,
        max_job_elements=v.max_job_elements,
        listen=tuple(net.listen),
        dial_timeout_s=net.dial_timeout_s,
        request_timeout_s=net.request_timeout_s,
        rpc_url=settings.chain.rpc_url,
        deployment=settings.chain.deployment,
        reference=settings.reference.profile,
        dispute=v.dispute,
        disputes=v.disputes or home / "disputes.sqlite",
        wrong_op=settings.fault.wrong_op,
    )


class _Withheld(Exception):  # noqa: N818 - a verdict, internal
    """The provider's data could not be had (carried out of a fetch attempt)."""


T = TypeVar("T")


async def _in_thread(fn: Callable[[], T], limiter: trio.CapacityLimiter | None = None) -> T:
    """``fn()`` in a worker thread that a cancellation (shutdown) abandons; a job interrupted so
    stays pending in the state file and is checked again after a restart."""
    return await trio.to_thread.run_sync(fn, abandon_on_cancel=True, limiter=limiter)  # type: ignore[call-arg]  # mypy and TypeVarTuple


def _job_elements(job: JobFile) -> int:
    return sum(t.elements for t in job.program.types)


def _peer_addrs(record: JobRecord) -> list[str]:
    suffix = f"/p2p/{record.provider_peer}"
    return [a if "/p2p/" in a else a + suffix for a in record.listen_addrs]


class Verifier:
    """The verifier daemon (:meth:`run` until cancelled)."""

    def __init__(
        self,
        config: VerifierConfig,
        key: ParticipantKey,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.key, self.clock = config, key, clock
        self.secret = load_secret(config.secret)
        self.state = VerifierState(config.state, clock)
        self.api = CoordinatorApi(config.api, timeout_s=max(HTTP_TIMEOUT_S, config.request_timeout_s))
        self.stake: int | None = None
        self.executions = 0  # re-executions started by this process
        self._backend: Any = None
        self._profile: Any = None
        self._exec = trio.CapacityLimiter(1)
        self._in_flight: set[str] = set()
        self._wake = trio.Event()
        self._report_wake = trio.Event()
        self._down_since: float | None = None
        self._client: DataClient | None = None
        self._host: Any = None
        self.disputer: Any = None  # verifier.dispute.Disputer, with a chain and verifier.dispute

    # ----------------------------------------------------------------- lifecycle

    async def run(self, ready: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Run until cancelled (the CLI cancels on SIGTERM/SIGINT); the state is closed on exit."""
        try:
            if self.config.rpc_url:
                self.stake = await trio.to_thread.run_sync(self._ensure_stake)
                log.info("verifier stake: %d GCX (wei) bonded", self.stake)
            async with open_host(self.key.private_key, list(self.config.listen)) as host:
                self._host = host
                self._client = DataClient(host)
                peer_id = host.get_id().to_base58()
                async with trio.open_nursery() as nursery:
                    if self.config.rpc_url and self.config.dispute:
                        self.disputer = await trio.to_thread.run_sync(self._open_disputer)
                        await nursery.start(self.disputer.run)
                    nursery.start_soon(self._feed_loop)
                    nursery.start_soon(self._check_loop, nursery)
                    nursery.start_soon(self._report_loop)
                    log.info("verifier %s (%s) following %s", self.key.address, peer_id, self.config.api)
                    if self.config.wrong_op is not None:
                        log.warning(
                            "fault.wrong_op = %d: this verifier corrupts op %d of every re-execution "
                            "(a dishonest challenger, for tests and demos only)",
                            self.config.wrong_op,
                            self.config.wrong_op,
                        )
                    if ready:
                        ready({"verifier": self.key.address, "peer_id": peer_id, "api": self.config.api})
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.api.close)
            self.state.close()

    def _open_disputer(self) -> Any:
        from gcx.chain import connect as connect_chain
        from gcx.game.journal import DisputeJournal

        from .dispute import Disputer

        chain = connect_chain(self.config.rpc_url or "", self.config.deployment, self.key)
        assert self.config.disputes is not None
        return Disputer(chain, DisputeJournal(self.config.disputes), self._reload, poll_s=self.config.poll_s)

    async def _reload(self, job_id: str) -> tuple[JobFile, Any]:
        """A job's file (from the coordinator) and this verifier's own run of it, again."""
        try:
            spec = await self._api(self.api.spec, job_id)
        except CoordinatorRefused as exc:
            raise GCXError(f"no job spec for {job_id}: {exc}") from None
        job = await trio.to_thread.run_sync(decode_job, spec)
        own = await _in_thread(lambda: self._execute(job), self._exec)
        return job, own

    def _ensure_stake(self) -> int:
        from gcx.chain import connect as connect_chain
        from gcx.chain import ensure_verifier_stake

        chain = connect_chain(self.config.rpc_url or "", self.config.deployment, self.key)
        return ensure_verifier_stake(chain)

    # ----------------------------------------------------------------- coordinator calls

    async def _api(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call the coordinator in a worker thread, retrying while it is unreachable (logged once
        per outage); a 4xx (:class:`CoordinatorRefused`) is raised to the caller."""
        backoff = min(1.0, self.config.poll_s)
        while True:
            try:
                out = await _in_thread(lambda: fn(*args))
            except CoordinatorUnreachable as exc:
                if self._down_since is None:
                    self._down_since = self.clock()
                    log.warning("coordinator unreachable (%s); retrying with backoff", exc)
                await trio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            if self._down_since is not None:
                log.info("coordinator reachable again after %.0f s", self.clock() - self._down_since)
                self._down_since = None
            return out

    # ----------------------------------------------------------------- feed

    def _sample(self, ev: FeedEvent) -> bool:
        return sampled(self.secret, bytes.fromhex(ev.job_id[2:]), self.config.sample_ppm)

    async def _feed_loop(self) -> None:
        while True:
            await self.poll_once()
            await trio.sleep(self.config.poll_s)

    async def poll_once(self) -> int:
        """Read the feed from the cursor until it is empty; return how many events were read."""
        total = 0
        while True:
            after = self.state.cursor()
            try:
                body = await self._api(self.api.feed, after)
                events, _ = parse_feed(body, after)
            except (FeedError, CoordinatorRefused) as exc:
                log.warning("the coordinator's feed after %d is unusable: %s", after, exc)
                return total
            if not events:
                return total
            fresh = self.state.record_events(events, self._sample)
            total += len(events)
            for ev in events:
                job = self.state.job(ev.job_id) if ev.kind == "submitted" else None
                if job is not None and job.verdict == "skipped" and job.seq == ev.seq:
                    log.info("job %s provider %s verdict skipped (not sampled)", ev.job_id, ev.provider_peer)
            if fresh:
                self._wake.set()

    # ----------------------------------------------------------------- checks

    async def _check_loop(self, nursery: trio.Nursery) -> None:
        while True:
            self._wake = trio.Event()
            for record in self.state.pending():
                if len(self._in_flight) >= PARALLEL_JOBS:
                    break
                if record.job_id not in self._in_flight:
                    self._in_flight.add(record.job_id)
                    nursery.start_soon(self._check_task, record)
            with trio.move_on_after(self.config.poll_s):
                await self._wake.wait()

    async def _check_task(self, record: JobRecord) -> None:
        try:
            t0 = time.perf_counter()
            try:
                outcome = await self.check(record)
            except GCXError as exc:  # anything typed we did not expect: recorded, not fatal
                outcome = Outcome("failed", f"{type(exc).__name__}: {exc}")
            outcome = Outcome(
                outcome.verdict, outcome.detail, outcome.op, outcome.row, outcome.evidence,
                round(time.perf_counter() - t0, 3),
            )  # fmt: skip
            self.state.finish(record.job_id, outcome)
            self._log_outcome(record, outcome)
            if outcome.verdict == "mismatch":
                self._report_wake.set()
        finally:
            self._in_flight.discard(record.job_id)
            self._wake.set()

    def _log_outcome(self, record: JobRecord, o: Outcome) -> None:
        where = ""
        if o.op is not None:
            where = f" op {o.op}" + ("" if o.row is None else f" row {o.row}")
        detail = f" ({o.detail})" if o.detail else ""
        level = logging.WARNING if o.verdict in ("mismatch", "withheld", "failed") else logging.INFO
        log.log(
            level, "job %s provider %s verdict %s%s in %.2f s%s",
            record.job_id, record.provider_peer, o.verdict, where, o.seconds or 0.0, detail,
        )  # fmt: skip

    async def check(self, record: JobRecord) -> Outcome:
        """Check one sampled job: download, re-execute, compare, locate the first mismatch."""
        assert record.result_root is not None
        try:
            spec = await self._api(self.api.spec, record.job_id)
        except CoordinatorRefused as exc:
            return Outcome("failed", f"no job spec: {exc}")
        try:
            job = await trio.to_thread.run_sync(decode_job, spec)
        except (JobFileError, ProgramError) as exc:
            return Outcome("failed", f"the job spec does not decode: {exc}")
        if "0x" + job.program.digest.hex() != record.program_digest:
            return Outcome("failed", "the job spec's program is not the one the feed announced")
        elements = _job_elements(job)
        if elements > self.config.max_job_elements:
            return Outcome(
                "failed", f"too large to re-execute: {elements} elements > {self.config.max_job_elements}"
            )
        try:
            own = await _in_thread(lambda: self._execute(job), self._exec)
        except GCXError as exc:
            return Outcome("failed", f"re-execution failed: {exc}")
        result_root = bytes.fromhex(record.result_root[2:])
        if own.result_root == result_root:
            return Outcome("verified")
        if self.disputer is not None:  # the game needs no proofs from the provider: start now
            self.disputer.start(record.job_id, job, own)
        return await self._locate(record, job, own, result_root)

    def _execute(self, job: JobFile) -> Any:
        from gcx.reference import load_profile
        from gcx.tp.backends import open_backend
        from gcx.tp.runner import run_job

        if self._backend is None:
            self._backend = open_backend(self.config.backend)
            self._profile = load_profile(self.config.reference)
        self.executions += 1
        bad = self.config.wrong_op
        if bad is None:
            return run_job(job, self._backend, self._profile)
        from node_agent.jobs.faults import execute_ops

        def faulty(program: Any, values: Any, backend: Any) -> Any:
            return execute_ops(program, values, backend, bad if bad < len(program.ops) else None)

        return run_job(job, self._backend, self._profile, faulty)

    async def _deadline(self, record: JobRecord) -> float:
        """Until when the provider's proofs are worth fetching: the job's challenge deadline."""
        try:
            view = await self._api(self.api.job, record.job_id)
        except CoordinatorRefused:
            view = {}
        deadline = view.get("challenge_deadline")
        if type(deadline) is int:
            return float(deadline)
        return self.clock() + DEFAULT_FETCH_WINDOW_S

    async def _locate(self, record: JobRecord, job: JobFile, own: Any, result_root: bytes) -> Outcome:
        """Find the first mismatch with the provider's proofs, retrying a provider that does not
        serve them until the challenge deadline."""
        backoff, deadline = 1.0, None
        while True:
            try:
                evidence = await self._attempt(record, job, own, result_root)
            except (DataMismatch, EvidenceError) as exc:
                return Outcome("withheld", f"the provider served proofs that do not verify: {exc}")
            except _Withheld as exc:
                if deadline is None:
                    deadline = await self._deadline(record)
                    log.warning(
                        "job %s: provider %s does not serve its proofs (%s); retrying until %d",
                        record.job_id, record.provider_peer, exc, int(deadline),
                    )  # fmt: skip
                if self.clock() + backoff > deadline:
                    return Outcome("withheld", f"no proofs from the provider within the window: {exc}")
                await trio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            return Outcome(
                "mismatch",
                f"op {evidence.op_index}" + ("" if evidence.row is None else f" row {evidence.row}"),
                evidence.op_index,
                evidence.row,
                evidence.encode(),
            )

    async def _attempt(self, record: JobRecord, job: JobFile, own: Any, result_root: bytes) -> Mismatch:
        assert self._client is not None and self._host is not None
        client = self._client
        reached: str | None = None
        for addr in _peer_addrs(record):
            try:
                await connect(self._host, addr, self.config.dial_timeout_s)
                reached = addr
                break
            except P2PError as exc:
                log.debug("provider address %s unreachable: %s", addr, exc)
        if reached is None:
            raise _Withheld(f"none of the provider's {len(record.listen_addrs)} addresses answers")
        peer = record.provider_peer

        def fetch_op(k: int) -> OpProof:
            return trio.from_thread.run(client.fetch_op_proof, peer, result_root, k)

        def fetch_row(k: int, root: bytes, i: int) -> RowProof:
            return trio.from_thread.run(client.fetch_row_proof, peer, root, i)

        def locate() -> Mismatch | None:
            return first_mismatch(
                job.program, own.commitment, own.execution.tensors, result_root, fetch_op, fetch_row
            )

        try:
            found = await _in_thread(locate)
        except DataMismatch:
            raise
        except (DataError, P2PError) as exc:  # DataNotFound, timeouts, resets, refusals
            raise _Withheld(f"{type(exc).__name__}: {exc}") from None
        if found is None:  # cannot happen: the roots differ
            raise EvidenceError("the result roots differ but no mismatch was found")
        return found

    # ----------------------------------------------------------------- reports

    async def _report_loop(self) -> None:
        retry_at: dict[str, float] = {}
        while True:
            self._report_wake = trio.Event()
            for job_id, evidence in self.state.pending_reports():
                if retry_at.get(job_id, 0.0) > self.clock():
                    continue
                body = mismatch_report(self.key, bytes.fromhex(job_id[2:]), evidence)
                try:
                    answer = await self._api(self.api.report, job_id, body)
                except CoordinatorRefused as exc:
                    if exc.status == 429:
                        retry_at[job_id] = self.clock() + RATE_LIMITED_RETRY_S
                        log.info("mismatch report for %s rate limited; retrying later", job_id)
                        continue
                    self.state.reported(job_id, "rejected", f"{exc.code}: {exc.message}")
                    log.warning("mismatch report for %s rejected: %s", job_id, exc)
                    continue
                self.state.reported(job_id, "accepted", None)
                log.info(
                    "mismatch report for %s accepted (provider flagged: %s)",
                    job_id, answer.get("provider_flagged"),
                )  # fmt: skip
            with trio.move_on_after(self.config.poll_s):
                await self._report_wake.wait()
