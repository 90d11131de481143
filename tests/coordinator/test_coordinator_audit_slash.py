"""Capacity-audit failures on-chain (issue 14.4), on a real anvil with the real contracts: the
coordinator's audit task audits two staked providers over libp2p, the registry records the
verdicts, and the slasher task posts a slashable provider's run to ``AuditSlasher``, which slashes
it through the StakingRegistry. The provider that refuses every audit ends slashed (its stake
reduced once, the evidence on chain and re-checkable from the calldata); the honest one, answering
with the real :class:`AuditServer`, is not touched.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from eth_account import Account
from eth_hash.auto import keccak

from coordinator.audit_slash import (
    AuditSlashPoster,
    current_run,
    plan_posts,
    start_audit_slasher,
)
from coordinator.daemon import run_audits
from coordinator.registry import Registry
from coordinator.registry.audits import AuditPolicy, StoredAudit
from coordinator.registry.store import RegistryStore
from gcx.advert import make_advert
from gcx.audit import PROTOCOL, AuditConfig, decode_record
from gcx.audit.server import AuditServer
from gcx.chain import PROVIDER, AnvilNode, Chain, Deployment, deploy_all, faucet, run_anvil, write_deployment
from gcx.chain.audit_slasher import AuditSlasherParams, grant_auditor
from gcx.chain.staking import ensure_provider_stake
from gcx.keys import ParticipantKey, new_key
from gcx.p2p import RemoteError, listen_addrs, open_host, serve
from gcx.reference import load_profile
from gcx.tp.backends.numpy_backend import matmul_nt_blocked

pytestmark = pytest.mark.timeout(300)
PROFILE = load_profile()
REFERENCE_INT8 = 175e12
GCX = 10**18


@cache
def numpy_ops_per_s() -> float:
    """This machine's NumPy int8 GEMM rate (best of 3 at 512 x 1024 x 1024)."""
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (512, 1024), dtype=np.int8)
    b = rng.integers(-128, 128, (1024, 1024), dtype=np.int8)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        matmul_nt_blocked(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * 512 * 1024 * 1024 / best


@pytest.fixture(scope="module")
def chain_parts() -> Iterator[tuple[AnvilNode, Deployment, bytes]]:
    deployer = bytes(Account.create().key)
    with run_anvil() as node:
        yield node, deploy_all(node.rpc_url, deployer), deployer


def _stake(chain: Chain, address: str) -> int:
    bonded, unbonding, _ = chain.call("StakingRegistry", "stakeOf", address, PROVIDER)
    return int(bonded) + int(unbonding)


def _staked_provider(node: AnvilNode, deployment: Deployment, deployer: bytes, key: ParticipantKey) -> None:
    faucet(node.rpc_url, deployment, deployer, key.address)
    ensure_provider_stake(Chain(deployment, key.private_key))


async def _refuse(peer: Any, payload: bytes) -> bytes:
    raise RemoteError("busy", "a provider that never computes")


def _set_up_chain(
    chain_parts: tuple[AnvilNode, Deployment, bytes], auditor: ParticipantKey, providers: list[ParticipantKey]
) -> tuple[Chain, str]:
    """AuditSlasher at threshold 3, a 2 s delay, 10 % capped at 150 GCX, rewards to a fresh
    address; ``auditor`` funded and granted AUDITOR_ROLE; ``providers`` staked at the minimum."""
    node, deployment, deployer = chain_parts
    admin = Chain(deployment, deployer)
    reward_to = Account.create().address
    params = AuditSlasherParams(
        threshold=3, period_s=3600, slash_delay_s=2, slash_bps=1_000, max_slash=150 * GCX, reward_to=reward_to
    )
    admin.transact("AuditSlasher", "setParams", params.as_tuple())
    faucet(node.rpc_url, deployment, deployer, auditor.address)
    grant_auditor(admin, auditor.address)
    for key in providers:
        _staked_provider(node, deployment, deployer, key)
    return admin, reward_to


def _assert_split(
    admin: Chain, start_block: int, provider: str, amount: int, reward_to: str, supply: int
) -> None:
    """One registry slash of ``amount`` from ``provider``, conserved: burned (never zero, and
    really gone from the supply) + rewarded (to ``reward_to``) + compensated."""
    (slashed,) = [e["args"] for e in admin.events("StakingRegistry", "Slashed", start_block)]
    assert slashed["account"] == provider and slashed["amount"] == amount
    assert (
        slashed["burned"] > 0 and slashed["burned"] + slashed["rewarded"] + slashed["compensated"] == amount
    )
    assert int(admin.call("GCXToken", "balanceOf", reward_to)) == slashed["rewarded"] > 0
    assert supply - int(admin.call("GCXToken", "totalSupply")) == slashed["burned"]


def _assert_recheckable(
    admin: Chain, posted: list[Any], stored: dict[str, StoredAudit], auditor: str, provider: str
) -> None:
    """Each event's record digest is the keccak of the record in its transaction's calldata, whose
    challenge has the event's id, names the provider, and was signed by the transaction's sender."""
    contract = admin.contract("AuditSlasher")
    for event in posted:
        tx = admin.w3.eth.get_transaction(event["transactionHash"])
        _, args = contract.decode_function_input(tx["input"])
        record_bytes = bytes(args["record"])
        assert keccak(record_bytes) == event["args"]["recordDigest"]
        record = decode_record(record_bytes)
        challenge = record.decoded_challenge()
        challenge.check_signature()
        assert challenge.id == event["args"]["challengeId"] == bytes(args["f"]["challengeId"])
        assert challenge.verifier == tx["from"] == auditor
        assert challenge.provider == provider and challenge.seed == event["args"]["seed"]
        assert challenge.claimed_ops_per_s == event["args"]["claimedOpsPerS"]
        assert str(record.verdict) == "no_answer" and event["args"]["verdict"] == 6
        assert stored["0x" + challenge.id.hex()].record == record_bytes  # what the registry shows


@pytest.mark.trio
async def test_a_provider_failing_three_audits_in_a_row_is_slashed_on_chain_an_honest_one_is_not(
    isolated_home: Path,
    tmp_path: Path,
    make_report: Callable[..., dict[str, Any]],
    chain_parts: tuple[AnvilNode, Deployment, bytes],
) -> None:
    node, deployment, _ = chain_parts
    deployment_path = write_deployment(deployment, tmp_path / "deployment.json")
    coordinator_key, honest_key, cheat_key = new_key("coordinator"), new_key("honest"), new_key("cheat")
    admin, reward_to = _set_up_chain(chain_parts, coordinator_key, [honest_key, cheat_key])
    before = {k.address: _stake(admin, k.address) for k in (honest_key, cheat_key)}
    supply = int(admin.call("GCXToken", "totalSupply"))
    start_block = admin.w3.eth.block_number

    policy = AuditPolicy(first_within_s=0.1, interval_s=1.0, failures_to_flag=3, min_gap_s=1.2, keep=20)
    registry = Registry(RegistryStore(tmp_path / "r.sqlite"), PROFILE, clock=time.time, audit_policy=policy)
    factor = numpy_ops_per_s() / 200 / REFERENCE_INT8  # far below this machine's rate: in time
    peers: dict[str, str] = {}
    async with (
        open_host(coordinator_key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as coordinator,
        open_host(honest_key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as honest_host,
        open_host(cheat_key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as cheat_host,
    ):
        honest_server = AuditServer(honest_key.private_key, "numpy")
        honest_server.register(honest_host)
        serve(cheat_host, PROTOCOL, _refuse, timeout_s=30)
        for key, host in ((honest_key, honest_host), (cheat_key, cheat_host)):
            peer = str(host.get_id())
            peers[key.address] = peer
            advert = make_advert(
                key, peer, make_report(key, factor, now=None), price_per_ch=1, hours=1, nonce=1,
                now=int(time.time()), ttl_s=300, listen_addrs=listen_addrs(host),
            )  # fmt: skip
            assert registry.ingest_advert(advert, peer, key.address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                functools.partial(
                    run_audits, registry, coordinator, coordinator_key.private_key, AuditConfig(target_s=0.3),
                    poll_s=0.05,
                )
            )  # fmt: skip
            nursery.start_soon(
                start_audit_slasher, registry, node.rpc_url, deployment_path, coordinator_key, 0.2
            )
            with trio.fail_after(180):
                while _stake(admin, cheat_key.address) == before[cheat_key.address]:
                    await trio.sleep(0.2)
            slashed_at = _stake(admin, cheat_key.address)
            # It goes on failing: its run grows on chain, but a run is slashed once.
            with trio.fail_after(60):
                while len(admin.events("AuditSlasher", "FailurePosted", start_block)) < 5:
                    await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
        await honest_server.wait_idle(60)

    # The cheat: slashed exactly once, 10 % of its 1 000 GCX (under the 150 GCX cap).
    assert slashed_at == _stake(admin, cheat_key.address) == before[cheat_key.address] - 100 * GCX
    assert int(admin.call("AuditSlasher", "slashCount")) == 1
    _assert_split(admin, start_block, cheat_key.address, 100 * GCX, reward_to, supply)
    # The honest provider: audited, verified, never posted, stake intact.
    assert (registry.provider(peers[honest_key.address]) or {}).get("verified") is True
    assert _stake(admin, honest_key.address) == before[honest_key.address]

    # The evidence, as a stranger re-checks it from the chain alone: each event's record digest is
    # the keccak of the record in the transaction's calldata, whose challenge has the event's id,
    # names the provider, and was signed by the key that sent the transaction (the auditor).
    posted = admin.events("AuditSlasher", "FailurePosted", start_block)
    assert {e["args"]["provider"] for e in posted} == {cheat_key.address}
    assert posted[0]["args"]["prevId"] == b"\0" * 32
    assert [e["args"]["prevId"] for e in posted[1:]] == [e["args"]["challengeId"] for e in posted[:-1]]
    assert [e["args"]["count"] for e in posted] == list(range(1, len(posted) + 1))
    stored = {s.challenge_id: s for s in registry.store.audit_records(peers[cheat_key.address], 20)}
    _assert_recheckable(admin, posted, stored, coordinator_key.address, cheat_key.address)
    proposed = admin.events("AuditSlasher", "SlashProposed", start_block)
    assert [e["args"]["lastId"] for e in proposed] == [posted[2]["args"]["challengeId"]]

    # Restart-safe: a fresh poster (nothing in memory) over the same registry posts nothing again.
    registry_runs = AuditSlashPoster(Chain(deployment, coordinator_key.private_key))
    registry_runs.sync(registry_runs.runs(registry))
    assert len(admin.events("AuditSlasher", "FailurePosted", start_block)) == len(posted)
    assert registry_runs.gas == []
    registry.store.close()


@pytest.mark.trio
async def test_a_coordinator_key_without_the_auditor_role_posts_nothing(
    isolated_home: Path, tmp_path: Path, chain_parts: tuple[AnvilNode, Deployment, bytes]
) -> None:
    node, deployment, deployer = chain_parts
    path = write_deployment(deployment, tmp_path / "deployment.json")
    key = new_key("not-an-auditor")
    faucet(node.rpc_url, deployment, deployer, key.address)
    registry = Registry(
        RegistryStore(tmp_path / "r.sqlite"), PROFILE, clock=time.time, audit_policy=AuditPolicy()
    )
    with trio.fail_after(30):  # returns (logs why) instead of running
        await start_audit_slasher(registry, node.rpc_url, path, key, 0.1)
    registry.store.close()


def _stored(verdict: str, n: int) -> StoredAudit:
    return StoredAudit("peer", float(n), verdict, 1, -1, 1000, f"0x{n:064x}", "", b"")


def test_the_current_run_stops_at_the_last_pass() -> None:
    newest_first = [_stored("late", 5), _stored("no_answer", 4), _stored("passed", 3), _stored("late", 2)]
    assert [s.at for s in current_run(newest_first, 2)] == [4.0, 5.0]
    assert [s.at for s in current_run(newest_first, 9)] == [4.0, 5.0]  # a pass ends it anyway
    assert current_run(newest_first, 0) == []


def test_plan_posts_resumes_after_the_newest_posted_and_skips_stale_ones() -> None:
    now, period = 10_000.0, 3_600.0
    at = [now - 100, now - 50, now - 10]
    assert plan_posts(at, [False, False, False], now, period) == 0  # a new run from the first
    assert plan_posts(at, [True, False, False], now, period) == 1  # after a crash mid-run
    assert plan_posts(at, [True, True, True], now, period) == 3  # all on chain: nothing
    stale = [now - period - 1, now - period + 30, now - 10]  # the first is out, the second too close
    assert plan_posts(stale, [False, False, False], now, period) == 2


@pytest.mark.trio
async def test_a_crash_between_two_posts_resumes_with_the_next_one(
    isolated_home: Path,
    tmp_path: Path,
    make_report: Callable[..., dict[str, Any]],
    chain_parts: tuple[AnvilNode, Deployment, bytes],
) -> None:
    """The registry flags a provider slashable; a first poster posts the run's first failure and
    "crashes"; a fresh one (nothing in memory) posts the other two, linked after it, and the run is
    slashed once. Sending the first post again is refused by the contract (``EvidenceKnown``)."""
    from gcx.chain import TransactionFailed
    from gcx.chain.audit_slasher import failure_post

    coordinator_key, cheat_key = new_key("coordinator-2"), new_key("cheat-2")
    admin, _ = _set_up_chain(chain_parts, coordinator_key, [cheat_key])
    start_block = admin.w3.eth.block_number
    slashes_before = int(admin.call("AuditSlasher", "slashCount"))
    policy = AuditPolicy(first_within_s=0.1, interval_s=0.3, failures_to_flag=3, min_gap_s=0.2, keep=20)
    registry = Registry(RegistryStore(tmp_path / "r.sqlite"), PROFILE, clock=time.time, audit_policy=policy)
    async with (
        open_host(coordinator_key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as coordinator,
        open_host(cheat_key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as cheat_host,
    ):
        serve(cheat_host, PROTOCOL, _refuse, timeout_s=30)
        peer = str(cheat_host.get_id())
        advert = make_advert(
            cheat_key, peer, make_report(cheat_key, now=None), price_per_ch=1, hours=1, nonce=1,
            now=int(time.time()), ttl_s=300, listen_addrs=listen_addrs(cheat_host),
        )  # fmt: skip
        assert registry.ingest_advert(advert, peer, cheat_key.address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                functools.partial(
                    run_audits, registry, coordinator, coordinator_key.private_key, AuditConfig(target_s=0.1),
                    poll_s=0.05,
                )
            )  # fmt: skip
            with trio.fail_after(60):
                while not ((registry.provider(peer) or {}).get("audit") or {}).get("slashable"):
                    await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    chain = Chain(admin.deployment, coordinator_key.private_key)
    first = AuditSlashPoster(chain)
    ((_, entries),) = first.runs(registry)
    assert len(entries) >= 3
    first.sync([(peer, entries[:1])])  # posted the first, then "crashed"
    again = failure_post(entries[0].record, entries[0].stored.record)
    with pytest.raises(TransactionFailed, match="EvidenceKnown"):
        chain.transact("AuditSlasher", "postFailure", *again.args())
    fresh = AuditSlashPoster(chain)
    fresh.sync(fresh.runs(registry))
    posted = admin.events("AuditSlasher", "FailurePosted", start_block)
    assert [e["args"]["challengeId"] for e in posted] == [e.challenge_id for e in entries]
    assert [e["args"]["prevId"] for e in posted] == [b"\0" * 32] + [e.challenge_id for e in entries[:-1]]
    assert int(admin.call("AuditSlasher", "slashCount")) == slashes_before + 1
    registry.store.close()
