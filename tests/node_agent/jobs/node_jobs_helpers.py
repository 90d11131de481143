"""Helpers of the node's job tests: a real anvil chain with the contracts (short challenge
windows), funded participants, a test buyer opening real JobEscrow jobs, and a fake
coordinator on the other side of the wire (a libp2p host serving ``/gcx/data/1`` from its own
TensorStore and ``/gcx/job/1`` for ``Result`` → ``Ack``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trio
from eth_account import Account
from libp2p.peer.id import ID

from gcx.advert import ADVERT_PROTOCOL, MAX_ADVERT_BYTES
from gcx.chain import (
    AnvilNode,
    Chain,
    Deployment,
    ensure_provider_stake,
    faucet,
)
from gcx.jobs.data import DATA_PROTOCOL, MAX_FRAME, DataServer
from gcx.jobs.delivery import MAX_MESSAGE, PROTOCOL, Ack, Offer, OfferInput, Result, decode, encode
from gcx.jobs.spec import job_spec
from gcx.jobs.store import TensorStore
from gcx.p2p import Host, RemoteError, connect, listen_addrs, open_host, serve
from gcx.reference import load_profile
from gcx.settings import FaultSettings, NetworkSettings, NodeSettings, Settings
from gcx.tp.backends import NumpyBackend
from gcx.tp.commit import commit_tensor
from gcx.tp.jobfile import SeededInput, make_job
from gcx.tp.metering import meter
from gcx.tp.ops import MatmulNT, Op, Relu
from gcx.tp.program import InputDecl, OutputDecl, Program, make_program
from gcx.tp.runner import JobRun, run_job
from gcx.tp.tensor import TensorType
from gcx.wire import canonical_bytes, unpack
from node_agent.jobs.executor import JobExecutor, price_of
from node_agent.jobs.state import JobTable

PROFILE = load_profile()
PRICE_PER_CH = 10**9  # micro-USDC per CH: a tiny job costs a few thousand micro-USDC
WINDOW_S = 3


@dataclass
class ChainEnv:
    anvil: AnvilNode
    deployment: Deployment
    deployer: bytes

    def funded(self) -> Chain:
        account = Account.create()
        faucet(self.anvil.rpc_url, self.deployment, self.deployer, account.address)
        return Chain(self.deployment, bytes(account.key))

    def provider(self) -> Chain:
        chain = self.funded()
        ensure_provider_stake(chain)
        return chain


def open_job(
    buyer: Chain,
    provider: str,
    amount: int,
    *,
    program: Program | None,
    window: int = WINDOW_S,
    deadline_in: int = 300,
) -> bytes:
    """The buyer commits ``program``'s spec in JobSpecs (none when ``program`` is None), approves
    and opens a JobEscrow job for ``provider``; its id."""
    assert buyer.address is not None
    job_id = ((int(buyer.address, 16) << 96) | secrets.randbits(96)).to_bytes(32, "big")
    if program is not None:
        buyer.transact("JobSpecs", "commit", job_id, job_spec(program).hash)
    buyer.transact("MockUSD", "approve", buyer.deployment.address("JobEscrow"), amount)
    buyer.transact("JobEscrow", "open", job_id, provider, amount, window, int(time.time()) + deadline_in)
    return job_id


@dataclass(frozen=True)
class TestJob:
    program: Program
    a: np.ndarray
    seed: int
    honest: JobRun

    @property
    def micro_ch(self) -> int:
        return meter(self.program, PROFILE).micro_ch

    @property
    def price(self) -> int:
        return price_of(self.micro_ch, PRICE_PER_CH)

    def offer(self, escrowed: bytes, chain: Chain, /, **changes: Any) -> Offer:
        """The offer of escrowed job ``escrowed`` as the chain shows it (``changes`` override)."""
        raw = chain.call("JobEscrow", "getJob", escrowed)
        fields: dict[str, Any] = {
            "job_id": escrowed, "buyer": raw[0], "program": self.program.canonical,
            "inputs": (OfferInput("a", root=self.program.inputs[0].root), OfferInput("b", seed=self.seed)),
            "amount": int(raw[6]), "micro_ch": self.micro_ch, "submit_deadline": int(raw[2]),
            "challenge_window": int(raw[3]), "source": "",
        }  # fmt: skip
        fields.update(changes)
        return Offer(**fields)


def make_test_job(seed: int = 7) -> TestJob:
    """``relu(matmul_nt(a, b))``: ``a`` a data input (its root committed), ``b`` seeded."""
    a = np.random.default_rng(seed).integers(-128, 127, size=(8, 16), dtype=np.int8, endpoint=True)
    ops: list[Op] = [MatmulNT(0, 1), Relu(2)]
    decls = [
        InputDecl("a", TensorType("int8", (8, 16)), commit_tensor(0, a).root),
        InputDecl("b", TensorType("int8", (4, 16))),
    ]
    program = make_program(decls, ops, [OutputDecl("y", 3)])
    honest = run_job(make_job(program, {"a": a, "b": SeededInput(seed)}), NumpyBackend(), PROFILE)
    return TestJob(program, a, seed, honest)


def node_settings(**faults: Any) -> Settings:
    return Settings(
        node=NodeSettings(backend="numpy", price_per_ch=PRICE_PER_CH, max_jobs=faults.pop("max_jobs", 4),
                          job_retention_s=faults.pop("retention", 3600)),
        network=NetworkSettings(request_timeout_s=5.0),
        fault=FaultSettings(**faults),
    )  # fmt: skip


@dataclass
class Coordinator:
    """The fake coordinator: its host, its data store and the Results it received."""

    host: Host
    store: TensorStore
    results: list[Result] = field(default_factory=list)
    adverts: list[int] = field(default_factory=list)  # the hours of each advert received
    answering: bool = True  # False: every Result is refused with an error (the coordinator is down)
    refused: int = 0
    data_gate: trio.Event = field(default_factory=trio.Event)

    async def send(self, to: ID | str, msg: Any) -> Any:
        from gcx.jobs.delivery import REPLIES
        from gcx.p2p import request

        body = await request(self.host, to, PROTOCOL, encode(msg), timeout_s=15, max_size=MAX_MESSAGE)
        return decode(body, REPLIES[type(msg)])


@asynccontextmanager
async def fake_coordinator(tmp_path: Path, *, gated_data: bool = False) -> AsyncIterator[Coordinator]:
    """A coordinator host serving ``/gcx/data/1`` from its store (held until ``data_gate`` is set
    when ``gated_data``), taking ``Result``s on ``/gcx/job/1`` and adverts on ``/gcx/advert/1``."""
    async with open_host(secrets.token_bytes(32)) as coord_host:
        coord = Coordinator(coord_host, TensorStore(tmp_path / "coord-store"))
        if not gated_data:
            coord.data_gate.set()
        data = DataServer(coord.store)

        async def serve_data(peer: ID, payload: bytes) -> bytes:
            await coord.data_gate.wait()
            return await data.handle(peer, payload)

        async def serve_job(peer: ID, payload: bytes) -> bytes:
            msg = decode(payload, (Result,))
            assert isinstance(msg, Result)
            if not coord.answering:
                coord.refused += 1
                raise RemoteError("unavailable", "the coordinator is restarting")
            coord.results.append(msg)
            return encode(Ack(msg.job_id, True, None))

        async def serve_advert(peer: ID, payload: bytes) -> bytes:
            coord.adverts.append(int(unpack(payload)["hours"]))
            return canonical_bytes({"accepted": True})

        serve(coord_host, DATA_PROTOCOL, serve_data, max_size=MAX_FRAME, timeout_s=60)
        serve(coord_host, PROTOCOL, serve_job, max_size=MAX_MESSAGE, timeout_s=10)
        serve(coord_host, ADVERT_PROTOCOL, serve_advert, max_size=MAX_ADVERT_BYTES, timeout_s=10)
        yield coord


@asynccontextmanager
async def coordinator_and_node(
    tmp_path: Path, *, gated_data: bool = False
) -> AsyncIterator[tuple[Coordinator, Host]]:
    """A fake coordinator host holding the test inputs, and the node's host, connected."""
    async with (
        fake_coordinator(tmp_path, gated_data=gated_data) as coord,
        open_host(secrets.token_bytes(32)) as node_host,
    ):
        await connect(coord.host, listen_addrs(node_host)[0], timeout_s=5)
        yield coord, node_host


async def mine_blocks(chain: Chain, every_s: float = 0.5) -> None:
    """Mine an empty block every ``every_s`` (a live chain's clock: anvil only mines on transactions,
    and the escrow reads ``block.timestamp``)."""
    while True:
        await trio.to_thread.run_sync(lambda: chain.w3.provider.make_request("evm_mine", []))  # type: ignore[arg-type]
        await trio.sleep(every_s)


@asynccontextmanager
async def running(
    executor: JobExecutor, host: Host, *, worker: bool = True
) -> AsyncIterator[trio.CancelScope]:
    """Register ``executor`` on ``host`` and (``worker``) run it; cancelled on exit (or by the scope)."""
    executor.register(host)
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()
        if worker:

            async def go(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                with scope:
                    await executor.run(host, task_status=task_status)

            await nursery.start(go)
        yield scope
        scope.cancel()


def make_executor(settings: Settings, tmp_path: Path, chain: Chain, **kw: Any) -> JobExecutor:
    return JobExecutor(
        settings, PROFILE, JobTable(tmp_path / "node" / "jobs.sqlite"), TensorStore(tmp_path / "node" / "data"),
        chain, poll_s=0.2, **kw,
    )  # fmt: skip


async def wait_for(check: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    with trio.move_on_after(timeout_s):
        while True:
            got = check()
            if got:
                return got
            await trio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
