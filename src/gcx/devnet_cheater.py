"""``gcx devnet scenario cheater``: the verification game end to end on a local network
(docs/verification.md, "The game"; docs/jobs.md).

A fresh devnet — anvil with the contracts, a coordinator, two honest nodes and one cheating node
(``fault.wrong_op``: it corrupts one op's output in every job), the devnet's honest verifier and a
second, *dishonest* challenger (a verifier whose own re-executions are corrupted by its
``fault.wrong_op``, so it "finds" mismatches in honest results and disputes them). A buyer
submits jobs to every node through the real SDK. Then:

* the honest verifier disputes the cheater's results on chain and wins: the cheater's job lock is
  slashed (burn / challenger / buyer) and the buyer refunded;
* the dishonest challenger disputes honest results and loses every game: its bond goes to the
  provider net of the burn, and the honest jobs finalize once their windows have closed and
  their disputes ended.

Everything is read back from the chain, as an auditor would: ``DisputeOpened``/``Moved``/
``DisputeEnded`` of the VerificationGame, every game transaction's receipt (gas per move kind),
``Slashed`` of the StakingRegistry, ``JobFinalized``/``JobRefunded`` of the JobEscrow. Nothing
here plays a party: each runs in its own process and plays by itself.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from eth_account import Account

from .devnet import Devnet, DevnetError
from .devnet_jobs import MAX_PRICE, _providers, _verifier_status, _wait
from .game.play import Phase

log = logging.getLogger("gcx.devnet.cheater")

CHEATER_NODE = 3
CHEATER_WRONG_OP = 0
DISHONEST = "challenger-2"
DISHONEST_WRONG_OP = 0
"""The dishonest challenger corrupts op 0 as the cheater does, so it agrees with the cheater and
"disagrees" with every honest provider (an accomplice of the cheater's, in effect)."""
GRADE = "D"
CHALLENGE_WINDOW_S = 45


def plan(nodes: int) -> list[tuple[str, bytes, int]]:
    """(name, job bytes, node) of the scenario's jobs: the digits classifier on the cheater (first:
    once its wrong result is reported the coordinator stops quoting it), then on an honest node,
    and a GEMM on each honest node."""
    from gcx.tp.examples.digits import digits_job
    from gcx.tp.examples.matmul import matmul_job
    from gcx.tp.jobfile import encode_job

    digits = encode_job(digits_job(0)[0])
    jobs = [("digits-cheater", digits, CHEATER_NODE), ("digits", digits, 1)]
    for i in range(1, nodes + 1):
        if i != CHEATER_NODE:
            jobs.append((f"gemm-node{i}", encode_job(matmul_job(128, seed=i)), i))
    return jobs


def game_figures(chain: Any, from_block: int = 0) -> dict[str, Any]:
    """The disputes of the VerificationGame since ``from_block``, read from its events and the
    receipts of its transactions: per dispute its job, challenger, outcome and moves; gas in all
    and per function (``open``, ``revealRoot``, ``bisect``, ``choose``, ``revealOp``,
    ``revealRow``, ``step``, ``timeout``, ``settle``, ``withdraw``)."""
    game = chain.contract("VerificationGame")
    disputes: dict[int, dict[str, Any]] = {}
    for e in chain.events("VerificationGame", "DisputeOpened", from_block):
        a = e["args"]
        disputes[int(a["id"])] = {
            "id": int(a["id"]),
            "job_id": "0x" + bytes(a["jobId"]).hex(),
            "challenger": str(a["challenger"]),
            "bond": int(a["bond"]),
            "moves": 0,
            "outcome": None,
        }
    for e in chain.events("VerificationGame", "Moved", from_block):
        d = disputes.get(int(e["args"]["id"]))
        if d is not None:
            d["moves"] = max(d["moves"], int(e["args"]["moves"]) + 1)
    for e in chain.events("VerificationGame", "DisputeEnded", from_block):
        d = disputes.get(int(e["args"]["id"]))
        if d is not None:
            d["outcome"] = Phase(int(e["args"]["outcome"])).solidity_name
    gas: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    seen: set[bytes] = set()
    head = int(chain.w3.eth.block_number)
    address = game.address.lower()
    for n in range(max(from_block, 0), head + 1):
        block = chain.w3.eth.get_block(n, full_transactions=True)
        for tx in block["transactions"]:
            if (tx.get("to") or "").lower() != address or bytes(tx["hash"]) in seen:
                continue
            seen.add(bytes(tx["hash"]))
            receipt = chain.w3.eth.get_transaction_receipt(tx["hash"])
            if receipt["status"] != 1:
                continue
            fn, _ = game.decode_function_input(tx["input"])
            gas[fn.fn_name] += int(receipt["gasUsed"])
            calls[fn.fn_name] += 1
    return {
        "disputes": sorted(disputes.values(), key=lambda d: d["id"]),
        "gas_total": sum(gas.values()),
        "gas_by_kind": dict(sorted(gas.items())),
        "calls_by_kind": dict(sorted(calls.items())),
    }


def run_cheater_scenario(net: Devnet, timeout_s: float = 900.0) -> dict[str, Any]:
    """Run the scenario on the started devnet ``net`` (see :func:`scenario_devnet`) and return
    its figures (``gcx devnet scenario cheater --help``)."""
    from gcx.chain.staking import connect
    from gcx.keys import ParticipantKey
    from gcx.sdk.jobs import BuyerStore, JobsClient

    started = time.monotonic()
    api = net.summary["api"]
    nodes = {int(n["name"].split("-")[1]): n for n in net.summary["nodes"]}
    peers = {i: n["peer_id"] for i, n in nodes.items()}

    def all_verified() -> bool:
        views = _providers(api)
        return all(views.get(p, {}).get("verified") for p in peers.values())

    _wait("every node to pass its first capacity audit", all_verified, 120)
    cheater_address = _address_of(api, peers[CHEATER_NODE])  # before it is slashed and delisted
    raw = secrets.token_bytes(32)
    buyer = ParticipantKey("buyer", Account.from_key(raw).address, net.base / "buyer", False, raw)
    net.fund(buyer.address)
    chain = connect(net.chain["rpc_url"], Path(net.chain["deployment"]), buyer)
    first_block = int(chain.w3.eth.block_number)
    submitted: list[tuple[str, int, str]] = []
    with JobsClient(api, buyer, chain, store=BuyerStore(net.base / "buyer" / "jobs")) as client:
        for name, job_bytes, node in plan(len(nodes)):
            view = client.submit(job_bytes, GRADE, MAX_PRICE, provider=peers[node])
            log.info("submitted %s to node-%d: job %s", name, node, view.job_id)
            submitted.append((name, node, view.job_id))
        finals = {
            jid: client.wait(
                jid, until=("finalized", "refunded"), timeout_s=timeout_s, reoffer=False, poll_s=1.0
            )
            for _, _, jid in submitted
        }

    def games_over() -> dict[str, Any] | None:
        figures = game_figures(chain, first_block)
        return figures if all(d["outcome"] for d in figures["disputes"]) else None

    figures = _wait("every dispute to end", games_over, timeout_s)
    slashes = [e["args"] for e in chain.events("StakingRegistry", "Slashed", first_block)]
    slashed = sorted({str(a["account"]) for a in slashes})
    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in figures["disputes"]:
        by_job[d["job_id"]].append(d)
    lost = [d for d in figures["disputes"] if d["outcome"] == "ProviderWon"]
    node_of = {jid: node for _, node, jid in submitted}
    return {
        "scenario": "cheater",
        "nodes": len(nodes),
        "cheater": {"node": f"node-{CHEATER_NODE}", "address": cheater_address, "wrong_op": CHEATER_WRONG_OP},
        "jobs": len(submitted),
        "finalized": sum(v.state == "finalized" for v in finals.values()),
        "refunded": sum(v.state == "refunded" for v in finals.values()),
        "challenged": len(by_job),
        "disputes": len(figures["disputes"]),
        "slashed": slashed,
        "slashed_amount": sum(int(a["amount"]) for a in slashes),
        "honest_slashed": sum(1 for a in slashed if a.lower() != cheater_address.lower()),
        "cheater_jobs_refunded": sum(
            1 for jid, v in finals.items() if node_of[jid] == CHEATER_NODE and v.state == "refunded"
        ),
        "bonds_forfeited": len(lost),
        "bonds_forfeited_wei": sum(d["bond"] for d in lost),
        # A round is one provider move and the challenger's answer (the first: revealRoot and
        # the first choice); the game bounds them by ⌈log₂ ops⌉ + ⌈log₂ rows⌉ + 2.
        "rounds": max(((d["moves"] + 1) // 2 for d in figures["disputes"]), default=0),
        "moves_per_dispute": [d["moves"] for d in figures["disputes"]],
        "dispute_gas": {"total": figures["gas_total"], **figures["gas_by_kind"]},
        "moves_by_kind": figures["calls_by_kind"],
        "per_job": [
            {
                "name": name,
                "node": f"node-{node}",
                "job_id": jid,
                "state": finals[jid].state,
                "disputes": [
                    {"challenger": d["challenger"], "outcome": d["outcome"], "moves": d["moves"]}
                    for d in by_job.get(jid, [])
                ],
            }
            for name, node, jid in submitted
        ],
        "verifiers": {name: _verifier_status(net, name) for name in ("verifier", DISHONEST)},
        "seconds": round(time.monotonic() - started, 1),
    }


def _address_of(api: str, peer_id: str) -> str:
    view = _providers(api).get(peer_id)
    if not view or not view.get("address"):
        raise DevnetError(f"the coordinator does not list provider {peer_id}")
    return str(view["address"])


def scenario_devnet(nodes: int = 3, base: Path | None = None) -> Devnet:
    """A fresh devnet for the scenario: node ``CHEATER_NODE`` cheats, a second verifier
    (``challenger-2``) is dishonest."""
    if nodes < CHEATER_NODE:
        raise DevnetError(f"the cheater scenario needs at least {CHEATER_NODE} nodes")
    return Devnet(
        nodes,
        base=base,
        fresh=True,
        node_envs={CHEATER_NODE: {"GCX_FAULT__WRONG_OP": str(CHEATER_WRONG_OP)}},
        extra_verifiers={DISHONEST: {"GCX_FAULT__WRONG_OP": str(DISHONEST_WRONG_OP)}},
        # Windows long enough for a verifier to re-execute and open its dispute on a loaded machine.
        coordinator_env={"GCX_JOBS__CHALLENGE_WINDOW_S": str(CHALLENGE_WINDOW_S)},
    )
