"""Every advert the coordinator refuses is counted in ``gcx_adverts_rejected_total`` with its
reason: stream-level refusals (too large, cut short, too slow, too many streams from one peer),
a sender without a secp256k1 identity (which gets a verdict), and adverts whose fields only look
valid. Real coordinator, real libp2p hosts on loopback, the real HTTP API."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair as new_ed25519_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from multiaddr import Multiaddr

from coordinator.daemon import run_coordinator
from gcx import signing, wire
from gcx.advert import ADVERT_PROTOCOL, HEARTBEAT_PROTOCOL, make_advert
from gcx.keys import ParticipantKey, new_key
from gcx.p2p import FrameTooLarge, connect, open_host, request
from gcx.reference import load_profile
from gcx.settings import CoordinatorSettings, ExchangeSettings, NetworkSettings, Settings

pytestmark = pytest.mark.timeout(120)
PROFILE = load_profile()
REQUEST_TIMEOUT_S = 1.5  # the coordinator's deadline for reading and handling one request
HOG_STREAMS = 300  # more than the 256 the coordinator takes in flight per protocol (8 per peer)


async def _start(nursery: trio.Nursery, settings: Settings, key: ParticipantKey) -> dict[str, Any]:
    got: dict[str, Any] = {}
    ready = trio.Event()

    def on_ready(info: dict[str, Any]) -> None:
        got.update(info)
        ready.set()

    nursery.start_soon(run_coordinator, settings, key, PROFILE, on_ready)
    with trio.fail_after(30):
        await ready.wait()
    return got


async def rejected(client: httpx.AsyncClient, api: str) -> dict[str, float]:
    text = (await client.get(f"{api}/metrics")).text
    return {
        m[0]: float(m[1]) for m in re.findall(r'gcx_adverts_rejected_total\{reason="(\w+)"\} (\S+)', text)
    }


async def wait_for(client: httpx.AsyncClient, api: str, reason: str, count: float) -> dict[str, float]:
    with trio.fail_after(10):
        while (counts := await rejected(client, api))[reason] < count:
            await trio.sleep(0.05)
    return counts


def advert_for(key: ParticipantKey, peer_id: str, report: dict[str, Any], **kw: Any) -> bytes:
    args: dict[str, Any] = {
        "price_per_ch": 400_000,
        "hours": 24,
        "nonce": time.time_ns(),
        "now": int(time.time()),
        "ttl_s": 120,
        "listen_addrs": [],
    }
    args.update(kw)
    return make_advert(key, peer_id, report, **args)


def resigned(data: bytes, key: ParticipantKey, **changes: Any) -> bytes:
    raw = {k: v for k, v in wire.unpack(data).items() if k != "signature"}
    raw.update(changes)
    raw["signature"] = signing.sign(raw, key.private_key)
    return wire.canonical_bytes(raw)


async def verdict(host: IHost, peer: Any, payload: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = wire.unpack(await request(host, peer, ADVERT_PROTOCOL, payload, timeout_s=10))
    return answer


async def half_written(host: IHost, peer: Any) -> INetStream | None:
    """An advert stream whose frame announces 100 bytes and carries 3, then stalls (None if the
    coordinator refused the stream before that)."""
    try:
        stream = await host.new_stream(peer, [TProtocol(ADVERT_PROTOCOL)])
        await stream.write(b"\x00\x00\x00\x64abc")
    except BaseLibp2pError:
        return None
    return stream


@asynccontextmanager
async def ed25519_host() -> AsyncIterator[IHost]:
    """A Noise/Yamux host whose identity is an Ed25519 key: a valid libp2p peer without an
    Ethereum address."""
    key_pair = new_ed25519_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair, sec_opt={NOISE_PROTOCOL_ID: noise}, muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux}
    )
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 5):
                await host.close()


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        network=NetworkSettings(request_timeout_s=REQUEST_TIMEOUT_S),
        coordinator=CoordinatorSettings(api_port=0, database=tmp_path / "registry.sqlite"),
        exchange=ExchangeSettings(enabled=False),
    )


@pytest.mark.trio
async def test_stream_refusals_and_a_foreign_identity_are_counted(
    isolated_home: Path, tmp_path: Path, make_report: Callable[..., dict[str, Any]]
) -> None:
    coordinator_key, node_key, hog_key = new_key("coordinator"), new_key("node"), new_key("hog")
    report = make_report(node_key)
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=5) as client:
        info = await _start(nursery, _settings(tmp_path), coordinator_key)
        api, target = info["api"], info["multiaddrs"][0]
        async with open_host(node_key.private_key) as node, open_host(hog_key.private_key) as hog:
            coordinator = await connect(node, target, 10)
            await connect(hog, target, 10)

            # Above the frame limit: answered frame_too_large, counted as oversize.
            with pytest.raises(FrameTooLarge):
                await request(node, coordinator, ADVERT_PROTOCOL, b"\x00" * 200_000, timeout_s=10)
            await wait_for(client, api, "oversize", 1)
            # Cut short: the stream ends half-way through the frame.
            cut = await half_written(node, coordinator)
            assert cut is not None
            await cut.close()
            await wait_for(client, api, "truncated", 1)
            # Too slow: the frame is never finished (answered "timeout" after 1.5 s).
            stalled = await half_written(node, coordinator)
            assert stalled is not None
            await wait_for(client, api, "timeout", 1)
            with suppress(BaseLibp2pError):
                await stalled.reset()

            # One peer holds 300 half-written streams: beyond its allowance they are reset and
            # counted; an honest advert from another peer still gets its verdict meanwhile (before
            # the per-peer cap the hog held all 256 slots of the protocol and the rest blocked).
            before = await rejected(client, api)
            hog_streams = [await half_written(hog, coordinator) for _ in range(HOG_STREAMS)]
            with trio.fail_after(5):
                answer = await verdict(
                    node, coordinator, advert_for(node_key, node.get_id().to_base58(), report)
                )
            assert answer == {"accepted": True, "reason": None, "time": answer["time"]}
            for stream in hog_streams:
                if stream is not None:
                    with suppress(BaseLibp2pError):
                        await stream.reset()
            # Every one of the hog's streams is counted: refused at once (peer_busy), or held
            # until the 1.5 s deadline (timeout) or until it was reset (truncated).
            kinds = ("peer_busy", "timeout", "truncated")
            with trio.fail_after(10):
                while True:
                    counts = await rejected(client, api)
                    if sum(counts[k] - before[k] for k in kinds) >= HOG_STREAMS:
                        break
                    await trio.sleep(0.05)
            assert sum(counts[k] - before[k] for k in kinds) == HOG_STREAMS
            assert counts["peer_busy"] - before["peer_busy"] >= HOG_STREAMS // 2  # at most 8 held at once
            assert counts["busy"] == 0

        # A peer whose identity is Ed25519 has no Ethereum address: a verdict, not an RPC error.
        async with ed25519_host() as stranger:
            peer = await connect(stranger, target, 10)
            answer = await verdict(stranger, peer, b"\xc0")
            assert answer["accepted"] is False
            assert answer["reason"].startswith("identity: ") and "secp256k1" in answer["reason"]

        counts = await rejected(client, api)
        assert counts["identity"] == 1 and counts["oversize"] == 1 and counts["busy"] == 0
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_adverts_that_only_look_valid_are_refused_over_the_wire(
    isolated_home: Path, tmp_path: Path, make_report: Callable[..., dict[str, Any]]
) -> None:
    coordinator_key, node_key = new_key("coordinator"), new_key("node")
    report = make_report(node_key)
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=5) as client:
        info = await _start(nursery, _settings(tmp_path), coordinator_key)
        async with open_host(node_key.private_key) as node:
            coordinator = await connect(node, info["multiaddrs"][0], 10)
            me = node.get_id().to_base58()
            # `"v": true` is not v = 1, even correctly signed.
            answer = await verdict(
                node, coordinator, resigned(advert_for(node_key, me, report), node_key, v=True)
            )
            assert answer["accepted"] is False and answer["reason"].startswith("schema: ")
            # Expiring before it was issued (issued within the allowed clock skew).
            now = int(time.time())
            backwards = resigned(
                advert_for(node_key, me, report), node_key, issued_at=now + 10, expires_at=now + 5
            )
            answer = await verdict(node, coordinator, backwards)
            assert answer["accepted"] is False and answer["reason"].startswith("ttl: ")
            # A byte-identical copy is a duplicate while the advert is valid, refused once expired.
            data = advert_for(node_key, me, report, ttl_s=1)
            assert (await verdict(node, coordinator, data))["accepted"] is True
            assert (await verdict(node, coordinator, data))["accepted"] is True
            await trio.sleep(2.1)
            answer = await verdict(node, coordinator, data)
            assert answer["accepted"] is False and answer["reason"].startswith("expired: ")
        counts = await rejected(client, info["api"])
        assert (counts["schema"], counts["ttl"], counts["expired"]) == (1, 1, 1)
        nursery.cancel_scope.cancel()


async def heartbeats(client: httpx.AsyncClient, api: str) -> dict[str, float]:
    text = (await client.get(f"{api}/metrics")).text
    return {m[0]: float(m[1]) for m in re.findall(r'gcx_heartbeats_total\{outcome="(\w+)"\} (\S+)', text)}


@pytest.mark.trio
async def test_heartbeat_stream_refusals_are_counted(isolated_home: Path, tmp_path: Path) -> None:
    coordinator_key, node_key = new_key("coordinator"), new_key("node")
    async with trio.open_nursery() as nursery, httpx.AsyncClient(timeout=5) as client:
        info = await _start(nursery, _settings(tmp_path), coordinator_key)
        api, target = info["api"], info["multiaddrs"][0]
        assert (await heartbeats(client, api))["oversize"] == 0
        async with open_host(node_key.private_key) as node:
            coordinator = await connect(node, target, 10)
            with pytest.raises(FrameTooLarge):
                await request(node, coordinator, HEARTBEAT_PROTOCOL, b"\x00" * 20_000, timeout_s=10)
            stream = await node.new_stream(coordinator, [TProtocol(HEARTBEAT_PROTOCOL)])
            await stream.write(b"\x00\x00\x00\x64abc")  # announces 100 bytes, sends 3, ends
            await stream.close()
            with trio.fail_after(10):
                while (counts := await heartbeats(client, api))["truncated"] < 1 or counts["oversize"] < 1:
                    await trio.sleep(0.05)
        assert counts["oversize"] == 1 and counts["truncated"] == 1 and counts["accepted"] == 0
        assert (await rejected(client, api))["oversize"] == 0  # a heartbeat is not an advert
        nursery.cancel_scope.cancel()
