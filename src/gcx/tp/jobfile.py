"""Job files: a GCX-TP program together with its input values (docs/gcx-tp.md, "Job files").

A job file is the canonical msgpack (:mod:`gcx.wire`) of::

    {"type": "gcx-tp/job", "v": 1,
     "program": <the program's map>,
     "inputs": [{"name": str, "seed": u64} | {"name": str, "data": bin}, ...],
     "evaluation": nil | {"output": str, "labels": bin, "reference": bin}}

``inputs`` has one entry per program input, in declaration order: either a seed (the value is
:func:`gcx.tp.seeded.seeded_tensor` of that seed and the input's tensor id) or the value's bytes
(row-major, little-endian, exactly the declared size). ``evaluation`` is optional metadata for
classifier programs: the true label and a reference model's prediction (int32 little-endian,
one per row of the rank-1 int32 ``output``), from which ``gcx job run`` reports accuracy and
agreement. It is not part of the program and never changes its digest or commitments.

:func:`decode_job` is strict (exact keys, canonical bytes, sizes) and raises only
:class:`~gcx.tp.errors.JobFileError` or :class:`~gcx.tp.errors.ProgramError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gcx.errors import WireError
from gcx.files import write_atomic
from gcx.wire import canonical_bytes, expect_bytes, expect_int, expect_str, unpack

from .errors import JobFileError, ProgramError
from .program import Program, program_from_wire
from .seeded import seeded_tensor
from .tensor import ITEMSIZE, TensorType

JOB_TYPE = "gcx-tp/job"
JOB_VERSION = 1
MAX_JOB_BYTES = 2**31  # a program's tensors are at most 2**28 elements; inputs far fewer in practice
_U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class SeededInput:
    """An input whose value is generated from ``seed`` (docs/gcx-tp.md, "Seeded inputs")."""

    seed: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Labels and a reference model's predictions for a classifier output (one per row)."""

    output: str
    labels: np.ndarray
    reference: np.ndarray


InputSource = SeededInput | np.ndarray


@dataclass(frozen=True)
class JobFile:
    """A program and the source of each input value (by input name, declaration order)."""

    program: Program
    sources: Mapping[str, InputSource]
    evaluation: Evaluation | None = None

    def values(self) -> dict[str, np.ndarray]:
        """Every input's value (seeded ones generated now)."""
        out = {}
        for tid, decl in enumerate(self.program.inputs):
            src = self.sources[decl.name]
            out[decl.name] = seeded_tensor(src.seed, tid, decl.type) if isinstance(src, SeededInput) else src
        return out

    def to_wire(self) -> dict[str, Any]:
        """The job file's map (what :func:`encode_job` encodes)."""
        inputs: list[dict[str, Any]] = []
        for decl in self.program.inputs:
            src = self.sources[decl.name]
            if isinstance(src, SeededInput):
                inputs.append({"name": decl.name, "seed": src.seed})
            else:
                inputs.append({"name": decl.name, "data": _le_bytes(src, decl.type.dtype)})
        ev = self.evaluation
        return {
            "type": JOB_TYPE,
            "v": JOB_VERSION,
            "program": self.program.to_wire(),
            "inputs": inputs,
            "evaluation": None
            if ev is None
            else {
                "output": ev.output,
                "labels": _le_bytes(ev.labels, "int32"),
                "reference": _le_bytes(ev.reference, "int32"),
            },
        }


def _le_bytes(value: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(value, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def _from_le(data: bytes, t: TensorType) -> np.ndarray:
    arr = np.frombuffer(data, dtype=np.dtype(t.dtype).newbyteorder("<")).reshape(t.shape)
    return np.ascontiguousarray(arr, dtype=t.dtype)


def make_job(
    program: Program, sources: Mapping[str, InputSource], evaluation: Evaluation | None = None
) -> JobFile:
    """A checked :class:`JobFile`; :class:`JobFileError` if a source is missing, extra or does
    not fit its input's declaration, or the evaluation does not fit the program."""
    try:
        names = [d.name for d in program.inputs]
        if set(sources) != set(names):
            raise JobFileError(f"the job's inputs must be exactly {names}, got {sorted(sources)}")
        for decl in program.inputs:
            src = sources[decl.name]
            if isinstance(src, SeededInput):
                expect_int(src.seed, f"input {decl.name!r} seed", 0, _U64_MAX)
            elif (
                not isinstance(src, np.ndarray)
                or src.dtype != decl.type.dtype
                or src.shape != decl.type.shape
            ):
                raise JobFileError(f"input {decl.name!r} is not a {decl.type.describe()} array")
        if evaluation is not None:
            _check_evaluation(program, evaluation)
    except JobFileError:
        raise
    except WireError as exc:
        raise JobFileError(str(exc)) from None
    return JobFile(program, dict(sources), evaluation)


def _check_evaluation(program: Program, ev: Evaluation) -> None:
    out = {o.name: o.tensor for o in program.outputs}
    if ev.output not in out:
        raise JobFileError(f"the evaluation names output {ev.output!r}, the program has {sorted(out)}")
    t = program.types[out[ev.output]]
    if t.dtype != "int32" or len(t.shape) != 1:
        raise JobFileError(f"the evaluated output {ev.output!r} must be int32[n], not {t.describe()}")
    for what, arr in (("labels", ev.labels), ("reference", ev.reference)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.int32 or arr.shape != t.shape:
            raise JobFileError(f"the evaluation's {what} must be int32[{t.shape[0]}]")


_JOB_KEYS = frozenset({"type", "v", "program", "inputs", "evaluation"})
_EVAL_KEYS = frozenset({"output", "labels", "reference"})


def _keys(value: Any, keys: Sequence[frozenset[str]], what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise JobFileError(f"{what} must be a map, got a {type(value).__name__}")
    if set(value) not in keys:
        want = " or ".join(str(sorted(k)) for k in keys)
        raise JobFileError(f"{what} has keys {sorted(value)}, expected {want}")
    return value


def decode_job(data: bytes) -> JobFile:
    """Decode a job file strictly: :class:`JobFileError` for the file, :class:`ProgramError`
    for its program; non-canonical bytes are refused."""
    try:
        job = _decode(data)
    except (JobFileError, ProgramError):
        raise
    except WireError as exc:
        raise JobFileError(f"not a job file: {exc}") from None
    if canonical_bytes(job.to_wire()) != bytes(data):
        raise JobFileError("the job file is not canonically encoded")
    return job


def _decode(data: bytes) -> JobFile:
    m = _keys(unpack(data, MAX_JOB_BYTES), [_JOB_KEYS], "a job file")
    if m["type"] != JOB_TYPE or type(m["v"]) is not int or m["v"] != JOB_VERSION:
        raise JobFileError(f"not a {JOB_TYPE} v{JOB_VERSION} file: {m['type']!r} v{m['v']!r}")
    program = program_from_wire(m["program"])
    raw = m["inputs"]
    if type(raw) is not list or len(raw) != len(program.inputs):
        raise JobFileError(f"the job file needs one input entry per program input ({len(program.inputs)})")
    sources: dict[str, InputSource] = {}
    for n, (entry, decl) in enumerate(zip(raw, program.inputs, strict=True)):
        e = _keys(entry, [frozenset({"name", "seed"}), frozenset({"name", "data"})], f"input entry {n}")
        if expect_str(e["name"], f"input entry {n} name", 1, 64) != decl.name:
            raise JobFileError(f"input entry {n} is {e['name']!r}, the program's input {n} is {decl.name!r}")
        if "seed" in e:
            sources[decl.name] = SeededInput(expect_int(e["seed"], f"input {decl.name!r} seed", 0, _U64_MAX))
        else:
            size = decl.type.elements * ITEMSIZE[decl.type.dtype]
            blob = expect_bytes(e["data"], f"input {decl.name!r} data", size, size)
            sources[decl.name] = _from_le(blob, decl.type)
    evaluation = None
    if m["evaluation"] is not None:
        ev = _keys(m["evaluation"], [_EVAL_KEYS], "the evaluation")
        output = expect_str(ev["output"], "the evaluation's output", 1, 64)
        arrays = []
        for what in ("labels", "reference"):
            blob = expect_bytes(ev[what], f"the evaluation's {what}", 0, MAX_JOB_BYTES)
            if len(blob) % 4:
                raise JobFileError(f"the evaluation's {what} is not a whole number of int32")
            arrays.append(
                _from_le(blob, TensorType("int32", (len(blob) // 4,))) if blob else np.zeros(0, np.int32)
            )
        evaluation = Evaluation(output, arrays[0], arrays[1])
        _check_evaluation(program, evaluation)
    return JobFile(program, sources, evaluation)


def encode_job(job: JobFile) -> bytes:
    """The job file's canonical bytes."""
    return canonical_bytes(job.to_wire())


def read_job(path: Path) -> JobFile:
    """Read and decode a job file; :class:`JobFileError` naming the path when it cannot."""
    try:
        size = path.stat().st_size
        if size > MAX_JOB_BYTES:
            raise JobFileError(f"{path}: {size} bytes, over the limit of {MAX_JOB_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise JobFileError(f"cannot read the job file {path}: {exc.strerror or exc}") from None
    try:
        return decode_job(data)
    except JobFileError as exc:
        raise JobFileError(f"{path}: {exc}") from None


def write_job(path: Path, job: JobFile) -> int:
    """Write ``job`` to ``path`` atomically; the number of bytes written."""
    data = encode_job(job)
    write_atomic(path, data)
    return len(data)
