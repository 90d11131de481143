"""A typed client for the verification game (``VerificationGame``) and the job-spec registry
(``JobSpecs``) over :class:`~gcx.chain.client.Chain` (docs/verification.md, "The game").

Every move, ``open``, ``timeout``, ``cancel``, ``settle``, ``withdraw`` and the spec transactions
return a :class:`Sent` with the receipt's ``gasUsed``, so a player can log the gas of each move.
A revert of a custom error of the game, JobSpecs, the one-step adapter or the prover is raised as
the :class:`GameReverted` subclass named like the contract error (``DeadlineNotPassed``,
``WrongBond``, ``NotBuyer``, …) with the error's decoded arguments; an error without a class
here is raised as :class:`GameReverted` itself, ``error`` naming it. web3 is blocking: from trio,
call through ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Final

from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak
from web3 import Web3

from gcx.game.play import Phase
from gcx.jobs.spec import JobSpec

from .client import Chain
from .deployment import load_artifact
from .errors import ChainError, TransactionFailed

__all__ = [
    "GAME",
    "SPECS",
    "Dispute",
    "DisputeEnded",
    "DisputeOpened",
    "GameClient",
    "GameEvent",
    "GameReverted",
    "JobGame",
    "JobSettled",
    "Moved",
    "Opened",
    "Phase",
    "Sent",
    "Side",
    "SpecConflict",
    "Turn",
]

GAME: Final = "VerificationGame"
SPECS: Final = "JobSpecs"
_DECODED_BY: Final = (GAME, SPECS, "GcxTpGameStep", "GcxTpOneStep")
"""The contracts whose custom errors a game transaction can revert with (nested calls bubble up)."""


class Side(IntEnum):
    """``VerificationGame.Side``."""

    PROVIDER = 0
    CHALLENGER = 1


# ---------------------------------------------------------------- errors


class GameReverted(TransactionFailed):
    """A game or JobSpecs transaction reverted with a custom error: ``error`` is its name,
    ``fields`` its decoded arguments by name (bytes32 as ``bytes``, addresses checksummed)."""

    error_name: ClassVar[str] = ""

    def __init__(self, message: str, error: str, fields: dict[str, Any], data: str | None) -> None:
        super().__init__(message, error, data)
        self.error = error
        self.fields = fields


# The contract errors a player meets, one class each (named as in the contract); the others decode
# to GameReverted with ``error`` set.


class WrongBond(GameReverted):
    """``open`` was sent another value than the bond."""

    error_name = "WrongBond"


class NotDisputable(GameReverted):
    """The job is not Submitted (or Challenged by the game)."""

    error_name = "NotDisputable"


class WindowClosed(GameReverted):
    """The job's challenge window has closed."""

    error_name = "WindowClosed"


class ProviderCannotChallenge(GameReverted):
    """A provider disputed its own job."""

    error_name = "ProviderCannotChallenge"


class AlreadyDisputing(GameReverted):
    """This challenger already disputes the job."""

    error_name = "AlreadyDisputing"


class DisputeOutlivesEscrow(GameReverted):
    """A dispute opened now could outlive the escrow."""

    error_name = "DisputeOutlivesEscrow"


class SpecNotReady(GameReverted):
    """The job's spec is not published yet (publish it first)."""

    error_name = "SpecNotReady"


class NotLive(GameReverted):
    """No such dispute, or it has ended."""

    error_name = "NotLive"


class WrongPhase(GameReverted):
    """Not the move the dispute expects now."""

    error_name = "WrongPhase"


class NotPlayer(GameReverted):
    """The sender is not the side on turn."""

    error_name = "NotPlayer"


class DeadlinePassed(GameReverted):
    """The mover's deadline has passed."""

    error_name = "DeadlinePassed"


class DeadlineNotPassed(GameReverted):
    """The side on turn still has time."""

    error_name = "DeadlineNotPassed"


class NotPreimage(GameReverted):
    """Revealed data does not hash to its commitment."""

    error_name = "NotPreimage"


class BadOpCount(GameReverted):
    """The revealed op count is zero."""

    error_name = "BadOpCount"


class BadOpBody(GameReverted):
    """The op body is not 66 bytes or names another op."""

    error_name = "BadOpBody"


class JobStillDisputed(GameReverted):
    """``cancel``: the job is still in dispute."""

    error_name = "JobStillDisputed"


class NotSettleable(GameReverted):
    """``settle``: window open, disputes live, or not the game's."""

    error_name = "NotSettleable"


class NothingToWithdraw(GameReverted):
    """``withdraw``: no credit."""

    error_name = "NothingToWithdraw"


class ZeroSpec(GameReverted):
    """``commit``: the spec hash is zero."""

    error_name = "ZeroSpec"


class NotBuyer(GameReverted):
    """``commit``: only the job's buyer may commit its spec."""

    error_name = "NotBuyer"


class AlreadyCommitted(GameReverted):
    """``commit``: the job's spec is already committed."""

    error_name = "AlreadyCommitted"


class JobAlreadyOpened(GameReverted):
    """``commit``: the escrow already knows the job."""

    error_name = "JobAlreadyOpened"


class NotCommitted(GameReverted):
    """``publish``: no spec is committed for the job."""

    error_name = "NotCommitted"


class WrongPreimage(GameReverted):
    """``publish``: the fields do not hash to the committed spec."""

    error_name = "WrongPreimage"


class NotPublished(GameReverted):
    """``specFor``: the spec is not published."""

    error_name = "NotPublished"


_CLASSES: Final[dict[str, type[GameReverted]]] = {
    c.error_name: c
    for c in (
        WrongBond, NotDisputable, WindowClosed, ProviderCannotChallenge, AlreadyDisputing,
        DisputeOutlivesEscrow, SpecNotReady, NotLive, WrongPhase, NotPlayer, DeadlinePassed,
        DeadlineNotPassed, NotPreimage, BadOpCount, BadOpBody, JobStillDisputed, NotSettleable,
        NothingToWithdraw, ZeroSpec, NotBuyer, AlreadyCommitted, JobAlreadyOpened, NotCommitted,
        WrongPreimage, NotPublished,
    )
}  # fmt: skip


class SpecConflict(ChainError):  # noqa: N818 - reads as what happened
    """The job's committed spec is not the one expected (another program was committed for it)."""

    exit_code = 1


def _canonical_type(item: dict[str, Any]) -> str:
    t = str(item["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in item["components"]) + ")" + t[len("tuple") :]
    return t


@dataclass(frozen=True, slots=True)
class _ErrorAbi:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]


def _error_table(abis: list[list[dict[str, Any]]]) -> dict[bytes, _ErrorAbi]:
    out: dict[bytes, _ErrorAbi] = {}
    for abi in abis:
        for item in abi:
            if item.get("type") != "error":
                continue
            types = tuple(_canonical_type(i) for i in item.get("inputs", []))
            selector = bytes(keccak(f"{item['name']}({','.join(types)})".encode()))[:4]
            names = tuple(str(i.get("name") or f"arg{n}") for n, i in enumerate(item.get("inputs", [])))
            out[selector] = _ErrorAbi(str(item["name"]), names, types)
    return out


def decode_revert(table: dict[bytes, _ErrorAbi], where: str, exc: TransactionFailed) -> TransactionFailed:
    """``exc`` as the typed :class:`GameReverted` of its custom error, when the data decodes."""
    if not exc.data:
        return exc
    try:
        raw = bytes.fromhex(exc.data.removeprefix("0x"))
    except ValueError:
        return exc
    spec = table.get(raw[:4])
    if spec is None:
        return exc
    try:
        values = abi_decode(list(spec.types), raw[4:])
    except Exception:  # eth_abi's decoding errors: truncated or malformed data
        values = ()
    values = tuple(
        Web3.to_checksum_address(v) if t == "address" else v for t, v in zip(spec.types, values, strict=False)
    )
    fields = dict(zip(spec.names, values, strict=False))
    shown = ", ".join(f"{k}={_show(v)}" for k, v in fields.items())
    cls = _CLASSES.get(spec.name, GameReverted)
    return cls(f"{where} reverted: {spec.name}({shown})", spec.name, fields, exc.data)


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Sent:
    """A mined transaction: its hash, block and ``gasUsed``."""

    tx_hash: str
    block: int
    gas_used: int


@dataclass(frozen=True, slots=True)
class Opened:
    """A dispute opened by :meth:`GameClient.open`."""

    dispute_id: int
    bond: int
    sent: Sent


@dataclass(frozen=True, slots=True)
class Turn:
    """Who moves in a live dispute and until when (inclusive, chain time)."""

    side: Side
    deadline: int


@dataclass(frozen=True, slots=True)
class Dispute:
    """``VerificationGame.getDispute`` decoded (bytes32 fields as ``bytes``)."""

    job_id: bytes
    challenger: str
    bond: int
    provider: str
    phase: Phase
    height: int
    moves: int
    max_moves: int
    op_depth: int
    turn_start: int
    move_timeout: int
    clock_provider: int
    clock_challenger: int
    n_ops: int
    index: int
    op: int
    row: int
    tensor_id: int
    dtype: int
    rank: int
    rows: int
    cols: int
    result_root: bytes
    program_digest: bytes
    node: bytes
    left: bytes
    right: bytes
    op_leaf: bytes
    out_root: bytes
    row_leaf: bytes
    row_commit: bytes


@dataclass(frozen=True, slots=True)
class JobGame:
    """``VerificationGame.jobGames``: whether the game froze the job, disputes live and ever opened."""

    marked: bool
    live: int
    opened: int


@dataclass(frozen=True, slots=True)
class DisputeOpened:
    """Event: dispute ``dispute_id`` opened on ``job_id`` by ``challenger`` with ``bond`` wei."""

    block: int
    log_index: int
    dispute_id: int
    job_id: bytes
    challenger: str
    bond: int


@dataclass(frozen=True, slots=True)
class Moved:
    """Event: a move in ``phase`` by ``side``; ``moves`` is the dispute's move count after it."""

    block: int
    log_index: int
    dispute_id: int
    phase: Phase
    side: Side
    moves: int


@dataclass(frozen=True, slots=True)
class DisputeEnded:
    """Event: the dispute ended with ``outcome`` (PROVIDER_WON, CHALLENGER_WON or CANCELLED)."""

    block: int
    log_index: int
    dispute_id: int
    job_id: bytes
    outcome: Phase


@dataclass(frozen=True, slots=True)
class JobSettled:
    """Event: the job's window closed with every dispute won by its provider; it was paid."""

    block: int
    log_index: int
    job_id: bytes


GameEvent = DisputeOpened | Moved | DisputeEnded | JobSettled


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _b32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ChainError(f"expected 32 bytes, got {len(value)}")
    return bytes(value)


# ---------------------------------------------------------------- the client


class GameClient:
    """The VerificationGame and JobSpecs of ``chain``'s deployment; transactions are signed with
    ``chain``'s key (views need none)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        for name in (GAME, SPECS):
            chain.deployment.address(name)  # ChainError now if the deployment predates the game
        abis = []
        for name in _DECODED_BY:
            try:
                abis.append(load_artifact(name).abi)
            except ChainError:
                continue  # not built (the adapter before it lands): its errors stay undecoded
        self._errors = _error_table(abis)
        outputs = next(
            i["outputs"][0]["components"]
            for i in load_artifact(GAME).abi
            if i.get("type") == "function" and i.get("name") == "getDispute"
        )
        self._dispute_fields = tuple(_snake(str(c["name"])) for c in outputs)

    # ------------------------------------------------------------ plumbing

    def _send(self, name: str, fn: str, *args: Any, value: int = 0) -> Sent:
        try:
            receipt = self.chain.transact(name, fn, *args, value=value)
        except TransactionFailed as exc:
            raise decode_revert(self._errors, f"{name}.{fn}", exc) from None
        return Sent(
            receipt["transactionHash"].to_0x_hex(), int(receipt["blockNumber"]), int(receipt["gasUsed"])
        )

    def _call(self, name: str, fn: str, *args: Any) -> Any:
        try:
            return self.chain.call(name, fn, *args)
        except Exception as exc:
            data = getattr(exc, "data", None)
            if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
                failed = TransactionFailed(f"{name}.{fn} reverted", None, data)
                raise decode_revert(self._errors, f"{name}.{fn}", failed) from None
            raise

    # ------------------------------------------------------------ views

    def bond(self) -> int:
        """The bond (wei) a dispute opened now needs."""
        return int(self._call(GAME, "bond"))

    def max_dispute_length(self) -> int:
        """The longest a dispute opened now can last (seconds)."""
        return int(self._call(GAME, "maxDisputeLength"))

    def clock(self) -> tuple[int, int]:
        """``(moveTimeout, clockBudget)`` for disputes opened now (seconds)."""
        return int(self._call(GAME, "moveTimeout")), int(self._call(GAME, "clockBudget"))

    def get_dispute(self, dispute_id: int) -> Dispute:
        """Dispute ``dispute_id`` (all zero with Phase.NONE if there is none)."""
        raw = self._call(GAME, "getDispute", dispute_id)
        values = dict(zip(self._dispute_fields, raw, strict=True))
        values["phase"] = Phase(values["phase"])
        for k, v in values.items():
            if isinstance(v, bytes | bytearray):
                values[k] = bytes(v)
        return Dispute(**values)

    def turn_of(self, dispute_id: int) -> Turn:
        """Who moves in live dispute ``dispute_id`` and its deadline; :class:`NotLive` if ended."""
        side, deadline = self._call(GAME, "turnOf", dispute_id)
        return Turn(Side(side), int(deadline))

    def dispute_of(self, job_id: bytes, challenger: str) -> int:
        """The dispute ``challenger`` opened on ``job_id`` (0: none)."""
        return int(self._call(GAME, "disputeOf", _b32(job_id), challenger))

    def job_game(self, job_id: bytes) -> JobGame:
        """The game's bookkeeping of ``job_id``."""
        marked, live, opened = self._call(GAME, "jobGames", _b32(job_id))
        return JobGame(bool(marked), int(live), int(opened))

    def credit(self, account: str) -> int:
        """``account``'s withdrawable ETH (wei)."""
        return int(self._call(GAME, "credit", account))

    def spec_of(self, job_id: bytes) -> bytes:
        """``job_id``'s committed spec hash (32 zero bytes: none)."""
        return bytes(self._call(SPECS, "specOf", _b32(job_id)))

    def is_published(self, job_id: bytes) -> bool:
        """Whether ``job_id``'s spec preimage is published."""
        return bool(self._call(SPECS, "isPublished", _b32(job_id)))

    def spec_for(self, job_id: bytes) -> tuple[bytes, int, bytes, tuple[bytes, ...]]:
        """``job_id``'s published spec ``(programDigest, nOps, skeletonRoot, inputRoots)``;
        :class:`NotPublished` when it is not."""
        digest, n_ops, skeleton, roots = self._call(SPECS, "specFor", _b32(job_id))
        return bytes(digest), int(n_ops), bytes(skeleton), tuple(bytes(r) for r in roots)

    # ------------------------------------------------------------ specs

    def commit_spec(self, job_id: bytes, spec_hash: bytes) -> Sent:
        """JobSpecs.commit (only the job's buyer, once, before the job opens in the escrow)."""
        return self._send(SPECS, "commit", _b32(job_id), _b32(spec_hash))

    def ensure_spec_committed(self, job_id: bytes, spec_hash: bytes) -> Sent | None:
        """Commit ``spec_hash`` for ``job_id`` unless it already is (``None``: nothing sent), so a
        buyer resuming after a crash between commit and open goes on; :class:`SpecConflict` when
        another spec is committed."""
        committed = self.spec_of(job_id)
        if committed == spec_hash:
            return None
        if committed != bytes(32):
            raise SpecConflict(
                f"job 0x{job_id.hex()} already has spec 0x{committed.hex()} committed, not 0x{spec_hash.hex()}"
            )
        return self.commit_spec(job_id, spec_hash)

    def publish_spec(self, job_id: bytes, spec: JobSpec) -> Sent:
        """JobSpecs.publish of ``spec``'s fields (anyone; idempotent)."""
        return self._send(
            SPECS,
            "publish",
            _b32(job_id),
            spec.program_digest,
            spec.n_ops,
            spec.skeleton_root,
            list(spec.input_roots),
        )

    # ------------------------------------------------------------ opening and ending

    def open(self, job_id: bytes, bond: int | None = None) -> Opened:
        """Open a dispute on ``job_id`` with the exact bond (read now unless given)."""
        value = self.bond() if bond is None else bond
        sent = self._send(GAME, "open", _b32(job_id), value=value)
        opened = [e for e in self.events(sent.block, sent.block) if isinstance(e, DisputeOpened)]
        mine = [e for e in opened if e.job_id == job_id and e.challenger == self.chain.address]
        if not mine:
            raise ChainError(f"open of job 0x{job_id.hex()} mined without a DisputeOpened event")
        return Opened(mine[-1].dispute_id, mine[-1].bond, sent)

    def timeout(self, dispute_id: int) -> Sent:
        """End a dispute whose side on turn missed its deadline (anyone): that side loses."""
        return self._send(GAME, "timeout", dispute_id)

    def cancel(self, dispute_id: int) -> Sent:
        """End a live dispute whose job is no longer in dispute in the escrow (anyone)."""
        return self._send(GAME, "cancel", dispute_id)

    def settle(self, job_id: bytes) -> Sent:
        """Pay ``job_id``'s provider once its window closed and every dispute ended in its favour."""
        return self._send(GAME, "settle", _b32(job_id))

    def withdraw(self, account: str | None = None) -> Sent:
        """Pay ``account`` (default: this client's) its whole credit."""
        who = account or self.chain.address
        if who is None:
            raise ChainError("withdraw: no account given and this client has no key")
        return self._send(GAME, "withdraw", who)

    # ------------------------------------------------------------ provider moves

    def reveal_root(
        self, dispute_id: int, program_digest: bytes, n_ops: int, op_tree_root: bytes,
        left: bytes = bytes(32), right: bytes = bytes(32),
    ) -> Sent:  # fmt: skip
        """Provider: the result-root preimage and, for more than one op, the op-tree root's children."""
        return self._send(
            GAME, "revealRoot", dispute_id, _b32(program_digest), n_ops, _b32(op_tree_root), _b32(left),
            _b32(right),
        )  # fmt: skip

    def bisect(self, dispute_id: int, left: bytes, right: bytes) -> Sent:
        """Provider: the disputed node's children (op tree or row tree)."""
        return self._send(GAME, "bisect", dispute_id, _b32(left), _b32(right))

    def reveal_op(
        self,
        dispute_id: int,
        body: bytes,
        tree_root: bytes,
        left: bytes = bytes(32),
        right: bytes = bytes(32),
    ) -> Sent:
        """Provider: the disputed op leaf's 66-byte body, its output's row-tree root (and children)."""
        return self._send(GAME, "revealOp", dispute_id, body, _b32(tree_root), _b32(left), _b32(right))

    def reveal_row(self, dispute_id: int, proof: bytes) -> Sent:
        """Provider: the disputed row (the adapter's ``revealRow`` proof)."""
        return self._send(GAME, "revealRow", dispute_id, proof)

    # ------------------------------------------------------------ challenger moves

    def choose(self, dispute_id: int, dispute_right: bool) -> Sent:
        """Challenger: dispute the right (or left) child of the last split."""
        return self._send(GAME, "choose", dispute_id, dispute_right)

    def step(self, dispute_id: int, col: int, proof: bytes) -> Sent:
        """Challenger: name column ``col`` with the one-step evidence; the verdict ends the dispute."""
        return self._send(GAME, "step", dispute_id, col, proof)

    # ------------------------------------------------------------ events

    def events(self, from_block: int, to_block: int | None = None) -> list[GameEvent]:
        """The game's DisputeOpened, Moved, DisputeEnded and JobSettled events in
        ``[from_block, to_block]`` (default: to the head), in chain order."""
        contract = self.chain.contract(GAME)
        end: int | str = "latest" if to_block is None else to_block
        out: list[tuple[int, int, GameEvent]] = []
        for event in ("DisputeOpened", "Moved", "DisputeEnded", "JobSettled"):
            ev: Any = getattr(contract.events, event)

            def fetch(ev: Any = ev) -> list[Any]:
                return list(ev.get_logs(from_block=from_block, to_block=end))

            for log in self.chain._read(fetch):
                decoded = _event(event, log)
                out.append((decoded.block, decoded.log_index, decoded))
        out.sort(key=lambda t: (t[0], t[1]))
        return [e for _, _, e in out]


def _event(event: str, log: Any) -> GameEvent:
    a = log["args"]
    block, index = int(log["blockNumber"]), int(log["logIndex"])
    if event == "DisputeOpened":
        return DisputeOpened(
            block, index, int(a["id"]), bytes(a["jobId"]), str(a["challenger"]), int(a["bond"])
        )
    if event == "Moved":
        return Moved(block, index, int(a["id"]), Phase(a["phase"]), Side(a["side"]), int(a["moves"]))
    if event == "DisputeEnded":
        return DisputeEnded(block, index, int(a["id"]), bytes(a["jobId"]), Phase(a["outcome"]))
    return JobSettled(block, index, bytes(a["jobId"]))
