"""``gcx node run`` with a chain: the daemon takes jobs on /gcx/job/1, serves their data, and its
adverts' ``hours`` fall while a job is accepted and unsubmitted, re-advertised at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from node_jobs_helpers import (
    PRICE_PER_CH,
    PROFILE,
    ChainEnv,
    fake_coordinator,
    make_test_job,
    open_job,
    wait_for,
)

from gcx.chain import Chain, faucet, write_deployment
from gcx.jobs.delivery import Accept
from gcx.keys import new_key
from gcx.p2p import listen_addrs
from gcx.settings import ChainSettings, NetworkSettings, NodeSettings, Settings
from node_agent.daemon import NodeDaemon
from node_agent.jobs.state import JobTable, default_table_path
from node_agent.reports import latest_report_path, save_report

pytestmark = pytest.mark.timeout(180)


@pytest.mark.trio
async def test_the_daemon_runs_offered_jobs_and_advertises_its_free_hours(
    env: ChainEnv,
    isolated_home: Path,
    tmp_path: Path,
    make_report: Callable[..., dict[str, Any]],
) -> None:
    key = new_key("node")
    save_report(latest_report_path(), make_report(key, now=None))  # 1 CH/h, reused: no benchmark
    faucet(env.anvil.rpc_url, env.deployment, env.deployer, key.address)
    buyer = env.funded()
    job = make_test_job()
    async with fake_coordinator(tmp_path, gated_data=True) as coord, trio.open_nursery() as nursery:
        coord.store.put(0, job.a)
        settings = Settings(
            node=NodeSettings(backend="numpy", bench_mode="quick", market_class="hpc", hours=24, price_per_ch=PRICE_PER_CH,
                              advert_interval_s=600.0),
            network=NetworkSettings(bootstrap=[listen_addrs(coord.host)[0]], request_timeout_s=5.0),
            chain=ChainSettings(rpc_url=env.anvil.rpc_url, deployment=write_deployment(env.deployment, tmp_path / "d.json")),
        )  # fmt: skip
        daemon = NodeDaemon(settings, key, PROFILE)
        ready = trio.Event()
        nursery.start_soon(daemon.run, lambda _info: ready.set())
        with trio.fail_after(60):
            await ready.wait()
        await wait_for(lambda: coord.adverts, what="the first advert")
        assert coord.adverts[-1] == 24 and daemon.stake is not None

        job_id = open_job(buyer, key.address, job.price, program=job.program)
        node_peer = daemon.peer_id
        assert await coord.send(node_peer, job.offer(job_id, buyer)) == Accept(job_id)
        # at once (advert_interval_s is 600 s): one hour of the 24 is taken by the job
        await wait_for(lambda: coord.adverts[-1] == 23, timeout_s=10, what="an advert of 23 hours")
        coord.data_gate.set()
        await wait_for(lambda: coord.results, what="a Result")
        await wait_for(lambda: coord.adverts[-1] == 24, timeout_s=10, what="the hours back")
        assert bytes(Chain(env.deployment).call("JobEscrow", "getJob", job_id)[7]) == job.honest.result_root
        nursery.cancel_scope.cancel()
    rec = JobTable(default_table_path()).get(job_id)
    assert rec is not None and rec.state == "submitted" and rec.acked
