"""The GCX-TP golden vectors (tests/gcx/tp/golden/gcx-tp-golden-v1.json) against the code.

* The committed file is exactly what tests/gcx/tp/golden_gen.py builds, so it cannot drift.
* Read on its own (nothing from the generator), every case re-executes on the Python oracle and
  on NumPy (CuPy on a GPU machine) to the same bytes and the same roots, and every stored proof
  decodes, verifies at its own index under its own root only, and re-encodes to its bytes.
* Positive controls: a tampered copy of the file fails those checks.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from gcx.errors import BackendUnavailable
from gcx.tp import commit as c
from gcx.tp import decode_program, execute
from gcx.tp.attest import InputRootError, commit_inputs, commit_run
from gcx.tp.backends import Backend, NumpyBackend, PythonBackend, open_backend

HERE = Path(__file__).parent
GOLDEN_PATH = HERE / "golden" / "gcx-tp-golden-v1.json"
REGENERATE = "PYTHONPATH=src python tests/gcx/tp/golden_gen.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gcx_tp_golden_gen", HERE / "golden_gen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN_PATH.read_text(encoding="ascii"))
    return data


GOLDEN = _golden()
CASES = {case["name"]: case for case in GOLDEN["cases"]}


def b(text: str) -> bytes:
    """Bytes of a ``0x``-prefixed lowercase hex string (anything else is a malformed file)."""
    assert text.startswith("0x") and text == text.lower(), text[:20]
    return bytes.fromhex(text[2:])


def _array(tensor: dict[str, Any]) -> np.ndarray:
    wire = {"int8": "i1", "int32": "<i4"}[tensor["dtype"]]
    flat = np.frombuffer(b(tensor["data"]), dtype=wire)
    return flat.astype(tensor["dtype"]).reshape(tensor["shape"])


def _tensors(case: dict[str, Any]) -> dict[int, dict[str, Any]]:
    out = {t["tensor_id"]: t for t in case["inputs"]}
    out.update({op["output"]["tensor_id"]: op["output"] for op in case["ops"]})
    return out


# -- (a) the file is the generator's output ----------------------------------------------------


def test_tp_golden_file_is_generated() -> None:
    gen = _generator()
    expected = gen.render(gen.build())
    assert GOLDEN_PATH.read_text(encoding="ascii") == expected, (
        f"{GOLDEN_PATH} is stale or edited by hand; regenerate it with `{REGENERATE}`"
    )


def test_tp_golden_file_covers_the_brief() -> None:
    """Every op, the padding shapes and the edge values are in the file (and it stays small)."""
    assert GOLDEN_PATH.stat().st_size < 1_000_000
    ops = {op["op"] for case in GOLDEN["cases"] for op in case["ops"]}
    assert ops == {"matmul_nt", "add", "relu", "requant", "argmax"}
    rows = {t["rows"] for case in GOLDEN["cases"] for t in _tensors(case).values()}
    assert {1, 2, 3, 5, 8} <= rows
    k65536 = CASES["matmul_k65536"]["ops"]
    assert [_array(op["output"]).item() for op in k65536] == [2**30, -128 * 127 * 65536]
    rounding = _array(CASES["requant_rounding"]["ops"][0]["output"])
    assert rounding[:3].tolist() == [3, -2, -1]  # 2.5, -2.5, -1.5
    shifts = {op["attributes"].get("shift") for case in GOLDEN["cases"] for op in case["ops"]}
    assert {"0", "62"} <= shifts
    assert GOLDEN["constants"]["hash"] == "sha256" and GOLDEN["version"] == 1


def test_tp_golden_constants() -> None:
    k = GOLDEN["constants"]
    for name, tag in k["tags"].items():
        assert b(tag) == k["tag_ascii"][name].encode("ascii").ljust(16, b"\x00")
        assert b(tag) == getattr(c, f"TAG_{name.upper()}")
    assert b(k["row_pad"]) == hashlib.sha256(b(k["tags"]["row_pad"])).digest() == c.ROW_PAD
    assert b(k["op_pad"]) == hashlib.sha256(b(k["tags"]["op_pad"])).digest() == c.OP_PAD
    assert k["dtype_codes"] == {"int8": 1, "int32": 2}
    assert k["proof_kinds"] == {"row": 1, "element": 2, "op": 3}
    assert k["proof_version"] == c.PROOF_VERSION == 1
    assert k["opcodes"] == {"matmul_nt": 1, "add": 2, "relu": 3, "requant": 4, "argmax": 5}
    assert k["op_arity"] == {"matmul_nt": 2, "add": 2, "relu": 1, "requant": 1, "argmax": 1}
    assert k["op_body_bytes"] == c.OP_BODY_SIZE == 66


# -- (b) execution and commitments, from the file alone ----------------------------------------


def check_execution(case: dict[str, Any], backend: Backend) -> None:
    """Decode the program, run it on the file's inputs and compare every byte and root."""
    canonical = b(case["program"]["canonical"])
    program = decode_program(canonical)
    assert program.canonical == canonical
    assert program.digest == b(case["program"]["digest"]), "program digest"
    assert len(program.inputs) == case["program"]["n_inputs"] == len(case["inputs"])
    assert len(program.ops) == case["program"]["n_ops"] == len(case["ops"]) == case["result"]["n_ops"]
    values = {}
    for tid, (decl, entry) in enumerate(zip(program.inputs, case["inputs"], strict=True)):
        assert entry["tensor_id"] == tid and entry["name"] == decl.name
        assert (entry["dtype"], tuple(entry["shape"])) == (decl.type.dtype, decl.type.shape)
        assert entry["root_in_program"] == (decl.root is not None)
        if decl.root is not None:
            assert decl.root == b(entry["root"]), f"input {decl.name}: the program's root"
        values[decl.name] = _array(entry)
    ins = commit_inputs(program, values)
    result = execute(program, values, backend)
    run = commit_run(program, result, ins)
    for tid, entry in _tensors(case).items():
        got = result.tensors[tid]
        where = f"{case['name']} tensor {tid} on {backend.name}"
        assert (str(got.dtype), list(got.shape)) == (entry["dtype"], entry["shape"]), where
        wire = got.astype("<i4" if entry["dtype"] == "int32" else "i1").tobytes()
        assert wire == b(entry["data"]), f"{where}: data"
        tc = run.tensors[tid]
        assert tc.header.encode() == b(entry["header"]), f"{where}: header"
        assert (int(tc.header.dtype), tc.header.rank, tc.header.rows, tc.header.cols) == (
            entry["dtype_code"],
            entry["rank"],
            entry["rows"],
            entry["cols"],
        ), where
        assert entry["leaves"] == ["0x" + x.hex() for x in tc.levels[0]], f"{where}: leaves"
        assert tc.tree_root == b(entry["tree_root"]), f"{where}: tree root"
        assert tc.root == b(entry["root"]), f"{where}: tensor root"
    for j, op in enumerate(case["ops"]):
        leaf = run.result.leaves[j]
        assert op["index"] == j and op["op"] == program.ops[j].name
        assert op["in"] == list(program.ops[j].inputs)
        assert leaf.body() == b(op["leaf_body"]), f"op {j} leaf body"
        assert leaf.digest() == b(op["leaf"]) == hashlib.sha256(c.TAG_OP_LEAF + b(op["leaf_body"])).digest()
        check_leaf_body(op, _tensors(case)[op["output"]["tensor_id"]], GOLDEN["constants"])
    assert run.result.tree_root == b(case["result"]["tree_root"]), "op tree root"
    assert b(case["result"]["program_digest"]) == program.digest == run.result.program_digest
    assert run.root == b(case["result"]["root"]), "result root"
    preimage = c.TAG_RESULT + program.digest + len(program.ops).to_bytes(4, "big") + run.result.tree_root
    assert run.root == hashlib.sha256(preimage).digest(), "result root preimage"


def check_leaf_body(op: dict[str, Any], output: dict[str, Any], k: dict[str, Any]) -> None:
    """Read the op-leaf body at its fixed offsets (as the Solidity one-step check does) and
    compare every field with the file's op entry."""
    body = b(op["leaf_body"])
    assert len(body) == k["op_body_bytes"] == 66
    assert int.from_bytes(body[0:4], "big") == op["index"]
    assert body[4] == op["opcode"] == k["opcodes"][op["op"]]
    n = body[5]
    assert n == len(op["in"]) == k["op_arity"][op["op"]]
    slots = [int.from_bytes(body[6:10], "big"), int.from_bytes(body[10:14], "big")]
    assert slots == (op["in"] + [0])[:2] and (n == 2 or slots[1] == 0)
    attrs = op["attributes"] or {"multiplier": "0", "shift": "0", "zero_point": "0"}
    assert int.from_bytes(body[14:18], "big", signed=True) == int(attrs["multiplier"])
    assert body[18] == int(attrs["shift"])
    assert int.from_bytes(body[19:20], "big", signed=True) == int(attrs["zero_point"])
    assert body[20:34] == b(output["header"]) and body[34:66] == b(output["root"])


@pytest.mark.parametrize("backend", [PythonBackend(), NumpyBackend()], ids=["python", "numpy"])
@pytest.mark.parametrize("name", list(CASES))
def test_tp_golden_execution(name: str, backend: Backend) -> None:
    check_execution(CASES[name], backend)


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(CASES))
def test_tp_golden_execution_cupy(name: str) -> None:
    try:
        backend = open_backend("cupy")
    except BackendUnavailable as exc:
        pytest.skip(f"CuPy backend unavailable: {exc}")
    check_execution(CASES[name], backend)


def check_proofs(case: dict[str, Any]) -> None:
    """Every stored proof decodes, verifies under its root at its index only, and re-encodes."""
    tensors = _tensors(case)
    result_root = b(case["result"]["root"])
    for entry in case["proofs"]["rows"]:
        raw, t = b(entry["proof"]), tensors[entry["tensor_id"]]
        p = c.decode_proof(raw)
        assert isinstance(p, c.RowProof) and p.encode() == raw
        assert (p.header.tensor_id, p.index) == (entry["tensor_id"], entry["index"])
        assert p.header.encode() == b(t["header"])
        assert (
            p.row
            == _array(t)
            .reshape(t["rows"], t["cols"])[p.index]
            .astype("<i4" if t["dtype"] == "int32" else "i1")
            .tobytes()
        )
        assert len(raw) == 20 + len(p.row) + 32 * c.tree_depth(t["rows"])
        assert c.verify_row(b(t["root"]), p), f"row {p.index} of tensor {entry['tensor_id']}"
        if t["rows"] > 1:
            moved = c.RowProof(p.header, (p.index + 1) % t["rows"], p.row, p.siblings)
            assert not c.verify_row(b(t["root"]), moved), "a row proof verified at another index"
        for other_id, other in tensors.items():
            if other_id != entry["tensor_id"]:
                assert not c.verify_row(b(other["root"]), p), "a row proof verified under another root"
        assert not c.verify_row(result_root, p)
    entry = case["proofs"]["element"]
    raw, t = b(entry["proof"]), tensors[entry["tensor_id"]]
    e = c.decode_proof(raw)
    assert isinstance(e, c.ElementProof) and e.encode() == raw
    assert (e.row_proof.header.tensor_id, e.row_proof.index, e.col) == (
        entry["tensor_id"],
        entry["row"],
        entry["col"],
    )
    assert (
        e.value
        == int(entry["value"])
        == int(_array(t).reshape(t["rows"], t["cols"])[entry["row"], entry["col"]])
    )
    assert len(raw) == 24 + len(e.row_proof.row) + 32 * c.tree_depth(t["rows"])
    assert c.verify_element(b(t["root"]), e)
    for other_id, other in tensors.items():
        if other_id != entry["tensor_id"]:
            assert not c.verify_element(b(other["root"]), e), "an element proof verified under another root"
    n_ops = case["result"]["n_ops"]
    assert [p["index"] for p in case["proofs"]["ops"]] == list(range(n_ops))
    for entry, op in zip(case["proofs"]["ops"], case["ops"], strict=True):
        raw = b(entry["proof"])
        o = c.decode_proof(raw)
        assert isinstance(o, c.OpProof) and o.encode() == raw
        assert (o.n_ops, o.leaf.op_index) == (n_ops, entry["index"])
        assert o.leaf.body() == b(op["leaf_body"]) and o.leaf.digest() == b(op["leaf"])
        assert o.program_digest == b(case["program"]["digest"]) == b(case["result"]["program_digest"])
        assert raw[6:38] == o.program_digest and raw[38:104] == o.leaf.body()
        assert len(raw) == 104 + 32 * c.tree_depth(n_ops)
        assert c.verify_op(result_root, o), f"op proof {entry['index']}"
        assert c.verify_op(result_root, o, program_digest=o.program_digest)
        other_program = bytes(x ^ 0xFF for x in o.program_digest)
        assert not c.verify_op(result_root, o, program_digest=other_program)
        renamed = c.OpProof(n_ops, other_program, o.leaf, o.siblings)
        assert not c.verify_op(result_root, renamed), "an op proof verified under another program"
        if n_ops > 1:
            leaf = o.leaf
            other_index = (leaf.op_index + 1) % n_ops
            moved_op = c.OpProof(
                n_ops,
                o.program_digest,
                c.OpLeaf(other_index, leaf.opcode, leaf.inputs, leaf.attrs, leaf.output, leaf.output_root),
                o.siblings,
            )
            assert not c.verify_op(result_root, moved_op), "an op proof verified at another index"
        for other in tensors.values():
            assert not c.verify_op(b(other["root"]), o), "an op proof verified under a tensor root"


@pytest.mark.parametrize("name", list(CASES))
def test_tp_golden_proofs(name: str) -> None:
    check_proofs(CASES[name])


# -- positive controls: the checks above catch a tampered file ---------------------------------


def _flip(hex_text: str, pos: int) -> str:
    raw = bytearray(b(hex_text))
    raw[pos % len(raw)] ^= 0x01
    return "0x" + raw.hex()


TAMPERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "op output byte": lambda case: case["ops"][-1]["output"].update(
        data=_flip(case["ops"][-1]["output"]["data"], 3)
    ),
    "input byte": lambda case: case["inputs"][0].update(data=_flip(case["inputs"][0]["data"], 0)),
    "tensor root": lambda case: case["ops"][0]["output"].update(
        root=_flip(case["ops"][0]["output"]["root"], 31)
    ),
    "result root": lambda case: case["result"].update(root=_flip(case["result"]["root"], 0)),
    "op leaf body": lambda case: case["ops"][0].update(leaf_body=_flip(case["ops"][0]["leaf_body"], 0)),
    "program digest": lambda case: case["result"].update(
        program_digest=_flip(case["result"]["program_digest"], 5)
    ),
}


@pytest.mark.parametrize("what", list(TAMPERS))
def test_tp_golden_execution_check_catches_tampering(what: str) -> None:
    case = copy.deepcopy(CASES["matmul_general"])  # no buyer roots: every check is the file's
    check_execution(case, NumpyBackend())  # the untouched copy passes
    TAMPERS[what](case)
    with pytest.raises(AssertionError):
        check_execution(case, NumpyBackend())


def test_tp_golden_input_tamper_is_refused_by_the_buyer_root() -> None:
    """The mlp program commits its inputs' roots: a changed input value is refused outright."""
    case = copy.deepcopy(CASES["mlp"])
    TAMPERS["input byte"](case)
    with pytest.raises(InputRootError):
        check_execution(case, NumpyBackend())


@pytest.mark.parametrize("field", ["rows", "element", "ops"])
def test_tp_golden_proof_check_catches_tampering(field: str) -> None:
    case = copy.deepcopy(CASES["mlp"])
    check_proofs(case)
    proofs = case["proofs"]
    target = proofs[field][-1] if isinstance(proofs[field], list) else proofs[field]
    target["proof"] = _flip(target["proof"], -1)  # the last sibling (or, depth 0, the row)
    with pytest.raises((AssertionError, c.ProofError)):
        check_proofs(case)


# -- the worked example of docs/gcx-tp.md is the golden file's -----------------------------------

DOC = HERE.parents[2] / "docs" / "gcx-tp.md"


def _code_block_after(text: str, marker: str) -> bytes:
    """The bytes of the first fenced block after ``marker``: each line's hex before its comment."""
    block = text[text.index(marker) :].split("```")[1]
    out = ""
    for line in block.strip("\n").splitlines():
        out += re.split(r" {3,}", line.strip())[0].replace(" ", "")
    return bytes.fromhex(out)


def test_tp_golden_doc_worked_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Commitments") :]
    case = CASES["rows_3"]
    x = case["inputs"][0]
    assert _code_block_after(section, "Row proof of row 2") == b(case["proofs"]["rows"][-1]["proof"])
    assert _code_block_after(section, "Its body:") == b(case["ops"][0]["leaf_body"])
    tags = dict(re.findall(r"^\| `(gcx\.tp1\.[a-z.]+)` +\| `([0-9a-f]{32})` \|$", section, re.M))
    k = GOLDEN["constants"]
    assert tags == {k["tag_ascii"][name]: tag[2:] for name, tag in k["tags"].items()}
    leaves = [b(h) for h in x["leaves"]]
    nodes = {
        hashlib.sha256(c.TAG_ROW_NODE + leaves[0] + leaves[1]).hexdigest(),
        hashlib.sha256(c.TAG_ROW_NODE + leaves[2] + c.ROW_PAD).hexdigest(),
    }
    file_text = GOLDEN_PATH.read_text(encoding="ascii")
    for digest in re.findall(r"\b[0-9a-f]{64}\b", section):
        assert digest in nodes or digest in file_text, (
            f"docs/gcx-tp.md cites {digest}, not in the golden file"
        )
