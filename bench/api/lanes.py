"""What each connection of the load generator sends and what comes back: the flow split into lanes
(one a connection, each account pinned to one), their units (a request, or a batch frame of
several), and the :class:`Tally` of the answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .flow import Flow


@dataclass
class Tally:
    """The answers to messages ``part`` of the flow: latency (ns, -1 until answered), what they said."""

    part: range
    latency_ns: list[int] = field(init=False)
    sent_ns: list[int] = field(init=False)
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # "404 unknown_order"
    outcomes: Counter[str] = field(default_factory=Counter)  # status of the 200 answers
    transport_errors: int = 0
    bad_replies: int = 0

    def __post_init__(self) -> None:
        self.latency_ns = [-1] * len(self.part)
        self.sent_ns = [0] * len(self.part)

    def record(self, j: int, now_ns: int, status: int, body: object) -> None:
        """The answer to message ``part[j]``: ``status`` and its JSON ``body``."""
        self.latency_ns[j] = now_ns - self.sent_ns[j]
        self.statuses[str(status)] += 1
        if not isinstance(body, dict):
            self.bad_replies += 1
        elif status == 200:
            self.outcomes[str(body.get("status"))] += 1
        else:
            self.codes[f"{status} {body.get('error')}"] += 1

    def answered_ms(self) -> list[float]:
        return [ns / 1e6 for ns in self.latency_ns if ns >= 0]

    def errors(self) -> dict[str, int]:
        """What must be zero: unanswered messages, 5xx answers, transport errors, bad replies."""
        return {
            "missing": sum(1 for ns in self.latency_ns if ns < 0),
            "server_errors": sum(v for k, v in self.statuses.items() if k.startswith("5")),
            "transport_errors": self.transport_errors,
            "bad_replies": self.bad_replies,
        }


@dataclass(frozen=True, slots=True)
class Unit:
    """What goes out in one piece: one request, or a batch frame of several (WebSocket)."""

    data: bytes  # framed (and masked) before the clock starts
    ids: tuple[int, ...]  # the flow indices of its requests, in order


@dataclass(frozen=True, slots=True)
class Lane:
    """What one connection sends in one phase: units in order, and the unit of each request."""

    units: list[Unit]
    unit_of: dict[int, int]
    requests: int


@dataclass(frozen=True, slots=True)
class TextLane:
    """:class:`Lane` for the ``websockets`` library, which frames text itself."""

    units: list[tuple[str, tuple[int, ...]]]
    unit_of: dict[int, int]
    requests: int


def _lanes(flow: Flow, lanes: int, part: range, per_lane: int = 1) -> list[list[int]]:
    """The message indices in ``part`` of each connection, in flow order. Account ``a`` is on
    connection ``a % lanes`` (WebSocket); with ``per_lane`` HTTP connections per client, on
    connection ``(a // lanes) % per_lane`` of that client."""
    out: list[list[int]] = [[] for _ in range(lanes * per_lane)]
    for i in part:
        a = flow.messages[i].account
        out[(a % lanes) * per_lane + (a // lanes) % per_lane].append(i)
    return out


def _chunks(idxs: list[int], size: int) -> list[tuple[int, ...]]:
    return [tuple(idxs[k : k + size]) for k in range(0, len(idxs), size)]


def _ws_text(texts: Sequence[str], ids: tuple[int, ...], batch: int) -> str:
    """One request as itself, or a batch frame (a JSON array) when batching."""
    return "[" + ",".join(texts[i] for i in ids) + "]" if batch > 1 else texts[ids[0]]


def _unit_of(groups: list[tuple[int, ...]]) -> dict[int, int]:
    return {i: k for k, ids in enumerate(groups) for i in ids}
