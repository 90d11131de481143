"""GCX tensor programs (GCX-TP, DESIGN §6): deterministic integer tensor programs for jobs.

* :mod:`.tensor` — tensor types (int8/int32, rank 1-2) and limits.
* :mod:`.ops` — the operations, their attributes and shape rules.
* :mod:`.program` — programs, canonical encoding, digest, strict decoder.
* :mod:`.seeded` — seeded (counter-based splitmix64) tensor values.
* :mod:`.backends` — executors (pure Python oracle, NumPy, CuPy) behind one interface.
* :mod:`.execute` — run a program, keeping every tensor for the commitments.
* :mod:`.metering` — a program's work and its Compute Hours from the reference profile.
* :mod:`.commit` — position-binding SHA-256 Merkle roots of tensors and op results, and the
  row, element and op proofs of the verification game.
* :mod:`.attest` — a run's commitments: inputs checked against the buyer's roots, op leaves,
  the result root.
* :mod:`.jobfile` — job files (a program with its input values), strict decoder.
* :mod:`.runner` — check, execute, commit and meter a job locally (``gcx job run``).
* :mod:`.examples` — a seeded GEMM job and a quantized digits classifier.
"""

from __future__ import annotations

from .errors import JobFileError, ProgramError, TensorValueError
from .execute import ExecutionResult, execute
from .ops import Add, Argmax, MatmulNT, Op, Relu, Requant
from .program import InputDecl, OutputDecl, Program, decode_program, make_program
from .tensor import TensorType

__all__ = [
    "Add",
    "Argmax",
    "ExecutionResult",
    "InputDecl",
    "JobFileError",
    "MatmulNT",
    "Op",
    "OutputDecl",
    "Program",
    "ProgramError",
    "Relu",
    "Requant",
    "TensorType",
    "TensorValueError",
    "decode_program",
    "execute",
    "make_program",
]
