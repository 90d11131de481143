"""Run a job file locally: check the inputs against their roots, execute, commit, meter.

This is what ``gcx job run`` does and what a provider's executor will do with a delivered job
(issue 13): the inputs are committed (and checked against the buyer's roots) *before* anything
runs, the program runs on the chosen backend, every op output is committed and the result root
computed; the metered Compute Hours come from the program and the reference profile alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from gcx.reference import ReferenceProfile

from .attest import RunCommitment, commit_inputs, commit_run
from .backends.base import Backend
from .execute import ExecutionResult, execute
from .jobfile import JobFile
from .metering import Metering, meter
from .program import Program

Executor = Callable[[Program, Mapping[str, np.ndarray], Backend], ExecutionResult]


@dataclass(frozen=True, slots=True)
class Score:
    """A classifier output scored against the job's evaluation."""

    output: str
    images: int
    accuracy: float
    agreement: float


@dataclass(frozen=True)
class JobRun:
    """One local run of a job: where and how long, what it costs, what it committed."""

    backend: str
    seconds: float
    """Wall time of the execution alone (inputs on the host, results back on the host)."""
    commit_seconds: float
    """Wall time of all commitments (inputs, every op output, the result root)."""
    metering: Metering
    execution: ExecutionResult
    commitment: RunCommitment
    score: Score | None

    @property
    def result_root(self) -> bytes:
        """The result root (32 bytes)."""
        return self.commitment.root


def score(job: JobFile, execution: ExecutionResult) -> Score | None:
    """Accuracy against the labels and agreement with the reference predictions, if the job
    carries an evaluation."""
    ev = job.evaluation
    if ev is None:
        return None
    pred = execution.outputs[ev.output]
    n = int(pred.shape[0])
    return Score(ev.output, n, float(np.mean(pred == ev.labels)), float(np.mean(pred == ev.reference)))


def run_job(
    job: JobFile, backend: Backend, profile: ReferenceProfile, executor: Executor = execute
) -> JobRun:
    """Check, execute, commit and meter ``job`` on ``backend``; ``executor`` runs the program
    (:func:`gcx.tp.execute.execute`, or a deliberately faulty one in tests and demos)."""
    metering = meter(job.program, profile)
    values = job.values()
    t0 = time.perf_counter()
    inputs = commit_inputs(job.program, values, backend.commit)
    t1 = time.perf_counter()
    execution = executor(job.program, values, backend)
    t2 = time.perf_counter()
    commitment = commit_run(job.program, execution, inputs, backend.commit)
    t3 = time.perf_counter()
    return JobRun(
        backend.name, t2 - t1, (t1 - t0) + (t3 - t2), metering, execution, commitment, score(job, execution)
    )
