"""Claims are audited before they are believed (issue 13.5), end to end in one trio process: the
real coordinator service (``run_coordinator`` with ``[audit]`` on, real SQLite, real HTTP API)
audits real provider hosts on loopback that answer with the real :class:`AuditServer` on NumPy.

The issue's attack: a provider multiplies every sample of its own report by 500 and re-signs it.
Its advert is valid (it signed its own figures), so before audits it was listed at 500x its
rate; now it is listed unverified (grade ``?``, CH rate 0) from the start, its audits — sized to
the claim — come back late, the failures and their evidence show in ``GET /v1/providers/{peer}``
and repeated failures make it slashable. An honest provider beside it is verified.

Claims are set relative to this machine's measured NumPy int8 GEMM speed ``R`` (as in
tests/gcx/audit): the inflated report claims ``500 · R/20 = 25 R`` — at ``target_s`` 0.3 its
challenge takes ``25 · 0.3 = 7.5 s`` of real work against a deadline of ``0.3 · 1.5 + 2 = 2.45 s``
— and the honest one ``R/200``, far below its real rate, so that its audits (repeated every
second) stay in time even while the boaster's abandoned computations and other work load the
machine.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import trio

from coordinator.daemon import run_coordinator
from gcx import wire
from gcx.advert import ADVERT_PROTOCOL, make_advert
from gcx.audit import Verdict, decode_record, recheck
from gcx.audit.server import AuditServer
from gcx.keys import ParticipantKey, new_key
from gcx.p2p import address_of_peer, connect, listen_addrs, open_host, request
from gcx.reference import load_profile
from gcx.settings import AuditSettings, CoordinatorSettings, Settings
from gcx.tp.backends.numpy_backend import matmul_nt_blocked

pytestmark = [pytest.mark.trio, pytest.mark.timeout(400)]
PROFILE = load_profile()
REFERENCE_INT8 = 175e12  # configs/reference.toml gemm_int8, in ops/s


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


async def _ready(nursery: trio.Nursery, fn: Any, *args: Any) -> dict[str, Any]:
    got: dict[str, Any] = {}
    event = trio.Event()

    def ready(info: dict[str, Any]) -> None:
        got.update(info)
        event.set()

    nursery.start_soon(fn, *args, ready)
    with trio.fail_after(30):
        await event.wait()
    return got


@asynccontextmanager
async def provider(
    key: ParticipantKey, report: dict[str, Any], coordinator: dict[str, Any]
) -> AsyncIterator[tuple[str, AuditServer]]:
    """A provider host that answers audits and has sent one advert of ``report`` to the
    coordinator over ``/gcx/advert/1``; yields its peer id and its audit server."""
    async with open_host(key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as host:
        server = AuditServer(key.private_key, "numpy")
        server.register(host)
        peer = str(host.get_id())
        advert = make_advert(
            key, peer, report, price_per_ch=400_000, hours=24, nonce=1, now=int(time.time()), ttl_s=300,
            listen_addrs=listen_addrs(host),
        )  # fmt: skip
        target = await connect(host, coordinator["multiaddrs"][0], timeout_s=10)
        verdict = wire.unpack(await request(host, target, ADVERT_PROTOCOL, advert, timeout_s=10))
        assert verdict["accepted"], verdict
        yield peer, server
        await server.wait_idle(60)


async def _detail(client: httpx.AsyncClient, api: str, peer: str) -> dict[str, Any]:
    response = await client.get(f"{api}/v1/providers/{peer}", params={"audits": 20})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_inflated_claim_fails_its_audits_and_an_honest_one_is_verified(
    isolated_home: Path, tmp_path: Path, make_report: Callable[..., dict[str, Any]]
) -> None:
    coordinator_key, honest_key, boaster_key = new_key("coordinator"), new_key("honest"), new_key("boaster")
    factor = numpy_ops_per_s() / 20 / REFERENCE_INT8  # R/20
    honest_report = make_report(honest_key, factor / 10, now=None)  # R/200: ample headroom under load
    inflated_report = make_report(boaster_key, 500 * factor, now=None)  # every sample x 500, re-signed
    settings = Settings(
        coordinator=CoordinatorSettings(api_port=0, database=tmp_path / "registry.sqlite", uptime_slot_s=1),
        audit=AuditSettings(
            enabled=True, target_s=0.3, interval_s=1.0, first_within_s=0.5, failures_to_flag=2
        ),
    )
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=10) as client:
        coordinator = await _ready(nursery, run_coordinator, settings, coordinator_key, PROFILE)
        api = coordinator["api"]
        async with (
            provider(honest_key, honest_report, coordinator) as (honest, honest_server),
            provider(boaster_key, inflated_report, coordinator) as (boaster, _),
        ):
            # Listed at once, but unverified: no grade letter, no CH rate, the claim shown as such.
            first = await _detail(client, api, boaster)
            assert first["listed"] is True and first["verified"] is False
            assert first["grades"]["performance"] == "?" and first["grade"][0] == "?"
            assert first["ch_per_hour"] == 0 and first["ch_per_hour_micro"] == 0
            assert first["claimed_ch_per_hour"] == pytest.approx(500 * factor, rel=1e-3, abs=2e-6)

            with trio.fail_after(120):  # the honest provider passes its first audit
                while not (view := await _detail(client, api, honest))["verified"]:
                    await trio.sleep(0.2)
            assert view["grades"]["performance"] in "ABCD" and view["ch_per_hour"] > 0
            assert view["ch_per_hour"] == view["claimed_ch_per_hour"]
            assert view["audits"][0]["verdict"] == "passed" and view["audit"]["consecutive_failures"] == 0
            assert honest_server.answered >= 1 and honest_server.opened >= 1

            with trio.fail_after(150):  # the boaster fails audit after audit until slashable
                while not ((view := await _detail(client, api, boaster))["audit"] or {}).get("slashable"):
                    assert view["verified"] is False and view["grade"][0] == "?" and view["ch_per_hour"] == 0
                    await trio.sleep(0.5)
            audit = view["audit"]
            assert audit["consecutive_failures"] >= 2 and audit["last_verdict"] != "passed"
            assert audit["claimed_ops_per_s"] == audit["audited_ops_per_s"]  # sized to its claim
            failures = [a for a in view["audits"] if not a["passed"]]
            assert len(failures) >= 2 and all(a["verdict"] in ("late", "no_answer") for a in failures)
            late = next(a for a in view["audits"] if a["verdict"] == "late")
            assert late["claimed_ops_per_s"] == audit["claimed_ops_per_s"]
            assert late["measured_s"] is None or late["measured_s"] > late["deadline_s"]
            # The evidence: the canonical record, signed by the coordinator, naming the provider.
            record = decode_record(bytes.fromhex(late["record"][2:]))
            challenge = record.decoded_challenge()
            assert record.verdict is Verdict.LATE and record.detail == late["detail"]
            assert challenge.verifier == coordinator_key.address
            assert challenge.provider == address_of_peer(boaster) == boaster_key.address
            assert challenge.claimed_ops_per_s == late["claimed_ops_per_s"]
            assert recheck(record) is None  # a timing verdict: checked signatures, rests on the clock

            listing = (await client.get(f"{api}/v1/providers")).json()["providers"]
            graded = {p["peer_id"] for p in listing if p["grades"]["performance"] != "?"}
            assert honest in graded and boaster not in graded
        nursery.cancel_scope.cancel()


async def test_the_audit_task_dials_providers_and_bounds_audits_in_flight(
    isolated_home: Path, tmp_path: Path, make_report: Callable[..., dict[str, Any]]
) -> None:
    """``run_audits``: at most one audit per provider and ``max_in_flight`` in all, providers
    dialled at their advertised addresses, every record stored. The provider side is a small
    ``/gcx/audit/1`` handler that takes 0.3 s and refuses (the other side of the wire only)."""
    from coordinator.daemon import run_audits
    from coordinator.registry import Registry
    from coordinator.registry.audits import AuditPolicy
    from coordinator.registry.store import RegistryStore
    from gcx.audit import PROTOCOL, AuditConfig
    from gcx.p2p import RemoteError, serve

    policy = AuditPolicy(first_within_s=0.1, interval_s=0.2, failures_to_flag=2, min_gap_s=0.1, keep=50)
    registry = Registry(RegistryStore(tmp_path / "r.sqlite"), PROFILE, clock=time.time, audit_policy=policy)
    keys = [new_key(f"p{i}") for i in range(3)]
    now = {"in_flight": 0, "most": 0}
    per_peer: dict[str, int] = {}
    most_per_peer = {"n": 0}
    coordinator_key = new_key("coordinator")

    def slow_refusal(me: str) -> Callable[[Any, bytes], Any]:
        return functools.partial(_slow_refusal, me)

    async def _slow_refusal(me: str, peer: Any, payload: bytes) -> bytes:
        who = me  # the provider being audited (the remote peer is always the coordinator)
        now["in_flight"] += 1
        per_peer[who] = per_peer.get(who, 0) + 1
        now["most"] = max(now["most"], now["in_flight"])
        most_per_peer["n"] = max(most_per_peer["n"], per_peer[who])
        try:
            await trio.sleep(0.3)
        finally:
            now["in_flight"] -= 1
            per_peer[who] -= 1
        raise RemoteError("busy", "test provider")

    async with (
        open_host(coordinator_key.private_key, ["/ip4/127.0.0.1/tcp/0"]) as coordinator,
        open_host(keys[0].private_key, ["/ip4/127.0.0.1/tcp/0"]) as h0,
        open_host(keys[1].private_key, ["/ip4/127.0.0.1/tcp/0"]) as h1,
        open_host(keys[2].private_key, ["/ip4/127.0.0.1/tcp/0"]) as h2,
    ):
        for key, host in zip(keys, (h0, h1, h2), strict=True):
            serve(host, PROTOCOL, slow_refusal(str(host.get_id())), timeout_s=30)
            advert = make_advert(
                key, str(host.get_id()), make_report(key, now=None), price_per_ch=1, hours=1, nonce=1,
                now=int(time.time()), ttl_s=300, listen_addrs=listen_addrs(host),
            )  # fmt: skip
            assert registry.ingest_advert(advert, str(host.get_id()), key.address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                functools.partial(
                    run_audits, registry, coordinator, coordinator_key.private_key, AuditConfig(target_s=0.1),
                    poll_s=0.02, max_in_flight=2,
                )
            )  # fmt: skip
            with trio.fail_after(60):
                while not all(v["audit"]["audits"] >= 2 for v in registry.listing()):
                    await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        assert now["most"] == 2 and most_per_peer["n"] == 1  # bounded, and reached
        for view in registry.listing():
            assert view["verified"] is False and view["audit"]["slashable"] is True
            detail = registry.provider(view["peer_id"])
            assert detail is not None and all(
                a["verdict"] == "no_answer" and "busy" in a["detail"] for a in detail["audits"]
            )
    registry.store.close()
