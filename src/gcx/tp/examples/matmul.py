"""A seeded int8 GEMM job: ``C = A·Bᵀ`` with ``A, B`` of ``size × size`` seeded values."""

from __future__ import annotations

from gcx.errors import ConfigError

from ..attest import commit_inputs
from ..jobfile import JobFile, SeededInput, make_job
from ..ops import MAX_K, MatmulNT
from ..program import InputDecl, OutputDecl, make_program
from ..tensor import MAX_TENSOR_ELEMENTS, TensorType

MAX_SIZE = 4096 * 2  # C = size² int32 elements, at most 2**26


def matmul_job(size: int, seed: int = 1, m: int | None = None) -> JobFile:
    """The job ``matmul_nt(A int8[m,size], B int8[size,size])`` with inputs seeded from
    ``seed`` (``m`` defaults to ``size``); the inputs' roots are committed in the program."""
    m = size if m is None else m
    if not 1 <= size <= min(MAX_K, MAX_SIZE) or not m >= 1 or m * size > MAX_TENSOR_ELEMENTS:
        raise ConfigError(f"--size must be 1..{MAX_SIZE} (the result is size² int32), got {size}")
    decls = [InputDecl("a", TensorType("int8", (m, size))), InputDecl("b", TensorType("int8", (size, size)))]
    unrooted = make_program(decls, [MatmulNT(0, 1)], [OutputDecl("c", 2)])
    sources = {"a": SeededInput(seed), "b": SeededInput(seed)}
    roots = commit_inputs(unrooted, make_job(unrooted, sources).values())
    rooted = [InputDecl(d.name, d.type, c.root) for d, c in zip(decls, roots, strict=True)]
    return make_job(make_program(rooted, unrooted.ops, unrooted.outputs), sources)
