"""Commit a program run: every tensor's root, every op's leaf and the result root.

Theory of operation (docs/gcx-tp.md, "Commitments"): the provider of a job commits each input
(and checks it against the buyer's root in the program, when there is one), runs the program,
then commits each op's output tensor and builds the op leaf of each op from its opcode, input
tensor ids and attributes (:func:`gcx.tp.ops.op_fields`) and its output's header and root. The
Merkle root over the op leaves, bound to the program's digest, is the **result root**: one
32-byte value that names the program and commits every intermediate tensor, which the provider
posts on-chain and the verification game bisects.

Pure (numpy, hashlib through :mod:`.commit`); the inputs can be checked before any execution
with :func:`commit_inputs`, so a job with a wrong input is refused before it costs compute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .commit import OpLeaf, ResultCommitment, TensorCommitment, commit_result, commit_tensor, op_leaf
from .errors import TensorValueError
from .execute import ExecutionResult
from .program import Program
from .tensor import check_value

Committer = Callable[[int, np.ndarray], TensorCommitment]
"""What commits one tensor: ``(tensor id, value) -> TensorCommitment``, equal to
:func:`commit_tensor`'s (the default; :meth:`CupyBackend.commit` hashes on the GPU)."""


class InputRootError(TensorValueError):
    """An input's value does not hash to the root the program's buyer committed for it."""


@dataclass(frozen=True, slots=True, eq=False)
class RunCommitment:
    """The commitments of one run: every tensor's (by tensor id) and the op leaves' tree."""

    tensors: tuple[TensorCommitment, ...]
    result: ResultCommitment

    @property
    def root(self) -> bytes:
        """The result root (32 bytes)."""
        return self.result.root


def op_leaf_of(program: Program, index: int, output: TensorCommitment) -> OpLeaf:
    """The op leaf of op ``index`` of ``program``, whose output tensor (tensor id
    ``program.op_tensor(index)``) was committed as ``output``."""
    if not 0 <= index < len(program.ops):
        raise TensorValueError(f"op {index} is outside 0..{len(program.ops) - 1}")
    if output.header.tensor_id != program.op_tensor(index):
        raise TensorValueError(
            f"op {index}'s output is tensor {program.op_tensor(index)}, not {output.header.tensor_id}"
        )
    return op_leaf(index, program.ops[index], output)


def commit_inputs(
    program: Program, inputs: Mapping[str, np.ndarray], committer: Committer = commit_tensor
) -> tuple[TensorCommitment, ...]:
    """Check and commit the input values (by name) in declaration order, with ``committer``.

    :class:`TensorValueError` when a value is missing, extra or ill-typed;
    :class:`InputRootError` when it differs from the buyer's committed root.
    """
    names = {d.name for d in program.inputs}
    if set(inputs) != names:
        raise TensorValueError(f"inputs must be exactly {sorted(names)}, got {sorted(inputs)}")
    out = []
    for tid, decl in enumerate(program.inputs):
        value = check_value(inputs[decl.name], decl.type, f"input {decl.name!r}")
        c = committer(tid, value)
        if decl.root is not None and c.root != decl.root:
            raise InputRootError(
                f"input {decl.name!r} has root {c.root.hex()}, the program commits {decl.root.hex()}"
            )
        out.append(c)
    return tuple(out)


def commit_run(
    program: Program,
    result: ExecutionResult,
    inputs: Sequence[TensorCommitment] | None = None,
    committer: Committer = commit_tensor,
) -> RunCommitment:
    """The commitments of ``result`` (a run of ``program``); ``inputs`` reuses
    :func:`commit_inputs`' work (by default the inputs are committed here, unchecked);
    ``committer`` commits each tensor."""
    n_in = len(program.inputs)
    if len(result.tensors) != n_in + len(program.ops):
        raise TensorValueError(f"a run of this program has {n_in + len(program.ops)} tensors")
    if inputs is None:
        inputs = [committer(t, result.tensors[t]) for t in range(n_in)]
    tensors = list(inputs)
    leaves = []
    for j in range(len(program.ops)):
        c = committer(n_in + j, result.tensors[n_in + j])
        tensors.append(c)
        leaves.append(op_leaf_of(program, j, c))
    return RunCommitment(tuple(tensors), commit_result(program.digest, leaves))
