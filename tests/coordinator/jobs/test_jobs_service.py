"""The job book end to end: a real anvil chain with the real contracts, the real coordinator
(run_coordinator in-process: registry, libp2p host, HTTP API, job book), a buyer opening real
escrows with web3, and fake providers **on the other side of the wire only**: libp2p hosts that
register (signed adverts, stake, heartbeats), serve ``/gcx/job/1``, fetch the inputs from the
coordinator over ``/gcx/data/1``, run the job with the real runner, submit on chain and send
``Result``; or refuse; or fall silent."""

from __future__ import annotations

import base64
import contextlib
import functools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import trio
from eth_account import Account
from eth_account.messages import encode_defunct

from coordinator.daemon import run_coordinator
from coordinator.jobs.service import mismatch_message
from gcx.advert import ADVERT_PROTOCOL, HEARTBEAT_PROTOCOL, make_advert, make_heartbeat, report_digest
from gcx.chain import (
    VERIFIER,
    AnvilNode,
    Chain,
    DeployParams,
    deploy_all,
    ensure_provider_stake,
    faucet,
    run_anvil,
)
from gcx.chain.deployment import Deployment, write_deployment
from gcx.jobs.data import DataClient
from gcx.jobs.delivery import MAX_MESSAGE, PROTOCOL, Accept, Ack, Offer, Refuse, Result, decode, encode
from gcx.keys import ParticipantKey, new_key
from gcx.p2p import P2PError, connect, open_host, request, serve
from gcx.reference import load_profile
from gcx.settings import (
    AuditSettings,
    ChainSettings,
    CoordinatorSettings,
    ExchangeSettings,
    JobsSettings,
    NetworkSettings,
    Settings,
)
from gcx.tp.attest import commit_inputs, commit_run
from gcx.tp.backends import NumpyBackend
from gcx.tp.commit import prove_op, prove_row
from gcx.tp.jobfile import JobFile, SeededInput, encode_job, make_job
from gcx.tp.ops import MatmulNT
from gcx.tp.program import InputDecl, OutputDecl, decode_program, make_program
from gcx.tp.runner import run_job
from gcx.tp.tensor import TensorType
from gcx.wire import unpack
from verifier.compare import Mismatch, first_mismatch

pytestmark = pytest.mark.timeout(240)
PROFILE = load_profile()
LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with run_anvil() as node:
        yield node


@pytest.fixture(scope="module")
def deployer() -> bytes:
    return bytes(Account.create().key)


@pytest.fixture(scope="module")
def deployment(anvil: AnvilNode, deployer: bytes) -> Deployment:
    return deploy_all(anvil.rpc_url, deployer, DeployParams(min_challenge_window_s=1))


def data_job(seed: int = 5, rows: int = 4, k: int = 8) -> JobFile:
    """``c = a·bᵀ`` with ``a`` a data input (the coordinator serves it) and ``b`` seeded."""
    a = np.random.default_rng(seed).integers(-128, 128, (rows, k), dtype=np.int8)
    decls = [InputDecl("a", TensorType("int8", (rows, k))), InputDecl("b", TensorType("int8", (8, k)))]
    unrooted = make_program(decls, [MatmulNT(0, 1)], [OutputDecl("c", 2)])
    sources: dict[str, Any] = {"a": a, "b": SeededInput(seed)}
    roots = commit_inputs(unrooted, make_job(unrooted, sources).values())
    rooted = [InputDecl(d.name, d.type, c.root) for d, c in zip(decls, roots, strict=True)]
    return make_job(make_program(rooted, unrooted.ops, unrooted.outputs), sources)


class FakeProvider:
    """The provider side of ``/gcx/job/1``, ``mode`` ``run`` (accept, fetch, run, submit,
    report), ``refuse`` or ``silent`` (speaks no job protocol, stops heartbeating)."""

    def __init__(self, key: ParticipantKey, chain: Chain, mode: str, price: int) -> None:
        self.key, self.chain, self.mode, self.price = key, chain, mode, price
        self.offers: list[Offer] = []
        self.acks: list[Ack] = []
        self.fetched: dict[str, bytes] = {}
        self.beating = True
        self.host: Any = None
        self.peer_id = ""
        self.result_ready = trio.Event()
        self.wrong = False
        self.wrong_tensors: list[Any] = []
        self.wrong_commitment: Any = None

    async def run(
        self, coordinator: str, report: dict[str, Any], *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with open_host(self.key.private_key, LOOPBACK) as host, trio.open_nursery() as n:
            self.host, self.peer_id = host, host.get_id().to_base58()
            self._nursery = n
            if self.mode not in ("silent", "late"):
                self.serve_jobs()
            peer = await connect(host, coordinator, 10)
            self.coordinator = peer
            addrs = [str(a) + f"/p2p/{self.peer_id}" for a in host.get_addrs()]
            advert = make_advert(
                self.key, self.peer_id, report, price_per_ch=self.price, hours=4, nonce=int(time.time() * 1000),
                now=int(time.time()), ttl_s=600, listen_addrs=addrs,
            )  # fmt: skip
            verdict = unpack(await request(host, peer, ADVERT_PROTOCOL, advert, timeout_s=10))
            assert verdict["accepted"], verdict
            n.start_soon(self._beat, peer, report_digest(report))
            task_status.started()
            await trio.sleep_forever()

    def serve_jobs(self) -> None:
        serve(self.host, PROTOCOL, self.on_offer, max_size=MAX_MESSAGE, timeout_s=30)

    async def _beat(self, peer: Any, digest: str) -> None:
        seq = 0
        while self.beating:
            seq += 1
            with contextlib.suppress(P2PError):  # the coordinator may be restarting
                await request(self.host, peer, HEARTBEAT_PROTOCOL, make_heartbeat(seq, int(time.time()), digest),
                              timeout_s=5)  # fmt: skip
            await trio.sleep(0.5)

    async def on_offer(self, peer: Any, data: bytes) -> bytes:
        offer = decode(data, (Offer,))
        assert isinstance(offer, Offer)
        self.offers.append(offer)
        if self.mode == "refuse":
            return encode(Refuse(offer.job_id, "busy", "queue full"))
        self._nursery.start_soon(self._execute, peer, offer, len(self.offers) == 1)
        return encode(Accept(offer.job_id))

    async def _execute(self, peer: Any, offer: Offer, first: bool) -> None:
        program = decode_program(offer.program)
        sources: dict[str, Any] = {}
        for decl, given in zip(program.inputs, offer.inputs, strict=True):
            if given.root is None:
                sources[decl.name] = SeededInput(given.seed or 0)
            else:
                assert given.root == decl.root  # the coordinator serves the buyer's committed tensor
                array, fetched = await DataClient(self.host).fetch_committed(peer, given.root)
                assert fetched.root == given.root
                self.fetched[decl.name] = given.root
                sources[decl.name] = array
        run = await trio.to_thread.run_sync(run_job, make_job(program, sources), NumpyBackend(), PROFILE)
        commitment = run.commitment
        if self.wrong:  # a cheating provider: one wrong element in the op's output
            tensors = list(run.execution.tensors)
            tensors[-1] = tensors[-1].copy()
            tensors[-1][1, 2] += 1
            self.wrong_tensors = tensors
            commitment = commit_run(program, replace(run.execution, tensors=tuple(tensors)))
            self.wrong_commitment = commitment
        receipt = await trio.to_thread.run_sync(
            self.chain.transact, "JobEscrow", "submitResult", offer.job_id, commitment.root
        )
        leaves = tuple(commitment.result.leaves)
        tx = bytes(receipt["transactionHash"])
        if not first:
            self.acks.append(
                self._ack(await self._send(peer, Result(offer.job_id, commitment.root, leaves, tx)))
            )
            return
        # a Result whose leaves do not commit to its root: refused, nothing stored
        wrong = Result(offer.job_id, b"\x05" * 32, leaves, tx)
        self.acks.append(self._ack(await self._send(peer, wrong)))
        self.good = Result(offer.job_id, run.result_root, leaves, tx)
        self.result_ready.set()

    async def send_good(self) -> Ack:
        await self.result_ready.wait()
        ack = self._ack(await self._send(self.coordinator, self.good))
        self.acks.append(ack)
        return ack

    async def _send(self, peer: Any, msg: Result) -> bytes:
        return await request(self.host, peer, PROTOCOL, encode(msg), timeout_s=20, max_size=MAX_MESSAGE)

    @staticmethod
    def _ack(data: bytes) -> Ack:
        ack = decode(data, (Ack,))
        assert isinstance(ack, Ack)
        return ack


def _ready(info: dict[str, Any], up: trio.Event) -> Callable[[dict[str, Any]], None]:
    def ready(got: dict[str, Any]) -> None:
        info.update(got)
        up.set()

    return ready


def funded_chain(anvil: AnvilNode, deployment: Deployment, deployer: bytes, key: ParticipantKey) -> Chain:
    faucet(anvil.rpc_url, deployment, deployer, key.address)
    return Chain(deployment, key.private_key)


async def _wait(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    with trio.fail_after(timeout):
        while True:
            got = await check()
            if got:
                return got
            await trio.sleep(0.2)
    raise AssertionError(what)


@pytest.mark.trio
async def test_job_path_end_to_end(  # noqa: PLR0915 - one story, told in order
    isolated_home: Path,
    tmp_path: Path,
    anvil: AnvilNode,
    deployer: bytes,
    deployment: Deployment,
    make_report: Callable[..., dict[str, Any]],
) -> None:
    deployment_path = write_deployment(deployment, tmp_path / "deployment.json")
    coordinator_key, buyer_key = new_key("coordinator"), new_key("buyer")
    faucet(anvil.rpc_url, deployment, deployer, coordinator_key.address)  # gas for refunds
    buyer = funded_chain(anvil, deployment, deployer, buyer_key)
    settings = Settings(
        coordinator=CoordinatorSettings(api_port=0, database=tmp_path / "registry.sqlite", uptime_slot_s=1),
        chain=ChainSettings(rpc_url=anvil.rpc_url, deployment=deployment_path, stake_refresh_s=0.3),
        jobs=JobsSettings(
            database=tmp_path / "jobs.sqlite",
            store=tmp_path / "data",
            max_job_bytes=310_000,
            challenge_window_s=2,
            min_submit_s=20,
            submit_slack=1.0,
            provider_timeout_s=3.0,
            follow_s=0.3,
        ),
        exchange=ExchangeSettings(enabled=False),
        audit=AuditSettings(enabled=False),
    )
    providers: dict[str, FakeProvider] = {}
    for mode, price in (("run", 1000), ("refuse", 10), ("silent", 20)):
        key = new_key(f"provider-{mode}")
        chain = funded_chain(anvil, deployment, deployer, key)
        await trio.to_thread.run_sync(ensure_provider_stake, chain)
        providers[mode] = FakeProvider(key, chain, mode, price)
    usd, escrow_address = deployment.address("MockUSD"), deployment.address("JobEscrow")
    await trio.to_thread.run_sync(buyer.transact, "MockUSD", "approve", escrow_address, 10**12)
    job = data_job()
    job_b64 = base64.b64encode(encode_job(job)).decode()

    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=30) as http:
        info: dict[str, Any] = {}
        up = trio.Event()
        nursery.start_soon(run_coordinator, settings, coordinator_key, PROFILE, _ready(info, up))
        with trio.fail_after(60):
            await up.wait()
        api = info["api"]
        nursery.start_soon(_mine, buyer)
        for p in providers.values():
            await nursery.start(p.run, info["multiaddrs"][0], make_report(p.key, now=None))

        async def listed() -> bool:
            r = (await http.get(f"{api}/v1/providers")).json()["providers"]
            return {p["peer_id"] for p in r} >= {p.peer_id for p in providers.values()}

        await _wait("providers listed", listed)

        async def quote(**kw: Any) -> httpx.Response:
            body = {"job": job_b64, "grade": "D", "max_price": 10_000, **kw}
            return await http.post(f"{api}/v1/jobs/quote", json=body)

        def job_id_of(nonce: int) -> bytes:
            return ((int(buyer_key.address, 16) << 96) | nonce).to_bytes(32, "big")

        async def escrow(q: dict[str, Any], **override: Any) -> str:
            jid = job_id_of(secrets.randbits(96))
            terms = {
                "amount": q["amount"],
                "window": q["challenge_window_s"],
                "deadline": q["submit_deadline"],
            }
            terms.update(override)
            await trio.to_thread.run_sync(
                buyer.transact, "JobEscrow", "open", jid, q["provider"]["address"], terms["amount"],
                terms["window"], terms["deadline"],
            )  # fmt: skip
            return "0x" + jid.hex()

        async def submit(q: dict[str, Any], jid: str, job_text: str = job_b64) -> httpx.Response:
            return await http.post(
                f"{api}/v1/jobs", json={"quote_id": q["quote_id"], "job_id": jid, "job": job_text}
            )

        async def view(jid: str) -> dict[str, Any]:
            r = await http.get(f"{api}/v1/jobs/{jid}")
            assert r.status_code == 200, r.text
            return dict(r.json())

        # -- bad input: typed errors, nothing stored ------------------------------------------
        big = base64.b64encode(encode_job(data_job(rows=300, k=1024))).decode()  # 300 KiB: over the app's
        r = await http.post(f"{api}/v1/jobs/quote", json={"job": big, "grade": "D", "max_price": 10**6})
        assert r.status_code == 200, r.text  # default body limit, within the job routes' one
        r = await http.post(f"{api}/v1/jobs/quote", json={"job": "A" * 420_000, "grade": "D", "max_price": 5})
        assert (r.status_code, r.json()["error"]) == (413, "too_large")
        r = await http.post(f"{api}/v1/jobs/quote", json={"job": "A" * 600_000, "grade": "D", "max_price": 5})
        assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")  # the whole body
        r = await http.post(f"{api}/v1/jobs/quote", json={"job": "!!!!", "grade": "D", "max_price": 5})
        assert (r.status_code, r.json()["error"]) == (422, "bad_job")
        r = await http.post(f"{api}/v1/jobs/quote", json={"job": base64.b64encode(b"\x80").decode(), "grade": "D",
                                                          "max_price": 5})  # fmt: skip
        assert (r.status_code, r.json()["error"]) == (422, "bad_job")
        r = await quote(grade="A")
        assert (r.status_code, r.json()["error"]) == (409, "no_provider"), r.text
        assert "grade A" in r.json()["message"]

        run_p = providers["run"]
        r = await quote(provider=run_p.peer_id)
        assert r.status_code == 200, r.text
        q = r.json()
        assert (
            q["provider"]["peer_id"] == run_p.peer_id and q["escrow"] == escrow_address and q["token"] == usd
        )
        assert q["amount"] == max(1, -(-q["micro_ch"] * 1000 // 10**6))
        assert q["challenge_window_s"] == 2 and q["submit_deadline"] >= int(time.time()) + 19
        r = await submit({"quote_id": "0" * 32}, "0x" + "11" * 32)
        assert (r.status_code, r.json()["error"]) == (404, "unknown_quote")
        other = base64.b64encode(encode_job(data_job(seed=6))).decode()
        r = await submit(q, "0x" + job_id_of(1).hex(), other)
        assert (r.status_code, r.json()["error"]) == (409, "job_mismatch")
        r = await submit(q, "0x" + job_id_of(2).hex())
        assert (r.status_code, r.json()["error"]) == (409, "not_escrowed")
        bad = await escrow(q, window=3)
        r = await submit(q, bad)
        assert (r.status_code, r.json()["error"]) == (409, "escrow_mismatch") and "challenge window" in r.text
        for jid in ("0x" + job_id_of(1).hex(), "0x" + job_id_of(2).hex(), bad):
            assert (await http.get(f"{api}/v1/jobs/{jid}")).status_code == 404

        # -- the happy path: open → delivered → submitted → finalized ------------------------
        jid = await escrow(q)
        r = await submit(q, jid)
        assert r.status_code == 201, r.text
        assert r.json()["state"] in ("open", "delivered") and r.json()["buyer"] == buyer_key.address.lower()
        again = await submit(q, jid)
        assert again.status_code == 200 and again.json()["job_id"] == jid  # idempotent
        await _wait("delivered", lambda: _state_in(view, jid, {"delivered", "submitted"}))
        offer = run_p.offers[0]
        assert offer.source == "" and offer.amount == q["amount"] and offer.buyer == buyer_key.address.lower()
        assert [i.root is not None for i in offer.inputs] == [True, False]
        await _wait("the provider ran the job", lambda: _true(hasattr(run_p, "good")))
        assert run_p.acks[0].accepted is False and "do not commit" in (run_p.acks[0].reason or "")
        assert (await view(jid))["leaves"] is None  # nothing stored from the bad Result
        # the same Result from another peer: refused
        async with open_host(new_key("stranger").private_key, LOOPBACK) as stranger:
            peer = await connect(stranger, info["multiaddrs"][0], 10)
            reply = await request(
                stranger, peer, PROTOCOL, encode(run_p.good), timeout_s=20, max_size=MAX_MESSAGE
            )
            ack = decode(reply, (Ack,))
            assert isinstance(ack, Ack) and not ack.accepted and ack.reason == "not the job's provider"
        assert (await view(jid))["leaves"] is None
        ack = await run_p.send_good()
        assert ack.accepted, ack.reason
        v = await view(jid)
        assert v["state"] == "submitted" and v["result_root"] == "0x" + run_p.good.result_root.hex()
        assert v["leaves"] == ["0x" + leaf.body().hex() for leaf in run_p.good.leaves]
        assert v["outputs"] == {"c": "0x" + run_p.good.leaves[0].output_root.hex()}
        assert run_p.fetched["a"] == job.program.inputs[0].root
        spec = (await http.get(f"{api}/v1/jobs/{jid}/spec")).content
        assert spec == encode_job(JobFile(job.program, job.sources, None))

        async def finalize() -> bool:
            try:
                await trio.to_thread.run_sync(buyer.transact, "JobEscrow", "finalize", bytes.fromhex(jid[2:]))
            except Exception:
                return False
            return True

        await _wait("finalized on chain", finalize)
        await _wait("finalized here", lambda: _state_in(view, jid, {"finalized"}))
        events: dict[str, list[str]] = {}
        for e in (await http.get(f"{api}/v1/jobs/feed", params={"after": 0})).json()["events"]:
            events.setdefault(e["job_id"], []).append(e["kind"])
        assert events[jid] == ["submitted", "finalized"]
        history = [h["event"] for h in (await view(jid))["history"]]
        assert history[:2] == ["escrowed", "accepted"] and history[-1] == "finalized"

        # -- a refusing and a silent provider: lost, refunded at the deadline, re-offered -----
        lost = {}
        for mode in ("refuse", "silent"):
            r = await quote(provider=providers[mode].peer_id)
            assert r.status_code == 200, r.text
            qm = r.json()
            lost[mode] = (qm, await escrow(qm))
            assert (await submit(qm, lost[mode][1])).status_code == 201
        providers["silent"].beating = False
        await _wait("refused: lost", lambda: _state_in(view, lost["refuse"][1], {"lost"}))
        assert providers["refuse"].offers[0].job_id.hex() == lost["refuse"][1][2:]
        await _wait("silent: lost", lambda: _state_in(view, lost["silent"][1], {"lost"}))
        for mode in ("refuse", "silent"):
            await _wait(
                "refunded", functools.partial(_state_in, view, lost[mode][1], {"refunded"}), timeout=90
            )
            v = await view(lost[mode][1])
            assert v["reoffer"] is True
            onchain = await trio.to_thread.run_sync(
                buyer.call, "JobEscrow", "getJob", bytes.fromhex(lost[mode][1][2:])
            )
            assert int(onchain[1]) == 5  # Refunded
        # the buyer re-quotes without those providers: the running one is chosen, linked
        r = await quote(exclude=[providers["refuse"].peer_id, providers["silent"].peer_id])
        assert r.status_code == 200 and r.json()["provider"]["peer_id"] == run_p.peer_id, r.text
        q2 = r.json()
        re_id = await escrow(q2)
        run_p.wrong = True  # this time it cheats
        v = (await submit(q2, re_id)).json()
        assert v["reoffer_of"] == lost["silent"][1]  # the newest refunded job of this buyer and job file
        feed = (await http.get(f"{api}/v1/jobs/feed", params={"after": 0, "limit": 1000})).json()
        kinds = [(e["job_id"], e["kind"]) for e in feed["events"]]
        assert (lost["refuse"][1], "lost") in kinds and (lost["silent"][1], "refunded") in kinds
        seqs = [e["seq"] for e in feed["events"]]
        assert seqs == sorted(set(seqs)) and feed["last_seq"] == seqs[-1]
        listing = (await http.get(f"{api}/v1/jobs", params={"buyer": buyer_key.address})).json()["jobs"]
        assert [j["job_id"] for j in listing][:1] == [re_id]

        # -- a verifier shows the cheat: evidence checked, provider flagged -------------------
        await _wait("the wrong result", lambda: _state_in(view, re_id, {"submitted"}))
        await _wait("its leaves", lambda: _true(len(run_p.acks) == 3))
        assert run_p.acks[-1].accepted  # the leaves commit to the (wrong) root it submitted
        evidence = _evidence(job, run_p)
        verifier_key, stranger_key = new_key("verifier"), new_key("not-staked")
        vchain = funded_chain(anvil, deployment, deployer, verifier_key)
        minimum = await trio.to_thread.run_sync(vchain.call, "StakingRegistry", "minStake", VERIFIER)
        await trio.to_thread.run_sync(vchain.transact, "GCXToken", "approve",
                                      deployment.address("StakingRegistry"), minimum)  # fmt: skip
        await trio.to_thread.run_sync(vchain.transact, "StakingRegistry", "stake", VERIFIER, minimum)

        async def report(
            ev: bytes, key: ParticipantKey, jid: str = re_id, sign_for: str | None = None
        ) -> httpx.Response:
            message = mismatch_message(bytes.fromhex((sign_for or jid)[2:]), ev)
            sig = Account.sign_message(encode_defunct(primitive=message), key.private_key).signature.hex()
            body = {
                "evidence": base64.b64encode(ev).decode(),
                "verifier": key.address,
                "signature": "0x" + sig,
            }
            return await http.post(f"{api}/v1/jobs/{jid}/mismatch", json=body)

        ev = evidence.encode()
        r = await report(ev, verifier_key, sign_for=jid)  # signed for another job
        assert (r.status_code, r.json()["error"]) == (401, "bad_signature")
        r = await report(ev, stranger_key)
        assert (r.status_code, r.json()["error"]) == (403, "not_a_verifier")
        r = await report(b"junk", verifier_key)
        assert (r.status_code, r.json()["error"]) == (422, "bad_evidence")
        r = await report(ev, verifier_key, jid=jid)  # the finalized job: another result root
        assert (r.status_code, r.json()["error"]) == (409, "wrong_state")
        assert (await view(re_id))["mismatches"] == []
        r = await report(ev, verifier_key)
        assert r.status_code == 202 and r.json() == {"accepted": True, "provider_flagged": True}, r.text
        v = await view(re_id)
        assert [(m["verifier"], m["op"], m["row"]) for m in v["mismatches"]] == [
            (verifier_key.address.lower(), 0, 1)
        ]
        feed = (await http.get(f"{api}/v1/jobs/feed", params={"after": feed["last_seq"]})).json()
        assert [(e["kind"], e["job_id"]) for e in feed["events"]][-1] == ("mismatch", re_id)
        r = await quote(provider=run_p.peer_id)
        assert r.status_code == 409 and "flagged" in r.json()["message"]
        detail = (await http.get(f"{api}/v1/providers/{run_p.peer_id}")).json()
        assert [(m["job_id"], m["op"], m["row"]) for m in detail["mismatches"]] == [(re_id, 0, 1)]
        # evidence that does not hold: refused, and that verifier waits
        forged = replace(evidence, expected_row=evidence.claimed_row.row if evidence.claimed_row else None)
        r = await report(forged.encode(), verifier_key)
        assert (r.status_code, r.json()["error"]) == (422, "bad_evidence")
        r = await report(ev, verifier_key)
        assert (r.status_code, r.json()["error"]) == (429, "rate_limited")
        nursery.cancel_scope.cancel()


def _evidence(job: JobFile, provider: FakeProvider) -> Mismatch:
    """What a verifier finds comparing its own run with the provider's committed one."""
    own = run_job(job, NumpyBackend(), PROFILE)
    wrong = provider.wrong_commitment
    n_in = len(job.program.inputs)
    found = first_mismatch(
        job.program,
        own.commitment,
        own.execution.tensors,
        wrong.root,
        lambda k: prove_op(wrong.result, k),
        lambda k, root, i: prove_row(wrong.tensors[n_in + k], provider.wrong_tensors[n_in + k], i),
    )
    assert found is not None
    return found


async def _mine(chain: Chain) -> None:
    """Mine a block a second, as a live chain does (an idle anvil's clock stands still: calls
    see the last block's timestamp, so deadlines would never pass)."""
    while True:
        await trio.to_thread.run_sync(lambda: chain.w3.provider.make_request("evm_mine", []))  # type: ignore[arg-type]
        await trio.sleep(1.0)


async def _state_in(view: Any, jid: str, states: set[str]) -> bool:
    return (await view(jid))["state"] in states


async def _true(value: bool) -> bool:
    return value


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.trio
async def test_a_restarted_coordinator_resumes_delivery_and_its_feed(  # noqa: PLR0915
    isolated_home: Path,
    tmp_path: Path,
    anvil: AnvilNode,
    deployer: bytes,
    deployment: Deployment,
    make_report: Callable[..., dict[str, Any]],
) -> None:
    """An open job whose provider does not speak /gcx/job/1 yet is retried; the coordinator
    stops for longer than the provider timeout; the provider starts serving; the restarted
    coordinator (same files) does not count its own downtime as the provider's silence, delivers
    the job, takes its result, and its feed continues the seq."""
    deployment_path = write_deployment(deployment, tmp_path / "deployment.json")
    coordinator_key, buyer_key = new_key("coordinator"), new_key("buyer")
    faucet(anvil.rpc_url, deployment, deployer, coordinator_key.address)
    buyer = funded_chain(anvil, deployment, deployer, buyer_key)
    settings = Settings(
        network=NetworkSettings(listen=[f"/ip4/127.0.0.1/tcp/{_free_port()}"]),
        coordinator=CoordinatorSettings(api_port=0, database=tmp_path / "registry.sqlite", uptime_slot_s=1),
        chain=ChainSettings(rpc_url=anvil.rpc_url, deployment=deployment_path, stake_refresh_s=0.3),
        jobs=JobsSettings(
            database=tmp_path / "jobs.sqlite",
            store=tmp_path / "data",
            challenge_window_s=1,
            min_submit_s=60,
            submit_slack=1.0,
            provider_timeout_s=3.0,
            follow_s=0.3,
        ),
        exchange=ExchangeSettings(enabled=False),
        audit=AuditSettings(enabled=False),
    )
    pkey = new_key("provider-late")
    pchain = funded_chain(anvil, deployment, deployer, pkey)
    await trio.to_thread.run_sync(ensure_provider_stake, pchain)
    late = FakeProvider(pkey, pchain, "late", 100)
    await trio.to_thread.run_sync(
        buyer.transact, "MockUSD", "approve", deployment.address("JobEscrow"), 10**12
    )
    job_b64 = base64.b64encode(encode_job(data_job(seed=9))).decode()

    async def start(nursery: trio.Nursery) -> tuple[dict[str, Any], trio.CancelScope]:
        info: dict[str, Any] = {}
        up = trio.Event()
        scope = trio.CancelScope()

        async def coordinator() -> None:
            with scope:
                await run_coordinator(settings, coordinator_key, PROFILE, _ready(info, up))

        nursery.start_soon(coordinator)
        with trio.fail_after(60):
            await up.wait()
        return info, scope

    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=30) as http:
        nursery.start_soon(_mine, buyer)
        info, scope = await start(nursery)
        api = info["api"]
        await nursery.start(late.run, info["multiaddrs"][0], make_report(pkey, now=None))

        async def listed() -> bool:
            r = (await http.get(f"{api}/v1/providers")).json()["providers"]
            return late.peer_id in {p["peer_id"] for p in r}

        await _wait("listed", listed)
        body = {"job": job_b64, "grade": "D", "max_price": 10_000, "provider": late.peer_id}
        q = (await http.post(f"{api}/v1/jobs/quote", json=body)).json()
        jid = ((int(buyer_key.address, 16) << 96) | 77).to_bytes(32, "big")
        await trio.to_thread.run_sync(
            buyer.transact, "JobEscrow", "open", jid, q["provider"]["address"], q["amount"],
            q["challenge_window_s"], q["submit_deadline"],
        )  # fmt: skip
        key = "0x" + jid.hex()
        r = await http.post(f"{api}/v1/jobs", json={"quote_id": q["quote_id"], "job_id": key, "job": job_b64})
        assert r.status_code == 201, r.text

        async def history() -> list[str]:
            return [h["event"] for h in (await http.get(f"{api}/v1/jobs/{key}")).json()["history"]]

        await _wait("an offer failed", lambda: _true_async(history, "offer_failed"))
        assert (await http.get(f"{api}/v1/jobs/{key}")).json()["state"] == "open"
        seq_before = (await http.get(f"{api}/v1/jobs/feed")).json()["last_seq"]
        scope.cancel()  # the coordinator stops, longer than the provider timeout
        await trio.sleep(4.0)
        late.serve_jobs()
        info, scope = await start(nursery)  # same key, files and p2p port
        api = info["api"]

        async def state() -> str:
            return str((await http.get(f"{api}/v1/jobs/{key}")).json()["state"])

        await _wait("delivered after the restart", lambda: _in(state, {"delivered", "submitted"}))
        await _wait("its result", lambda: _true(hasattr(late, "good")))
        ack = await late.send_good()
        assert ack.accepted, ack.reason
        feed = (await http.get(f"{api}/v1/jobs/feed", params={"after": seq_before})).json()["events"]
        assert [(e["kind"], e["job_id"]) for e in feed] == [("submitted", key)]
        assert "lost" not in await history()
        assert feed[0]["seq"] > seq_before
        nursery.cancel_scope.cancel()


async def _true_async(read: Callable[[], Any], item: str) -> bool:
    return item in await read()


async def _in(read: Callable[[], Any], states: set[str]) -> bool:
    return await read() in states
