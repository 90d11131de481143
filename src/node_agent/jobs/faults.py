"""Deliberate wrong results for tests and demos (``[fault]``, docs/jobs-provider.md, "Faults").

:func:`execute_ops` runs a program op by op exactly as :func:`gcx.tp.execute.execute` does (the
same checks, the same per-op dispatch), except that the output of op ``corrupt_op`` has one
element changed before the later ops read it: a run with ``corrupt_op = k`` agrees with an
honest run on ops ``0 .. k-1`` and first differs at op ``k``. :func:`faulty_op` picks which op
(if any) a job corrupts, deterministically from the job id, so a restarted node does the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from eth_hash.auto import keccak

from gcx.settings import FaultSettings
from gcx.tp.backends.base import Backend
from gcx.tp.errors import TensorValueError
from gcx.tp.execute import ExecutionResult
from gcx.tp.execute import _run as run_op
from gcx.tp.program import Program
from gcx.tp.tensor import check_value

__all__ = ["corrupt", "execute_ops", "faulty_op"]

_TAG = b"gcx-node-fault/1"


def faulty_op(job_id: bytes, n_ops: int, faults: FaultSettings) -> int | None:
    """The op whose output this job corrupts, or None: ``fault.wrong_op`` for every job (when
    the program has that op), else for a ``fault.wrong_result_rate`` share of jobs (chosen by
    the job id's hash) the op the hash names."""
    if faults.wrong_op is not None:
        return faults.wrong_op if faults.wrong_op < n_ops else None
    if faults.wrong_result_rate <= 0.0 or n_ops < 1:
        return None
    h = keccak(_TAG + bytes(job_id))
    if int.from_bytes(h[:8], "big") >= faults.wrong_result_rate * 2**64:
        return None
    return int.from_bytes(h[8:16], "big") % n_ops


def corrupt(value: np.ndarray) -> np.ndarray:
    """A copy of ``value`` with its first element's lowest bit flipped (stays in its dtype)."""
    out = np.array(value, copy=True)
    flat = out.reshape(-1)
    flat[0] = flat[0] ^ 1
    return out


def execute_ops(
    program: Program, inputs: Mapping[str, np.ndarray], backend: Backend, corrupt_op: int | None = None
) -> ExecutionResult:
    """:func:`gcx.tp.execute.execute`, op by op, with op ``corrupt_op``'s output corrupted
    (:func:`corrupt`) before any later op uses it; ``None``: the honest run."""
    names = {d.name for d in program.inputs}
    if set(inputs) != names:
        raise TensorValueError(f"inputs must be exactly {sorted(names)}, got {sorted(inputs)}")
    checked = [check_value(inputs[d.name], d.type, f"input {d.name!r}") for d in program.inputs]
    live: list[Any] = [backend.load(v) for v in checked]
    for j, op in enumerate(program.ops):
        out = run_op(backend, op, live)
        if j == corrupt_op:
            out = backend.load(corrupt(backend.fetch(out)))
        live.append(out)
    tensors = tuple(backend.fetch(v) for v in live)
    return ExecutionResult(backend.name, tensors, {o.name: tensors[o.tensor] for o in program.outputs})
