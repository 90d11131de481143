"""Job files: round trip, the strict decoder (typed refusals, fuzz), atomic writes, and the
local runner's input-root check before any execution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.reference import ReferenceProfile
from gcx.tp import (
    Argmax,
    InputDecl,
    JobFileError,
    MatmulNT,
    OutputDecl,
    ProgramError,
    TensorType,
    execute,
    make_program,
)
from gcx.tp.attest import InputRootError, commit_inputs
from gcx.tp.backends import NumpyBackend, PythonBackend
from gcx.tp.examples.matmul import matmul_job
from gcx.tp.jobfile import (
    Evaluation,
    SeededInput,
    decode_job,
    encode_job,
    make_job,
    read_job,
    write_job,
)
from gcx.tp.runner import run_job
from gcx.wire import canonical_bytes, unpack


def _classifier(root_x: bytes | None = None) -> Any:
    """x int8[3,4] (data), w int8[2,4] (seeded) → logits → pred int32[3]."""
    decls = [InputDecl("x", TensorType("int8", (3, 4)), root_x), InputDecl("w", TensorType("int8", (2, 4)))]
    return make_program(decls, [MatmulNT(0, 1), Argmax(2)], [OutputDecl("pred", 3)])


X = np.array([[1, 2, 3, 4], [-4, -3, -2, -1], [0, 0, 0, 0]], dtype=np.int8)


def _job(root_x: bytes | None = None) -> Any:
    ev = Evaluation("pred", np.array([0, 1, 0], np.int32), np.array([0, 1, 1], np.int32))
    return make_job(_classifier(root_x), {"x": X, "w": SeededInput(7)}, ev)


def test_round_trip_keeps_values_and_evaluation() -> None:
    job = _job()
    back = decode_job(encode_job(job))
    assert back.program.digest == job.program.digest
    for name, value in job.values().items():
        got = back.values()[name]
        assert got.dtype == value.dtype and got.shape == value.shape and np.array_equal(got, value)
    assert back.evaluation is not None
    assert np.array_equal(back.evaluation.reference, [0, 1, 1])
    assert encode_job(back) == encode_job(job)


def test_seeded_matmul_job_is_small_and_commits_its_inputs() -> None:
    job = matmul_job(64, seed=3)
    data = encode_job(job)
    assert len(data) < 1024  # seeds, not 8 KiB of values
    roots = commit_inputs(job.program, job.values())
    assert [d.root for d in job.program.inputs] == [c.root for c in roots]


def _wire() -> dict[str, Any]:
    value = unpack(encode_job(_job()))
    assert isinstance(value, dict)
    return value


def _refused(mutate: Any, fragment: str, error: type[Exception] = JobFileError) -> None:
    m = _wire()
    mutate(m)
    with pytest.raises(error, match=fragment):
        decode_job(canonical_bytes(m))


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda m: m.update(type="gcx-tp/program"), "not a gcx-tp/job v1"),
        (lambda m: m.update(v=2), "not a gcx-tp/job v1"),
        (lambda m: m.update(v=True), "not a gcx-tp/job v1"),
        (lambda m: m.pop("evaluation"), "keys"),
        (lambda m: m.update(extra=1), "keys"),
        (lambda m: m["inputs"].pop(), "one input entry per program input"),
        (lambda m: m["inputs"].reverse(), "input entry 0 is 'w'"),
        (lambda m: m["inputs"][0].update(data=b"\x00" * 11), "has 11 bytes, expected 12"),
        (lambda m: m["inputs"][0].update(seed=1), "keys"),
        (lambda m: m["inputs"][1].update(seed=-1), "seed"),
        (lambda m: m["inputs"][1].update(seed=False), "seed"),
        (lambda m: m["evaluation"].update(output="logits"), "names output 'logits'"),
        (lambda m: m["evaluation"].update(labels=b"\x00" * 8), r"int32\[3\]"),
        (lambda m: m["evaluation"].update(reference=b"\x00" * 7), "whole number of int32"),
        (lambda m: m.update(inputs={}), "one input entry"),
    ],
)
def test_decoder_refuses_malformed_job_files(mutate: Any, fragment: str) -> None:
    _refused(mutate, fragment)


def test_a_bad_program_inside_is_a_program_error() -> None:
    _refused(lambda m: m["program"]["ops"][0].update(op="conv"), "conv", ProgramError)


def test_non_canonical_and_trailing_bytes_refused() -> None:
    data = encode_job(_job())
    with pytest.raises(JobFileError):
        decode_job(data + b"\x00")
    with pytest.raises(JobFileError):
        decode_job(data[:-1])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 10_000), st.integers(0, 255))
def test_decoder_fuzz_only_typed_errors(noise: bytes, pos: int, byte: int) -> None:
    data = bytearray(encode_job(_job()))
    data[pos % len(data)] = byte
    for candidate in (bytes(noise), bytes(data)):
        try:
            job = decode_job(candidate)
        except (JobFileError, ProgramError):
            continue
        assert encode_job(job) == candidate


def test_read_job_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gcxjob"
    with pytest.raises(JobFileError, match=r"nope\.gcxjob"):
        read_job(missing)
    bad = tmp_path / "bad.gcxjob"
    bad.write_bytes(b"\x93\x01\x02\x03")
    with pytest.raises(JobFileError, match=r"bad\.gcxjob"):
        read_job(bad)


def test_write_job_is_atomic_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "j.gcxjob"
    n = write_job(path, _job())
    assert path.stat().st_size == n
    assert [p.name for p in path.parent.iterdir()] == ["j.gcxjob"]  # no temporary left behind
    assert read_job(path).program.digest == _job().program.digest


class _Recording(NumpyBackend):
    calls = 0

    def matmul_nt(self, a: Any, b: Any) -> np.ndarray:
        _Recording.calls += 1
        return super().matmul_nt(a, b)


def test_runner_refuses_a_wrong_input_before_executing(shipped_profile: ReferenceProfile) -> None:
    root = commit_inputs(_classifier(), _job().values())[0].root
    good = _job(root)
    run = run_job(good, NumpyBackend(), shipped_profile)
    assert run.score is not None and run.score.images == 3
    tampered = X.copy()
    tampered[2, 3] = 1
    bad = make_job(good.program, {"x": tampered, "w": SeededInput(7)}, good.evaluation)
    _Recording.calls = 0
    with pytest.raises(InputRootError, match="input 'x' has root"):
        run_job(bad, _Recording(), shipped_profile)
    assert _Recording.calls == 0


def test_runner_roots_agree_across_backends(shipped_profile: ReferenceProfile) -> None:
    job = _job()
    a = run_job(job, NumpyBackend(), shipped_profile)
    b = run_job(job, PythonBackend(), shipped_profile)
    assert a.result_root == b.result_root and len(a.result_root) == 32
    pred = execute(job.program, job.values(), PythonBackend()).outputs["pred"]
    assert a.score is not None
    assert a.score.accuracy == pytest.approx(float(np.mean(pred == [0, 1, 0])))
    assert a.score.agreement == pytest.approx(float(np.mean(pred == [0, 1, 1])))


def test_make_job_refuses_mismatched_sources() -> None:
    p = _classifier()
    with pytest.raises(JobFileError, match="exactly"):
        make_job(p, {"x": X})
    with pytest.raises(JobFileError, match="int8"):
        make_job(p, {"x": X.astype(np.int32), "w": SeededInput(1)})
    with pytest.raises(JobFileError, match="seed"):
        make_job(p, {"x": X, "w": SeededInput(-5)})
    with pytest.raises(JobFileError, match="seed"):
        make_job(p, {"x": X, "w": SeededInput(2**64)})
