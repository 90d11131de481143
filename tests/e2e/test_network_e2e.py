"""The whole provider network in real processes on loopback: a coordinator and node agents
started by the devnet supervisor, then restarted, killed and silenced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gcx.devnet import Devnet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# Short timers so the test sees expiry and uptime change within seconds.
NODE_ENV = {
    "GCX_NODE__ADVERT_TTL_S": "12",
    "GCX_NODE__ADVERT_INTERVAL_S": "2.0",
    "GCX_NODE__HEARTBEAT_INTERVAL_S": "0.5",
}
COORDINATOR_ENV = {"GCX_COORDINATOR__UPTIME_SLOT_S": "1"}


def providers(api: str, include_expired: bool = False) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{api}/v1/providers", params={"include_expired": include_expired}, timeout=5)
    response.raise_for_status()
    return {p["peer_id"]: p for p in response.json()["providers"]}


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    base = tmp_path_factory.mktemp("devnet")
    with Devnet(3, base=base / "devnet", node_env=NODE_ENV, coordinator_env=COORDINATOR_ENV) as devnet:
        yield devnet


def test_nodes_join_advertise_and_are_listed(net: Devnet) -> None:
    listed = providers(net.summary["api"])
    nodes = {n["peer_id"]: n for n in net.summary["nodes"]}
    assert set(listed) == set(nodes)
    for peer_id, p in listed.items():
        assert p["address"] == nodes[peer_id]["node"]
        # the devnet waits for each node's first capacity audit (short ones: 0.3 s at the claim)
        assert p["verified"] is True and p["audit"]["last_verdict"] == "passed", p["audit"]
        assert p["grade"][0] in "ABCD" and p["grade"][2] in "XYZ?"
        assert p["ch_per_hour"] > 0 and p["hours"] == 24 and p["price"] == 500_000
    detail = httpx.get(f"{net.summary['api']}/v1/providers/{next(iter(listed))}", timeout=5).json()
    assert detail["report"]["schema"] == "gcx.bench/1"
    assert detail["audits"][0]["verdict"] == "passed" and detail["audits"][0]["record"].startswith("0x")
    metrics = httpx.get(f"{net.summary['api']}/metrics", timeout=5).text
    assert "gcx_adverts_accepted_total" in metrics


def test_heartbeats_give_a_reliability_grade(net: Devnet) -> None:
    api = net.summary["api"]
    wait_for(
        lambda: all(p["uptime"] is not None for p in providers(api).values()), 30, "uptime to be measured"
    )
    for p in providers(api).values():
        assert p["uptime"] > 80.0
        assert p["grades"]["reliability"] in "1234"


def test_a_restarted_node_keeps_its_identity_and_advertises_again(net: Devnet) -> None:
    api = net.summary["api"]
    peer = net.summary["nodes"][0]["peer_id"]
    before = providers(api)[peer]["nonce"]
    net.restart("node-1")
    wait_for(lambda: providers(api)[peer]["nonce"] > before, 60, "a new advert from the restarted node")


def test_a_coordinator_restart_keeps_the_registry(net: Devnet) -> None:
    api = net.summary["api"]
    before = providers(api, include_expired=True)
    net.restart("coordinator")
    after = providers(api, include_expired=True)
    assert set(after) == set(before)  # read back from SQLite before any new advert
    # and the nodes find the coordinator again and keep advertising
    nonces = {k: v["nonce"] for k, v in after.items()}
    wait_for(
        lambda: all(p["nonce"] > nonces[k] for k, p in providers(api).items()) and len(providers(api)) == 3,
        60,
        "adverts after the coordinator restart",
    )


def test_nodes_stake_on_first_start_and_an_unbonding_provider_is_dropped(
    net: Devnet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gcx.chain import PROVIDER, Chain, read_deployment
    from gcx.keys import load_key

    api = net.summary["api"]
    listed = providers(api)
    assert all(p["staked"] is True for p in listed.values())
    node = next(n for n in net.summary["nodes"] if n["name"] == "node-2")
    monkeypatch.setenv("GCX_HOME", str(Path(net.summary["home"]) / "node-2"))
    chain = Chain(read_deployment(Path(net.summary["chain"]["deployment"])), load_key("node").private_key)
    bonded = chain.call("StakingRegistry", "stakeOf", node["node"], PROVIDER)[0]
    assert bonded == chain.call("StakingRegistry", "minStake", PROVIDER) > 0  # staked on first start
    chain.transact("StakingRegistry", "requestUnbond", PROVIDER, bonded)
    wait_for(lambda: node["peer_id"] not in providers(api), 30, "the unbonding provider to be dropped")
    dropped = providers(api, include_expired=True)[node["peer_id"]]
    assert dropped["staked"] is False and dropped["listed"] is False


def test_a_node_that_dies_silently_loses_uptime_then_leaves_the_listing(net: Devnet) -> None:
    api = net.summary["api"]
    victim = next(c for c in net.children if c.name == "node-3")
    peer = victim.info["peer_id"]
    up = providers(api)[peer]["uptime"]
    victim.proc.send_signal(signal.SIGKILL)  # no goodbye, no more heartbeats
    victim.proc.wait()
    wait_for(lambda: providers(api, include_expired=True)[peer]["uptime"] < up - 5, 30, "uptime to fall")
    wait_for(lambda: peer not in providers(api), 30, "the silent node's advert to expire")
    assert peer in providers(api, include_expired=True)
    net.children.remove(victim)
    victim.log.close()


def test_status_files_exist(net: Devnet) -> None:
    state = Path(net.summary["home"]) / "state.json"
    assert state.is_file()
    assert (Path(net.summary["home"]) / "coordinator" / "coordinator" / "registry.sqlite").is_file()


def test_devnet_status_reports_processes_and_providers(net: Devnet) -> None:
    home = Path(net.summary["home"]).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")} | {"GCX_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "gcx", "devnet", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["api_ok"] is True and status["api"] == net.summary["api"]
    assert status["processes"]["coordinator"] is True
    assert {p["peer_id"] for p in status["providers"]} <= {n["peer_id"] for n in net.summary["nodes"]}


def test_devnet_up_cli_prints_the_api_and_stops_everything_on_sigint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCX_")} | {"GCX_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcx", "devnet", "up", "--nodes", "1", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["api"].startswith("http://127.0.0.1:")
        assert len(providers(ready["api"])) == 1
        pids = json.loads((tmp_path / "devnet" / "state.json").read_text())["pids"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        for pid in pids.values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_devnet_serves_the_exchange_signed_for_its_chain(net: Devnet) -> None:
    from gcx.chain import read_deployment
    from gcx.cli.devnet import exchange_demo

    demo = exchange_demo(net.summary["api"])
    deployment = read_deployment(Path(net.chain["deployment"]))
    domain = demo["exchange"]["domain"]
    assert domain["chainId"] == deployment.chain_id
    assert domain["verifyingContract"] == deployment.contracts["CollateralVault"].address
    assert [(f["qty"], f["price"]) for f in demo["trade"]] == [(4, demo["price"])]
    assert [demo["price"], 6] in demo["book"]["asks"]
