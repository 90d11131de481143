"""coordinator.http_app over the real stack: SQLite store, registry with the shipped reference profile,
signed reports and adverts from real keys, served by hypercorn on loopback, queried with httpx."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from prometheus_client import CONTENT_TYPE_LATEST

from coordinator.http_app import create_app
from coordinator.http_server import serve_api
from coordinator.registry import Registry
from coordinator.registry.metrics import Metrics
from coordinator.registry.store import RegistryStore
from gcx import __version__, wire
from gcx.advert import make_advert
from gcx.errors import ConfigError
from gcx.keys import ParticipantKey, new_key
from gcx.reference import load_profile
from gcx.stats import summarize
from node_agent.backends.base import DeviceInfo, empty_telemetry
from node_agent.capacity import build_report
from node_agent.runner import BenchResult, BenchRun

PROFILE = load_profile()
MEASURED = ("gemm_fp64", "gemm_fp32", "gemm_int8", "mem_triad")
INFO: dict[str, Any] = {
    "peer_id": "12D3KooWCoordinator",
    "multiaddrs": ["/ip4/127.0.0.1/tcp/4001"],
    "reference": PROFILE.ident(),
    "version": __version__,
}
VIEW_FIELDS = {
    "peer_id", "address", "grade", "grades", "ch_per_hour", "ch_per_hour_micro", "uptime", "last_seen",
    "first_seen", "price", "hours", "expires_at", "listed", "nonce", "stake_address", "report_digest",
    "listen_addrs", "staked", "verified", "claimed_ch_per_hour", "audit",
}  # fmt: skip


# --- real reports, adverts and registry -----------------------------------------------------------


def make_run(factor: float) -> BenchRun:
    def result(name: str) -> BenchResult:
        median = PROFILE.benchmarks[name].value * factor
        samples = (median * 0.99, median, median * 1.01)
        return BenchResult(
            name=name,
            unit=PROFILE.benchmarks[name].unit,
            samples=samples,
            summary=summarize(samples),
            shape="4096x4096x4096",
            check="freivalds",
            iters_per_sample=3,
        )

    return BenchRun(
        backend="numpy",
        device=DeviceInfo("cpu", "Test CPU", "TestVendor", 16 * 2**30, {"threads": 8, "blas": "openblas"}),
        quick=True,
        results=tuple(result(n) for n in MEASURED),
        telemetry=empty_telemetry(),
        duration_s=12.5,
    )


def advert(
    key: ParticipantKey,
    peer_id: str,
    *,
    factor: float = 1.0,
    now: int | None = None,
    ttl_s: int = 600,
    nonce: int = 1,
    price: int = 250_000,
) -> tuple[bytes, dict[str, Any]]:
    """A signed advert of a report rated in class hpc (``factor`` × the reference: ``factor`` CH/h)."""
    now = int(time.time()) if now is None else now
    report = build_report(make_run(factor), PROFILE, key, market_class="hpc", now=now)
    data = make_advert(
        key,
        peer_id,
        report,
        price_per_ch=price,
        hours=8,
        nonce=nonce,
        now=now,
        ttl_s=ttl_s,
        listen_addrs=[f"/ip4/127.0.0.1/tcp/{4000 + nonce}"],
    )
    return data, report


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    (tmp_path / "coordinator").mkdir()
    return tmp_path / "coordinator" / "registry.sqlite"


@pytest.fixture
def registry(db_path: Path) -> Registry:
    return Registry(RegistryStore(db_path), PROFILE, clock=time.time, observer=Metrics())


@pytest.fixture
def keys(isolated_home: Path) -> dict[str, ParticipantKey]:
    return {name: new_key(name) for name in ("one", "two", "old", "forger")}


@pytest.fixture
def populated(registry: Registry, keys: dict[str, ParticipantKey]) -> dict[str, dict[str, Any]]:
    """peer-1 (1 CH/h, C), peer-2 (2 CH/h, B), peer-old (expired); returns their reports."""
    reports = {}
    data, reports["peer-1"] = advert(keys["one"], "peer-1", factor=1.0)
    assert registry.ingest_advert(data, "peer-1", keys["one"].address)
    data, reports["peer-2"] = advert(keys["two"], "peer-2", factor=2.0, price=600_000)
    assert registry.ingest_advert(data, "peer-2", keys["two"].address)
    then = int(time.time()) - 300  # accepted then, expired 4 minutes ago
    data, reports["peer-old"] = advert(keys["old"], "peer-old", now=then, ttl_s=60)
    assert registry.ingest_advert(data, "peer-old", keys["old"].address, now=then)
    return reports


@asynccontextmanager
async def serving(registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    """The API served for real on a free loopback port; a client pointed at it."""
    async with trio.open_nursery() as nursery:
        metrics = registry.observer if isinstance(registry.observer, Metrics) else None
        app = create_app(registry, info=INFO, registry_metrics=metrics)
        port = await nursery.start(serve_api, app, "127.0.0.1", 0)
        assert isinstance(port, int)
        assert port > 0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
        nursery.cancel_scope.cancel()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    assert body["message"]
    return body  # type: ignore[no-any-return]


# --- listings -------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_listing_shape_and_fields(
    registry: Registry, keys: dict[str, ParticipantKey], populated: dict[str, dict[str, Any]]
) -> None:
    async with serving(registry) as client:
        before = int(time.time())
        response = await client.get("/v1/providers")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"providers", "count", "now"}
    assert abs(body["now"] - before) <= 2
    assert body["count"] == 2
    one, two = body["providers"]  # ordered by peer id; the expired one is not listed
    assert set(one) == VIEW_FIELDS
    assert one["peer_id"] == "peer-1"
    assert one["address"] == keys["one"].address
    assert one["stake_address"] == keys["one"].address
    assert one["grade"] == "C??"  # no uptime history yet, no energy telemetry
    assert one["grades"] == {"performance": "C", "reliability": "?", "energy": "?"}
    assert one["ch_per_hour"] == 1.0
    assert one["ch_per_hour_micro"] == 1_000_000
    assert one["verified"] is True and one["audit"] is None  # no audits: the claim is believed
    assert one["claimed_ch_per_hour"] == 1.0
    assert one["uptime"] is None
    assert one["price"] == 250_000
    assert one["hours"] == 8
    assert one["listed"] is True
    assert one["nonce"] == 1
    assert one["expires_at"] == one["first_seen"] + 600
    assert one["last_seen"] == one["first_seen"]
    assert one["listen_addrs"] == ["/ip4/127.0.0.1/tcp/4001"]
    assert one["report_digest"].startswith("0x")
    assert len(one["report_digest"]) == 66
    assert two["peer_id"] == "peer-2"
    assert two["grades"]["performance"] == "B"
    assert two["ch_per_hour_micro"] == 2_000_000
    assert two["price"] == 600_000


@pytest.mark.trio
async def test_filters(registry: Registry, populated: dict[str, dict[str, Any]]) -> None:
    async def peers(**params: Any) -> list[str]:
        response = await client.get("/v1/providers", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["providers"])
        return [p["peer_id"] for p in body["providers"]]

    async with serving(registry) as client:
        assert await peers(include_expired="true") == ["peer-1", "peer-2", "peer-old"]
        assert await peers(include_expired="false") == ["peer-1", "peer-2"]
        assert await peers(grade="B") == ["peer-2"]
        assert await peers(grade="C") == ["peer-1"]
        assert await peers(grade="C", include_expired="true") == ["peer-1", "peer-old"]
        assert await peers(grade="A") == []
        assert await peers(min_ch_per_hour=1.0) == ["peer-1", "peer-2"]
        assert await peers(min_ch_per_hour=1.000001) == ["peer-2"]
        assert await peers(min_ch_per_hour=2.5) == []
        assert await peers(min_ch_per_hour=1.5, grade="C") == []
        expired = (await client.get("/v1/providers", params={"include_expired": True})).json()
    old = expired["providers"][2]
    assert old["listed"] is False
    assert old["expires_at"] < expired["now"]


@pytest.mark.trio
async def test_provider_with_report(registry: Registry, populated: dict[str, dict[str, Any]]) -> None:
    async with serving(registry) as client:
        response = await client.get("/v1/providers/peer-2")
        listing = (await client.get("/v1/providers")).json()
        expired = await client.get("/v1/providers/peer-old")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == VIEW_FIELDS | {"report", "audits", "mismatches"}
    assert body["mismatches"] == []  # no job book here
    assert body["report"] == json.loads(json.dumps(populated["peer-2"]))
    assert body["report"]["ch_per_hour"] == 2.0
    assert body["audits"] == []  # this registry runs no audits: claims are believed
    detail_only = ("report", "audits", "mismatches")
    assert {k: v for k, v in body.items() if k not in detail_only} == listing["providers"][1]
    assert expired.status_code == 200  # known providers are answered whether listed or not
    assert expired.json()["listed"] is False


@pytest.mark.trio
async def test_unknown_provider_is_404_json(registry: Registry, populated: dict[str, dict[str, Any]]) -> None:
    async with serving(registry) as client:
        body = assert_error(await client.get("/v1/providers/peer-404"), 404, "unknown_provider")
        assert "peer-404" in body["message"]
        assert_error(await client.get("/v1/nowhere"), 404, "not_found")
        assert_error(await client.post("/v1/providers"), 405, "method_not_allowed")


@pytest.mark.trio
@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/v1/providers", {"grade": "E"}, "grade"),
        ("/v1/providers", {"grade": "b"}, "grade"),
        ("/v1/providers", {"grade": "AB"}, "grade"),
        ("/v1/providers", {"min_ch_per_hour": "fast"}, "min_ch_per_hour"),
        ("/v1/providers", {"min_ch_per_hour": "-1"}, "min_ch_per_hour"),
        ("/v1/providers", {"min_ch_per_hour": "nan"}, "min_ch_per_hour"),
        ("/v1/providers", {"min_ch_per_hour": "inf"}, "min_ch_per_hour"),
        ("/v1/providers", {"include_expired": "perhaps"}, "include_expired"),
        ("/v1/providers/" + "p" * 129, {}, "peer_id"),
    ],
)
async def test_bad_input_is_422_json(
    registry: Registry, populated: dict[str, dict[str, Any]], path: str, params: dict[str, str], needle: str
) -> None:
    async with serving(registry) as client:
        body = assert_error(await client.get(path, params=params), 422, "invalid_request")
        assert needle in body["message"]
        assert (await client.get("/healthz")).json() == {"ok": True}  # still serving


# --- metrics, info, OpenAPI -----------------------------------------------------------------------


@pytest.mark.trio
async def test_metrics_count_accepted_and_forged(registry: Registry, keys: dict[str, ParticipantKey]) -> None:
    data, _ = advert(keys["one"], "peer-1")
    assert registry.ingest_advert(data, "peer-1", keys["one"].address)
    forged = wire.unpack(advert(keys["forger"], "peer-9")[0])
    forged["price_per_ch"] = 1  # altered after signing
    assert not registry.ingest_advert(wire.canonical_bytes(forged), "peer-9", keys["forger"].address)
    async with serving(registry) as client:
        response = await client.get("/metrics")
        listing = (await client.get("/v1/providers")).json()
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    lines = response.text.splitlines()
    assert "gcx_adverts_accepted_total 1.0" in lines
    assert 'gcx_adverts_rejected_total{reason="signature"} 1.0' in lines
    assert 'gcx_adverts_rejected_total{reason="replay"} 0.0' in lines
    assert [p["peer_id"] for p in listing["providers"]] == ["peer-1"]


@pytest.mark.trio
async def test_info_and_health(registry: Registry) -> None:
    async with serving(registry) as client:
        info = await client.get("/v1/info")
        health = await client.get("/healthz")
    assert info.status_code == 200
    assert info.json() == INFO
    assert health.json() == {"ok": True}


@pytest.mark.trio
async def test_openapi_documents_routes_and_fields(registry: Registry) -> None:
    async with serving(registry) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["info"] == {
        "title": "GCX coordinator",
        "version": __version__,
        "description": doc["info"]["description"],
    }
    assert set(doc["paths"]) >= {
        "/v1/providers",
        "/v1/providers/{peer_id}",
        "/v1/info",
        "/healthz",
        "/metrics",
    }
    schemas = doc["components"]["schemas"]
    assert set(schemas["ProviderView"]["properties"]) == VIEW_FIELDS
    assert set(schemas["Grades"]["properties"]) == {"performance", "reliability", "energy"}
    assert {"report", "audits", "mismatches"} <= set(schemas["ProviderDetail"]["properties"])
    params = {p["name"]: p for p in doc["paths"]["/v1/providers"]["get"]["parameters"]}
    assert set(params) == {"include_expired", "grade", "min_ch_per_hour"}
    assert "404" in doc["paths"]["/v1/providers/{peer_id}"]["get"]["responses"]
    assert doc["paths"]["/v1/providers"]["get"]["responses"]["422"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/ErrorBody"}


# --- persistence and the server itself ------------------------------------------------------------


@pytest.mark.trio
async def test_listing_survives_restart(
    registry: Registry, db_path: Path, populated: dict[str, dict[str, Any]]
) -> None:
    def stable(listing: dict[str, Any]) -> list[dict[str, Any]]:
        """Everything but what uptime (measured against the clock) decides."""
        drop = {"uptime", "grade", "grades"}
        return [{k: v for k, v in p.items() if k not in drop} for p in listing["providers"]]

    async with serving(registry) as client:
        before = (await client.get("/v1/providers", params={"include_expired": True})).json()
        detail_before = (await client.get("/v1/providers/peer-1")).json()
    registry.store.close()

    reopened = Registry(RegistryStore(db_path), PROFILE, clock=time.time, observer=Metrics())
    async with serving(reopened) as client:
        after = (await client.get("/v1/providers", params={"include_expired": True})).json()
        detail_after = (await client.get("/v1/providers/peer-1")).json()
        metrics = (await client.get("/metrics")).text.splitlines()
    assert after["count"] == before["count"] == 3
    assert stable(after) == stable(before)
    assert detail_after["report"] == detail_before["report"]
    assert "gcx_adverts_accepted_total 0.0" in metrics  # counters are per process, the data is not
    reopened.store.close()


@pytest.mark.trio
async def test_registry_failure_is_500_json(
    registry: Registry, populated: dict[str, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(registry) as client:
        registry.store.close()  # every query now raises sqlite3.ProgrammingError
        assert_error(await client.get("/v1/providers"), 500, "internal_error")
        assert_error(await client.get("/v1/providers/peer-1"), 500, "internal_error")
        assert (await client.get("/healthz")).json() == {"ok": True}
    assert any(r.name == "gcx.coordinator.http" and r.exc_info for r in caplog.records)


@pytest.mark.trio
async def test_port_in_use_is_a_config_error(registry: Registry) -> None:
    app = create_app(registry, info=INFO)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_api, app, "127.0.0.1", 0)
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            await nursery.start(serve_api, app, "127.0.0.1", port)
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_shutdown_trigger_stops_the_server(registry: Registry) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_api(
                create_app(registry, info=INFO), port=0, shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200
        stop.set()
    with pytest.raises(httpx.ConnectError):  # serve_api returned: nothing listens any more
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await client.get("/healthz")
