"""The job book as a service (JOBS-SPEC "The flow"; docs/jobs-api.md): quotes, submissions,
delivery to providers on ``/gcx/job/1``, providers' results, the buyers' inputs on
``/gcx/data/1``, following JobEscrow, lost providers, refunds at the deadline, mismatches.

Theory of operation: every state lives in :class:`~.store.JobStore` (SQLite, used from the trio
thread only); the chain (web3, blocking) is read and written in worker threads. :meth:`JobBook.run`
serves the two protocols on the coordinator's host and runs three loops:

* **delivery** — one task per ``open`` job: dial the provider's listen addresses, send the
  ``Offer``, retry with backoff until it is accepted (``Refuse("duplicate")`` too), refused
  (the job is ``lost``) or the submit deadline passes;
* **follow** — every ``jobs.follow_s``, JobEscrow's ResultSubmitted, JobFinalized, JobRefunded
  and JobChallenged events since the last block read (kept in the store, so a restart misses
  none) move the jobs they name;
* **watch** — every second: jobs of providers whose registry ``last_seen`` is older than
  ``jobs.provider_timeout_s`` become ``lost``; jobs still unsubmitted after their submit deadline
  are refunded on chain (the coordinator's key pays the gas) and marked ``refunded`` with
  ``reoffer``; an ``open`` job without a delivery task (e.g. after a restart) gets one.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import trio
from eth_hash.auto import keccak

from gcx.backoff import Backoff
from gcx.errors import GCXError
from gcx.jobs.delivery import (
    MAX_MESSAGE,
    PROTOCOL,
    REPLIES,
    Accept,
    Ack,
    JobMessageError,
    Offer,
    OfferInput,
    Refuse,
    Result,
    decode,
    encode,
)
from gcx.jobs.store import TensorStore
from gcx.p2p import P2PError, PeerUnreachable, connect, parse_peer_id, request, serve
from gcx.settings import JobsSettings
from gcx.tp.errors import JobFileError, ProgramError
from gcx.tp.jobfile import JobFile, SeededInput, decode_job, encode_job
from gcx.tp.metering import meter

from .core import (
    UNSUBMITTED,
    EscrowJob,
    IllegalTransition,
    JobsError,
    LockParams,
    buyer_of,
    check_escrow,
    check_result,
    estimated_hours,
    select_provider,
    submit_deadline,
)
from .mismatches import MismatchDesk, mismatch_message
from .store import JobStore

log = logging.getLogger("gcx.coordinator.jobs")
DELIVERY_BACKOFF = Backoff(initial_s=0.5, max_s=10.0)
OFFER_TIMEOUT_S = 15.0
DIAL_TIMEOUT_S = 5.0
WATCH_EVERY_S = 1.0
FOLLOWED = ("ResultSubmitted", "JobFinalized", "JobRefunded", "JobChallenged")
PROVIDER_ROLE, VERIFIER_ROLE = 0, 2  # StakingRegistry.Role


def hx(b: bytes | None) -> str | None:
    """``0x`` + lower-case hex, or None."""
    return None if b is None else "0x" + b.hex()


def parse_hex(text: str, size: int, what: str) -> bytes:
    """``0x`` + ``2*size`` hex digits → bytes; :class:`JobsError` 422 otherwise."""
    if not isinstance(text, str) or len(text) != 2 + 2 * size or not text.startswith("0x"):
        raise JobsError(422, "invalid_request", f"{what} must be 0x and {2 * size} hex digits")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise JobsError(422, "invalid_request", f"{what} must be 0x and {2 * size} hex digits") from None


class JobBook:
    """The coordinator's job book over ``store`` (rows), ``tensors`` (buyers' data inputs) and
    ``chain`` (a :class:`gcx.chain.Chain` with the coordinator's key), choosing providers from
    ``registry`` (a :class:`~coordinator.registry.Registry`). ``clock`` gives unix seconds."""

    def __init__(
        self,
        settings: JobsSettings,
        registry: Any,
        *,
        store: JobStore,
        tensors: TensorStore,
        chain: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.registry, self.store, self.tensors = settings, registry, store, tensors
        self.chain, self.clock = chain, clock
        self.host: Any = None
        self._delivering: set[str] = set()
        self._refunding: set[str] = set()
        self._tx_lock = trio.Lock()  # one transaction at a time from the coordinator's key
        self._nursery: trio.Nursery | None = None
        self._started: float | None = None  # when run() started (see watch_once)
        self.free_stake: dict[str, int] = {}  # lower-cased address → bonded stake not locked
        self.lock: LockParams | None = None  # JobEscrow's lock rule, read from the chain
        self.mismatches = MismatchDesk(store, chain, self._decode_stored, clock)

    def _now(self) -> int:
        return int(self.clock())

    async def _read_job(self, job_id: bytes) -> EscrowJob:
        raw = await trio.to_thread.run_sync(self.chain.call, "JobEscrow", "getJob", job_id)
        return EscrowJob.from_call(raw)

    # -- quote -------------------------------------------------------------------------------

    def decode_job_bytes(self, text: str) -> tuple[bytes, JobFile]:
        """The job file from its base64 text; 413 ``too_large``, 422 ``bad_job``."""
        limit = self.settings.max_job_bytes
        if len(text) > 4 * (limit // 3 + 1) + 8:
            raise JobsError(413, "too_large", f"the job file is over the limit of {limit} bytes")
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError:
            raise JobsError(422, "bad_job", "job is not valid base64") from None
        if len(data) > limit:
            raise JobsError(
                413, "too_large", f"the job file has {len(data)} bytes, over the limit of {limit}"
            )
        try:
            return data, decode_job(data)
        except (JobFileError, ProgramError) as exc:
            raise JobsError(422, "bad_job", str(exc)) from None

    def _load(self, views: list[dict[str, Any]]) -> dict[str, float]:
        rates = {v["peer_id"]: int(v.get("ch_per_hour_micro", 0)) for v in views}
        micro: dict[str, int] = {}
        for job in self.store.in_states({"open", "delivered"}):
            micro[job["provider_peer"]] = micro.get(job["provider_peer"], 0) + job["micro_ch"]
        return {peer: estimated_hours(m, rates.get(peer, 0)) for peer, m in micro.items()}

    async def quote(
        self, job: str, *, grade: str, max_price: int, provider: str | None, exclude: list[str]
    ) -> dict[str, Any]:
        """Meter the job, choose a provider, price it and store the quote (see the spec)."""
        data, jobfile = await trio.to_thread.run_sync(self.decode_job_bytes, job)
        micro_ch = meter(jobfile.program, self.registry.profile).micro_ch
        now = self._now()
        # a named provider is judged even when unlisted, so that the answer says why
        views = self.registry.listing(now=now, include_expired=provider is not None)
        chosen = select_provider(
            views,
            micro_ch=micro_ch,
            grade=grade,
            max_price=max_price,
            load=self._load(views),
            flagged=self.store.flagged_addresses(),
            exclude=exclude,
            named=provider,
            free_stake=self.free_stake,
            lock=self.lock,
        )
        p = chosen.provider
        d = self.chain.deployment
        q = {
            "quote_id": secrets.token_hex(16),
            "job_digest": hx(keccak(data)),
            "program_digest": hx(jobfile.program.digest),
            "micro_ch": micro_ch,
            "amount": chosen.amount,
            "provider": {
                "peer_id": p["peer_id"],
                "address": p["address"],
                "price_per_ch": int(p["price"]),
                "grade": p["grade"],
                "listen_addrs": list(p.get("listen_addrs", [])),
            },
            "challenge_window_s": self.settings.challenge_window_s,
            "submit_deadline": submit_deadline(
                now, micro_ch, self.settings.min_submit_s, self.settings.submit_slack
            ),
            "escrow": d.address("JobEscrow"),
            "token": d.address("MockUSD"),
            "chain_id": d.chain_id,
            "expires_at": now + self.settings.quote_ttl_s,
        }
        self.store.put_quote({**q, "created": now})
        return q

    # -- submit ------------------------------------------------------------------------------

    async def submit(self, quote_id: str, job_id_hex: str, job: str) -> tuple[bool, dict[str, Any]]:
        """Take an escrowed job: ``(created, view)`` (an already submitted job id: its view)."""
        job_id = parse_hex(job_id_hex, 32, "job_id")
        key = hx(job_id)
        assert key is not None
        if (known := self.store.job(key)) is not None:
            return False, self.view(key)
        data, jobfile = await trio.to_thread.run_sync(self.decode_job_bytes, job)
        q = self.store.quote(quote_id)
        now = self._now()
        if q is None:
            raise JobsError(404, "unknown_quote", f"no quote {quote_id!r}")
        if q["expires_at"] <= now:
            raise JobsError(409, "quote_expired", f"quote {quote_id} expired at {q['expires_at']}")
        if hx(keccak(data)) != q["job_digest"]:
            raise JobsError(409, "job_mismatch", "the job file is not the one quoted (its keccak differs)")
        try:
            escrow = await self._read_job(job_id)
        except GCXError as exc:
            raise JobsError(
                503, "jobs_unavailable", f"cannot read the escrow from the chain: {exc}"
            ) from None
        check_escrow(
            escrow,
            job_id=job_id,
            provider=q["provider"]["address"],
            amount=q["amount"],
            challenge_window=q["challenge_window"],
            deadline=q["submit_deadline"],
        )
        inputs = await trio.to_thread.run_sync(self._store_inputs, jobfile)
        if (known := self.store.job(key)) is not None:  # submitted twice at once
            return False, self.view(key)
        buyer = buyer_of(job_id)
        row = {
            "job_id": key,
            "quote_id": quote_id,
            "buyer": buyer,
            "provider_peer": q["provider"]["peer_id"],
            "provider_address": q["provider"]["address"],
            "provider_addrs": q["provider"]["listen_addrs"],
            "micro_ch": q["micro_ch"],
            "amount": escrow.amount,
            "program_digest": q["program_digest"],
            "job_digest": q["job_digest"],
            "submit_deadline": q["submit_deadline"],
            "challenge_window": q["challenge_window"],
            "reoffer_of": self.store.reoffered_from(buyer, q["job_digest"]),
            "inputs": inputs,
        }
        self.store.add_job(row, data, now)
        del known
        self._start_delivery(key)
        return True, self.view(key)

    def _store_inputs(self, jobfile: JobFile) -> list[dict[str, Any]]:
        """Data inputs into the tensor store (by tensor root); the offer's input list."""
        out: list[dict[str, Any]] = []
        for tid, decl in enumerate(jobfile.program.inputs):
            src = jobfile.sources[decl.name]
            if isinstance(src, SeededInput):
                out.append({"name": decl.name, "seed": src.seed})
            else:
                root = self.tensors.put(tid, src, owner="buyer")
                out.append({"name": decl.name, "root": hx(root)})
        return out

    # -- views -------------------------------------------------------------------------------

    def view(self, job_id: str) -> dict[str, Any]:
        """The JobView of ``job_id``; 404 ``unknown_job``."""
        job = self.store.job(job_id.lower())
        if job is None:
            raise JobsError(404, "unknown_job", f"no job {job_id}")
        return self._view(job)

    def _view(self, job: dict[str, Any]) -> dict[str, Any]:
        leaves = job["leaves"]
        return {
            "job_id": job["job_id"],
            "buyer": job["buyer"],
            "provider": {
                "peer_id": job["provider_peer"],
                "address": job["provider_address"],
                "listen_addrs": job["provider_addrs"],
            },
            "state": job["state"],
            "reoffer": job["reoffer"],
            "micro_ch": job["micro_ch"],
            "amount": job["amount"],
            "program_digest": job["program_digest"],
            "job_digest": job["job_digest"],
            "submit_deadline": job["submit_deadline"],
            "challenge_deadline": job["challenge_deadline"],
            "result_root": job["result_root"],
            "leaves": None if leaves is None else [hx(leaves[i : i + 66]) for i in range(0, len(leaves), 66)],
            "outputs": job["outputs"],
            "mismatches": self.store.mismatches(job["job_id"]),
            "reoffer_of": job["reoffer_of"],
            "history": self.store.history(job["job_id"]),
            "created": job["created"],
        }

    def jobs(self, *, buyer: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
        """Job views newest first."""
        return [self._view(j) for j in self.store.jobs(buyer=buyer, state=state, limit=limit)]

    async def spec(self, job_id: str) -> bytes:
        """The job file without its evaluation (what verifiers re-execute)."""
        data = self.store.job_file(job_id.lower())
        if data is None:
            raise JobsError(404, "unknown_job", f"no job {job_id}")

        def strip() -> bytes:
            job = decode_job(data)
            return encode_job(JobFile(job.program, job.sources, None))

        return await trio.to_thread.run_sync(strip)

    def feed(self, after: int, limit: int) -> dict[str, Any]:
        """Feed events after ``after`` and the last seq ever appended."""
        return {"events": self.store.feed(after, limit), "last_seq": self.store.last_seq()}

    def flagged(self, address: str) -> list[dict[str, Any]]:
        """The verified mismatches against the provider of ``address`` (empty: not flagged)."""
        return self.store.mismatches_against(address)

    async def _decode_stored(self, key: str) -> JobFile:
        """A stored job file, decoded in a worker thread (it may be large)."""
        return await trio.to_thread.run_sync(decode_job, self.store.job_file(key) or b"")

    # -- delivery ----------------------------------------------------------------------------

    def _start_delivery(self, job_id: str) -> None:
        if self._nursery is not None and job_id not in self._delivering:
            self._delivering.add(job_id)
            self._nursery.start_soon(self._deliver, job_id)

    def _offer(self, job: dict[str, Any], jobfile: JobFile) -> Offer:
        inputs = tuple(
            OfferInput(i["name"], seed=i["seed"])
            if "seed" in i
            else OfferInput(i["name"], root=bytes.fromhex(i["root"][2:]))
            for i in job["inputs"]
        )
        return Offer(
            job_id=bytes.fromhex(job["job_id"][2:]),
            buyer=job["buyer"],
            program=jobfile.program.canonical,
            inputs=inputs,
            amount=job["amount"],
            micro_ch=job["micro_ch"],
            submit_deadline=job["submit_deadline"],
            challenge_window=job["challenge_window"],
            source="",
        )

    async def _send_offer(self, job: dict[str, Any], offer: Offer) -> Accept | Refuse:
        peer = parse_peer_id(job["provider_peer"])
        view = self.registry.provider(job["provider_peer"], now=self.clock())
        addrs = list(view["listen_addrs"]) if view else list(job["provider_addrs"])
        if not self.host.get_network().get_connections(peer):
            last: P2PError = PeerUnreachable(job["provider_peer"], "it advertises no listen address")
            for addr in addrs:
                try:
                    await connect(self.host, addr, DIAL_TIMEOUT_S)
                    break
                except P2PError as exc:
                    last = exc
            else:
                raise last
        reply = await request(
            self.host, peer, PROTOCOL, encode(offer), timeout_s=OFFER_TIMEOUT_S, max_size=MAX_MESSAGE
        )
        answer = decode(reply, REPLIES[Offer])
        assert isinstance(answer, Accept | Refuse)
        return answer

    async def _deliver(self, job_id: str) -> None:
        try:
            attempt = 0
            offer: Offer | None = None
            while True:
                job = self.store.job(job_id)
                if job is None or job["state"] != "open" or self._now() >= job["submit_deadline"]:
                    return
                if offer is None:
                    jobfile = await self._decode_stored(job_id)
                    offer = self._offer(job, jobfile)
                try:
                    answer = await self._send_offer(job, offer)
                except (P2PError, JobMessageError) as exc:
                    wait = min(
                        DELIVERY_BACKOFF.delay(attempt), max(0.1, job["submit_deadline"] - self.clock())
                    )
                    attempt += 1
                    log.info("job %s: offer to %s failed (%s); retrying in %.1f s", job_id,
                             job["provider_peer"], exc, wait)  # fmt: skip
                    if attempt == 1 or attempt % 10 == 0:
                        self.store.note(job_id, self._now(), "offer_failed", f"attempt {attempt}: {exc}")
                    await trio.sleep(wait)
                    continue
                if self.store.job(job_id) is None or self.store.job(job_id)["state"] != "open":  # type: ignore[index]
                    return
                if isinstance(answer, Accept) or answer.code == "duplicate":
                    self.store.set_state(job_id, "delivered", self._now(), event="accepted")
                else:
                    self.store.set_state(
                        job_id, "lost", self._now(), event="refused",
                        detail=f"{answer.code}: {answer.message}", feed="lost",
                    )  # fmt: skip
                return
        finally:
            self._delivering.discard(job_id)

    # -- results -----------------------------------------------------------------------------

    async def on_result(self, peer: Any, data: bytes) -> bytes:
        """``/gcx/job/1`` handler: a provider's ``Result`` → ``Ack`` (accepted or why not)."""
        msg = decode(data, (Result,))
        assert isinstance(msg, Result)
        key = hx(msg.job_id)
        assert key is not None

        def ack(reason: str | None) -> bytes:
            if reason is not None:
                log.info("job %s: result from %s refused: %s", key, peer, reason)
            return encode(Ack(msg.job_id, reason is None, reason))

        job = self.store.job(key)
        if job is None:
            return ack("unknown job")
        if job["leaves"] is not None:
            return ack(None if job["result_root"] == hx(msg.result_root) else "another result was accepted")
        jobfile = await self._decode_stored(key)
        try:
            escrow: EscrowJob | None = await self._read_job(msg.job_id)
        except GCXError as exc:
            log.warning("job %s: cannot read the escrow: %s", key, exc)
            escrow = None
        job = self.store.job(key)
        assert job is not None
        reason = check_result(
            job_state=job["state"],
            provider_peer=job["provider_peer"],
            sender_peer=str(peer),
            program_digest=jobfile.program.digest,
            result_root=msg.result_root,
            leaves=msg.leaves,
            n_ops=len(jobfile.program.ops),
            escrow=escrow,
        )
        if reason is not None:
            return ack(reason)
        assert escrow is not None
        if job["result_root"] not in (None, hx(msg.result_root)):
            return ack("the chain event showed another result root")
        n_in = len(jobfile.program.inputs)
        input_roots = {n: i.get("root") for n, i in enumerate(job["inputs"])}
        outputs = {
            o.name: hx(msg.leaves[o.tensor - n_in].output_root)
            if o.tensor >= n_in
            else input_roots.get(o.tensor)
            for o in jobfile.program.outputs
        }
        fields: dict[str, Any] = {
            "result_root": hx(msg.result_root),
            "leaves": b"".join(leaf.body() for leaf in msg.leaves),
            "outputs": outputs,
        }
        if job["challenge_deadline"] is None and escrow.state == "Submitted":
            fields["challenge_deadline"] = escrow.deadline
        now = self._now()
        if job["state"] in UNSUBMITTED:
            self.store.set_state(
                key, "submitted", now, event="result", detail=hx(msg.tx), feed="submitted", **fields
            )
        else:
            self.store.update(key, now, event="result", detail=hx(msg.tx), **fields)
        return ack(None)

    # -- chain events ------------------------------------------------------------------------

    def apply_event(self, event: str, args: Any) -> None:
        """Move the job a JobEscrow event names (unknown jobs and stale events are ignored)."""
        key = hx(bytes(args["jobId"]))
        assert key is not None
        job = self.store.job(key)
        if job is None:
            return
        state, now = job["state"], self._now()
        try:
            if event == "ResultSubmitted":
                root, deadline = hx(bytes(args["resultRoot"])), int(args["challengeDeadline"])
                if state in UNSUBMITTED:
                    self.store.set_state(key, "submitted", now, detail="on chain", feed="submitted",
                                         result_root=root, challenge_deadline=deadline)  # fmt: skip
                elif job["challenge_deadline"] is None:
                    self.store.update(
                        key, now, event="submitted", detail="on chain", challenge_deadline=deadline
                    )
            elif event == "JobFinalized" and state in ("submitted", "challenged"):
                self.store.set_state(
                    key, "finalized", now, detail=f"payout {int(args['payout'])}", feed="finalized"
                )
            elif event == "JobRefunded" and state != "refunded":
                self.store.set_state(key, "refunded", now, detail="on chain", feed="refunded",
                                     reoffer=state in UNSUBMITTED)  # fmt: skip
            elif event == "JobChallenged" and state == "submitted":
                self.store.set_state(key, "challenged", now, detail=str(args["challenger"]).lower())
        except IllegalTransition as exc:
            log.warning("ignoring %s: %s", event, exc)

    async def _follow(self) -> None:
        from gcx.chain import EventWatcher

        start = self.store.get_meta("follow_block")
        first = int(start) if start is not None else int(self.chain.deployment.block)
        watchers = [EventWatcher(self.chain, "JobEscrow", e, first) for e in FOLLOWED]

        def poll() -> list[tuple[int, int, str, Any]]:
            out = []
            for w in watchers:
                out += [(int(g["blockNumber"]), int(g["logIndex"]), w.event, g["args"]) for g in w.poll()]
            return sorted(out, key=lambda t: (t[0], t[1]))

        while True:
            try:
                logs = await trio.to_thread.run_sync(poll)
            except GCXError as exc:
                log.warning("cannot read JobEscrow events: %s", exc)
            else:
                for _, _, event, args in logs:
                    self.apply_event(event, args)
                self.store.set_meta("follow_block", str(min(w.next_block for w in watchers)))
            await trio.sleep(self.settings.follow_s)

    # -- lost providers, refunds -------------------------------------------------------------

    def watch_once(self) -> None:
        """Mark jobs of silent providers lost (once this process has been up for
        ``provider_timeout_s``); start refunds and missing deliveries."""
        now = self._now()
        timeout = self.settings.provider_timeout_s
        # Heartbeats sent while this coordinator was down were lost: judge nobody until it has
        # been up for a whole timeout.
        judging = self._started is not None and now - self._started >= timeout
        for job in self.store.in_states(UNSUBMITTED):
            if job["state"] != "lost" and judging:
                view = self.registry.provider(job["provider_peer"], now=now)
                last_seen = int(view["last_seen"]) if view else 0
                if now - last_seen > timeout:
                    self.store.set_state(job["job_id"], "lost", now, detail=f"no heartbeat for {now - last_seen} s",
                                         feed="lost")  # fmt: skip
                    job["state"] = "lost"
            if now > job["submit_deadline"]:
                if job["job_id"] not in self._refunding and self._nursery is not None:
                    self._refunding.add(job["job_id"])
                    self._nursery.start_soon(self._refund, job["job_id"])
            elif job["state"] == "open":
                self._start_delivery(job["job_id"])
        self.store.prune_quotes(now - 86_400)

    async def _refund(self, key: str) -> None:
        try:
            job_id = bytes.fromhex(key[2:])
            escrow = await self._read_job(job_id)
            if escrow.state == "Open":
                async with self._tx_lock:
                    await trio.to_thread.run_sync(self.chain.transact, "JobEscrow", "refund", job_id)
            elif escrow.state != "Refunded":
                return  # submitted on chain: the follower moves it
            job = self.store.job(key)
            if job is not None and job["state"] in UNSUBMITTED:
                self.store.set_state(key, "refunded", self._now(), detail="at the submit deadline", feed="refunded",
                                     reoffer=True)  # fmt: skip
        except GCXError as exc:  # e.g. the chain's clock is not past the deadline yet: next round
            log.info("job %s: refund not done yet: %s", key, exc)
        finally:
            self._refunding.discard(key)

    async def _watch(self) -> None:
        while True:
            self.watch_once()
            await trio.sleep(WATCH_EVERY_S)

    # -- mismatches --------------------------------------------------------------------------

    async def mismatch(self, job_id: str, evidence_b64: str, verifier: str, signature: str) -> dict[str, Any]:
        """Check a verifier's evidence; flag the provider when it holds (:class:`~.mismatches.MismatchDesk`)."""
        return await self.mismatches.report(job_id, evidence_b64, verifier, signature)

    def close(self) -> None:
        """Close the job book's SQLite file."""
        self.store.close()

    # -- running -----------------------------------------------------------------------------

    async def run(self, host: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve ``/gcx/job/1`` (results) and ``/gcx/data/1`` (inputs) on ``host``; deliver,
        follow the chain, watch for lost providers and deadlines, until cancelled."""
        from gcx.jobs.data import DataServer

        self.host = host
        self._started = self.clock()
        serve(host, PROTOCOL, self.on_result, max_size=MAX_MESSAGE, timeout_s=30.0)
        DataServer(self.tensors, peer_quota=0, max_uploads_per_peer=0).register(host)
        async with trio.open_nursery() as n:
            self._nursery = n
            for job in self.store.in_states({"open"}):
                self._start_delivery(job["job_id"])
            n.start_soon(self._follow)
            n.start_soon(self._watch)
            n.start_soon(self._watch_stakes)
            task_status.started()

    def read_stakes(self) -> None:
        """Read (blocking) the escrow's lock rule and every known provider's unlocked stake, so
        that quotes skip providers whose open jobs already lock all they bonded."""
        self.lock = LockParams(
            int(self.chain.call("JobEscrow", "minJobLock")), int(self.chain.call("JobEscrow", "lockPerUnit"))
        )
        free = {}
        for record in self.registry.store.providers():
            bonded = int(self.chain.call("StakingRegistry", "stakeOf", record.address, PROVIDER_ROLE)[0])
            locked = int(self.chain.call("StakingRegistry", "lockedOf", record.address, PROVIDER_ROLE))
            free[record.address.lower()] = bonded - locked
        self.free_stake = free

    async def _watch_stakes(self, every_s: float = 5.0) -> None:
        while True:
            try:
                await trio.to_thread.run_sync(self.read_stakes)
            except GCXError as exc:  # keep the last known figures; the next round retries
                log.warning("cannot read providers' free stake: %s", exc)
            await trio.sleep(every_s)


def open_job_book(settings: Any, registry: Any, key: Any) -> JobBook:
    """The job book for ``settings`` (``[jobs]`` and ``[chain]``), with a keyed chain client."""
    from gcx.chain import connect as connect_chain
    from gcx.paths import ensure_home

    j = settings.jobs
    base = ensure_home() / "coordinator"
    base.mkdir(parents=True, exist_ok=True)
    chain = connect_chain(settings.chain.rpc_url, settings.chain.deployment, key)
    store = JobStore(j.database or base / "jobs.sqlite")
    tensors = TensorStore(j.store or base / "data", max_bytes=j.store_max_bytes)
    return JobBook(j, registry, store=store, tensors=tensors, chain=chain)


__all__ = ["JobBook", "JobsError", "mismatch_message", "open_job_book"]
