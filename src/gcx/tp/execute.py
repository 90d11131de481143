"""Run a checked program on a backend, keeping every tensor (the hook for commitments).

:func:`execute` is pure apart from the backend's device work: it checks the input values
against the program's declarations, runs the ops in order and returns all tensors by id
(inputs first, then each op's output), so row roots, op leaves and the result root can be
computed over them afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends.base import Backend
from .errors import TensorValueError
from .ops import Add, Argmax, MatmulNT, Op, Relu, Requant
from .program import Program
from .tensor import check_value


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """Every tensor of one run, by tensor id, as host arrays; ``outputs`` by output name."""

    backend: str
    tensors: tuple[np.ndarray, ...]
    outputs: Mapping[str, np.ndarray]


def _run(backend: Backend, op: Op, t: list[Any]) -> Any:
    if isinstance(op, MatmulNT):
        return backend.matmul_nt(t[op.a], t[op.b])
    if isinstance(op, Add):
        return backend.add(t[op.x], t[op.y])
    if isinstance(op, Relu):
        return backend.relu(t[op.x])
    if isinstance(op, Requant):
        return backend.requant(t[op.x], op.multiplier, op.shift, op.zero_point)
    assert isinstance(op, Argmax)
    return backend.argmax(t[op.x])


def execute(program: Program, inputs: Mapping[str, np.ndarray], backend: Backend) -> ExecutionResult:
    """Run ``program`` on ``inputs`` (by input name); :class:`TensorValueError` if an input is
    missing, extra or does not match its declaration (all are checked before the backend sees any)."""
    names = {d.name for d in program.inputs}
    if set(inputs) != names:
        raise TensorValueError(f"inputs must be exactly {sorted(names)}, got {sorted(inputs)}")
    checked = [check_value(inputs[d.name], d.type, f"input {d.name!r}") for d in program.inputs]
    live: list[Any] = [backend.load(v) for v in checked]  # every input checked before any is loaded
    for op in program.ops:
        live.append(_run(backend, op, live))
    tensors = tuple(backend.fetch(v) for v in live)
    return ExecutionResult(backend.name, tensors, {o.name: tensors[o.tensor] for o in program.outputs})
