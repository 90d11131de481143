"""The job spec (gcx.jobs.spec): skeleton prefixes are the real op leaves' static bytes."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from gcx.jobs.spec import SKEL_PAD, ZERO_ROOT, job_spec, spec_hash, verify_skeleton
from gcx.tp.attest import commit_run
from gcx.tp.backends.numpy_backend import NumpyBackend
from gcx.tp.examples.digits import digits_job
from gcx.tp.examples.matmul import matmul_job
from gcx.tp.execute import execute


@pytest.mark.parametrize("make", [lambda: matmul_job(16), lambda: digits_job()[0]], ids=["matmul", "digits"])
def test_skeleton_prefixes_are_the_committed_op_leaves_static_bytes(make) -> None:  # type: ignore[no-untyped-def]
    job = make()
    program = job.program
    values = job.values()
    run = commit_run(program, execute(program, values, NumpyBackend()))
    spec = job_spec(program)
    assert spec.n_ops == len(program.ops) == len(run.result.leaves)
    for k, leaf in enumerate(run.result.leaves):
        assert leaf.body()[:34] == spec.prefixes[k]
        assert verify_skeleton(spec.skeleton_root, k, spec.prefixes[k], spec.skeleton_siblings(k))
        assert not verify_skeleton(
            spec.skeleton_root, k, leaf.body()[:33] + b"\xff", spec.skeleton_siblings(k)
        )
    if spec.n_ops > 1:
        assert not verify_skeleton(spec.skeleton_root, 1, spec.prefixes[0], spec.skeleton_siblings(1))
    roots = tuple(ZERO_ROOT if d.root is None else d.root for d in program.inputs)
    assert spec.input_roots == roots


def test_spec_hash_is_the_abi_encoding_solidity_hashes() -> None:
    d, s, r = b"\x01" * 32, b"\x02" * 32, (b"\x03" * 32, ZERO_ROOT)
    # abi.encode(bytes32, uint32, bytes32, bytes32[]): three head words, an offset (0x80), the length.
    raw = d + (7).to_bytes(32, "big") + s + (128).to_bytes(32, "big") + (2).to_bytes(32, "big") + r[0] + r[1]
    assert abi_encode(["bytes32", "uint32", "bytes32", "bytes32[]"], [d, 7, s, list(r)]) == raw
    assert spec_hash(d, 7, s, r) == bytes(keccak(raw))
    assert spec_hash(d, 7, s, r) != spec_hash(d, 8, s, r)


def test_a_one_op_skeleton_is_its_leaf_and_padding_differs() -> None:
    spec = job_spec(matmul_job(8).program)
    assert spec.n_ops == 1 and spec.skeleton_siblings(0) == ()
    assert spec.skeleton_root != SKEL_PAD
    with pytest.raises(IndexError):
        spec.skeleton_siblings(1)
