"""The buyer's pure checks of the job path (docs/jobs-buyer.md): job ids, quote amounts, quotes,
job views, results and scores. No I/O: :mod:`gcx.sdk.jobs` (the client) calls these on what the
coordinator and the chain answer.

A quote is refused (:class:`QuoteRejected`) unless its amount is at most ``max_price`` and exactly
``max(1, ceil(micro_ch * price_per_ch / 10**6))``, its ``micro_ch`` the program's metering, its
digests the job's, its escrow, token and chain this deployment's, and the provider's address the
one its peer id embeds. A result is accepted only when the op leaves commit (``commit_result``) to
the root the provider posted on chain and describe the program's ops.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from eth_hash.auto import keccak
from web3 import Web3

from gcx.errors import GCXError
from gcx.tp.commit import CommitmentError, OpLeaf, ProofError, commit_result, decode_op_leaf
from gcx.tp.jobfile import JobFile
from gcx.tp.program import Program
from gcx.tp.runner import Score

from .errors import (
    ApiError,
    InvalidRequest,
    QuoteRejected,
    ResultMismatch,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "ESCROW_STATES",
    "GRADES",
    "JOB_VIEW_STATES",
    "JobProvider",
    "JobView",
    "Quote",
    "QuotedProvider",
    "buyer_of",
    "check_quote",
    "decode_job_view",
    "job_id_for",
    "quote_amount",
    "score_outputs",
    "verify_result",
]


GRADES: Final = ("A", "B", "C", "D")
JOB_VIEW_STATES: Final = frozenset(
    {"open", "delivered", "submitted", "finalized", "refunded", "lost", "challenged"}
)
ESCROW_STATES: Final = ("None", "Open", "Submitted", "Challenged", "Finalized", "Refunded")
"""``JobEscrow.State`` by its number."""
UINT96_MAX: Final = 2**96 - 1
MICRO: Final = 1_000_000


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _hex_bytes(value: Any, size: int | None, what: str) -> bytes:
    """``0x``-prefixed hex of ``size`` bytes (any size when None); ValueError otherwise."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{what} is not 0x-prefixed hex: {value!r:.80}")
    raw = bytes.fromhex(value[2:])
    if size is not None and len(raw) != size:
        raise ValueError(f"{what} is {len(raw)} bytes, not {size}")
    return raw


def _job_id_bytes(job_id: Any) -> bytes:
    """The 32 bytes of a ``0x`` + 64 hex job id; :class:`InvalidRequest` for anything else."""
    try:
        return _hex_bytes(job_id, 32, "a job id")
    except ValueError as exc:
        raise InvalidRequest(f"not a job id (0x + 64 hex): {job_id!r:.80}: {exc}") from None


def job_id_for(buyer: str, nonce: int) -> str:
    """``JobEscrow.jobIdFor(buyer, nonce)``: the buyer's address in the top 20 bytes, the uint96
    nonce in the low 12, as ``0x`` + 64 hex."""
    if not Web3.is_address(buyer):
        raise InvalidRequest(f"not an address: {buyer!r}")
    if isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 <= nonce <= UINT96_MAX:
        raise InvalidRequest(f"a job nonce is a uint96, not {nonce!r}")
    return _hex(((int(buyer, 16) << 96) | nonce).to_bytes(32, "big"))


def buyer_of(job_id: str) -> str:
    """The checksummed buyer address in a job id's top 20 bytes."""
    return Web3.to_checksum_address(_hex(_job_id_bytes(job_id)[:20]))


def quote_amount(micro_ch: int, price_per_ch: int) -> int:
    """The job's price in micro-USDC: ``max(1, ceil(micro_ch * price_per_ch / 1_000_000))``
    (``price_per_ch`` in micro-USDC per Compute Hour), in exact integers."""
    return max(1, -(-(micro_ch * price_per_ch) // MICRO))


@dataclass(frozen=True, slots=True)
class QuotedProvider:
    """The provider a quote names."""

    peer_id: str
    address: str
    price_per_ch: int
    grade: str
    listen_addrs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Quote:
    """A checked answer of ``POST /v1/jobs/quote`` (every field of the API's answer)."""

    quote_id: str
    job_digest: str
    program_digest: str
    micro_ch: int
    amount: int
    provider: QuotedProvider
    challenge_window_s: int
    submit_deadline: int
    escrow: str
    token: str
    chain_id: int
    expires_at: int

    def to_dict(self) -> dict[str, Any]:
        """The quote as the API wrote it (``listen_addrs`` a list)."""
        out = asdict(self)
        out["provider"]["listen_addrs"] = list(self.provider.listen_addrs)
        return out


def _int(m: Mapping[str, Any], key: str, lo: int = 0, hi: int | None = None) -> int:
    value = m.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise QuoteRejected(f"the quote's {key} is not an integer in range: {value!r:.80}")
    return value


def _str(m: Mapping[str, Any], key: str, what: str = "the quote's") -> str:
    value = m.get(key)
    if not isinstance(value, str) or not value:
        raise QuoteRejected(f"{what} {key} is not a non-empty string: {value!r:.80}")
    return value


def _same_address(a: str, b: str) -> bool:
    return Web3.is_address(a) and Web3.is_address(b) and a.lower() == b.lower()


def check_quote(
    answer: Any,
    *,
    job_bytes: bytes,
    program: Program,
    micro_ch: int | None,
    max_price: int,
    escrow: str,
    token: str,
    chain_id: int,
    provider: str | None = None,
    exclude: Iterable[str] = (),
    now: float | None = None,
    grade: str | None = None,
) -> Quote:
    """The :class:`Quote` in a quote answer, or :class:`QuoteRejected` saying what does not hold.

    ``micro_ch`` is the buyer's own metering of the program (None: not checked); ``escrow``,
    ``token`` and ``chain_id`` the deployment's JobEscrow, MockUSD and chain; ``provider`` the
    peer the buyer asked for, if any; ``exclude`` peers it must not be.
    """
    from gcx.p2p.identity import address_of_peer

    if not isinstance(answer, Mapping):
        raise QuoteRejected("the quote is not a JSON object")
    quote_id = _str(answer, "quote_id")
    if len(quote_id) != 32 or any(c not in "0123456789abcdef" for c in quote_id):
        raise QuoteRejected(f"the quote id is not 32 lowercase hex characters: {quote_id!r:.80}")
    p = answer.get("provider")
    if not isinstance(p, Mapping):
        raise QuoteRejected("the quote names no provider")
    addrs = p.get("listen_addrs")
    if not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
        raise QuoteRejected("the quote's provider listen_addrs is not a list of multiaddrs")
    qp = QuotedProvider(
        peer_id=_str(p, "peer_id", "the quoted provider's"),
        address=_str(p, "address", "the quoted provider's"),
        price_per_ch=_int(p, "price_per_ch"),
        grade=_str(p, "grade", "the quoted provider's"),
        listen_addrs=tuple(addrs),
    )
    q = Quote(
        quote_id=quote_id,
        job_digest=_str(answer, "job_digest"),
        program_digest=_str(answer, "program_digest"),
        micro_ch=_int(answer, "micro_ch", 1),
        amount=_int(answer, "amount", 1, UINT96_MAX),
        provider=qp,
        challenge_window_s=_int(answer, "challenge_window_s", 1, 2**32 - 1),
        submit_deadline=_int(answer, "submit_deadline", 1, 2**40 - 1),
        escrow=_str(answer, "escrow"),
        token=_str(answer, "token"),
        chain_id=_int(answer, "chain_id", 1),
        expires_at=_int(answer, "expires_at", 1),
    )
    if q.job_digest != _hex(keccak(job_bytes)):
        raise QuoteRejected(f"the quote's job_digest {q.job_digest} is not the keccak of this job file")
    if q.program_digest != _hex(program.digest):
        raise QuoteRejected(f"the quote's program_digest {q.program_digest} is not this job's program")
    if micro_ch is not None and q.micro_ch != micro_ch:
        raise QuoteRejected(f"the quote meters {q.micro_ch} micro-CH; this program meters {micro_ch}")
    want = quote_amount(q.micro_ch, qp.price_per_ch)
    if q.amount != want:
        raise QuoteRejected(
            f"the quote asks {q.amount} micro-USDC, but {q.micro_ch} micro-CH at the provider's "
            f"{qp.price_per_ch} micro-USDC/CH is {want}"
        )
    if q.amount > max_price:
        raise QuoteRejected(f"the quote asks {q.amount} micro-USDC, above the maximum of {max_price}")
    if not _same_address(q.escrow, escrow):
        raise QuoteRejected(f"the quote's escrow {q.escrow} is not this deployment's JobEscrow {escrow}")
    if not _same_address(q.token, token):
        raise QuoteRejected(f"the quote's token {q.token} is not this deployment's MockUSD {token}")
    if q.chain_id != chain_id:
        raise QuoteRejected(f"the quote is for chain {q.chain_id}, this deployment is chain {chain_id}")
    try:
        embedded = address_of_peer(qp.peer_id)
    except GCXError as exc:
        raise QuoteRejected(f"the quoted provider's peer id is unusable: {exc}") from None
    if not _same_address(qp.address, embedded):
        raise QuoteRejected(
            f"the quoted provider's address {qp.address} is not its peer id's ({embedded}): "
            "the payment would go to someone else"
        )
    if provider is not None and qp.peer_id != provider:
        raise QuoteRejected(f"asked for provider {provider}, the quote names {qp.peer_id}")
    if qp.peer_id in set(exclude):
        raise QuoteRejected(f"the quote names the excluded provider {qp.peer_id}")
    # The provider's full grade (performance letter, reliability digit, energy letter, e.g.
    # "C2X" or "D??"): its performance letter must be one of A-D and, when asked, no worse.
    letter = qp.grade[:1]
    if letter not in GRADES:
        raise QuoteRejected(
            f"the quoted provider's grade {qp.grade!r} has no performance letter {'/'.join(GRADES)}"
        )
    if grade is not None and letter > grade:
        raise QuoteRejected(f"the quoted provider's grade {qp.grade!r} is below the asked {grade}")
    t = time.time() if now is None else now
    if q.submit_deadline <= t or q.expires_at <= t:
        raise QuoteRejected("the quote has already expired (or its submit deadline has passed)")
    return q


@dataclass(frozen=True, slots=True)
class JobProvider:
    """The provider of a job as a job view names it."""

    peer_id: str
    address: str
    listen_addrs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as the coordinator shows it (``GET /v1/jobs/{job_id}``); ``raw`` is the decoded JSON."""

    job_id: str
    buyer: str
    provider: JobProvider
    state: str
    reoffer: bool
    micro_ch: int
    amount: int
    program_digest: str
    job_digest: str
    submit_deadline: int
    challenge_deadline: int | None
    result_root: str | None
    leaves: tuple[str, ...] | None
    outputs: dict[str, str] | None
    mismatches: tuple[dict[str, Any], ...]
    reoffer_of: str | None
    history: tuple[dict[str, Any], ...]
    created: int
    raw: dict[str, Any] = field(repr=False, compare=False)


def _bad_view(why: str) -> ApiError:
    return ApiError(200, "invalid_response", f"a job view {why}")


def decode_job_view(data: Any) -> JobView:
    """A :class:`JobView` from the API's JSON; :class:`ApiError` ``invalid_response`` when it
    is not one."""

    def num(key: str, optional: bool = False) -> Any:
        value = data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad_view(f"has no integer {key!r}")
        return value

    def text(key: str, optional: bool = False) -> Any:
        value = data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise _bad_view(f"has no string {key!r}")
        return value

    if not isinstance(data, dict):
        raise _bad_view("is not a JSON object")
    p = data.get("provider")
    if (
        not isinstance(p, dict)
        or not isinstance(p.get("peer_id"), str)
        or not isinstance(p.get("address"), str)
    ):
        raise _bad_view("has no provider")
    addrs = p.get("listen_addrs") or []
    if not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
        raise _bad_view("has no provider listen_addrs list")
    state = text("state")
    if state not in JOB_VIEW_STATES:
        raise _bad_view(f"has an unknown state {state!r:.40}")
    leaves = data.get("leaves")
    if leaves is not None and (not isinstance(leaves, list) or not all(isinstance(x, str) for x in leaves)):
        raise _bad_view("has leaves that are not a list of hex strings")
    outputs = data.get("outputs")
    if outputs is not None and (
        not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values())
    ):
        raise _bad_view("has outputs that are not a map of hex roots")
    lists = {}
    for key in ("mismatches", "history"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            raise _bad_view(f"has a {key} that is not a list of objects")
        lists[key] = tuple(value)
    return JobView(
        job_id=text("job_id"),
        buyer=text("buyer"),
        provider=JobProvider(p["peer_id"], p["address"], tuple(addrs)),
        state=state,
        reoffer=bool(data.get("reoffer", False)),
        micro_ch=num("micro_ch"),
        amount=num("amount"),
        program_digest=text("program_digest"),
        job_digest=text("job_digest"),
        submit_deadline=num("submit_deadline"),
        challenge_deadline=num("challenge_deadline", True),
        result_root=text("result_root", True),
        leaves=None if leaves is None else tuple(leaves),
        outputs=None if outputs is None else dict(outputs),
        mismatches=lists["mismatches"],
        reoffer_of=text("reoffer_of", True),
        history=lists["history"],
        created=num("created"),
        raw=data,
    )


def verify_result(program: Program, leaves: Sequence[bytes], result_root: bytes) -> dict[str, bytes]:
    """Check a job's op leaves (66-byte bodies) against the result root posted on chain and the
    program, and return each program output's tensor root (by output name).

    :class:`ResultMismatch` unless: there is one leaf per op, each decodes, describes op ``k``
    of the program (opcode, inputs, attributes) with the program's output type, and
    ``commit_result(program.digest, leaves).root == result_root``. An output that is a program
    input gets the input's committed root (none: ``b""``, the buyer holds the value).
    """
    if len(leaves) != len(program.ops):
        raise ResultMismatch(f"the result has {len(leaves)} op leaves, the program {len(program.ops)} ops")
    decoded: list[OpLeaf] = []
    for k, body in enumerate(leaves):
        try:
            leaf = decode_op_leaf(body)
        except ProofError as exc:
            raise ResultMismatch(f"op leaf {k} does not decode: {exc}") from None
        want_type = program.types[program.op_tensor(k)]
        if leaf.op_index != k or leaf.op != program.ops[k]:
            raise ResultMismatch(f"op leaf {k} does not describe the program's op {k}")
        h = leaf.output
        shape = (h.cols,) if h.rank == 1 else (h.rows, h.cols)
        if (
            h.tensor_id != program.op_tensor(k)
            or shape != want_type.shape
            or h.dtype.name.lower() != want_type.dtype
        ):
            raise ResultMismatch(f"op leaf {k}'s output header is not the program's {want_type.describe()}")
        decoded.append(leaf)
    try:
        root = commit_result(program.digest, decoded).root
    except CommitmentError as exc:
        raise ResultMismatch(f"the op leaves cannot be committed: {exc}") from None
    if root != result_root:
        raise ResultMismatch(
            f"the op leaves commit to {_hex(root)}, not to the result root {_hex(result_root)} posted on chain"
        )
    n_inputs = len(program.inputs)
    out = {}
    for o in program.outputs:
        if o.tensor < n_inputs:
            out[o.name] = program.inputs[o.tensor].root or b""
        else:
            out[o.name] = decoded[o.tensor - n_inputs].output_root
    return out


def score_outputs(job: JobFile, outputs: Mapping[str, npt.NDArray[np.generic]]) -> Score | None:
    """Accuracy against the job's labels and agreement with its reference predictions (as
    :func:`gcx.tp.runner.score`), if the job carries an evaluation."""
    ev = job.evaluation
    if ev is None or ev.output not in outputs:
        return None
    pred = outputs[ev.output]
    n = int(pred.shape[0])
    return Score(ev.output, n, float(np.mean(pred == ev.labels)), float(np.mean(pred == ev.reference)))


# ---------------------------------------------------------------------------- local records
