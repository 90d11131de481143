"""The node's deliberate faults: an op-by-op run that equals GCX-TP's honest execution, and
corrupts exactly one element of exactly the chosen op (the later ops computed from it)."""

from __future__ import annotations

import numpy as np
from node_jobs_helpers import make_test_job

from gcx.settings import FaultSettings
from gcx.tp.backends import NumpyBackend
from gcx.tp.examples.matmul import matmul_job
from gcx.tp.execute import execute
from gcx.tp.jobfile import SeededInput, make_job
from node_agent.jobs.faults import execute_ops, faulty_op


def test_the_honest_op_by_op_run_is_gcx_tp_execute() -> None:
    job = matmul_job(32, seed=3)
    values = job.values()
    ours = execute_ops(job.program, values, NumpyBackend())
    theirs = execute(job.program, values, NumpyBackend())
    assert len(ours.tensors) == len(theirs.tensors)
    assert all(np.array_equal(a, b) for a, b in zip(ours.tensors, theirs.tensors, strict=True))


def test_corrupting_op_k_changes_one_element_of_k_and_feeds_the_later_ops() -> None:
    t = make_test_job()
    values = make_job(t.program, {"a": t.a, "b": SeededInput(t.seed)}).values()
    honest = execute(t.program, values, NumpyBackend()).tensors
    n_in = len(t.program.inputs)
    bad = execute_ops(t.program, values, NumpyBackend(), corrupt_op=0).tensors
    assert np.count_nonzero(bad[n_in] != honest[n_in]) == 1  # op 0: one element
    assert np.array_equal(bad[n_in + 1], np.maximum(bad[n_in], 0))  # relu read the corrupted tensor
    bad1 = execute_ops(t.program, values, NumpyBackend(), corrupt_op=1).tensors
    assert np.array_equal(bad1[n_in], honest[n_in])  # op 0 untouched
    assert np.count_nonzero(bad1[n_in + 1] != honest[n_in + 1]) == 1


def test_the_faulty_op_is_a_deterministic_function_of_the_job_id() -> None:
    ids = [i.to_bytes(32, "big") for i in range(400)]
    assert all(faulty_op(j, 5, FaultSettings()) is None for j in ids)
    assert all(faulty_op(j, 5, FaultSettings(wrong_op=3)) == 3 for j in ids)
    assert all(faulty_op(j, 2, FaultSettings(wrong_op=3)) is None for j in ids)  # no such op
    always = [faulty_op(j, 5, FaultSettings(wrong_result_rate=1.0)) for j in ids]
    assert all(k is not None and 0 <= k < 5 for k in always) and len(set(always)) == 5
    half = FaultSettings(wrong_result_rate=0.5)
    picked = [faulty_op(j, 5, half) for j in ids]
    assert 150 < sum(k is not None for k in picked) < 250
    assert picked == [faulty_op(j, 5, half) for j in ids]  # a restart does the same
