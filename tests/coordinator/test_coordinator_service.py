"""The coordinator service and the node daemon in one trio process, with real libp2p hosts on
loopback, a real SQLite registry and the real HTTP API; then bad input from a real third peer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from coordinator.daemon import run_coordinator
from gcx import wire
from gcx.advert import ADVERT_PROTOCOL, HEARTBEAT_PROTOCOL, make_advert, make_heartbeat, report_digest
from gcx.audit import AuditConfig, Verdict
from gcx.audit.client import run_audit
from gcx.keys import new_key
from gcx.p2p import FrameTooLarge, connect, open_host, request
from gcx.reference import load_profile
from gcx.settings import AuditSettings, CoordinatorSettings, NodeSettings, Settings
from node_agent.daemon import LIVENESS_PROTOCOL, REPORT_PROTOCOL, NodeDaemon
from node_agent.reports import latest_report_path, save_report

pytestmark = pytest.mark.timeout(90)
PROFILE = load_profile()


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


async def _providers(client: httpx.AsyncClient, api: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"{api}/v1/providers", params={"include_expired": True})
    return {p["peer_id"]: p for p in response.json()["providers"]}


@pytest.mark.trio
async def test_node_and_coordinator_in_one_process(
    isolated_home: Path, tmp_path: Path, make_report: Callable[..., dict[str, Any]]
) -> None:
    coordinator_key, node_key, stranger = new_key("coordinator"), new_key("node"), new_key("stranger")
    report = make_report(node_key, now=None)  # fresh, so the daemon reuses it instead of benchmarking
    save_report(latest_report_path(), report)
    settings = Settings(
        node=NodeSettings(
            backend="numpy",
            bench_mode="quick",
            market_class="hpc",
            advert_interval_s=1.0,
            heartbeat_interval_s=0.2,
            advert_ttl_s=30,
        ),
        coordinator=CoordinatorSettings(api_port=0, database=tmp_path / "registry.sqlite", uptime_slot_s=1),
        # The node's report claims the reference GPU on a NumPy backend: an audit sized to that
        # claim would keep it computing for minutes. Audits have their own end-to-end test
        # (test_coordinator_audits.py); here claims are believed, as with audits off.
        audit=AuditSettings(enabled=False),
    )
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=5) as client:
        coordinator = await _ready(nursery, run_coordinator, settings, coordinator_key, PROFILE)
        api, target = coordinator["api"], coordinator["multiaddrs"][0]
        node_settings = settings.model_copy(
            update={"network": settings.network.model_copy(update={"bootstrap": [target]})}
        )
        daemon = NodeDaemon(node_settings, node_key, PROFILE)
        node = await _ready(nursery, daemon.run)
        assert node["node"] == node_key.address
        assert daemon.report == report  # the fresh cached report was reused, not re-benchmarked

        with trio.fail_after(30):
            while node["peer_id"] not in await _providers(client, api):
                await trio.sleep(0.1)
        listed = (await _providers(client, api))[node["peer_id"]]
        assert listed["address"] == node_key.address and listed["ch_per_hour"] == 1.0
        assert listed["grade"] == "C??"
        with trio.fail_after(30):  # heartbeats every 0.2 s fill 1 s slots: uptime gets measured
            while (await _providers(client, api))[node["peer_id"]]["uptime"] is None:
                await trio.sleep(0.2)
        assert (await _providers(client, api))[node["peer_id"]]["uptime"] > 50
        assert daemon.adverts_accepted >= 1 and daemon.heartbeats_sent >= 1

        # A stranger relays the node's genuine advert as its own: refused, with the reason.
        async with open_host(stranger.private_key) as host:
            peer = await connect(host, target, 10)
            genuine = make_advert(
                node_key,
                node["peer_id"],
                report,
                price_per_ch=1,
                hours=1,
                nonce=2**62,
                now=int(time.time()),
                ttl_s=30,
                listen_addrs=[],
            )
            verdict = wire.unpack(await request(host, peer, ADVERT_PROTOCOL, genuine, timeout_s=10))
            assert verdict["accepted"] is False and verdict["reason"].startswith("peer_mismatch")
            junk = wire.unpack(await request(host, peer, ADVERT_PROTOCOL, b"\xc1junk", timeout_s=10))
            assert junk["accepted"] is False and junk["reason"].startswith("malformed")
            with pytest.raises(FrameTooLarge):
                await request(host, peer, ADVERT_PROTOCOL, b"\x00" * 200_000, timeout_s=10)
            beat = wire.unpack(
                await request(
                    host, peer, HEARTBEAT_PROTOCOL, make_heartbeat(1, 0, "0x" + "00" * 32), timeout_s=10
                )
            )
            assert beat["counted"] is False  # no accepted advert from the stranger
            # Anyone can ask the node for its full report and whether it is alive.
            node_peer = await connect(host, node["addrs"][0], 10)
            served = wire.unpack(await request(host, node_peer, REPORT_PROTOCOL, b"", timeout_s=10))
            assert served == report
            alive = wire.unpack(await request(host, node_peer, LIVENESS_PROTOCOL, b"", timeout_s=10))
            assert alive["ok"] is True and alive["node"] == node_key.address
            assert alive["report_digest"] == report_digest(report)
            # The node answers capacity audits on /gcx/audit/1 (a small claim: a fast test).
            audit = await run_audit(
                host,
                node_peer,
                1e8,
                AuditConfig(target_s=0.05, allowance_s=10, rows_to_open=8, min_ratio=2),
                private_key=stranger.private_key,
            )
            assert audit.verdict is Verdict.PASSED, audit.detail
            assert daemon.audits.answered == 1 and daemon.audits.opened == 1
        metrics = (await client.get(f"{api}/metrics")).text
        assert 'gcx_adverts_rejected_total{reason="peer_mismatch"} 1.0' in metrics
        assert 'gcx_adverts_rejected_total{reason="malformed"} 1.0' in metrics
        # The coordinator is still serving, and the honest node is still listed.
        assert node["peer_id"] in await _providers(client, api)
        nursery.cancel_scope.cancel()
