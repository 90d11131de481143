"""A job's on-chain spec: what the verification game knows of a program (docs/gcx-tp.md, "Job spec").

The chain knows a program only by its keccak digest; it cannot read the program's bytes. So that
the game can check that a provider's op leaf ``k`` is the program's op ``k`` and that a program
input's root is the buyer's, the buyer commits one more hash per job (``JobSpecs.commit``), before
the job opens:

``spec = keccak256(abi.encode(bytes32 programDigest, uint32 nOps, bytes32 skeletonRoot, bytes32[] inputRoots))``

* ``skeletonRoot``: the op-skeleton tree, the same shape as the result's op tree, over the
  34-byte static prefix of each op leaf's body (``k ‖ opcode ‖ arity ‖ in_0 ‖ in_1 ‖ multiplier ‖
  shift ‖ zero_point ‖ output header``: everything but the output root). Leaf ``k`` is
  ``sha256(TAG_SKEL_LEAF ‖ prefix_k)``, padding leaves ``sha256(TAG_SKEL_PAD)``, nodes
  ``sha256(TAG_SKEL_NODE ‖ left ‖ right)``; the prefix follows from the program alone.
* ``inputRoots[t]``: program input ``t``'s tensor root as the program declares it, or 32 zero
  bytes when it declares none (a job with such an input cannot be disputed on an element that
  reads it).

A provider recomputes the spec from the program it is offered and refuses a job whose committed
spec differs; a verifier does the same before it disputes. All functions are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from gcx.tp.commit import (
    _OP_BODY,
    TensorHeader,
    _climb,
    _h,
    _levels,
    _pads,
    _path,
    _tag,
    tree_depth,
)
from gcx.tp.ops import op_fields
from gcx.tp.program import Program

__all__ = [
    "SKEL_PAD",
    "TAG_SKEL_LEAF",
    "TAG_SKEL_NODE",
    "TAG_SKEL_PAD",
    "JobSpec",
    "job_spec",
    "op_prefix",
    "skeleton_leaf",
    "spec_hash",
    "verify_skeleton",
]

TAG_SKEL_LEAF: Final = _tag("gcx.tp1.sk.leaf")
TAG_SKEL_NODE: Final = _tag("gcx.tp1.sk.node")
TAG_SKEL_PAD: Final = _tag("gcx.tp1.sk.pad")
SKEL_PAD: Final = _h(TAG_SKEL_PAD)
"""The padding leaf of skeleton trees."""
ZERO_ROOT: Final = bytes(32)


def op_prefix(program: Program, k: int) -> bytes:
    """The 34-byte static prefix of op ``k``'s leaf body (the body without its output root)."""
    op = program.ops[k]
    opcode, attrs = op_fields(op)
    in0, in1 = (*op.inputs, 0)[:2]
    t = program.types[program.op_tensor(k)]
    header = TensorHeader.for_shape(program.op_tensor(k), np.dtype(t.dtype), t.shape)
    return _OP_BODY.pack(
        k, opcode, len(op.inputs), in0, in1, attrs.multiplier, attrs.shift, attrs.zero_point
    ) + (header.encode())


def skeleton_leaf(prefix: bytes) -> bytes:
    """``sha256(TAG_SKEL_LEAF ‖ prefix)``."""
    return _h(TAG_SKEL_LEAF, prefix)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A program's spec: the fields the game reads and their hash (what ``JobSpecs`` stores)."""

    program_digest: bytes
    n_ops: int
    skeleton_root: bytes
    input_roots: tuple[bytes, ...]
    prefixes: tuple[bytes, ...]
    levels: tuple[tuple[bytes, ...], ...]

    @property
    def hash(self) -> bytes:
        """``keccak256(abi.encode(programDigest, nOps, skeletonRoot, inputRoots))``."""
        return spec_hash(self.program_digest, self.n_ops, self.skeleton_root, self.input_roots)

    def skeleton_siblings(self, k: int) -> tuple[bytes, ...]:
        """The bottom-up siblings of skeleton leaf ``k``."""
        if not 0 <= k < self.n_ops:
            raise IndexError(f"op {k} is not in a program of {self.n_ops} ops")
        return _path(self.levels, _pads(SKEL_PAD, TAG_SKEL_NODE, tree_depth(self.n_ops)), k)


def spec_hash(
    program_digest: bytes, n_ops: int, skeleton_root: bytes, input_roots: tuple[bytes, ...]
) -> bytes:
    """The 32-byte spec hash (see the module notes)."""
    return bytes(
        keccak(
            abi_encode(
                ["bytes32", "uint32", "bytes32", "bytes32[]"],
                [program_digest, n_ops, skeleton_root, list(input_roots)],
            )
        )
    )


def job_spec(program: Program) -> JobSpec:
    """The spec of ``program``."""
    prefixes = tuple(op_prefix(program, k) for k in range(len(program.ops)))
    pads = _pads(SKEL_PAD, TAG_SKEL_NODE, tree_depth(len(prefixes)))
    levels = _levels([skeleton_leaf(p) for p in prefixes], TAG_SKEL_NODE, pads)
    roots = tuple(ZERO_ROOT if decl.root is None else decl.root for decl in program.inputs)
    return JobSpec(program.digest, len(prefixes), levels[-1][0], roots, prefixes, levels)


def verify_skeleton(root: bytes, k: int, prefix: bytes, siblings: tuple[bytes, ...]) -> bool:
    """Whether ``prefix`` is skeleton leaf ``k`` under ``root``."""
    return _climb(skeleton_leaf(prefix), k, siblings, TAG_SKEL_NODE) == root
