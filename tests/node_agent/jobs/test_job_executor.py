"""The node's job executor against a real anvil chain (real JobEscrow jobs opened by a test
buyer) and a fake coordinator on the other side of the wire (real libp2p hosts on loopback)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from node_jobs_helpers import (
    ChainEnv,
    coordinator_and_node,
    make_executor,
    make_test_job,
    mine_blocks,
    node_settings,
    open_job,
    running,
    wait_for,
)

from gcx.chain import Chain
from gcx.jobs.data import DataClient
from gcx.jobs.delivery import Accept, OfferInput, Query, Refuse, Status
from gcx.jobs.errors import DataNotFound
from gcx.tp.commit import commit_result
from node_agent.jobs.executor import advertised_hours

pytestmark = pytest.mark.timeout(180)

FINALIZED = 4


def submissions(chain: Chain, job_id: bytes) -> list[Any]:
    return [e for e in chain.events("JobEscrow", "ResultSubmitted", 0) if bytes(e["args"]["jobId"]) == job_id]


def state_of(executor: Any, job_id: bytes) -> str | None:
    rec = executor.table.get(job_id)
    return None if rec is None else rec.state


@pytest.mark.trio
async def test_an_offer_is_run_submitted_reported_and_finalized(env: ChainEnv, tmp_path: Path) -> None:
    job = make_test_job()
    node_chain, buyer = env.provider(), env.funded()
    assert node_chain.address is not None
    job_id = open_job(buyer, node_chain.address, job.price, program=job.program)
    changes: list[int] = []
    executor = make_executor(
        node_settings(retention=0), tmp_path, node_chain, on_change=lambda: changes.append(1)
    )
    async with (
        coordinator_and_node(tmp_path) as (coord, node_host),
        running(executor, node_host),
        trio.open_nursery() as nursery,
    ):
        coord.store.put(0, job.a)
        node_id = node_host.get_id()
        reply = await coord.send(node_id, job.offer(job_id, buyer))
        assert reply == Accept(job_id)
        assert changes  # accepting a job changes the advertised hours at once
        again = await coord.send(node_id, job.offer(job_id, buyer))
        assert isinstance(again, Refuse) and again.code == "duplicate"

        await wait_for(lambda: state_of(executor, job_id) == "submitted", what="submitted")
        raw = buyer.call("JobEscrow", "getJob", job_id)
        assert bytes(raw[7]) == job.honest.result_root  # the same root as a local run_job
        status = await coord.send(node_id, Query(job_id))
        assert status == Status(job_id, "submitted", None, job.honest.result_root)
        unknown = await coord.send(node_id, Query(b"\x05" * 32))
        assert isinstance(unknown, Status) and unknown.state == "unknown"

        await wait_for(lambda: coord.results, what="a Result")
        result = coord.results[0]
        assert result.result_root == job.honest.result_root
        assert result.leaves == tuple(job.honest.commitment.result.leaves)
        assert result.tx == bytes(submissions(buyer, job_id)[0]["transactionHash"])
        await wait_for(lambda: getattr(executor.table.get(job_id), "acked", False), what="acked")

        # the node serves its outputs on /gcx/data/1, verified against the op leaf's root
        out_root = result.leaves[-1].output_root
        got = await DataClient(coord.host).fetch_tensor(node_id, out_root)
        assert np.array_equal(got, job.honest.execution.outputs["y"])
        # and op proofs from the stored result
        proof = await DataClient(coord.host).fetch_op_proof(node_id, result.result_root, 1)
        assert proof.leaf == result.leaves[1] and proof.program_digest == job.program.digest

        before = int(buyer.call("MockUSD", "balanceOf", node_chain.address))
        nursery.start_soon(mine_blocks, buyer)
        await wait_for(lambda: state_of(executor, job_id) == "finalized", what="finalized")
        assert int(buyer.call("JobEscrow", "getJob", job_id)[1]) == FINALIZED
        assert int(buyer.call("MockUSD", "balanceOf", node_chain.address)) > before
        # retention 0: the job's tensors leave the store once it ended
        await wait_for(lambda: getattr(executor.table.get(job_id), "purged", None), what="purged")
        assert not executor.store.has(out_root)
        nursery.cancel_scope.cancel()
    assert len(submissions(buyer, job_id)) == 1


@pytest.mark.trio
async def test_bad_offers_are_refused_with_their_codes(env: ChainEnv, tmp_path: Path) -> None:
    job = make_test_job()
    node_chain, buyer = env.provider(), env.funded()
    assert node_chain.address is not None and buyer.address is not None
    executor = make_executor(node_settings(max_jobs=1), tmp_path, node_chain)
    async with (
        coordinator_and_node(tmp_path) as (coord, node_host),
        running(executor, node_host, worker=False),
    ):
        node_id = node_host.get_id()

        async def code(offer: Any) -> str:
            reply = await coord.send(node_id, offer)
            assert reply.job_id == offer.job_id
            return "accept" if isinstance(reply, Accept) else reply.code

        ok = open_job(buyer, node_chain.address, job.price, program=job.program)
        never = ((int(buyer.address, 16) << 96) | secrets.randbits(96)).to_bytes(32, "big")
        assert await code(job.offer(ok, buyer, job_id=never)) == "unknown_job"
        other = env.provider()  # a job escrowed for another provider is not ours
        assert other.address is not None
        theirs = open_job(buyer, other.address, job.price, program=job.program)
        assert await code(job.offer(theirs, buyer)) == "unknown_job"
        assert await code(job.offer(ok, buyer, amount=job.price + 1)) == "terms"
        assert await code(job.offer(ok, buyer, challenge_window=99)) == "terms"
        cheap = open_job(buyer, node_chain.address, job.price - 1, program=job.program)
        assert await code(job.offer(cheap, buyer)) == "underpaid"
        rushed = open_job(buyer, node_chain.address, job.price, program=job.program, deadline_in=3)
        assert await code(job.offer(rushed, buyer)) == "deadline"
        assert await code(job.offer(ok, buyer, program=b"\x81\xa1x\x01")) == "bad_program"
        swapped = (OfferInput("b", seed=1), OfferInput("a", root=job.program.inputs[0].root))
        assert await code(job.offer(ok, buyer, inputs=swapped)) == "bad_program"
        wrong_root = (OfferInput("a", root=b"\x07" * 32), OfferInput("b", seed=1))
        assert await code(job.offer(ok, buyer, inputs=wrong_root)) == "bad_program"
        # The spec committed in JobSpecs must be the program's: another program's, or none at all.
        other_program = make_test_job(seed=8).program
        assert other_program.digest != job.program.digest
        misspecced = open_job(buyer, node_chain.address, job.price, program=other_program)
        assert await code(job.offer(misspecced, buyer)) == "bad_spec"
        unspecced = open_job(buyer, node_chain.address, job.price, program=None)
        assert await code(job.offer(unspecced, buyer)) == "bad_spec"
        assert executor.table.jobs() == []  # nothing refused was taken

        assert await code(job.offer(ok, buyer)) == "accept"
        assert await code(job.offer(ok, buyer)) == "duplicate"
        second = open_job(buyer, node_chain.address, job.price, program=job.program)
        assert await code(job.offer(second, buyer)) == "busy"  # max_jobs = 1, the first is queued


@pytest.mark.trio
async def test_wrong_op_1_corrupts_op_1_and_not_op_0(env: ChainEnv, tmp_path: Path) -> None:
    job = make_test_job()
    node_chain, buyer = env.provider(), env.funded()
    assert node_chain.address is not None
    job_id = open_job(buyer, node_chain.address, job.price, program=job.program)
    executor = make_executor(node_settings(wrong_op=1), tmp_path, node_chain)
    async with coordinator_and_node(tmp_path) as (coord, node_host), running(executor, node_host):
        coord.store.put(0, job.a)
        assert await coord.send(node_host.get_id(), job.offer(job_id, buyer)) == Accept(job_id)
        await wait_for(lambda: coord.results, what="a Result")
    result = coord.results[0]
    honest = job.honest.commitment.result.leaves
    assert result.leaves[0] == honest[0]  # op 0 agrees with the honest run
    assert result.leaves[1].output_root != honest[1].output_root  # op 1 is the first that differs
    assert result.result_root != job.honest.result_root
    assert commit_result(job.program.digest, result.leaves).root == result.result_root
    assert bytes(buyer.call("JobEscrow", "getJob", job_id)[7]) == result.result_root


@pytest.mark.trio
async def test_a_job_cancelled_mid_fetch_runs_again_after_a_restart_and_submits_once(
    env: ChainEnv, tmp_path: Path
) -> None:
    job = make_test_job()
    node_chain, buyer = env.provider(), env.funded()
    assert node_chain.address is not None
    job_id = open_job(buyer, node_chain.address, job.price, program=job.program)
    async with coordinator_and_node(tmp_path, gated_data=True) as (coord, node_host):
        coord.store.put(0, job.a)
        first = make_executor(node_settings(), tmp_path, node_chain)
        async with running(first, node_host) as scope:
            assert await coord.send(node_host.get_id(), job.offer(job_id, buyer)) == Accept(job_id)
            await wait_for(lambda: state_of(first, job_id) == "fetching", what="fetching")
            scope.cancel()  # the node dies while its input download hangs
        assert state_of(first, job_id) == "fetching"
        first.table.close()

        coord.data_gate.set()
        second = make_executor(node_settings(), tmp_path, node_chain)
        async with running(second, node_host):
            await wait_for(lambda: coord.results, what="a Result")
            assert state_of(second, job_id) == "submitted"
    assert len(submissions(buyer, job_id)) == 1
    assert coord.results[0].result_root == job.honest.result_root


@pytest.mark.trio
async def test_a_submission_made_before_a_crash_is_adopted_not_repeated(
    env: ChainEnv, tmp_path: Path
) -> None:
    """The node crashed after its submitResult went through but before its table said so."""
    job = make_test_job()
    node_chain, buyer = env.provider(), env.funded()
    assert node_chain.address is not None
    job_id = open_job(buyer, node_chain.address, job.price, program=job.program)
    async with coordinator_and_node(tmp_path) as (coord, node_host):
        coord.store.put(0, job.a)
        crashed = make_executor(node_settings(), tmp_path, node_chain)
        async with running(crashed, node_host, worker=False):
            assert await coord.send(node_host.get_id(), job.offer(job_id, buyer)) == Accept(job_id)
        crashed.table.move(job_id, "fetching")
        crashed.table.move(job_id, "running")
        receipt = node_chain.transact("JobEscrow", "submitResult", job_id, job.honest.result_root)
        crashed.table.close()

        restarted = make_executor(node_settings(), tmp_path, node_chain)
        async with running(restarted, node_host):
            await wait_for(lambda: coord.results, what="a Result")
        rec = restarted.table.get(job_id)
        assert rec is not None and rec.state == "submitted" and rec.tx == bytes(receipt["transactionHash"])
    assert len(submissions(buyer, job_id)) == 1
    assert coord.results[0].tx == bytes(receipt["transactionHash"])


@pytest.mark.trio
async def test_an_unacknowledged_result_is_resent_after_a_restart_without_rerunning(
    env: ChainEnv, tmp_path: Path
) -> None:
    job = make_test_job()
    node_chain, buyer = env.provider(), env.funded()
    assert node_chain.address is not None
    job_id = open_job(buyer, node_chain.address, job.price, program=job.program)
    async with coordinator_and_node(tmp_path) as (coord, node_host):
        coord.store.put(0, job.a)
        coord.answering = False
        first = make_executor(node_settings(), tmp_path, node_chain)
        async with running(first, node_host) as scope:
            assert await coord.send(node_host.get_id(), job.offer(job_id, buyer)) == Accept(job_id)
            await wait_for(lambda: coord.refused >= 1, what="a refused Result")
            scope.cancel()
        rec = first.table.get(job_id)
        assert rec is not None and rec.state == "submitted" and not rec.acked
        first.table.close()

        coord.answering = True
        second = make_executor(node_settings(), tmp_path, node_chain)
        async with running(second, node_host):
            await wait_for(lambda: coord.results, what="the resent Result")
            await wait_for(lambda: getattr(second.table.get(job_id), "acked", False), what="acked")
        assert coord.results[0].result_root == job.honest.result_root
    assert len(submissions(buyer, job_id)) == 1


def test_advertised_hours_fall_with_accepted_unsubmitted_work() -> None:
    assert advertised_hours(24, 0, 2.0) == 24
    assert advertised_hours(24, 1, 2.0) == 23  # any work takes at least an hour off
    assert advertised_hours(24, 4_000_001, 2.0) == 21  # 4.000001 CH at 2 CH/h: ceil(2.0000005) = 3 h
    assert advertised_hours(2, 10**9, 1.0) == 0
    assert advertised_hours(24, 3_000_000, 0.0) == 21  # unknown rate: 1 CH = 1 hour


@pytest.mark.trio
async def test_withhold_data_refuses_reads_of_the_nodes_results(env: ChainEnv, tmp_path: Path) -> None:
    job = make_test_job()
    node_chain, buyer = env.provider(), env.funded()
    assert node_chain.address is not None
    job_id = open_job(buyer, node_chain.address, job.price, program=job.program)
    executor = make_executor(node_settings(withhold_data=True), tmp_path, node_chain)
    async with coordinator_and_node(tmp_path) as (coord, node_host), running(executor, node_host):
        coord.store.put(0, job.a)
        assert await coord.send(node_host.get_id(), job.offer(job_id, buyer)) == Accept(job_id)
        await wait_for(lambda: coord.results, what="a Result")
        out_root = coord.results[0].leaves[-1].output_root
        assert executor.store.has(out_root) and executor.withheld(out_root)
        assert not executor.withheld(job.program.inputs[0].root or b"")  # inputs are not results
        with pytest.raises(DataNotFound):
            await DataClient(coord.host).fetch_tensor(node_host.get_id(), out_root)
        # its inputs are still served
        a = await DataClient(coord.host).fetch_tensor(node_host.get_id(), job.program.inputs[0].root or b"")
        assert np.array_equal(a, job.a)
