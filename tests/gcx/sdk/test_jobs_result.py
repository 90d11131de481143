"""``JobsClient.result`` against a provider on the other side of real libp2p: a host serving
``/gcx/data/1`` from a TensorStore holding a committed run whose root is on a real anvil chain.
Verified outputs come back (and are scored); a tampered output, leaves or root that are not the
chain's, a provider that withholds or cannot be reached are typed errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from buyer_fakes import (
    PROFILE,
    FakeCoordinator,
    FakeProvider,
    JobsChain,
    classifier_job,
    funded_key,
    participant,
    serve,
)

from gcx.chain import Chain
from gcx.errors import GCXError
from gcx.jobs.data import DataServer
from gcx.jobs.store import TensorStore
from gcx.p2p import listen_addrs, open_host
from gcx.sdk.errors import InvalidRequest, ProviderUnreachable, ResultError, ResultMismatch
from gcx.sdk.jobs import BuyerStore, JobsClient
from gcx.tp.backends import open_backend
from gcx.tp.runner import JobRun, run_job

pytestmark = pytest.mark.timeout(180)


class TamperingStore(TensorStore):
    """Serves the first data byte of one tensor flipped (its tree, hence its proofs, stay true)."""

    bad_root = b""

    def read(self, root: bytes, offset: int, length: int) -> bytes:
        data = super().read(root, offset, length)
        if root == self.bad_root and offset <= 0 < offset + length:
            out = bytearray(data)
            out[-offset] ^= 0x01
            data = bytes(out)
        return data


@pytest.fixture
def fake(jobs_chain: JobsChain) -> FakeCoordinator:
    return FakeCoordinator(jobs_chain.deployment, [FakeProvider.of(jobs_chain.providers[0], 3_000_000_000)])


@pytest.fixture
def api(fake: FakeCoordinator) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture
def client(jobs_chain: JobsChain, api: str, tmp_path: Path) -> Iterator[JobsClient]:
    raw = funded_key(jobs_chain.node.rpc_url, jobs_chain.deployment, jobs_chain.deployer)
    with JobsClient(
        api,
        participant(raw),
        Chain(jobs_chain.deployment, raw),
        store=BuyerStore(tmp_path / "jobs"),
        p2p_timeout_s=10,
    ) as c:
        yield c


def executed(
    jobs_chain: JobsChain, fake: FakeCoordinator, client: JobsClient, store: TensorStore, tamper: bool = False
) -> tuple[str, JobRun]:
    """Submit the classifier job, run it as the provider would (every tensor into ``store``), post
    its root on chain and show it in the coordinator's view."""
    job, data = classifier_job()
    view = client.submit(data, "A", 10_000)
    run = run_job(job, open_backend("numpy"), PROFILE)
    for tid, commitment in enumerate(run.commitment.tensors):
        store.put(tid, run.execution.tensors[tid], commitment=commitment)
    provider = Chain(jobs_chain.deployment, jobs_chain.providers[0])
    provider.transact("JobEscrow", "submitResult", bytes.fromhex(view.job_id[2:]), run.result_root)
    with fake.lock:
        fake.jobs[view.job_id] |= {
            "state": "submitted",
            "result_root": "0x" + run.result_root.hex(),
            "leaves": ["0x" + leaf.body().hex() for leaf in run.commitment.result.leaves],
            "outputs": {
                o.name: "0x" + run.commitment.tensors[o.tensor].root.hex() for o in job.program.outputs
            },
        }
    return view.job_id, run


async def serving(
    jobs_chain: JobsChain, fake: FakeCoordinator, job_id: str, store: TensorStore, call: Any
) -> Any:
    """Run the provider's host serving ``store`` while ``call`` (sync, in a thread) runs; its
    error is raised after the host closed (not inside the host's nursery, which would group it)."""
    outcome: list[Any] = []

    def capture() -> None:
        try:
            outcome.append((call(), None))
        except GCXError as exc:
            outcome.append((None, exc))

    async with open_host(jobs_chain.providers[0]) as host:
        DataServer(store).register(host)
        with fake.lock:
            fake.jobs[job_id]["provider"]["listen_addrs"] = listen_addrs(host)
        await trio.to_thread.run_sync(capture)
    value, error = outcome[0]
    if error is not None:
        raise error
    return value


@pytest.mark.trio
async def test_the_outputs_are_downloaded_verified_and_scored(
    jobs_chain: JobsChain, fake: FakeCoordinator, client: JobsClient, tmp_path: Path
) -> None:
    store = TensorStore(tmp_path / "provider")
    job_id, run = executed(jobs_chain, fake, client, store)
    outputs = await serving(jobs_chain, fake, job_id, store, lambda: client.result(job_id))
    assert list(outputs) == ["pred", "logits"]
    np.testing.assert_array_equal(outputs["pred"], run.execution.outputs["pred"])
    np.testing.assert_array_equal(outputs["logits"], run.execution.outputs["logits"])
    score = client.score(job_id, outputs)
    assert score is not None and score.accuracy == 15 / 16 and score.agreement == 1.0


@pytest.mark.trio
async def test_a_tampered_output_is_refused(
    jobs_chain: JobsChain, fake: FakeCoordinator, client: JobsClient, tmp_path: Path
) -> None:
    store = TamperingStore(tmp_path / "provider")
    job_id, run = executed(jobs_chain, fake, client, store)
    store.bad_root = run.commitment.tensors[3].root  # pred
    with pytest.raises(ResultMismatch, match="output pred"):
        await serving(jobs_chain, fake, job_id, store, lambda: client.result(job_id))


@pytest.mark.trio
async def test_leaves_or_a_root_other_than_the_chain_s_are_refused_before_any_download(
    jobs_chain: JobsChain, fake: FakeCoordinator, client: JobsClient, tmp_path: Path
) -> None:
    store = TensorStore(tmp_path / "provider")
    job_id, run = executed(jobs_chain, fake, client, store)
    view = fake.jobs[job_id]
    honest = dict(view)
    view["result_root"] = "0x" + "ab" * 32  # the coordinator names another root than the chain
    with pytest.raises(ResultMismatch, match="not the one on chain"):
        client.result(job_id)
    forged = bytearray(run.commitment.result.leaves[1].body())
    forged[-1] ^= 1  # another output root for pred
    view |= {"result_root": honest["result_root"], "leaves": [honest["leaves"][0], "0x" + forged.hex()]}
    with pytest.raises(ResultMismatch, match="commit to"):
        client.result(job_id)


@pytest.mark.trio
async def test_a_provider_that_withholds_or_cannot_be_reached_is_a_typed_error(
    jobs_chain: JobsChain, fake: FakeCoordinator, client: JobsClient, tmp_path: Path
) -> None:
    store = TensorStore(tmp_path / "provider")
    job_id, _ = executed(jobs_chain, fake, client, store)
    empty = TensorStore(tmp_path / "empty")  # the provider no longer has the tensors
    with pytest.raises(ProviderUnreachable, match="does not serve output"):
        await serving(jobs_chain, fake, job_id, empty, lambda: client.result(job_id))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    peer = fake.jobs[job_id]["provider"]["peer_id"]
    fake.jobs[job_id]["provider"]["listen_addrs"] = [f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}"]
    t0 = time.monotonic()
    with pytest.raises(InvalidRequest, match="worker thread"):
        client.result(job_id)  # inside this test's trio loop
    with pytest.raises(ProviderUnreachable, match="cannot reach"):
        await trio.to_thread.run_sync(client.result, job_id)
    assert time.monotonic() - t0 < 30


def test_no_result_yet_is_a_result_error(fake: FakeCoordinator, client: JobsClient) -> None:
    view = client.submit(classifier_job()[1], "A", 10_000)
    with pytest.raises(ResultError, match="no result yet"):
        client.result(view.job_id)
