"""The dispute driver's I/O rules (gcx.game.driver) against a scripted chain, and the journal's
persistence (gcx.game.journal). The real game is played on anvil in the game's integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from gcx.errors import GCXError
from gcx.game.driver import play
from gcx.game.journal import DisputeJournal
from gcx.game.play import Move


class RevertedError(GCXError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"reverted: {reason}")
        self.reason = reason


class ScriptedChain:
    """A dispute whose phases follow the moves sent; ``refuse`` makes the next send revert."""

    def __init__(self, turns: list[tuple[str, str]], deadline: int = 100) -> None:
        self.turns = turns  # (phase, side to move) in order; the last phase is terminal
        self.at = 0
        self.clock = 0
        self.deadline = deadline
        self.sent: list[str] = []
        self.refuse: str | None = None
        self.balance = 0

    def phase(self, dispute_id: int) -> str:
        return self.turns[self.at][0]

    def turn_of(self, dispute_id: int) -> tuple[str, int]:
        return self.turns[self.at][1], self.deadline

    def now(self) -> int:
        return self.clock

    def send(self, fn: str, dispute_id: int, *args: Any) -> tuple[str, int]:
        if self.refuse:
            reason, self.refuse = self.refuse, None
            raise RevertedError(reason)
        self.sent.append(fn)
        self.at += 1
        if self.turns[self.at][0] in ("ProviderWon", "ChallengerWon"):
            self.balance = 7
        return f"0x{len(self.sent):064x}", 50_000 + len(self.sent)

    def credit(self) -> int:
        return self.balance

    def withdraw(self) -> tuple[str, int]:
        self.balance = 0
        self.sent.append("withdraw")
        return "0x" + "ff" * 32, 30_000


class Bisector:
    def next_move(self, dispute_id: int) -> Move:
        return Move("bisect", (b"\x00" * 32, b"\x00" * 32))


def journal(tmp_path: Path) -> DisputeJournal:
    j = DisputeJournal(tmp_path / "disputes.sqlite")
    j.track(1, "0xAB", "provider")
    return j


@pytest.mark.trio
async def test_a_side_moves_on_its_turns_only_then_withdraws_its_credit(tmp_path: Path) -> None:
    chain = ScriptedChain([("OpBisect", "provider"), ("OpChoose", "challenger"), ("ProviderWon", "")])
    j = journal(tmp_path)

    async def opponent() -> None:
        while not chain.sent:
            await trio.sleep(0.01)
        chain.at += 1  # the challenger chooses
        chain.balance = 7

    async with trio.open_nursery() as n:
        n.start_soon(opponent)
        with trio.fail_after(5):
            outcome = await play(chain, j, 1, "provider", Bisector(), poll_s=0.01)
    assert outcome == "ProviderWon"
    assert chain.sent == ["bisect", "withdraw"]
    assert [(m.kind, m.gas) for m in j.moves(1)] == [("bisect", 50_001)]
    d = j.dispute(1)
    assert d is not None and d.outcome == "ProviderWon" and d.credit_withdrawn
    assert j.summary() == {
        "disputes": 1,
        "live": 0,
        "won": 1,
        "lost": 0,
        "cancelled": 0,
        "moves": 1,
        "gas": 50_001,
    }


@pytest.mark.trio
async def test_an_opponent_past_its_deadline_is_timed_out(tmp_path: Path) -> None:
    chain = ScriptedChain([("OpChoose", "challenger"), ("ProviderWon", "")], deadline=10)
    chain.clock = 11
    with trio.fail_after(5):
        assert await play(chain, journal(tmp_path), 1, "provider", Bisector(), poll_s=0.01) == "ProviderWon"
    assert chain.sent == ["timeout", "withdraw"]


@pytest.mark.trio
async def test_a_stale_move_is_not_an_error_and_other_failures_are_retried(tmp_path: Path) -> None:
    chain = ScriptedChain([("OpBisect", "provider"), ("ChallengerWon", "")])
    chain.refuse = "WrongPhase"
    j = journal(tmp_path)
    with trio.fail_after(5):
        assert await play(chain, j, 1, "provider", Bisector(), poll_s=0.01) == "ChallengerWon"
    assert chain.sent == ["bisect", "withdraw"]  # retried on the next read, journaled once
    assert len(j.moves(1)) == 1


@pytest.mark.trio
async def test_an_ended_dispute_found_after_a_restart_is_journaled_once(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.end(1, "ProviderWon")
    chain = ScriptedChain([("ProviderWon", "")])
    assert await play(chain, j, 1, "provider", Bisector(), poll_s=0.01) == "ProviderWon"
    assert chain.sent == []  # no credit: nothing to withdraw
    j.close()
    with DisputeJournal(tmp_path / "disputes.sqlite") as again:
        assert [d.outcome for d in again.disputes()] == ["ProviderWon"] and again.live() == []
        assert not again.track(1, "0xab", "provider")  # known already


def test_the_journal_refuses_unknown_sides_and_untracked_disputes(tmp_path: Path) -> None:
    j = DisputeJournal(tmp_path / "d.sqlite")
    with pytest.raises(ValueError):
        j.track(2, "0x01", "buyer")
    with pytest.raises(ValueError):
        trio.run(play, ScriptedChain([("ProviderWon", "")]), j, 9, "provider", Bisector())


def test_meta_values_survive_a_reopen(tmp_path: Path) -> None:
    with DisputeJournal(tmp_path / "d.sqlite") as j:
        assert j.get_meta("follow_block") is None
        j.set_meta("follow_block", "12")
        j.set_meta("follow_block", "13")
    with DisputeJournal(tmp_path / "d.sqlite") as j:
        assert j.get_meta("follow_block") == "13"


def test_phase_names_are_the_contracts() -> None:
    import re

    from gcx.game.driver import TERMINAL
    from gcx.game.play import Phase

    source = (Path(__file__).parents[3] / "contracts" / "src" / "VerificationGame.sol").read_text()
    block = re.search(r"enum Phase \{(.*?)\}", source, re.S)
    assert block is not None
    names = [n.strip() for n in block.group(1).split(",")]
    assert [p.solidity_name for p in Phase] == names
    assert {p.solidity_name for p in Phase if p.ended} == TERMINAL
