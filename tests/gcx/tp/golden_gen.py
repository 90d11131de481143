"""Generator of the GCX-TP golden vectors (tests/gcx/tp/golden/gcx-tp-golden-v1.json).

Theory of operation: :func:`build` constructs every golden case with the real API — the program
with :func:`gcx.tp.make_program`, the run with :func:`gcx.tp.execute` on the pure-Python oracle
(:class:`gcx.tp.backends.PythonBackend`), the commitments with :func:`gcx.tp.attest.commit_inputs`
and :func:`gcx.tp.attest.commit_run`, the proofs with :func:`gcx.tp.commit.prove_row`,
:func:`~gcx.tp.commit.prove_element` and :func:`~gcx.tp.commit.prove_op` — and returns the
JSON-ready dict; :func:`render` is its exact file text. Inputs are fixed arrays or seeded
tensors (:mod:`gcx.tp.seeded`, a specified generator), so the output depends on nothing but the
code. tests/gcx/tp/test_tp_golden.py checks that the committed file is ``render(build())``.

The schema is documented in docs/gcx-tp.md, "Golden vectors". Bytes are ``0x``-prefixed lowercase
hex, small counts and indices are JSON numbers, element values and op attributes are decimal
strings (so every consumer, Foundry's ``vm.parseJson*`` included, reads them without loss).

Regenerate: ``PYTHONPATH=src python tests/gcx/tp/golden_gen.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gcx.tp import (
    Add,
    Argmax,
    InputDecl,
    MatmulNT,
    Op,
    OutputDecl,
    Relu,
    Requant,
    TensorType,
    execute,
    make_program,
)
from gcx.tp import commit as c
from gcx.tp.attest import commit_inputs, commit_run
from gcx.tp.backends import PythonBackend
from gcx.tp.ops import OpCode
from gcx.tp.program import Program
from gcx.tp.seeded import seeded_tensor

GOLDEN_PATH = Path(__file__).with_name("golden") / "gcx-tp-golden-v1.json"
FORMAT = "gcx-tp/golden"
VERSION = 1
REGENERATE = "PYTHONPATH=src python tests/gcx/tp/golden_gen.py"

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
SEED = 0x6763782D74702D31  # "gcx-tp-1"

_TAGS = {
    "row_leaf": c.TAG_ROW_LEAF,
    "row_node": c.TAG_ROW_NODE,
    "row_pad": c.TAG_ROW_PAD,
    "tensor": c.TAG_TENSOR,
    "op_leaf": c.TAG_OP_LEAF,
    "op_node": c.TAG_OP_NODE,
    "op_pad": c.TAG_OP_PAD,
    "result": c.TAG_RESULT,
}


def hx(data: bytes) -> str:
    """``0x``-prefixed lowercase hex."""
    return "0x" + bytes(data).hex()


def i8(rows: Sequence[Sequence[int]] | Sequence[int]) -> np.ndarray:
    """An int8 array from nested lists."""
    return np.array(rows, dtype=np.int8)


def i32(rows: Sequence[Sequence[int]] | Sequence[int]) -> np.ndarray:
    """An int32 array from nested lists."""
    return np.array(rows, dtype=np.int32)


def seeded(tensor_id: int, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Seeded tensor ``tensor_id`` under :data:`SEED` (docs/gcx-tp.md, "Seeded inputs")."""
    return seeded_tensor(SEED, tensor_id, TensorType(dtype, shape))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    """One golden case: named input values, ops, outputs and which tensor's rows to prove."""

    name: str
    description: str
    inputs: tuple[tuple[str, np.ndarray], ...]
    ops: tuple[Op, ...]
    outputs: tuple[tuple[str, int], ...]
    prove_tensor: int | None = None
    """The tensor whose rows (first, middle, last) and one element are proven; default: the last op's."""
    buyer_roots: bool = False
    """Whether the program commits the buyer's root of every input."""
    extra: dict[str, Any] = field(default_factory=dict)


def _cases() -> list[Case]:
    rows_cases = [
        Case(
            f"rows_{n}",
            f"row-tree padding: an int8[{n},4] input (tree depth {c.tree_depth(n)}, "
            f"{2 ** c.tree_depth(n) - n} padding leaves) and its Gram matrix int32[{n},{n}]",
            (("x", seeded(0, "int8", (n, 4))),),
            (MatmulNT(0, 0),),
            (("gram", 1),),
            prove_tensor=0,
        )
        for n in (1, 2, 3, 5, 8)
    ]
    return [
        Case(
            "matmul_k1",
            "matmul_nt with k = 1: every output is one product, the int8 extremes included "
            "(-128*-128 = 16384, -128*127 = -16256, 127*127 = 16129)",
            (("a", i8([[-128], [127], [0]])), ("b", i8([[-128], [127]]))),
            (MatmulNT(0, 1),),
            (("c", 2),),
        ),
        Case(
            "matmul_k65536",
            "matmul_nt with the longest reduction k = 65536, m = n = 1: all -128 times all -128 "
            "sums to 2^30 = 1073741824, all -128 times all 127 to -1065353216",
            (("a", np.full((1, 65536), -128, dtype=np.int8)), ("b", np.full((1, 65536), 127, dtype=np.int8))),
            (MatmulNT(0, 0), MatmulNT(0, 1)),
            (("aa", 2), ("ab", 3)),
            prove_tensor=2,
        ),
        Case(
            "matmul_one_row_one_col",
            "matmul_nt with one row (int8[1,5] * int8[4,5]^T -> int32[1,4]) and with one column "
            "(int8[4,5] * int8[1,5]^T -> int32[4,1])",
            (("a", seeded(0, "int8", (1, 5))), ("b", seeded(1, "int8", (4, 5)))),
            (MatmulNT(0, 1), MatmulNT(1, 0)),
            (("row", 2), ("col", 3)),
        ),
        Case(
            "matmul_general",
            "matmul_nt on seeded int8[5,7] * int8[3,7]^T -> int32[5,3]",
            (("a", seeded(0, "int8", (5, 7))), ("b", seeded(1, "int8", (3, 7)))),
            (MatmulNT(0, 1),),
            (("c", 2),),
        ),
        Case(
            "add_wrap",
            "add wraps in two's complement both ways: (2^31-1) + 1 = -2^31, -2^31 + -1 = 2^31-1, "
            "-2^31 + -2^31 = 0, on rank-1 int32[5] and on same-shape int32[2,3]",
            (
                ("x", i32([I32_MAX, I32_MIN, I32_MIN, 5, -1])),
                ("y", i32([1, -1, I32_MIN, -7, I32_MAX])),
                ("u", i32([[I32_MAX, 0, -3], [I32_MIN, 100, I32_MAX]])),
                ("v", i32([[I32_MAX, 0, 3], [I32_MIN, -200, I32_MIN]])),
            ),
            (Add(0, 1), Add(2, 3)),
            (("xy", 4), ("uv", 5)),
        ),
        Case(
            "add_bias_broadcast",
            "add with a row-vector bias int32[4] broadcast over the rows of int32[3,4], wrapping "
            "at both ends",
            (
                ("x", i32([[1, -1, 10, -10], [0, 0, 0, 0], [I32_MAX, I32_MIN, -5, 5]])),
                ("bias", i32([I32_MAX, I32_MIN, 7, -7])),
            ),
            (Add(0, 1),),
            (("y", 2),),
        ),
        Case(
            "relu",
            "relu on -2^31, -1, 0, 1, 2^31-1 (rank 1) and on a seeded int32[3,4]",
            (("x", i32([I32_MIN, -1, 0, 1, I32_MAX])), ("m", seeded(1, "int32", (3, 4)))),
            (Relu(0), Relu(1)),
            (("y", 2), ("z", 3)),
        ),
        Case(
            "requant_rounding",
            "requant rounds half up (toward +inf): with multiplier 1, shift 1, x/2 = 2.5 -> 3, "
            "-2.5 -> -2, -1.5 -> -1, 1.5 -> 2, 0.5 -> 1, -0.5 -> 0; with multiplier 5, shift 2 "
            "(x*5/4), zero_point 3 and -3",
            (("x", i32([5, -5, -3, 3, 1, -1, 0, 2])),),
            (Requant(0, 1, 1, 0), Requant(0, 5, 2, 3), Requant(0, 5, 2, -3)),
            (("half", 1), ("zp_pos", 2), ("zp_neg", 3)),
        ),
        Case(
            "requant_extremes",
            "requant with shift 0 (no rounding term), shift 62 with multiplier -2^31 and 2^31-1 "
            "(|x*multiplier| up to 2^62), zero_point -128 and 127, clamping at -128 and 127",
            (("x", i32([I32_MIN, I32_MIN + 1, -129, -128, -1, 0, 1, 127, 128, I32_MAX])),),
            (
                Requant(0, 1, 0, 0),
                Requant(0, -(2**31), 62, 0),
                Requant(0, 2**31 - 1, 62, 0),
                Requant(0, 2**31 - 1, 0, -128),
                Requant(0, -(2**31), 0, 127),
                Requant(0, -1, 0, 127),
                Requant(0, 1, 0, -128),
                Requant(0, 2**31 - 1, 31, 5),
            ),
            tuple((f"r{j}", 1 + j) for j in range(8)),
        ),
        Case(
            "argmax_ties",
            "argmax: ties go to the lowest index, an all-equal row gives 0, rows of -2^31, the "
            "maximum at the last column, and a one-column int32[3,1]",
            (
                (
                    "x",
                    i32(
                        [
                            [5, 7, 7, 1],
                            [3, 3, 3, 3],
                            [I32_MIN, I32_MIN, I32_MIN, I32_MIN],
                            [I32_MIN, I32_MIN + 1, I32_MIN, I32_MIN + 1],
                            [-1, -2, -3, I32_MAX],
                        ]
                    ),
                ),
                ("y", i32([[I32_MIN], [0], [I32_MAX]])),
            ),
            (Argmax(0), Argmax(1)),
            (("ix", 2), ("iy", 3)),
            prove_tensor=0,
        ),
        *rows_cases,
        Case(
            "mlp",
            "a small program: matmul_nt -> add bias -> relu -> requant -> matmul_nt -> argmax, with "
            "the buyer's root of every input committed in the program (6 ops: an op tree of "
            "depth 3 with 2 padding leaves)",
            (
                ("x", seeded(0, "int8", (4, 8))),
                ("w1", seeded(1, "int8", (6, 8))),
                ("b1", seeded(2, "int8", (6,)).astype(np.int32) * 64),
                ("w2", seeded(3, "int8", (3, 6))),
            ),
            (
                MatmulNT(0, 1),
                Add(4, 2),
                Relu(5),
                Requant(6, 1518500250, 40, -3),
                MatmulNT(7, 3),
                Argmax(8),
            ),
            (("logits", 8), ("label", 9)),
            prove_tensor=8,
            buyer_roots=True,
        ),
    ]


def _tensor(tensor_id: int, value: np.ndarray, commitment: c.TensorCommitment) -> dict[str, Any]:
    h = commitment.header
    wire = value.astype("<i4" if h.dtype is c.DType.INT32 else "i1")
    return {
        "tensor_id": tensor_id,
        "dtype": str(value.dtype),
        "dtype_code": int(h.dtype),
        "shape": list(value.shape),
        "rank": h.rank,
        "rows": h.rows,
        "cols": h.cols,
        "data": hx(wire.tobytes()),
        "header": hx(h.encode()),
        "leaves": [hx(x) for x in commitment.levels[0]],
        "tree_root": hx(commitment.tree_root),
        "root": hx(commitment.root),
    }


def _program(case: Case) -> Program:
    decls = []
    for tid, (name, value) in enumerate(case.inputs):
        root = c.tensor_root(tid, value) if case.buyer_roots else None
        decls.append(InputDecl(name, TensorType(str(value.dtype), tuple(value.shape)), root))  # type: ignore[arg-type]
    return make_program(decls, case.ops, [OutputDecl(n, t) for n, t in case.outputs])


def _attributes(op: Op) -> dict[str, str]:
    if isinstance(op, Requant):
        return {"multiplier": str(op.multiplier), "shift": str(op.shift), "zero_point": str(op.zero_point)}
    return {}


def _case(case: Case) -> dict[str, Any]:
    program = _program(case)
    values = dict(case.inputs)
    ins = commit_inputs(program, values)
    result = execute(program, values, PythonBackend())
    run = commit_run(program, result, ins)
    n_in = len(program.inputs)
    inputs = []
    for tid, decl in enumerate(program.inputs):
        entry = _tensor(tid, result.tensors[tid], run.tensors[tid])
        entry.update(name=decl.name, root_in_program=decl.root is not None)
        inputs.append(entry)
    ops = []
    for j, op in enumerate(program.ops):
        leaf = run.result.leaves[j]
        ops.append(
            {
                "index": j,
                "op": op.name,
                "attributes": _attributes(op),
                "in": list(op.inputs),
                "opcode": int(leaf.opcode),
                "output": _tensor(n_in + j, result.tensors[n_in + j], run.tensors[n_in + j]),
                "leaf_body": hx(leaf.body()),
                "leaf": hx(leaf.digest()),
            }
        )
    t = len(program.ops) + n_in - 1 if case.prove_tensor is None else case.prove_tensor
    tc, tv = run.tensors[t], result.tensors[t]
    rows = tc.header.rows
    row_proofs = [
        {"tensor_id": t, "index": i, "proof": hx(c.prove_row(tc, tv, i).encode())}
        for i in sorted({0, rows // 2, rows - 1})
    ]
    er, ec = rows // 2, tc.header.cols - 1
    element = c.prove_element(tc, tv, er, ec)
    return {
        "name": case.name,
        "description": case.description,
        "program": {
            "canonical": hx(program.canonical),
            "digest": hx(program.digest),
            "n_inputs": n_in,
            "n_ops": len(program.ops),
        },
        "inputs": inputs,
        "ops": ops,
        "outputs": [{"name": o.name, "tensor": o.tensor} for o in program.outputs],
        "result": {
            "program_digest": hx(run.result.program_digest),
            "n_ops": len(program.ops),
            "tree_root": hx(run.result.tree_root),
            "root": hx(run.root),
        },
        "proofs": {
            "rows": row_proofs,
            "element": {
                "tensor_id": t,
                "row": er,
                "col": ec,
                "value": str(element.value),
                "proof": hx(element.encode()),
            },
            "ops": [
                {"index": j, "proof": hx(c.prove_op(run.result, j).encode())} for j in range(len(program.ops))
            ],
        },
    }


def constants() -> dict[str, Any]:
    """The format's constants: tags, padding leaves, codes."""
    return {
        "version": VERSION,
        "hash": "sha256",
        "program_digest": "keccak256",
        "proof_version": c.PROOF_VERSION,
        "tags": {k: hx(v) for k, v in _TAGS.items()},
        "tag_ascii": {k: v.rstrip(b"\x00").decode("ascii") for k, v in _TAGS.items()},
        "row_pad": hx(c.ROW_PAD),
        "op_pad": hx(c.OP_PAD),
        "dtype_codes": {d.name.lower(): int(d) for d in c.DType},
        "dtype_widths": {d.name.lower(): d.width for d in c.DType},
        "proof_kinds": {k.name.lower(): int(k) for k in c.ProofKind},
        "opcodes": {k.name.lower(): int(k) for k in OpCode},
        "op_arity": {k.name.lower(): k.arity for k in OpCode},
        "op_body_bytes": c.OP_BODY_SIZE,
        "header_bytes": 14,
        "hash_bytes": c.HASH_SIZE,
    }


def build() -> dict[str, Any]:
    """Every golden case, JSON-ready (deterministic: the same code gives the same dict)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "generator": "tests/gcx/tp/golden_gen.py",
        "regenerate": REGENERATE,
        "constants": constants(),
        "cases": [_case(case) for case in _cases()],
    }


def render(golden: dict[str, Any]) -> str:
    """The exact file text: sorted keys, indent 1, ASCII only, a trailing newline."""
    return json.dumps(golden, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


def main() -> None:
    """Write :data:`GOLDEN_PATH`."""
    GOLDEN_PATH.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_PATH.write_text(render(build()), encoding="ascii")
    print(f"wrote {GOLDEN_PATH} ({GOLDEN_PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
