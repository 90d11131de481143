"""Compare a provider's claimed run with the verifier's own re-execution; name the first
difference as evidence anyone can check.

Theory of operation: the verifier re-executes the job (inputs checked against the buyer's
roots) and commits its own run (:func:`gcx.tp.attest.commit_run`). Equal result roots: the
provider is right. Otherwise the provider's op leaves, each proven against the provider's
posted result root (:class:`~gcx.tp.commit.OpProof`), are compared with the verifier's, in
op order: the **first op whose leaf differs** has the same inputs on both sides (every earlier
leaf, hence every earlier tensor root, agrees), so the provider computed that op wrongly. Its
output is compared row by row with the provider's rows (each a :class:`RowProof` against the
output root in the provider's leaf): the **first differing row** and the verifier's own bytes
of that row complete the :class:`Mismatch`, which :func:`check_mismatch` verifies from the
program and its inputs alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gcx.errors import GCXError
from gcx.tp.attest import RunCommitment, commit_inputs, commit_run
from gcx.tp.backends.base import Backend
from gcx.tp.commit import (
    OpProof,
    RowProof,
    decode_op_proof,
    decode_row_proof,
    prove_row,
    verify_op,
    verify_row,
)
from gcx.tp.execute import execute
from gcx.tp.program import Program
from gcx.wire import canonical_bytes, expect_bytes, expect_int, unpack

MISMATCH_TYPE = "gcx-verifier/mismatch"
MISMATCH_VERSION = 1


class EvidenceError(GCXError):
    """A claimed proof does not verify, or a mismatch record does not hold."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first op (and row) where a provider's committed run differs from the true one.

    ``claimed_op`` opens the provider's leaf of op ``op_index`` against ``result_root``;
    ``claimed_row`` (``None`` when the provider's output header itself is wrong) opens the
    provider's row ``row`` against that leaf's output root; ``expected_row`` is the true row.
    """

    result_root: bytes
    op_index: int
    claimed_op: OpProof
    row: int | None
    claimed_row: RowProof | None
    expected_row: bytes | None

    def to_wire(self) -> dict[str, Any]:
        """The canonical map of this record (``type`` ``gcx-verifier/mismatch``, ``v`` 1)."""
        return {
            "type": MISMATCH_TYPE,
            "v": MISMATCH_VERSION,
            "result_root": self.result_root,
            "op": self.op_index,
            "op_proof": self.claimed_op.encode(),
            "row": self.row,
            "row_proof": None if self.claimed_row is None else self.claimed_row.encode(),
            "expected_row": self.expected_row,
        }

    def encode(self) -> bytes:
        """Canonical msgpack bytes."""
        return canonical_bytes(self.to_wire())


def decode_mismatch(data: bytes) -> Mismatch:
    """Decode a mismatch record strictly (:class:`EvidenceError` for anything else); the proofs
    are decoded but not checked against the program: that is :func:`check_mismatch`."""
    try:
        m = unpack(data, 64 * 1024 * 1024)
        keys = {"type", "v", "result_root", "op", "op_proof", "row", "row_proof", "expected_row"}
        if type(m) is not dict or set(m) != keys or m["type"] != MISMATCH_TYPE or m["v"] != MISMATCH_VERSION:
            raise EvidenceError(f"not a {MISMATCH_TYPE} v{MISMATCH_VERSION} record")
        op = decode_op_proof(expect_bytes(m["op_proof"], "op_proof"))
        rows = (m["row"], m["row_proof"], m["expected_row"])
        if any(v is None for v in rows) and any(v is not None for v in rows):
            raise EvidenceError("row, row_proof and expected_row are all set or all nil")
        out = Mismatch(
            expect_bytes(m["result_root"], "result_root", 32, 32),
            expect_int(m["op"], "op", 0, 2**32 - 1),
            op,
            None if m["row"] is None else expect_int(m["row"], "row", 0, 2**32 - 1),
            None if m["row_proof"] is None else decode_row_proof(expect_bytes(m["row_proof"], "row_proof")),
            None if m["expected_row"] is None else expect_bytes(m["expected_row"], "expected_row"),
        )
    except EvidenceError:
        raise
    except GCXError as exc:
        raise EvidenceError(f"a malformed mismatch record: {exc}") from None
    if out.encode() != bytes(data):
        raise EvidenceError("the mismatch record is not canonically encoded")
    return out


OpSource = Callable[[int], OpProof]
"""Fetches the provider's proof of op ``k`` (e.g. over ``/gcx/data/1``)."""
RowSource = Callable[[int, bytes, int], RowProof]
"""Fetches the provider's proof of row ``i`` of the tensor with root ``root`` committed by op
``k``: ``(k, root, i)``."""


def _claimed_op(program: Program, result_root: bytes, fetch: OpSource, k: int) -> OpProof:
    proof = fetch(k)
    if proof.leaf.op_index != k or proof.n_ops != len(program.ops):
        raise EvidenceError(f"the provider's proof of op {k} is of op {proof.leaf.op_index}/{proof.n_ops}")
    if not verify_op(result_root, proof, program.digest):
        raise EvidenceError(f"the provider's proof of op {k} does not verify against its result root")
    return proof


def first_mismatch(
    program: Program,
    own: RunCommitment,
    own_tensors: Sequence[np.ndarray],
    result_root: bytes,
    fetch_op: OpSource,
    fetch_row: RowSource,
) -> Mismatch | None:
    """``None`` when ``result_root`` equals the verifier's own; else the first differing op
    and row. A proof the provider serves that does not verify is an :class:`EvidenceError`
    (withholding and forging are the game's business, not this comparison's)."""
    if own.root == result_root:
        return None
    n_in = len(program.inputs)
    for k in range(len(program.ops)):
        claimed = _claimed_op(program, result_root, fetch_op, k)
        mine = own.result.leaves[k]
        if claimed.leaf.digest() == mine.digest():
            continue
        if claimed.leaf.output != mine.output or claimed.leaf.opcode != mine.opcode:
            return Mismatch(result_root, k, claimed, None, None, None)
        expected = own_tensors[n_in + k]
        rows = expected.reshape(mine.output.rows, -1)
        for i in range(mine.output.rows):
            proof = fetch_row(k, claimed.leaf.output_root, i)
            if proof.index != i or not verify_row(claimed.leaf.output_root, proof):
                raise EvidenceError(f"the provider's row {i} of op {k} does not verify against its leaf")
            truth = np.ascontiguousarray(rows[i]).astype(rows.dtype.newbyteorder("<")).tobytes()
            if proof.row != truth:
                return Mismatch(result_root, k, claimed, i, proof, truth)
        # every row agrees but the root differs: the provider's tree is wrong; row 0 shows it
        truth = np.ascontiguousarray(rows[0]).astype(rows.dtype.newbyteorder("<")).tobytes()
        return Mismatch(result_root, k, claimed, 0, fetch_row(k, claimed.leaf.output_root, 0), truth)
    raise EvidenceError("the result roots differ but every op leaf agrees (a wrong op count or digest)")


def check_mismatch(
    program: Program, inputs: Mapping[str, np.ndarray], backend: Backend, evidence: Mismatch
) -> bool:
    """Whether ``evidence`` shows that the run committed as ``evidence.result_root`` is wrong:
    its op proof verifies against that root and the provider's leaf differs from the true leaf
    (re-executing the program on ``inputs``); a row, when given, must be proven against the
    provider's own output root and its ``expected_row`` must be the true row."""
    k = evidence.op_index
    claimed = evidence.claimed_op
    if not 0 <= k < len(program.ops) or claimed.leaf.op_index != k:
        return False
    if not verify_op(evidence.result_root, claimed, program.digest):
        return False
    committed = commit_inputs(program, inputs, backend.commit)
    run = execute(program, inputs, backend)
    truth = commit_run(program, run, committed, backend.commit)
    if claimed.leaf.digest() == truth.result.leaves[k].digest():
        return False
    if evidence.row is None:
        return True
    proof, tid = evidence.claimed_row, len(program.inputs) + k
    if proof is None or proof.index != evidence.row or not verify_row(claimed.leaf.output_root, proof):
        return False
    if evidence.row >= truth.tensors[tid].header.rows:
        return False
    return evidence.expected_row == prove_row(truth.tensors[tid], run.tensors[tid], evidence.row).row
