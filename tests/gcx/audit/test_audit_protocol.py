"""``/gcx/audit/1`` between real libp2p hosts on loopback, with real NumPy GEMMs.

Claims are set relative to this machine's measured NumPy int8 GEMM speed so that the tests hold
on a loaded 2-core machine: an honest provider's claim is 20x below its speed (with seconds of
allowance), a boastful one's 50x above (with a deadline far below its real time).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

import numpy as np
import pytest
import trio
from libp2p.peer.id import ID
from p2p_helpers import new_raw_key, running_hosts

from gcx import wire
from gcx.audit import PROTOCOL, AuditConfig, Verdict, decode_record, recheck
from gcx.audit.client import run_audit
from gcx.audit.core import MAX_FRAME, OpenRequest, make_challenge
from gcx.audit.server import AuditFaults, AuditServer, ServerLimits
from gcx.p2p import Host, RemoteError, address_of_peer, connect, listen_addrs, request, serve
from gcx.tp.backends.numpy_backend import matmul_nt_blocked

pytestmark = [pytest.mark.trio, pytest.mark.timeout(120)]


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


HONEST = AuditConfig(target_s=0.2, allowance_s=5.0, rows_to_open=66)


@asynccontextmanager
async def audit_pair(
    faults: AuditFaults | None = None, limits: ServerLimits | None = None
) -> AsyncIterator[tuple[Host, bytes, Host, AuditServer]]:
    """(verifier host, its key, provider host, its AuditServer), connected."""
    vkey, pkey = new_raw_key(), new_raw_key()
    from gcx.p2p import open_host

    async with open_host(vkey) as verifier, open_host(pkey) as provider:
        server = AuditServer(pkey, "numpy", faults=faults, limits=limits)
        server.register(provider)
        await connect(verifier, listen_addrs(provider)[0], timeout_s=10)
        yield verifier, vkey, provider, server
        await server.wait_idle(60)


async def test_honest_provider_passes_and_the_record_round_trips() -> None:
    async with audit_pair() as (verifier, vkey, provider, server):
        claimed = numpy_ops_per_s() / 20
        record = await run_audit(verifier, provider.get_id(), claimed, HONEST, private_key=vkey)
        assert record.verdict is Verdict.PASSED, record.detail
        assert len(record.rows) == 66 and all(r.ok for r in record.rows)
        c = record.decoded_challenge()
        assert c.provider == address_of_peer(provider.get_id()) and c.claimed_ops_per_s == round(claimed)
        assert 0 <= record.elapsed_ms <= c.deadline_ms and record.open_ms >= 0
        assert server.answered == 1 and server.opened == 1
        assert decode_record(record.encode()) == record
        assert recheck(record) is None  # a pass proves no failure
        summary = record.summary()
        assert summary["verdict"] == "passed" and summary["rows_opened"] == 66


async def test_wrong_rows_fail_with_evidence_naming_a_row() -> None:
    async with audit_pair(AuditFaults(wrong_row_fraction=0.5)) as (verifier, vkey, provider, _):
        record = await run_audit(
            verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
        )
        assert record.verdict is Verdict.WRONG_ROW, record.detail
        m = record.decoded_challenge().shape.m
        bad = [r for r in record.rows if not r.ok]
        good = [r for r in record.rows if r.ok]
        # every second row of each block (local index even) was zeroed, and only those fail
        assert bad and all((r.row % m) % 2 == 0 for r in bad) and all((r.row % m) % 2 == 1 for r in good)
        assert all(r.problem == "wrong row" and r.expected != r.got for r in bad)
        assert f"row {bad[0].row}: wrong row" in record.detail
        assert recheck(decode_record(record.encode())) is Verdict.WRONG_ROW


async def test_a_different_seed_fails_every_row() -> None:
    async with audit_pair(AuditFaults(wrong_seed=True)) as (verifier, vkey, provider, _):
        record = await run_audit(
            verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
        )
        assert record.verdict is Verdict.WRONG_ROW and not any(r.ok for r in record.rows)


async def test_a_rate_claimed_far_above_the_real_one_is_late() -> None:
    config = AuditConfig(target_s=0.05, slack=1.5, allowance_s=0.2, grace_s=60)
    async with audit_pair() as (verifier, vkey, provider, server):
        record = await run_audit(
            verifier, provider.get_id(), 50 * numpy_ops_per_s(), config, private_key=vkey
        )
        assert record.verdict is Verdict.LATE, record.detail
        c = record.decoded_challenge()
        assert record.elapsed_ms > c.deadline_ms  # it answered (the grace is long), but too late
        assert record.answer and not record.rows  # nothing is opened after a late root
        assert server.answered == 1


async def test_no_answer_within_deadline_and_grace_is_late() -> None:
    config = AuditConfig(target_s=0.05, allowance_s=0.1, grace_s=0.2)
    limits = ServerLimits(give_up_s=2.0)  # the server abandons the slow thread 2 s after the deadline
    async with audit_pair(AuditFaults(slow_factor=1000), limits) as (verifier, vkey, provider, server):
        record = await run_audit(
            verifier, provider.get_id(), numpy_ops_per_s() / 20, config, private_key=vkey
        )
        assert record.verdict is Verdict.LATE and record.elapsed_ms == -1 and not record.answer
        with trio.fail_after(30):
            while server.busy:  # the abandoned challenge's thread stops when the server gives up on it
                await trio.sleep(0.05)


async def test_a_provider_that_withholds_the_opening_fails() -> None:
    async with audit_pair(AuditFaults(withhold=True)) as (verifier, vkey, provider, _):
        record = await run_audit(
            verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
        )
        assert record.verdict is Verdict.NO_ANSWER and "withheld" in record.detail
        assert record.answer and record.elapsed_ms >= 0


async def test_corrupt_proofs_are_bad_proofs() -> None:
    async with audit_pair(AuditFaults(corrupt_proofs=True)) as (verifier, vkey, provider, _):
        record = await run_audit(
            verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
        )
        assert record.verdict is Verdict.BAD_PROOF and not any(r.ok for r in record.rows)
        assert recheck(decode_record(record.encode())) is Verdict.BAD_PROOF


async def test_a_forged_provider_signature_is_refused() -> None:
    async with audit_pair(AuditFaults(bad_signature=True)) as (verifier, vkey, provider, _):
        record = await run_audit(
            verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
        )
        assert record.verdict is Verdict.BAD_SIGNATURE and not record.rows
        assert recheck(decode_record(record.encode())) is Verdict.BAD_SIGNATURE


async def test_a_replayed_answer_for_another_challenge_is_refused() -> None:
    """A provider that stored an answer of an earlier audit and serves it again."""
    vkey, pkey = new_raw_key(), new_raw_key()
    async with _replaying_provider(pkey) as (provider, stash):
        from gcx.p2p import open_host

        async with open_host(vkey) as verifier:
            await connect(verifier, listen_addrs(provider)[0], timeout_s=10)
            first = await run_audit(
                verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
            )
            assert first.verdict is Verdict.PASSED, first.detail
            stash["replay"] = first.answer
            second = await run_audit(
                verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
            )
            assert second.verdict is Verdict.BAD_SIGNATURE and "another challenge" in second.detail


@asynccontextmanager
async def _replaying_provider(pkey: bytes) -> AsyncIterator[tuple[Host, dict[str, bytes]]]:
    from gcx.p2p import open_host

    stash: dict[str, bytes] = {}
    async with open_host(pkey) as provider:
        server = AuditServer(pkey, "numpy")

        async def handler(peer: ID, payload: bytes) -> bytes:
            if "replay" in stash and wire.unpack(payload)["type"] == "gcx.audit.challenge":
                return stash["replay"]
            return await server.handle(peer, payload)

        serve(provider, PROTOCOL, handler, max_size=MAX_FRAME, timeout_s=60)
        yield provider, stash


async def test_server_refuses_replayed_foreign_and_concurrent_challenges() -> None:
    slow = AuditFaults(slow_factor=50)  # busy long enough (50x its compute) for a second challenge
    async with audit_pair(slow) as (verifier, vkey, provider, server):
        ppeer = provider.get_id()
        paddr = address_of_peer(ppeer)
        import random

        def challenge(
            key: bytes, peer_name: str, provider_addr: str = paddr, now_ms: int | None = None
        ) -> bytes:
            return make_challenge(
                key,
                verifier_peer=peer_name,
                provider_peer=str(ppeer),
                provider=provider_addr,
                claimed_ops_per_s=numpy_ops_per_s() / 20,
                config=HONEST,
                now_ms=int(time.time() * 1000) if now_ms is None else now_ms,
                rng=random.SystemRandom(),
            ).encode()

        async def send(payload: bytes) -> bytes:
            return await request(verifier, ppeer, PROTOCOL, payload, timeout_s=30, max_size=MAX_FRAME)

        me = str(verifier.get_id())
        cases = {
            "bad_request": b"\xc1",
            "bad_signature": challenge(new_raw_key(), me),  # signed by a key that is not the sender's
            "wrong_provider": challenge(vkey, me, provider_addr=address_of_peer(verifier.get_id())),
            "stale": challenge(vkey, me, now_ms=int(time.time() * 1000) - 3_600_000),
            "unknown_challenge": OpenRequest(bytes(32), (0,)).encode(),
        }
        for code, payload in cases.items():
            with pytest.raises(RemoteError) as err:
                await send(payload)
            assert err.value.code == code, code

        # one audit at a time: a second challenge during the first is refused as busy
        first = challenge(vkey, me)
        results: dict[str, object] = {}

        async def run_first() -> None:
            results["first"] = await send(first)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_first)
            with trio.fail_after(30):
                while not server.busy:
                    await trio.sleep(0.001)
            with pytest.raises(RemoteError) as err:
                await send(challenge(vkey, me))
            assert err.value.code == "busy"
        assert isinstance(results["first"], bytes)
        with pytest.raises(RemoteError) as err:  # the same challenge again
            await send(first)
        assert err.value.code == "replay"

        # only the challenger may open, and only rows that exist
        answer = wire.unpack(results["first"])
        async with running_hosts(1) as (stranger,):
            await connect(stranger, listen_addrs(provider)[0], timeout_s=10)
            with pytest.raises(RemoteError) as err:
                await request(
                    stranger, ppeer, PROTOCOL, OpenRequest(answer["challenge"], (0,)).encode(), timeout_s=30
                )
            assert err.value.code == "not_yours"
        with pytest.raises(RemoteError) as err:
            await send(OpenRequest(answer["challenge"], (2**40,)).encode())
        assert err.value.code == "bad_rows"
        assert server.refused["busy"] == 1


async def test_challenges_above_the_providers_limits_are_refused() -> None:
    async with audit_pair(limits=ServerLimits(max_ops=10**6)) as (verifier, vkey, provider, _):
        record = await run_audit(
            verifier, provider.get_id(), numpy_ops_per_s() / 20, HONEST, private_key=vkey
        )
        assert record.verdict is Verdict.NO_ANSWER and "too_large" in record.detail


async def test_one_challenger_is_rate_limited_per_peer_and_others_are_not() -> None:
    """Issue 13.5: a peer cannot keep a provider computing by challenging it back to back; the
    refusal is typed (``rate_limited``) and only that peer is limited."""
    limits = ServerLimits(min_interval_s=60.0)
    async with audit_pair(limits=limits) as (verifier, vkey, provider, server):
        claimed = numpy_ops_per_s() / 20
        first = await run_audit(verifier, provider.get_id(), claimed, HONEST, private_key=vkey)
        assert first.verdict is Verdict.PASSED, first.detail
        second = await run_audit(verifier, provider.get_id(), claimed, HONEST, private_key=vkey)
        assert second.verdict is Verdict.NO_ANSWER and "rate_limited" in second.detail
        assert server.refused == {"rate_limited": 1} and not server.busy  # the lock was let go
        okey = new_raw_key()
        from gcx.p2p import open_host

        async with open_host(okey) as other:  # another challenger is not limited by the first
            await connect(other, listen_addrs(provider)[0], timeout_s=10)
            third = await run_audit(other, provider.get_id(), claimed, HONEST, private_key=okey)
            assert third.verdict is Verdict.PASSED, third.detail
    fast = ServerLimits(min_interval_s=0.0)  # control: without the limit the same two pass
    async with audit_pair(limits=fast) as (verifier, vkey, provider, server):
        for _ in range(2):
            record = await run_audit(verifier, provider.get_id(), claimed, HONEST, private_key=vkey)
            assert record.verdict is Verdict.PASSED, record.detail
        assert server.refused == {}
