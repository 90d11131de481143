"""``/gcx/job/1``: the coordinator delivers jobs to providers; providers report their results
(docs/protocol.md, "`/gcx/job/1`"; docs/jobs.md).

One request per stream (:mod:`gcx.p2p.reqresp`). Every request and every reply body is a
canonical msgpack map with ``type`` and ``v`` (1) and exactly the fields below; the codecs are
pure and strict (exact keys, exact types, ranges, canonical bytes) and raise only
:class:`JobMessageError`.

=====================  ==========================  =========================================
request                sent by → to                reply
=====================  ==========================  =========================================
``gcx-job/offer``      coordinator → provider      ``gcx-job/accept`` or ``gcx-job/refuse``
``gcx-job/query``      coordinator → provider      ``gcx-job/status``
``gcx-job/result``     provider → coordinator      ``gcx-job/ack``
=====================  ==========================  =========================================

An offer carries the program and, per input, either its seed or the tensor root under which
the offer's ``source`` peer (the coordinator's data store by default) serves its value on
``/gcx/data/1``; the job's evaluation (labels) stays with the buyer. The job itself is the
``JobEscrow`` job ``job_id``: a provider accepts only what the chain shows open for it, paying
at least its price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final, Literal

from gcx.errors import GCXError, WireError
from gcx.tp.commit import OP_BODY_SIZE, OpLeaf, ProofError, decode_op_leaf
from gcx.tp.program import MAX_INPUTS, MAX_OPS, MAX_PROGRAM_BYTES, NAME_RE
from gcx.wire import canonical_bytes, expect_bytes, expect_int, expect_str, unpack

PROTOCOL: Final = "/gcx/job/1"
VERSION: Final = 1
#: The largest request or reply on ``/gcx/job/1`` (an offer is a program and input roots).
MAX_MESSAGE: Final = MAX_PROGRAM_BYTES + 64 * 1024 + MAX_OPS * (OP_BODY_SIZE + 4)
MAX_TEXT: Final = 512
_U64: Final = 2**64 - 1
_U96: Final = 2**96 - 1

#: Why a provider refuses an offer (``Refuse.code``).
RefuseCode = Literal[
    "busy",  # its queue is full (node.max_jobs)
    "unknown_job",  # the chain shows no open job with this id for this provider
    "terms",  # the offer differs from the escrowed job (amount, deadline, window, buyer)
    "underpaid",  # the escrowed amount is below its price for the job's metered CH
    "deadline",  # the submit deadline is too close to run the job
    "bad_program",  # the program does not decode, or its inputs do not match it
    "bad_spec",  # the job's spec committed in JobSpecs is not the program's (or none is)
    "not_staked",  # its own stake does not cover the job (or it is not active)
    "duplicate",  # it already holds this job (accepted earlier): not an error for the sender
    "internal",  # anything else; the message says what
]
REFUSE_CODES: Final = frozenset(RefuseCode.__args__)  # type: ignore[attr-defined]

#: A provider's view of one of its jobs (``Status.state``).
JobState = Literal["unknown", "queued", "fetching", "running", "submitted", "finalized", "refunded", "failed"]
JOB_STATES: Final = frozenset(JobState.__args__)  # type: ignore[attr-defined]


class JobMessageError(GCXError):
    """A ``/gcx/job/1`` message that is not exactly one of the defined messages."""


@dataclass(frozen=True, slots=True)
class OfferInput:
    """One program input of an offer: exactly one of ``seed`` (generated) and ``root`` (fetched
    from the offer's source on ``/gcx/data/1`` by this tensor root)."""

    name: str
    seed: int | None = None
    root: bytes | None = None

    def to_wire(self) -> dict[str, Any]:
        return (
            {"name": self.name, "seed": self.seed}
            if self.root is None
            else {"name": self.name, "root": self.root}
        )


@dataclass(frozen=True, slots=True)
class Offer:
    """A job for a provider: ``JobEscrow`` job ``job_id`` of ``buyer`` paying ``amount``
    (micro-USDC) for ``micro_ch`` of metered work, to be submitted by ``submit_deadline``
    (unix seconds) and challengeable for ``challenge_window`` seconds after."""

    TYPE: ClassVar[str] = "gcx-job/offer"
    job_id: bytes
    buyer: str
    program: bytes
    inputs: tuple[OfferInput, ...]
    amount: int
    micro_ch: int
    submit_deadline: int
    challenge_window: int
    source: str  # the peer id serving the inputs' roots on /gcx/data/1 ("": the sender)


@dataclass(frozen=True, slots=True)
class Accept:
    TYPE: ClassVar[str] = "gcx-job/accept"
    job_id: bytes


@dataclass(frozen=True, slots=True)
class Refuse:
    TYPE: ClassVar[str] = "gcx-job/refuse"
    job_id: bytes
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Query:
    TYPE: ClassVar[str] = "gcx-job/query"
    job_id: bytes


@dataclass(frozen=True, slots=True)
class Status:
    TYPE: ClassVar[str] = "gcx-job/status"
    job_id: bytes
    state: str
    detail: str | None
    result_root: bytes | None


@dataclass(frozen=True, slots=True)
class Result:
    """A provider's result: the root it posted with ``JobEscrow.submitResult`` in transaction
    ``tx``, and every op leaf (``leaves[k]`` is op ``k``), from which anyone recomputes the root."""

    TYPE: ClassVar[str] = "gcx-job/result"
    job_id: bytes
    result_root: bytes
    leaves: tuple[OpLeaf, ...]
    tx: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    TYPE: ClassVar[str] = "gcx-job/ack"
    job_id: bytes
    accepted: bool
    reason: str | None


Message = Offer | Accept | Refuse | Query | Status | Result | Ack
REQUESTS: Final = (Offer, Query, Result)
REPLIES: Final[dict[type[Message], tuple[type[Message], ...]]] = {
    Offer: (Accept, Refuse),
    Query: (Status,),
    Result: (Ack,),
}
__all__ = [
    "JOB_STATES", "MAX_MESSAGE", "PROTOCOL", "REFUSE_CODES", "REPLIES", "REQUESTS", "VERSION",
    "Accept", "Ack", "JobMessageError", "Message", "Offer", "OfferInput", "Query", "Refuse", "Result",
    "Status", "decode", "encode", "to_wire",
]  # fmt: skip


def _job_id(v: Any) -> bytes:
    return expect_bytes(v, "job_id", 32, 32)


def _root(what: str) -> Callable[[Any], bytes]:
    return lambda v: expect_bytes(v, what, 32, 32)


def _opt(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else check(v)


def _address(v: Any) -> str:
    s = expect_str(v, "buyer", 42, 42)
    if not s.startswith("0x") or any(c not in "0123456789abcdefABCDEF" for c in s[2:]):
        raise JobMessageError(f"buyer {s!r} is not a 0x address")
    return s


def _inputs(v: Any) -> tuple[OfferInput, ...]:
    if type(v) is not list or not 1 <= len(v) <= MAX_INPUTS:
        raise JobMessageError(f"inputs must be a list of 1 to {MAX_INPUTS} entries")
    out = []
    for n, e in enumerate(v):
        if type(e) is not dict or set(e) not in ({"name", "seed"}, {"name", "root"}):
            raise JobMessageError(f"input {n} must be {{name, seed}} or {{name, root}}")
        name = expect_str(e["name"], f"input {n} name", 1, 64)
        if not NAME_RE.match(name):
            raise JobMessageError(f"input {n} name {name!r} is not a GCX-TP name")
        if "seed" in e:
            out.append(OfferInput(name, seed=expect_int(e["seed"], f"input {name!r} seed", 0, _U64)))
        else:
            out.append(OfferInput(name, root=expect_bytes(e["root"], f"input {name!r} root", 32, 32)))
    return tuple(out)


def _leaves(v: Any) -> tuple[OpLeaf, ...]:
    if type(v) is not list or not 1 <= len(v) <= MAX_OPS:
        raise JobMessageError(f"leaves must be a list of 1 to {MAX_OPS} op leaves")
    out = []
    for k, body in enumerate(v):
        try:
            leaf = decode_op_leaf(expect_bytes(body, f"leaf {k}", OP_BODY_SIZE, OP_BODY_SIZE))
        except ProofError as exc:
            raise JobMessageError(f"leaf {k}: {exc}") from None
        if leaf.op_index != k:
            raise JobMessageError(f"leaf {k} is of op {leaf.op_index}")
        out.append(leaf)
    return tuple(out)


def _code(v: Any) -> str:
    code = expect_str(v, "code", 1, 32)
    if code not in REFUSE_CODES:
        raise JobMessageError(f"unknown refusal code {code!r}")
    return code


def _state(v: Any) -> str:
    state = expect_str(v, "state", 1, 32)
    if state not in JOB_STATES:
        raise JobMessageError(f"unknown job state {state!r}")
    return state


def _bool(v: Any) -> bool:
    if type(v) is not bool:
        raise JobMessageError("accepted must be a boolean")
    return v


def _text(what: str) -> Callable[[Any], str]:
    return lambda v: expect_str(v, what, 0, MAX_TEXT)


_FIELDS: Final[dict[type[Message], dict[str, Callable[[Any], Any]]]] = {
    Offer: {
        "job_id": _job_id,
        "buyer": _address,
        "program": lambda v: expect_bytes(v, "program", 1, MAX_PROGRAM_BYTES),
        "inputs": _inputs,
        "amount": lambda v: expect_int(v, "amount", 1, _U96),
        "micro_ch": lambda v: expect_int(v, "micro_ch", 1, _U64),
        "submit_deadline": lambda v: expect_int(v, "submit_deadline", 0, 2**40 - 1),
        "challenge_window": lambda v: expect_int(v, "challenge_window", 1, 2**32 - 1),
        "source": lambda v: expect_str(v, "source", 0, 128),
    },
    Accept: {"job_id": _job_id},
    Refuse: {"job_id": _job_id, "code": _code, "message": _text("message")},
    Query: {"job_id": _job_id},
    Status: {
        "job_id": _job_id,
        "state": _state,
        "detail": _opt(_text("detail")),
        "result_root": _opt(_root("result_root")),
    },
    Result: {"job_id": _job_id, "result_root": _root("result_root"), "leaves": _leaves, "tx": _root("tx")},
    Ack: {"job_id": _job_id, "accepted": _bool, "reason": _opt(_text("reason"))},
}
_BY_TYPE: Final = {cls.TYPE: cls for cls in _FIELDS}


def to_wire(msg: Message) -> dict[str, Any]:
    """The canonical map of ``msg``."""
    out: dict[str, Any] = {"type": msg.TYPE, "v": VERSION}
    for f in fields(msg):
        value = getattr(msg, f.name)
        if f.name == "inputs":
            value = [i.to_wire() for i in value]
        elif f.name == "leaves":
            value = [leaf.body() for leaf in value]
        out[f.name] = value
    return out


def encode(msg: Message) -> bytes:
    """Canonical msgpack bytes of ``msg`` (checked: what :func:`decode` would accept)."""
    data = canonical_bytes(to_wire(msg))
    decode(data, (type(msg),))
    return data


def decode(data: bytes, expected: tuple[type[Message], ...] | None = None) -> Message:
    """Decode one message strictly; ``expected`` restricts its type (e.g. the replies of a
    request, :data:`REPLIES`). :class:`JobMessageError` for anything else."""
    try:
        m = unpack(data, MAX_MESSAGE)
    except WireError as exc:
        raise JobMessageError(f"not a /gcx/job/1 message: {exc}") from None
    if (
        type(m) is not dict
        or type(m.get("type")) is not str
        or m.get("v") != VERSION
        or type(m["v"]) is not int
    ):
        raise JobMessageError(f"not a /gcx/job/1 v{VERSION} message")
    cls = _BY_TYPE.get(m["type"])
    if cls is None or (expected is not None and cls not in expected):
        want = "any" if expected is None else ", ".join(c.TYPE for c in expected)
        raise JobMessageError(f"unexpected message type {m['type']!r:.40} (expected {want})")
    checks = _FIELDS[cls]
    if set(m) != {"type", "v", *checks}:
        raise JobMessageError(f"{cls.TYPE} has fields {sorted(m)}, expected {sorted({'type', 'v', *checks})}")
    try:
        msg: Message = cls(**{name: check(m[name]) for name, check in checks.items()})
    except JobMessageError:
        raise
    except GCXError as exc:
        raise JobMessageError(f"{cls.TYPE}: {exc}") from None
    if canonical_bytes(to_wire(msg)) != bytes(data):
        raise JobMessageError(f"{cls.TYPE} is not canonically encoded")
    return msg
