"""The buyer's side of the job path (docs/jobs-buyer.md): quote, escrow, submit, wait, result.

::

    from gcx.chain import connect
    from gcx.keys import load_key
    from gcx.sdk.jobs import JobsClient

    key = load_key("buyer")
    chain = connect("http://127.0.0.1:8545", None, key)
    with JobsClient("http://127.0.0.1:8600", key, chain) as jobs:
        view = jobs.submit(open("digits.gcxjob", "rb").read(), grade="B", max_price=50_000)
        view = jobs.wait(view.job_id, timeout_s=600)
        outputs = jobs.result(view.job_id)     # {"pred": np.ndarray}, every byte verified

Trust: the coordinator is checked, never believed. A quote is refused (:class:`QuoteRejected`)
unless its amount is at most ``max_price`` and exactly ``max(1, ceil(micro_ch * price_per_ch /
10**6))``, its ``micro_ch`` the program's metering, its digests the job's, its escrow, token and
chain this deployment's, and the provider's address the one its peer id embeds. A result is
accepted only when the op leaves commit (``commit_result``) to the root the provider posted **on
chain**, describe the program's ops, and every output tensor downloaded from the provider over
``/gcx/data/1`` hashes to the root its op leaf names.

Before the escrow opens, the buyer commits the job's spec (``JobSpecs.commit``:
:func:`gcx.jobs.spec.job_spec` of the program, what the verification game holds the provider
to); a provider refuses a job whose committed spec is not its program's (``bad_spec``).

Local state: each submitted job's file and a small JSON record live in
``$GCX_HOME/buyer/jobs/<job_id>.gcxjob`` / ``.json``, written *before* the escrow is opened, so
``result`` can score against the evaluation later and :meth:`JobsClient.resume` can finish a
submission that crashed between ``open`` and ``POST /v1/jobs``.

The pure parts (:func:`job_id_for`, :func:`quote_amount`, :func:`check_quote`,
:func:`decode_job_view`, :func:`verify_result`, :func:`score_outputs`) live in
:mod:`gcx.sdk.jobs_checks` and the local records (:class:`LocalJob`, :class:`BuyerStore`) in
:mod:`gcx.sdk.jobs_store`; both are re-exported here. The client is
synchronous; :meth:`JobsClient.result` runs its libp2p download in its own ``trio.run`` (call it
from a worker thread when a trio loop is already running in this thread).
"""

from __future__ import annotations

import base64
import builtins
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import httpx
import numpy as np
import numpy.typing as npt
from web3 import Web3
from web3.types import TxParams

from gcx import __version__
from gcx.chain.deploy import PROVIDER
from gcx.chain.errors import TransactionFailed
from gcx.errors import GCXError
from gcx.jobs.spec import job_spec
from gcx.tp.jobfile import JobFile, decode_job
from gcx.tp.program import Program
from gcx.tp.runner import Score

from .client import _describe
from .endpoint import normalize_api_url
from .errors import (
    ApiError,
    ApiUnreachable,
    EscrowError,
    InsufficientBalance,
    InvalidRequest,
    JobFailed,
    ProviderNotStaked,
    ProviderUnreachable,
    ResultError,
    ResultMismatch,
    WaitTimeout,
)

if TYPE_CHECKING:
    from gcx.chain import Chain
    from gcx.keys import ParticipantKey
    from gcx.reference import ReferenceProfile

__all__ = [
    "ESCROW_STATES",
    "GRADES",
    "JOB_VIEW_STATES",
    "BuyerStore",
    "JobProvider",
    "JobView",
    "JobsClient",
    "LocalJob",
    "Quote",
    "QuotedProvider",
    "ResumeOutcome",
    "buyer_of",
    "check_quote",
    "decode_job_view",
    "job_id_for",
    "quote_amount",
    "score_outputs",
    "verify_result",
]

from .jobs_checks import (
    ESCROW_STATES,
    GRADES,
    JOB_VIEW_STATES,
    JobProvider,
    JobView,
    Quote,
    QuotedProvider,
    _hex,
    _hex_bytes,
    _job_id_bytes,
    buyer_of,
    check_quote,
    decode_job_view,
    job_id_for,
    quote_amount,
    score_outputs,
    verify_result,
)
from .jobs_store import BuyerStore, LocalJob

log = logging.getLogger("gcx.sdk.jobs")

_UNSUBMITTED: Final = frozenset({"open", "delivered", "lost"})
REFUND_GAS: Final = 200_000
REFUND_MARGIN_S: Final = 1
"""Seconds past a submit deadline before the SDK refunds a job itself (clocks differ a little)."""


@dataclass(frozen=True, slots=True)
class ResumeOutcome:
    """What :meth:`JobsClient.resume` did with one unfinished local job."""

    job_id: str
    action: str  # "posted", "known", "abandoned", "waiting", "failed"
    view: JobView | None = None
    error: str | None = None


# -------------------------------------------------------------------------------- the client


class JobsClient:
    """The buyer's client of the job path: one coordinator API (``api``), one key, one chain.

    ``chain`` must be connected with ``key`` (it signs approve/open/refund); ``key`` and
    ``chain`` may be None for reads only (:meth:`status`, :meth:`list` with a ``buyer``).
    ``profile`` is the reference profile the quote's metering is checked against (default:
    the configured one; pass ``check_metering=False`` to skip). ``store`` holds the local
    records; ``clock``/``sleep`` are for tests.
    """

    def __init__(
        self,
        api: str,
        key: ParticipantKey | None,
        chain: Chain | None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        profile: ReferenceProfile | None = None,
        check_metering: bool = True,
        store: BuyerStore | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        p2p_timeout_s: float = 30.0,
    ) -> None:
        self.api_url = normalize_api_url(api)
        self.key = key
        self.chain = chain
        if (
            key is not None
            and chain is not None
            and chain.address is not None
            and chain.address.lower() != key.address.lower()
        ):
            raise InvalidRequest(f"the chain client signs as {chain.address}, the key is {key.address}")
        self._profile = profile
        self._check_metering = check_metering
        self.store = store or BuyerStore()
        self._clock = clock
        self._sleep = sleep
        self.p2p_timeout_s = p2p_timeout_s
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"gcx-sdk/{__version__}"},
        )

    # ------------------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------- plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=query, json=body)
        except httpx.TransportError as exc:
            raise ApiUnreachable(self.api_url, _describe(exc)) from None
        if not 200 <= response.status_code < 300:
            raise ApiError.from_answer(response.status_code, response.text)
        if response.headers.get("content-type", "").startswith("application/octet-stream"):
            return response.status_code, response.content
        try:
            return response.status_code, response.json()
        except ValueError:
            raise ApiError(response.status_code, "invalid_response", f"{method} {path}: not JSON") from None

    def _require_chain(self) -> Chain:
        if self.chain is None or self.key is None or self.chain.address is None:
            raise InvalidRequest("this needs a chain connected with the buyer's key (set chain.rpc_url)")
        return self.chain

    def _require_key(self) -> ParticipantKey:
        if self.key is None:
            raise InvalidRequest("this needs the buyer's key")
        return self.key

    def _metered(self, program: Program) -> int | None:
        if not self._check_metering:
            return None
        from gcx.reference import load_profile
        from gcx.tp.metering import meter

        if self._profile is None:
            self._profile = load_profile()
        return meter(program, self._profile).micro_ch

    def _escrow_job(self, job_id: str) -> dict[str, Any]:
        """``JobEscrow.getJob(job_id)`` as a dict (``state`` by name)."""
        chain = self._require_chain()
        j = chain.call("JobEscrow", "getJob", _job_id_bytes(job_id))
        return {
            "buyer": j[0],
            "state": ESCROW_STATES[int(j[1])] if int(j[1]) < len(ESCROW_STATES) else str(j[1]),
            "deadline": int(j[2]),
            "challenge_window": int(j[3]),
            "provider": j[5],
            "amount": int(j[6]),
            "result_root": bytes(j[7]),
        }

    # ------------------------------------------------------------------------------ the path

    def quote(
        self,
        job_bytes: bytes,
        grade: str,
        max_price: int,
        provider: str | None = None,
        exclude: Iterable[str] = (),
    ) -> Quote:
        """``POST /v1/jobs/quote`` for this job, checked (:func:`check_quote`) against the job,
        the program's metering and this chain's deployment. ``max_price`` is the most the whole
        job may cost, in micro-USDC; ``grade`` the worst acceptable performance letter."""
        chain = self._require_chain()
        if grade not in GRADES:
            raise InvalidRequest(f"grade must be one of {', '.join(GRADES)}, not {grade!r}")
        if isinstance(max_price, bool) or not isinstance(max_price, int) or max_price < 1:
            raise InvalidRequest(f"max_price is a positive integer of micro-USDC, not {max_price!r}")
        job = decode_job(bytes(job_bytes))
        excluded = list(dict.fromkeys(exclude))
        body: dict[str, Any] = {
            "job": base64.b64encode(job_bytes).decode(),
            "grade": grade,
            "max_price": max_price,
            "provider": provider,
        }
        if excluded:
            body["exclude"] = excluded
        _, answer = self._request("POST", "/v1/jobs/quote", body=body)
        dep = chain.deployment
        return check_quote(
            answer,
            job_bytes=bytes(job_bytes),
            program=job.program,
            micro_ch=self._metered(job.program),
            max_price=max_price,
            escrow=dep.address("JobEscrow"),
            token=dep.address("MockUSD"),
            chain_id=dep.chain_id,
            provider=provider,
            exclude=excluded,
            grade=grade,
            now=self._clock(),
        )

    def open_escrow(self, quote: Quote, nonce: int | None = None, *, spec_hash: bytes) -> str:
        """Open the quote's escrow on chain: commit the job's spec (``spec_hash``,
        :func:`gcx.jobs.spec.job_spec` of the job's program) in JobSpecs unless it is committed
        already, approve MockUSD to JobEscrow when the allowance is short, then
        ``JobEscrow.open(jobIdFor(buyer, nonce), provider, amount, window, deadline)``; return the
        job id. ``nonce`` (a uint96) is random when None. Restart-safe: run again for the same
        nonce after a crash between the commit and the open, the equal committed spec is kept.

        :class:`InsufficientBalance`, :class:`ProviderNotStaked`, or :class:`EscrowError` with
        the contract's revert reason (also when another spec is committed for the job id).
        """
        chain = self._require_chain()
        buyer = self._require_key().address
        nonce = secrets.randbits(96) if nonce is None else nonce
        job_id = job_id_for(buyer, nonce)
        onchain = _hex(bytes(chain.call("JobEscrow", "jobIdFor", Web3.to_checksum_address(buyer), nonce)))
        if onchain != job_id:
            raise EscrowError(f"JobEscrow.jobIdFor says {onchain}, the SDK computed {job_id}")
        escrow = Web3.to_checksum_address(chain.deployment.address("JobEscrow"))
        provider = Web3.to_checksum_address(quote.provider.address)
        balance = int(chain.call("MockUSD", "balanceOf", buyer))
        if balance < quote.amount:
            raise InsufficientBalance(
                f"{buyer} holds {balance} micro-USDC, the job costs {quote.amount}: fund it first"
            )
        if not chain.call("StakingRegistry", "isActive", provider, PROVIDER):
            raise ProviderNotStaked(
                f"provider {quote.provider.peer_id} ({provider}) is not staked in the StakingRegistry; "
                "JobEscrow would refuse the job: ask for a quote from another provider",
                "ProviderNotActive",
            )
        self._commit_spec(job_id, spec_hash)
        try:
            allowance = int(chain.call("MockUSD", "allowance", buyer, escrow))
            if allowance < quote.amount:
                chain.transact("MockUSD", "approve", escrow, quote.amount)
            chain.transact(
                "JobEscrow",
                "open",
                _job_id_bytes(job_id),
                provider,
                quote.amount,
                quote.challenge_window_s,
                quote.submit_deadline,
            )
        except TransactionFailed as exc:
            reason = exc.reason or ""
            if "ProviderNotActive" in reason or "Stake" in reason:
                raise ProviderNotStaked(f"JobEscrow refused provider {provider}: {reason}", reason) from None
            if "insufficient" in reason.lower() or "ERC20Insufficient" in reason:
                raise InsufficientBalance(f"opening the escrow failed: {exc}", reason) from None
            raise EscrowError(f"opening the escrow failed: {exc}", exc.reason) from None
        return job_id

    def _commit_spec(self, job_id: str, spec_hash: bytes) -> None:
        """JobSpecs.commit of the job's spec, skipped when that spec is committed already."""
        chain = self._require_chain()
        if not chain.deployment.has("JobSpecs"):
            log.warning("the deployment has no JobSpecs: job %s opens without a spec commitment", job_id)
            return
        from gcx.chain.game import GameClient, SpecConflict

        try:
            sent = GameClient(chain).ensure_spec_committed(_job_id_bytes(job_id), spec_hash)
        except SpecConflict as exc:
            raise EscrowError(f"cannot commit the job's spec: {exc}", "AlreadyCommitted") from None
        except TransactionFailed as exc:
            raise EscrowError(f"committing the job's spec failed: {exc}", exc.reason) from None
        if sent is not None:
            log.info("committed spec 0x%s of job %s (%d gas)", spec_hash.hex(), job_id, sent.gas_used)

    def _post(self, quote_id: str, job_id: str, job_bytes: bytes) -> JobView:
        body = {"quote_id": quote_id, "job_id": job_id, "job": base64.b64encode(job_bytes).decode()}
        _, answer = self._request("POST", "/v1/jobs", body=body)
        view = decode_job_view(answer)
        if view.job_id != job_id:
            raise ApiError(
                200, "invalid_response", f"submitted {job_id}, the coordinator answered {view.job_id}"
            )
        return view

    def submit(
        self,
        job_bytes: bytes,
        grade: str,
        max_price: int,
        provider: str | None = None,
        *,
        exclude: Iterable[str] = (),
        reoffer_of: str | None = None,
    ) -> JobView:
        """Quote, open the escrow, ``POST /v1/jobs``; the coordinator's view of the new job.

        The job file and a record are kept under ``$GCX_HOME/buyer/jobs`` from before the escrow
        opens; if the POST fails after ``open``, :meth:`resume` finishes it (the error is raised).
        """
        job_bytes = bytes(job_bytes)
        excluded = tuple(dict.fromkeys(exclude))
        q = self.quote(job_bytes, grade, max_price, provider, excluded)
        nonce = secrets.randbits(96)
        buyer = self._require_key().address
        record = LocalJob(
            job_id=job_id_for(buyer, nonce),
            nonce=nonce,
            api=self.api_url,
            grade=grade,
            max_price=max_price,
            provider=provider,
            exclude=excluded,
            quote=q.to_dict(),
            stage="opening",
            created=int(self._clock()),
            reoffer_of=reoffer_of,
        )
        self.store.save(record, job_bytes)
        spec_hash = job_spec(decode_job(job_bytes).program).hash
        try:
            job_id = self.open_escrow(q, nonce, spec_hash=spec_hash)
        except EscrowError:  # refused before or by the contract: no escrow exists
            self.store.save(replace(record, stage="abandoned"))
            raise
        record = replace(record, stage="escrowed")
        self.store.save(record)
        view = self._post(q.quote_id, job_id, job_bytes)
        self.store.save(replace(record, stage="posted"))
        return view

    def resume(self) -> builtins.list[ResumeOutcome]:
        """Finish local jobs whose submission was interrupted: each record not yet ``posted``
        whose escrow is Open on chain is posted to the coordinator unless it knows the job
        already; one that was never escrowed and no longer can be is marked ``abandoned``."""
        out = []
        for record in self.store.records():
            if record.stage in ("posted", "abandoned"):
                continue
            try:
                out.append(self._resume_one(record))
            except GCXError as exc:
                out.append(ResumeOutcome(record.job_id, "failed", error=str(exc)))
        return out

    def _resume_one(self, record: LocalJob) -> ResumeOutcome:
        escrow = self._escrow_job(record.job_id)
        if escrow["state"] == "None":
            q = record.quote
            if self._clock() > max(int(q["expires_at"]), int(q["submit_deadline"])):
                self.store.save(replace(record, stage="abandoned"))
                return ResumeOutcome(record.job_id, "abandoned")
            return ResumeOutcome(record.job_id, "waiting", error="no escrow on chain yet")
        try:
            view = self.status(record.job_id)
            self.store.save(replace(record, stage="posted"))
            return ResumeOutcome(record.job_id, "known", view)
        except ApiError as exc:
            if exc.code != "unknown_job":
                raise
        job_bytes = self.store.job_bytes(record.job_id)
        if job_bytes is None:
            raise ResultError(f"the local job file of {record.job_id} is missing")
        view = self._post(str(record.quote["quote_id"]), record.job_id, job_bytes)
        self.store.save(replace(record, stage="posted"))
        return ResumeOutcome(record.job_id, "posted", view)

    # ---------------------------------------------------------------------------------- reads

    def status(self, job_id: str) -> JobView:
        """``GET /v1/jobs/{job_id}``."""
        _job_id_bytes(job_id)
        _, answer = self._request("GET", f"/v1/jobs/{job_id.lower()}")
        return decode_job_view(answer)

    def list(
        self, state: str | None = None, buyer: str | None = None, limit: int = 100
    ) -> builtins.list[JobView]:
        """``GET /v1/jobs``: this buyer's jobs (``buyer`` defaults to the key's), newest first."""
        if state is not None and state not in JOB_VIEW_STATES:
            raise InvalidRequest(f"state must be one of {', '.join(sorted(JOB_VIEW_STATES))}, not {state!r}")
        who = buyer or self._require_key().address
        _, answer = self._request(
            "GET", "/v1/jobs", params={"buyer": who.lower(), "state": state, "limit": limit}
        )
        jobs = answer.get("jobs") if isinstance(answer, dict) else None
        if not isinstance(jobs, list):
            raise ApiError(200, "invalid_response", "GET /v1/jobs: the answer has no 'jobs' list")
        return [decode_job_view(j) for j in jobs]

    # ----------------------------------------------------------------------------------- wait

    def _refunded_on_chain(self, view: JobView) -> bool:
        """Make sure the unsubmitted job's escrow went back to the buyer: True once JobEscrow
        says Refunded (refunding it here when its deadline passed and nobody did)."""
        escrow = self._escrow_job(view.job_id)
        if escrow["state"] == "Refunded":
            return True
        if escrow["state"] in ("Submitted", "Challenged", "Finalized") and view.state != "refunded":
            return False  # the provider did submit; the coordinator has not caught up yet
        if escrow["state"] != "Open":
            raise JobFailed(
                view.job_id,
                view.state,
                f"the coordinator says job {view.job_id} is {view.state}, but JobEscrow says {escrow['state']}",
            )
        if self._clock() <= escrow["deadline"] + REFUND_MARGIN_S:
            return False
        self._send_refund(view.job_id)
        return bool(self._escrow_job(view.job_id)["state"] == "Refunded")

    def _send_refund(self, job_id: str) -> None:
        """Send ``JobEscrow.refund(job_id)`` with a fixed gas limit (no estimate: an idle anvil
        estimates against its last block, whose timestamp may still be before the deadline,
        and would refuse a refund the next block accepts). A revert (someone refunded first,
        the chain's clock is behind) is logged; the caller re-reads the state."""
        chain = self._require_chain()
        fn = chain.contract("JobEscrow").functions.refund(_job_id_bytes(job_id))
        try:
            params: TxParams = {"from": Web3.to_checksum_address(chain.address or ""), "gas": REFUND_GAS}
            tx = fn.transact(params)
            receipt = chain.w3.eth.wait_for_transaction_receipt(tx, timeout=60)
        except Exception as exc:  # web3 and requests errors of every kind: the state decides
            log.info("refund of %s not sent: %s", job_id, _describe(exc))
            return
        if receipt["status"] == 1:
            log.info("refunded job %s (its submit deadline passed)", job_id)
        else:
            log.info("refund of %s reverted (transaction %s)", job_id, tx.to_0x_hex())

    def _reoffer(self, view: JobView) -> JobView:
        record = self.store.load(view.job_id)
        job_bytes = self.store.job_bytes(view.job_id)
        if record is None or job_bytes is None:
            raise JobFailed(
                view.job_id, view.state, f"job {view.job_id} was refunded; no local record to re-offer it"
            )
        exclude = (*record.exclude, view.provider.peer_id)
        new = self.submit(
            job_bytes, record.grade, record.max_price, None, exclude=exclude, reoffer_of=view.job_id
        )
        self.store.save(replace(record, reoffered_by=new.job_id))
        log.info("re-offered %s as %s (excluding %s)", view.job_id, new.job_id, view.provider.peer_id)
        return new

    def wait(
        self,
        job_id: str,
        until: Sequence[str] = ("submitted", "finalized"),
        timeout_s: float = 3600.0,
        reoffer: bool = True,
        poll_s: float = 2.0,
    ) -> JobView:
        """Poll the job until its state is in ``until`` (``finalized`` also satisfies
        ``submitted``); return that view.

        A job that ends unsubmitted (``refunded``, or ``open``/``delivered``/``lost`` past its
        submit deadline) is re-offered when ``reoffer`` and the coordinator allows it: once
        JobEscrow says Refunded (the SDK refunds it itself when the deadline passed and nobody
        did), the job is quoted again excluding the failed provider and submitted anew
        (``reoffer_of`` recorded), and the wait continues on the new job. Otherwise
        :class:`JobFailed`; :class:`WaitTimeout` after ``timeout_s``.
        """
        targets = set(until)
        if "submitted" in targets:
            targets.add("finalized")
        deadline = self._clock() + timeout_s
        current = job_id
        while True:
            view = self.status(current)
            if view.state in targets:
                return view
            expired = view.state in _UNSUBMITTED and self._clock() > view.submit_deadline
            if view.state == "refunded" or expired:
                if view.state == "refunded" and not (reoffer and view.reoffer):
                    raise JobFailed(current, view.state, f"job {current} was refunded (not re-offered)")
                record = self.store.load(current)
                if reoffer and record is not None and record.reoffered_by is not None:
                    current = record.reoffered_by  # re-offered already (an earlier wait): follow it
                    continue
                if reoffer and self._refunded_on_chain(view) and (view.reoffer or expired):
                    current = self._reoffer(view).job_id
                    continue
            elif view.state not in _UNSUBMITTED | {"submitted", "challenged"}:
                raise JobFailed(current, view.state, f"job {current} is {view.state}")
            if self._clock() >= deadline:
                raise WaitTimeout(current, view.state, timeout_s)
            self._sleep(poll_s)

    # --------------------------------------------------------------------------------- result

    def _local_job(self, view: JobView) -> JobFile | None:
        data = self.store.job_bytes(view.job_id)
        if data is None:
            return None
        return decode_job(data)

    def result(self, job_id: str) -> dict[str, npt.NDArray[np.generic]]:
        """The job's outputs by name, each downloaded from the provider over ``/gcx/data/1`` and
        verified against the result root the provider posted on chain (see the module's
        docstring). :class:`ResultError` when there is no result yet, :class:`ResultMismatch`
        when anything does not verify, :class:`ProviderUnreachable` when the provider cannot be
        reached or no longer serves the tensors."""
        view = self.status(job_id)
        if view.result_root is None or view.leaves is None:
            raise ResultError(f"job {job_id} has no result yet (it is {view.state})")
        escrow = self._escrow_job(job_id)
        if escrow["state"] not in ("Submitted", "Challenged", "Finalized"):
            raise ResultError(f"job {job_id} has no result on chain (JobEscrow says {escrow['state']})")
        try:
            claimed = _hex_bytes(view.result_root, 32, "the result root")
            leaves = [_hex_bytes(x, None, "an op leaf") for x in view.leaves]
        except ValueError as exc:
            raise ResultMismatch(f"the job view's result is malformed: {exc}") from None
        if claimed != escrow["result_root"]:
            raise ResultMismatch(
                f"the coordinator's result root {view.result_root} is not the one on chain "
                f"({_hex(escrow['result_root'])})"
            )
        job = self._local_job(view)
        program = job.program if job is not None else self._spec(job_id).program
        if _hex(program.digest) != view.program_digest:
            raise ResultMismatch(f"job {job_id}'s program is not the one the coordinator names")
        roots = verify_result(program, leaves, escrow["result_root"])
        if view.outputs is not None:
            for name, root in roots.items():
                if root and view.outputs.get(name, _hex(root)) != _hex(root):
                    raise ResultMismatch(f"output {name}: the coordinator names a root its op leaf does not")
        outputs: dict[str, npt.NDArray[np.generic]] = {}
        values = job.values() if job is not None else {}
        remote: dict[str, bytes] = {}
        for o in program.outputs:
            if o.tensor < len(program.inputs):  # an input passed through: the buyer has it
                name = program.inputs[o.tensor].name
                if name in values:
                    outputs[o.name] = values[name]
                    continue
                if not roots[o.name]:
                    raise ResultError(f"output {o.name} is input {name}, which has no committed root")
            remote[o.name] = roots[o.name]
        if remote:
            outputs.update(self._download(view.provider, remote))
        return {o.name: outputs[o.name] for o in program.outputs}

    def _spec(self, job_id: str) -> JobFile:
        _, data = self._request("GET", f"/v1/jobs/{job_id.lower()}/spec")
        if not isinstance(data, bytes):
            raise ApiError(200, "invalid_response", "GET /v1/jobs/{id}/spec did not answer bytes")
        return decode_job(data)

    def _download(
        self, provider: JobProvider, roots: Mapping[str, bytes]
    ) -> dict[str, npt.NDArray[np.generic]]:
        import trio

        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass  # no trio loop in this thread: run one
        else:
            raise InvalidRequest(
                "JobsClient.result downloads in its own trio run: call it from a worker thread "
                "(trio.to_thread.run_sync) when a trio loop runs in this thread"
            )
        try:
            return trio.run(self._fetch, provider, dict(roots))
        except BaseExceptionGroup as group:
            found = group.subgroup(lambda e: isinstance(e, GCXError))
            if found is not None:
                first: BaseException = found
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                raise first from None
            raise

    async def _fetch(
        self, provider: JobProvider, roots: dict[str, bytes]
    ) -> dict[str, npt.NDArray[np.generic]]:
        from gcx.jobs.data import DataClient
        from gcx.jobs.errors import DataError, DataMismatch, DataNotFound
        from gcx.p2p import P2PError, connect, open_host

        if not provider.listen_addrs:
            raise ProviderUnreachable(f"provider {provider.peer_id} has no listen address")
        async with open_host(secrets.token_bytes(32)) as host:
            peer = None
            reasons = []
            for listed in provider.listen_addrs:
                suffix = f"/p2p/{provider.peer_id}"
                addr = listed if listed.endswith(suffix) else listed + suffix
                try:
                    peer = await connect(host, addr, timeout_s=min(self.p2p_timeout_s, 10.0))
                    break
                except P2PError as exc:
                    reasons.append(str(exc))
            if peer is None:
                raise ProviderUnreachable(
                    f"cannot reach provider {provider.peer_id}: {'; '.join(reasons) or 'no address'}"
                )
            client = DataClient(host, timeout_s=self.p2p_timeout_s)
            out = {}
            for name, root in roots.items():
                try:
                    array, _ = await client.fetch_committed(peer, root)
                except DataMismatch as exc:
                    raise ResultMismatch(f"output {name} from provider {provider.peer_id}: {exc}") from None
                except DataNotFound as exc:
                    raise ProviderUnreachable(
                        f"provider {provider.peer_id} does not serve output {name} ({_hex(root)}): {exc}"
                    ) from None
                except (DataError, P2PError) as exc:
                    raise ProviderUnreachable(
                        f"downloading output {name} from {provider.peer_id}: {exc}"
                    ) from None
                out[name] = array
            return out

    def score(self, job_id: str, outputs: Mapping[str, npt.NDArray[np.generic]]) -> Score | None:
        """:func:`score_outputs` with the local job file of ``job_id`` (None without one or
        without an evaluation)."""
        data = self.store.job_bytes(job_id)
        return None if data is None else score_outputs(decode_job(data), outputs)
