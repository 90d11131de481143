"""The order-entry benchmark (``bench.api``): its flow, its signatures and its wire
format offline, then a tiny run end to end against the real ``gcx coordinator run`` process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from websockets.utils import apply_mask

from bench import api as bench_api
from bench.api import lanes as bench_lanes
from bench.api import raw_client
from gcx.orders import Domain, verify_cancel, verify_order

DOMAIN = Domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def test_the_flow_keeps_each_accounts_nonces_in_order_and_cancels_its_own_earlier_orders() -> None:
    accounts = bench_api.make_accounts(3)
    flow = bench_api.make_flow(accounts, 3000, reference=2000, seed=7)
    assert len(flow.messages) == 3000
    last_nonce = [0, 0, 0]
    placed: list[dict[int, int]] = [{}, {}, {}]  # client order id -> position, per account
    cancelled: set[tuple[int, int]] = set()
    for position, m in enumerate(flow.messages):
        msg = m.message
        assert msg["account"] == accounts[m.account][0]
        assert msg["nonce"] == last_nonce[m.account] + 1
        last_nonce[m.account] = msg["nonce"]
        if m.kind == "cancel":
            cid = msg["clientOrderId"]
            assert placed[m.account].get(cid, position) < position, "a cancel names an earlier order"
            assert (m.account, cid) not in cancelled
            cancelled.add((m.account, cid))
        else:
            assert msg["clientOrderId"] not in placed[m.account]
            placed[m.account][msg["clientOrderId"]] = position
            assert abs(msg["price"] - 2000) <= 20
            assert msg["orderType"] == (0 if m.kind == "gtc" else 1)
    kinds = {k: sum(m.kind == k for m in flow.messages) / 3000 for k in ("gtc", "ioc", "cancel")}
    assert 0.62 < kinds["gtc"] < 0.78 and 0.06 < kinds["ioc"] < 0.14 and 0.13 < kinds["cancel"] < 0.25


def test_the_lanes_keep_each_account_on_one_connection_in_flow_order() -> None:
    flow = bench_api.make_flow(bench_api.make_accounts(10), 500, seed=3)
    for per_lane in (1, 4):
        lanes = bench_lanes._lanes(flow, 3, range(20, 500), per_lane)
        assert sorted(i for lane in lanes for i in lane) == list(range(20, 500))
        for lane in lanes:
            assert lane == sorted(lane)
        owner: dict[int, int] = {}
        for n, lane in enumerate(lanes):
            for i in lane:
                assert owner.setdefault(flow.messages[i].account, n) == n


def test_signatures_from_the_pool_verify_in_order() -> None:
    flow = bench_api.make_flow(bench_api.make_accounts(2), 120, seed=1)
    signed = bench_api.sign_flow(flow, DOMAIN, processes=2)
    now, last_nonce = int(time.time()), dict[str, int]()
    for m, sig in zip(signed.messages, signed.signatures, strict=True):
        verify = verify_cancel if m.kind == "cancel" else verify_order
        account = verify(m.message, sig, DOMAIN, now=now)
        assert account == m.message["account"]
        assert m.message["nonce"] > last_nonce.get(account, -1)  # in order, as admission needs
        last_nonce[account] = m.message["nonce"]


def test_the_wire_formats() -> None:
    signed = bench_api.sign_flow(bench_api.make_flow(bench_api.make_accounts(1), 3, seed=2), DOMAIN, 1)
    texts = bench_api.encode_ws(signed)
    frame = json.loads(texts[1])
    assert frame["id"] == 1 and frame["op"] in ("place", "cancel") and frame["signature"].startswith("0x")
    framed = bench_api.ws_frame(texts[1])
    parsed, used = raw_client._parse_frames(bytearray(framed))
    assert used == len(framed) and parsed == [(-1, True, b"")]  # masked, as a client must
    payload = texts[1].encode()
    assert (
        framed[0] == 0x81 and framed[1] == 0x80 | 126 and int.from_bytes(framed[2:4], "big") == len(payload)
    )
    assert apply_mask(framed[8:], framed[4:8]) == payload
    unmasked = bytes((0x81, 126)) + (300).to_bytes(2, "big") + b"x" * 300 + b"\x81\x05hello\x81"
    assert raw_client._parse_frames(bytearray(unmasked)) == (
        [(1, True, b"x" * 300), (1, True, b"hello")],
        311,
    )
    route, body = bench_api.encode_http(signed)[0]
    assert route == "/v1/orders" and json.loads(body)["message"] == signed.messages[0].message
    chunked = bytearray(b'HTTP/1.1 200 OK\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\nnext')
    assert raw_client._dechunk(chunked, 19) == (b'{"a":1}', len(chunked) - 4)


def test_the_http_client_goes_on_when_the_server_ends_a_keep_alive_connection() -> None:
    async def exchange() -> tuple[bench_api.Tally, int]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.IncompleteReadError):
                for n in range(3):  # three requests a connection, as hypercorn does with 1000
                    head = (await reader.readuntil(b"\r\n\r\n")).lower()
                    await reader.readexactly(int(head.split(b"content-length: ")[1].split(b"\r\n")[0]))
                    close = b"connection: close\r\n" if n == 2 else b""
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 25\r\n%s\r\n" % close)
                    writer.write(b'{"error":"unknown_order"}')
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        request = bench_api.http_request(f"127.0.0.1:{port}", "/v1/orders", b"{}")
        lane = bench_api.Lane(
            [bench_api.Unit(request, (i,)) for i in range(10)], {i: i for i in range(10)}, 10
        )
        conn = await raw_client._open(lambda: raw_client._HttpLoad("127.0.0.1", port), "127.0.0.1", port, 5.0)
        tally = bench_api.Tally(range(10))
        await asyncio.wait_for(conn.start(lane, tally), 10)
        conn.close()
        server.close()
        return tally, conn.reconnects

    tally, reconnects = asyncio.run(exchange())
    assert min(tally.latency_ns) > 0 and reconnects == 3
    assert tally.statuses == {"404": 10} and tally.codes == {"404 unknown_order": 10}
    assert not any(tally.errors().values())


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("mode", "client", "batch"),
    [("ws", "raw", 1), ("ws", "raw", 3), ("http", "raw", 1), ("ws", "lib", 3), ("http", "lib", 1)],
)
def test_a_tiny_run_against_the_real_coordinator_answers_every_order(
    tmp_path: Path, mode: bench_api.Mode, client: bench_api.Client, batch: int
) -> None:
    result = bench_api.run(
        orders=200,
        accounts=2,
        connections=2,
        window=4 * batch,
        batch=batch,
        mode=mode,
        client=client,
        warmup=20,
        processes=2,
        directory=tmp_path,
    )
    statuses = result["statuses"]
    assert result["errors"] == {"missing": 0, "server_errors": 0, "transport_errors": 0, "bad_replies": 0}
    assert result["warmup"]["errors"] == result["errors"]
    assert result["answered"] == result["orders"] == 200
    assert sum(statuses.values()) == 200
    assert sum(result["warmup"]["statuses"].values()) == 20
    assert sum(result["codes"].values()) == 200 - statuses.get("200", 0)
    assert sum(result["outcomes"].values()) == statuses.get("200", 0)
    assert statuses.get("200", 0) > 100, result  # signed, in band, in nonce order: mostly accepted
    assert "401" not in statuses and "409" not in statuses, result  # signatures good, nonces in order
    assert result["ok"] and result["journal"] == "FULL"
    assert result["orders_per_s"] > 0 and result["latency_ms"]["p99"] > 0
    assert not list(tmp_path.iterdir()), "the temporary home is removed"


def test_set_options_become_the_coordinators_environment_settings() -> None:
    from bench.api.cli import _env_settings

    assert _env_settings(["exchange.verify_workers=0", "exchange.snapshot_in_child=false"]) == {
        "GCX_EXCHANGE__VERIFY_WORKERS": "0",
        "GCX_EXCHANGE__SNAPSHOT_IN_CHILD": "false",
    }
    for bad in ("verify_workers=0", "exchange.verify_workers", ".x=1", "exchange.=1"):
        with pytest.raises(SystemExit, match=r"SECTION\.KEY=VALUE"):
            _env_settings([bad])
