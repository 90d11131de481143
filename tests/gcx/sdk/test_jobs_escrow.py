"""The buyer SDK against a real anvil with the real contracts and a coordinator on the other side
of real HTTP: job ids as JobEscrow computes them, escrows opened (approve only when short),
typed refusals (balance, unstaked provider, lying coordinator), submit and its local record,
resume after a crash between open and POST, and wait's re-offer after a refund."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from buyer_fakes import (
    FakeCoordinator,
    FakeProvider,
    JobsChain,
    classifier_job,
    funded_key,
    participant,
    serve,
)
from eth_account import Account

from gcx.chain import Chain
from gcx.chain.game import GameClient
from gcx.jobs.spec import job_spec
from gcx.sdk.errors import (
    ApiError,
    EscrowError,
    InsufficientBalance,
    JobFailed,
    ProviderNotStaked,
    QuoteRejected,
    WaitTimeout,
)
from gcx.sdk.jobs import BuyerStore, JobsClient, job_id_for

pytestmark = pytest.mark.timeout(180)

PRICES = (3_000_000_000, 4_000_000_000)  # micro-USDC per CH: the small job meters 1 micro-CH


@pytest.fixture
def fake(jobs_chain: JobsChain) -> FakeCoordinator:
    providers = [FakeProvider.of(raw, price) for raw, price in zip(jobs_chain.providers, PRICES, strict=True)]
    return FakeCoordinator(jobs_chain.deployment, providers)


@pytest.fixture
def api(fake: FakeCoordinator) -> Iterator[str]:
    with serve(fake) as url:
        yield url


def buyer(jobs_chain: JobsChain, usd: int = 100_000 * 10**6) -> tuple[bytes, Chain]:
    raw = funded_key(jobs_chain.node.rpc_url, jobs_chain.deployment, jobs_chain.deployer, usd=usd)
    return raw, Chain(jobs_chain.deployment, raw)


@pytest.fixture
def client(jobs_chain: JobsChain, api: str, tmp_path: Path) -> Iterator[JobsClient]:
    raw, chain = buyer(jobs_chain)
    with JobsClient(
        api, participant(raw), chain, store=BuyerStore(tmp_path / "jobs"), sleep=lambda s: time.sleep(0.05)
    ) as c:
        yield c


def usd(chain: Chain, who: str) -> int:
    return int(chain.call("MockUSD", "balanceOf", who))


def escrow_state(chain: Chain, job_id: str) -> int:
    return int(chain.call("JobEscrow", "getJob", bytes.fromhex(job_id[2:]))[1])


def test_job_ids_are_what_the_contract_computes(jobs_chain: JobsChain) -> None:
    chain = Chain(jobs_chain.deployment)
    for _ in range(5):
        who = Account.create().address
        for nonce in (0, 1, 2**95 + 12345, 2**96 - 1):
            assert (
                job_id_for(who, nonce) == "0x" + bytes(chain.call("JobEscrow", "jobIdFor", who, nonce)).hex()
            )


def test_open_escrow_approves_only_when_short_and_locks_the_amount(client: JobsClient) -> None:
    assert client.chain is not None and client.key is not None
    chain, me = client.chain, client.key.address
    _, data = classifier_job()
    q = client.quote(data, "A", 10_000)
    assert q.amount == 3_000 and q.provider.price_per_ch == PRICES[0]
    before = usd(chain, me)
    spec = job_spec(classifier_job()[0].program).hash
    job_id = client.open_escrow(q, nonce=7, spec_hash=spec)
    assert job_id == job_id_for(me, 7) and escrow_state(chain, job_id) == 1
    assert usd(chain, me) == before - q.amount
    j = chain.call("JobEscrow", "getJob", bytes.fromhex(job_id[2:]))
    assert (j[0], j[5].lower(), j[6], j[3], j[2]) == (
        me, q.provider.address.lower(), q.amount, q.challenge_window_s, q.submit_deadline
    )  # fmt: skip
    escrow = chain.deployment.address("JobEscrow")
    chain.transact("MockUSD", "approve", escrow, 10**9)  # a standing allowance: no approve needed
    block = chain.w3.eth.block_number
    client.open_escrow(client.quote(data, "A", 10_000), spec_hash=spec)
    assert chain.w3.eth.block_number == block + 2  # two transactions: the spec's commit and open
    assert int(chain.call("MockUSD", "allowance", me, escrow)) == 10**9 - 3_000


def test_open_escrow_commits_the_spec_first_and_resumes_after_a_crash_in_between(
    client: JobsClient,
) -> None:
    assert client.chain is not None and client.key is not None
    chain, me = client.chain, client.key.address
    job, data = classifier_job()
    spec = job_spec(job.program).hash
    q = client.quote(data, "A", 10_000)
    chain.transact("MockUSD", "approve", chain.deployment.address("JobEscrow"), 10**9)
    specs = GameClient(chain)
    # A crash after the commit, before the open: the same spec is committed already.
    first = job_id_for(me, 11)
    specs.commit_spec(bytes.fromhex(first[2:]), spec)
    block = chain.w3.eth.block_number
    assert client.open_escrow(q, nonce=11, spec_hash=spec) == first
    assert chain.w3.eth.block_number == block + 1  # open alone: the commit is not sent again
    assert escrow_state(chain, first) == 1 and specs.spec_of(bytes.fromhex(first[2:])) == spec
    # A fresh job gets its spec committed before the escrow opens.
    fresh = client.open_escrow(client.quote(data, "A", 10_000), nonce=12, spec_hash=spec)
    assert specs.spec_of(bytes.fromhex(fresh[2:])) == spec and escrow_state(chain, fresh) == 1
    # Another spec under the job id: refused before any escrow exists.
    clash = job_id_for(me, 13)
    specs.commit_spec(bytes.fromhex(clash[2:]), b"\x05" * 32)
    with pytest.raises(EscrowError, match="already has spec") as info:
        client.open_escrow(client.quote(data, "A", 10_000), nonce=13, spec_hash=spec)
    assert info.value.reason == "AlreadyCommitted" and escrow_state(chain, clash) == 0


def test_a_buyer_without_the_money_is_refused_before_any_transaction(
    jobs_chain: JobsChain, api: str, tmp_path: Path
) -> None:
    raw, chain = buyer(jobs_chain, usd=2_999)
    with JobsClient(api, participant(raw), chain, store=BuyerStore(tmp_path)) as client:
        q = client.quote(classifier_job()[1], "A", 10_000)
        block = chain.w3.eth.block_number
        with pytest.raises(InsufficientBalance, match="2999"):
            client.open_escrow(q, spec_hash=job_spec(classifier_job()[0].program).hash)
        assert chain.w3.eth.block_number == block


def test_an_unstaked_provider_is_refused_with_a_clear_message(
    jobs_chain: JobsChain, fake: FakeCoordinator, client: JobsClient
) -> None:
    fake.providers = [FakeProvider.of(jobs_chain.unstaked, 1_000_000)]
    q = client.quote(classifier_job()[1], "A", 10_000)
    with pytest.raises(ProviderNotStaked, match="not staked") as info:
        client.open_escrow(q, spec_hash=job_spec(classifier_job()[0].program).hash)
    assert isinstance(info.value, EscrowError)
    with pytest.raises(ProviderNotStaked):
        client.submit(classifier_job()[1], "A", 10_000)
    (record,) = client.store.records()
    assert record.stage == "abandoned" and client.resume() == []


def test_a_quote_for_another_escrow_is_refused_and_nothing_is_paid(
    fake: FakeCoordinator, client: JobsClient
) -> None:
    assert client.chain is not None and client.key is not None
    before = usd(client.chain, client.key.address)

    def redirect(q: dict[str, Any]) -> None:
        q["escrow"] = Account.create().address

    fake.tamper = redirect
    with pytest.raises(QuoteRejected, match="JobEscrow"):
        client.submit(classifier_job()[1], "A", 10_000)
    assert usd(client.chain, client.key.address) == before and fake.jobs == {}


def test_submit_escrows_posts_and_keeps_the_job_file(fake: FakeCoordinator, client: JobsClient) -> None:
    _, data = classifier_job()
    view = client.submit(data, "B", 10_000)
    assert view.state == "open" and view.amount == 3_000 and view.job_id in fake.jobs
    assert client.store.job_bytes(view.job_id) == data
    record = client.store.load(view.job_id)
    assert record is not None and record.stage == "posted" and record.grade == "B"
    assert client.status(view.job_id).job_id == view.job_id
    assert [v.job_id for v in client.list()] == [view.job_id]
    assert client.list(state="submitted") == []
    with pytest.raises(ApiError) as info:
        client.status("0x" + "00" * 32)
    assert info.value.code == "unknown_job" and info.value.status == 404


def test_resume_posts_an_escrowed_job_the_coordinator_never_got(
    fake: FakeCoordinator, client: JobsClient
) -> None:
    assert client.chain is not None
    fake.fail_posts = 1  # the POST fails after open (as a crash there would leave it)
    with pytest.raises(ApiError, match="jobs_unavailable"):
        client.submit(classifier_job()[1], "A", 10_000)
    (record,) = client.store.records()
    assert record.stage == "escrowed" and escrow_state(client.chain, record.job_id) == 1
    assert fake.jobs == {}
    (outcome,) = client.resume()
    assert outcome.action == "posted" and outcome.view is not None and record.job_id in fake.jobs
    assert client.store.load(record.job_id).stage == "posted"  # type: ignore[union-attr]
    assert client.resume() == []  # nothing left to do


def test_resume_abandons_a_record_whose_escrow_never_opened(client: JobsClient) -> None:
    q = client.quote(classifier_job()[1], "A", 10_000)
    from dataclasses import replace

    from gcx.sdk.jobs import LocalJob

    rec = LocalJob(job_id_for(client.key.address, 1), 1, client.api_url, "A", 10_000, None, (),  # type: ignore[union-attr]
                   replace(q, expires_at=1, submit_deadline=2).to_dict(), "opening", 0)  # fmt: skip
    client.store.save(rec, b"job")
    assert [o.action for o in client.resume()] == ["abandoned"]


def test_wait_refunds_an_expired_job_and_re_offers_it_to_another_provider(
    fake: FakeCoordinator, client: JobsClient
) -> None:
    assert client.chain is not None and client.key is not None
    me = client.key.address
    fake.submit_s = 4  # the first provider never delivers
    _, data = classifier_job()
    before = usd(client.chain, me)
    first = client.submit(data, "A", 10_000)
    assert first.provider.peer_id == fake.providers[0].peer_id
    fake.submit_s = 600
    # the coordinator declares it refunded (re-offer) but — here — never sent the refund itself

    def refunded_later() -> None:
        time.sleep(5)
        with fake.lock:
            fake.jobs[first.job_id] |= {"state": "refunded", "reoffer": True}

    import threading

    threading.Thread(target=refunded_later, daemon=True).start()
    original_post = fake.submit

    def post_and_submit(body: dict[str, Any]) -> tuple[int, Any]:
        status, view = original_post(body)
        if status == 201:
            view["state"] = "submitted"
        return status, view

    fake.submit = post_and_submit  # type: ignore[method-assign]
    final = client.wait(first.job_id, timeout_s=60, poll_s=0.2)
    assert final.state == "submitted" and final.job_id != first.job_id
    assert final.provider.peer_id == fake.providers[1].peer_id  # the failed provider was excluded
    assert escrow_state(client.chain, first.job_id) == 5  # Refunded, by the SDK
    assert usd(client.chain, me) == before - final.amount  # paid once, for the new job only
    new = client.store.load(final.job_id)
    old = client.store.load(first.job_id)
    assert new is not None and new.reoffer_of == first.job_id and fake.providers[0].peer_id in new.exclude
    assert old is not None and old.reoffered_by == final.job_id
    quote_bodies = [b for m, p, b in fake.requests if p == "/v1/jobs/quote"]
    assert quote_bodies[-1]["exclude"] == [fake.providers[0].peer_id]
    # waiting on the old job again follows the re-offer instead of paying for a third escrow
    again = client.wait(first.job_id, timeout_s=10, poll_s=0.1)
    assert again.job_id == final.job_id and usd(client.chain, me) == before - final.amount
    assert sum(1 for _, p, _ in fake.requests if p == "/v1/jobs/quote") == len(quote_bodies)


def test_wait_without_re_offer_fails_and_times_out_cleanly(fake: FakeCoordinator, client: JobsClient) -> None:
    view = client.submit(classifier_job()[1], "A", 10_000)
    with pytest.raises(WaitTimeout, match="still open"):
        client.wait(view.job_id, timeout_s=0.3, poll_s=0.1)
    with fake.lock:
        fake.jobs[view.job_id] |= {"state": "refunded", "reoffer": False}
    with pytest.raises(JobFailed, match="refunded"):
        client.wait(view.job_id, timeout_s=5, poll_s=0.1)


def test_a_result_on_chain_the_coordinator_has_not_seen_is_never_re_offered(
    jobs_chain: JobsChain, fake: FakeCoordinator, client: JobsClient
) -> None:
    fake.submit_s = 3
    view = client.submit(classifier_job()[1], "A", 10_000)
    provider = Chain(jobs_chain.deployment, jobs_chain.providers[0])
    provider.transact("JobEscrow", "submitResult", bytes.fromhex(view.job_id[2:]), b"\x07" * 32)
    quotes = sum(1 for _, p, _ in fake.requests if p == "/v1/jobs/quote")
    with pytest.raises(WaitTimeout, match="still open"):
        client.wait(view.job_id, timeout_s=5, poll_s=0.2)  # past the deadline: still only waits
    assert sum(1 for _, p, _ in fake.requests if p == "/v1/jobs/quote") == quotes
    assert escrow_state(provider, view.job_id) == 2
