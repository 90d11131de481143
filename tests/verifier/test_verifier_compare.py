"""The verifier's comparison: an honest run agrees; a run with one wrong op is caught at that
op and row, the evidence checks out from the program alone, and doctored evidence does not."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gcx.tp import Add, InputDecl, MatmulNT, OutputDecl, Relu, Requant, TensorType, execute, make_program
from gcx.tp.attest import RunCommitment, commit_inputs, commit_run
from gcx.tp.backends import NumpyBackend
from gcx.tp.commit import prove_op, prove_row
from gcx.tp.execute import ExecutionResult
from gcx.tp.seeded import seeded_tensor
from verifier.compare import EvidenceError, Mismatch, check_mismatch, decode_mismatch, first_mismatch

NP = NumpyBackend()
PROGRAM = make_program(
    [
        InputDecl("x", TensorType("int8", (6, 16))),
        InputDecl("w", TensorType("int8", (5, 16))),
        InputDecl("b", TensorType("int32", (5,))),
    ],
    [MatmulNT(0, 1), Add(3, 2), Relu(4), Requant(5, 3, 4, -2)],
    [OutputDecl("y", 6)],
)
INPUTS = {d.name: seeded_tensor(9, t, d.type) for t, d in enumerate(PROGRAM.inputs)}


def _run(corrupt: dict[int, tuple[int, int]] | None = None) -> tuple[ExecutionResult, RunCommitment]:
    """A run whose tensor ``tid`` has element ``(row, col)`` with its low bit flipped (later ops still
    computed from the true values: the cheater lies about one op only)."""
    run = execute(PROGRAM, INPUTS, NP)
    tensors = [t.copy() for t in run.tensors]
    for tid, (i, j) in (corrupt or {}).items():
        tensors[tid].reshape(tensors[tid].shape[0], -1)[i, j] ^= 1
    bad = ExecutionResult(run.backend, tuple(tensors), run.outputs)
    return bad, commit_run(PROGRAM, bad, commit_inputs(PROGRAM, INPUTS))


def _sources(run: ExecutionResult, c: RunCommitment) -> tuple[Any, Any]:
    n_in = len(PROGRAM.inputs)

    def fetch_op(k: int) -> Any:
        return prove_op(c.result, k)

    def fetch_row(k: int, root: bytes, i: int) -> Any:
        assert root == c.tensors[n_in + k].root
        return prove_row(c.tensors[n_in + k], run.tensors[n_in + k], i)

    return fetch_op, fetch_row


def test_an_honest_run_agrees() -> None:
    own_run, own = _run()
    _, theirs = _run()
    assert first_mismatch(PROGRAM, own, own_run.tensors, theirs.root, *_sources(*_run())) is None


@pytest.mark.parametrize(("tid", "row", "col"), [(3, 0, 0), (4, 3, 2), (6, 5, 4)])
def test_one_wrong_op_is_found_at_its_row(tid: int, row: int, col: int) -> None:
    own_run, own = _run()
    bad_run, bad = _run({tid: (row, col)})
    got = first_mismatch(PROGRAM, own, own_run.tensors, bad.root, *_sources(bad_run, bad))
    assert got is not None
    assert (got.op_index, got.row) == (tid - len(PROGRAM.inputs), row)
    assert check_mismatch(PROGRAM, INPUTS, NP, got)
    back = decode_mismatch(got.encode())
    assert back == got and check_mismatch(PROGRAM, INPUTS, NP, back)


def test_doctored_evidence_fails() -> None:
    own_run, own = _run()
    bad_run, bad = _run({4: (2, 1)})
    ev = first_mismatch(PROGRAM, own, own_run.tensors, bad.root, *_sources(bad_run, bad))
    assert ev is not None and ev.claimed_row is not None and ev.expected_row is not None
    wrong_truth = bytes([ev.expected_row[0] ^ 1]) + ev.expected_row[1:]
    other_row = prove_row(bad.tensors[4], bad_run.tensors[4], 3)
    honest = prove_op(own.result, 1)
    for doctored in (
        dataclasses.replace(ev, expected_row=wrong_truth),  # the "truth" is not the truth
        dataclasses.replace(ev, row=3),  # a row index the proof is not of
        dataclasses.replace(ev, row=3, claimed_row=other_row),  # a row the provider got right
        dataclasses.replace(ev, claimed_op=honest, result_root=own.root),  # accusing a true result
        dataclasses.replace(ev, result_root=own.root),  # the op proof is not of this root
        dataclasses.replace(ev, op_index=2),
    ):
        assert not check_mismatch(PROGRAM, INPUTS, NP, doctored)


def test_forged_provider_proofs_are_refused() -> None:
    own_run, own = _run()
    bad_run, bad = _run({5: (0, 0)})
    fetch_op, fetch_row = _sources(bad_run, bad)
    with pytest.raises(EvidenceError, match="does not verify"):
        first_mismatch(PROGRAM, own, own_run.tensors, bad.root, lambda k: prove_op(own.result, k), fetch_row)
    with pytest.raises(EvidenceError, match="row 0 of op 2 does not verify"):
        first_mismatch(
            PROGRAM, own, own_run.tensors, bad.root, fetch_op,
            lambda k, root, i: prove_row(own.tensors[3], own_run.tensors[3], i),
        )  # fmt: skip
    with pytest.raises(EvidenceError, match="is of op"):
        first_mismatch(PROGRAM, own, own_run.tensors, bad.root, lambda k: prove_op(bad.result, 3), fetch_row)


def test_decoder_refuses_malformed_records() -> None:
    own_run, own = _run()
    bad_run, bad = _run({3: (1, 1)})
    ev = first_mismatch(PROGRAM, own, own_run.tensors, bad.root, *_sources(bad_run, bad))
    assert isinstance(ev, Mismatch)
    data = ev.encode()
    for broken in (
        data[:-1],
        data + b"\x00",
        b"\x80",
        b"\x81\xa4type\xa1x",
        data.replace(b"gcx-verifier", b"gcx-verifiez"),
    ):
        with pytest.raises(EvidenceError):
            decode_mismatch(broken)
    half = dataclasses.replace(ev, expected_row=None).to_wire()
    from gcx.wire import canonical_bytes

    with pytest.raises(EvidenceError, match="all set or all nil"):
        decode_mismatch(canonical_bytes(half))
