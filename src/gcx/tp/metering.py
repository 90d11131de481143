"""Metering of GCX tensor programs (DESIGN §2): counted work → Compute Hours, in integers.

Each op's work is counted from its shapes alone: ``matmul_nt`` does ``2·m·n·k`` integer ops,
billed at the reference profile's ``gemm_int8`` rate; every other op does one integer op per
output element and is billed by the bytes it moves (operands read plus result written) at the
profile's ``mem_triad`` bandwidth — elementwise ops are memory-bound, so their bytes, not their
ops, are what the reference GPU spends time on (the ops are counted and reported all the same). The
program's micro-CH is ``ceil(10^6 · (gemm_ops / R_gemm + bytes / R_mem) / 3600)`` computed
exactly (rates as integers per second), rounded up once so that splitting a job cannot make
its parts free. It depends on the program and the profile only, never on a provider's speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil

from gcx import units
from gcx.compute_hours import MICRO
from gcx.errors import ConfigError
from gcx.reference import ReferenceProfile

from .ops import MatmulNT
from .program import Program


@dataclass(frozen=True, slots=True)
class Metering:
    """A program's counted work and its price in integer micro-CH."""

    gemm_ops: int
    bytes_moved: int
    micro_ch: int
    elementwise_ops: int = 0
    """One per output element of every op other than ``matmul_nt`` (reported, not billed)."""


def _rate(profile: ReferenceProfile, name: str) -> int:
    fig = profile.benchmarks.get(name)
    if fig is None:
        raise ConfigError(f"the reference profile has no {name} figure, needed for metering")
    return max(1, round(units.to_base(fig.value, fig.unit)))


def meter(program: Program, profile: ReferenceProfile) -> Metering:
    """Count ``program``'s work and price it against ``profile``."""
    gemm_ops = moved = elementwise = 0
    for j, op in enumerate(program.ops):
        out = program.types[program.op_tensor(j)]
        if isinstance(op, MatmulNT):
            m, k = program.types[op.a].shape
            gemm_ops += 2 * m * out.shape[1] * k
        else:
            moved += sum(program.types[t].nbytes for t in op.inputs) + out.nbytes
            elementwise += out.elements
    seconds = Fraction(gemm_ops, _rate(profile, "gemm_int8")) + Fraction(moved, _rate(profile, "mem_triad"))
    return Metering(gemm_ops, moved, ceil(seconds * MICRO / 3600), elementwise)
