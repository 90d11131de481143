"""The on-disk tensor store: content addressing, reads and proofs from disk, crash-safe uploads,
quotas and typed errors (real files in a temporary directory)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from jobs_helpers import DIGEST, relu_leaves, tensor

from gcx.jobs import DataMismatch, DataNotFound, DataRangeError, StoreFull, UploadError
from gcx.jobs.store import DATA_OFFSET, TensorStore, file_size
from gcx.tp.commit import (
    CommitmentError,
    TensorHeader,
    commit_result,
    commit_tensor,
    prove_element,
    prove_op,
    prove_row,
    verify_element,
    verify_op,
    verify_row,
)

CASES = [("int8", (37,)), ("int32", (1,)), ("int8", (5, 7)), ("int32", (33, 3)), ("int32", (64, 16))]


@pytest.mark.parametrize(("dtype", "shape"), CASES)
def test_put_reads_and_proofs_match_the_commitment(
    tmp_path: Path, dtype: str, shape: tuple[int, ...]
) -> None:
    store = TensorStore(tmp_path)
    array = tensor(dtype, shape)
    committed = commit_tensor(9, array)
    root = store.put(9, array)
    assert root == committed.root and store.has(root) and store.roots() == [root]
    assert store.header(root) == committed.header
    assert store.tree_root(root) == committed.tree_root
    loaded = store.load(root)
    assert loaded.dtype == array.dtype and loaded.shape == array.shape and np.array_equal(loaded, array)
    rows = committed.header.rows
    flat = np.ascontiguousarray(array).reshape(rows, -1)
    assert store.rows(root, 0, rows) == flat.tobytes()
    assert store.rows(root, rows - 1, 1) == flat[rows - 1].tobytes()
    for i in {0, rows // 2, rows - 1}:
        proof = store.row_proof(root, i)
        assert proof == prove_row(committed, array, i) and verify_row(root, proof)
        col = committed.header.cols - 1
        element = store.element_proof(root, i, col)
        assert element == prove_element(committed, array, i, col) and verify_element(root, element)
        assert element.value == int(flat[i, col])


def test_same_bytes_same_name_other_id_other_root(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    array = tensor("int8", (4, 4))
    first = store.put(1, array)
    assert store.put(1, array.copy()) == first and len(store.roots()) == 1  # deduplicated
    assert store.put(2, array) != first and len(store.roots()) == 2  # the id is bound


def test_put_with_a_commitment_does_not_rehash_but_checks_its_header(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    array = tensor("int32", (8, 3))
    committed = commit_tensor(4, array)
    assert store.put(4, array, commitment=committed) == committed.root
    assert store.verify(committed.root)
    with pytest.raises(CommitmentError):
        store.put(5, array, commitment=committed)


def test_unknown_root_and_ranges_are_typed_errors(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    root = store.put(0, tensor("int8", (3, 2)))
    missing = bytes(32)
    for call in (store.header, store.load, store.tree_root):
        with pytest.raises(DataNotFound) as info:
            call(missing)
        assert info.value.root == missing
    with pytest.raises(DataNotFound):
        store.row_proof(missing, 0)
    for start, count in ((3, 1), (0, 4), (-1, 1), (0, 0)):
        with pytest.raises(DataRangeError):
            store.rows(root, start, count)
    with pytest.raises(DataRangeError):
        store.row_proof(root, 3)
    with pytest.raises(DataRangeError):
        store.element_proof(root, 0, 2)
    with pytest.raises(DataRangeError):
        store.read(root, 5, 2)


def test_upload_becomes_visible_only_with_the_right_root(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    array = tensor("int32", (10, 5))
    committed = commit_tensor(3, array)
    raw = array.tobytes()
    upload = store.begin(committed.header, owner="peer-a")
    assert store.usage("peer-a") == file_size(committed.header) and not store.has(committed.root)
    upload.write_rows(5, raw[100:])  # any order
    upload.write(0, raw[:100])
    assert not store.has(committed.root)
    assert upload.finish(committed.root) == committed.root
    assert store.info(committed.root).owner == "peer-a" and np.array_equal(store.load(committed.root), array)
    with pytest.raises(UploadError):
        upload.write(0, b"x")  # finished

    declared = array.copy()
    declared[9, 4] ^= 1  # the uploader declares this tensor but sends one element off
    declared_root = commit_tensor(3, declared).root
    wrong = store.begin(committed.header, owner="peer-b")
    wrong.write(0, raw)
    with pytest.raises(DataMismatch) as info:
        wrong.finish(declared_root)
    assert info.value.row is None
    assert store.uploads() == [] and store.usage("peer-b") == 0  # reservation released
    assert list((tmp_path / "tmp").iterdir()) == []
    assert store.roots() == [committed.root] and not store.has(declared_root)


def test_an_incomplete_upload_never_matches(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    array = tensor("int8", (6, 6))
    committed = commit_tensor(0, array)
    upload = store.begin(committed.header)
    upload.write_rows(0, array[:5].tobytes())  # the last row never arrives
    with pytest.raises(DataMismatch):
        upload.finish(committed.root)
    assert not store.has(committed.root)


def test_writes_outside_the_tensor_are_refused(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    header = TensorHeader.of(0, tensor("int8", (2, 4)))
    upload = store.begin(header)
    for offset, data in ((7, b"ab"), (-1, b"a"), (8, b"a")):
        with pytest.raises(UploadError):
            upload.write(offset, data)
    with pytest.raises(UploadError):
        upload.write_rows(0, b"abc")  # not whole rows


def test_crash_mid_upload_leaves_nothing_and_a_reopened_store_shows_finished_tensors(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    kept = tensor("int32", (16, 4), seed=2)
    kept_root = store.put(1, kept)
    half = tensor("int32", (16, 4), seed=3)
    committed = commit_tensor(2, half)
    upload = store.begin(committed.header)
    upload.write(0, half.tobytes()[:128])
    assert len(list((tmp_path / "tmp").iterdir())) == 1
    # the process "dies" here: no finish, no abort; a new process opens the same directory
    reopened = TensorStore(tmp_path)
    assert reopened.roots() == [kept_root] and not reopened.has(committed.root)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert np.array_equal(reopened.load(kept_root), kept)
    assert reopened.used_bytes == file_size(committed.header)  # same shape: same file size
    assert reopened.verify(kept_root)


def test_damaged_files_are_not_served(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    root = store.put(1, tensor("int8", (4, 4)))
    path = tmp_path / "tensors" / f"{root.hex()}.gcxt"
    with open(path, "r+b") as f:
        f.truncate(DATA_OFFSET + 3)
    (tmp_path / "tensors" / f"{bytes(32).hex()}.gcxt").write_bytes(b"junk")
    assert TensorStore(tmp_path).roots() == []


def test_size_cap_counts_uploads_in_progress(tmp_path: Path) -> None:
    array = tensor("int8", (64, 64))
    header = TensorHeader.of(0, array)
    size = file_size(header)
    store = TensorStore(tmp_path, max_bytes=2 * size)
    first = store.begin(header)
    store.put(0, array)
    with pytest.raises(StoreFull):
        store.begin(header)
    with pytest.raises(StoreFull):
        store.put(1, array)
    first.abort()
    assert store.used_bytes == size
    assert store.put(1, array) and store.used_bytes == 2 * size
    assert store.delete(store.roots()[0]) and store.used_bytes == size
    assert not store.delete(bytes(32))


# ------------------------------------------------------------------ results


@pytest.mark.parametrize("n_ops", [1, 2, 5, 64])
def test_results_round_trip_and_prove_every_op(tmp_path: Path, n_ops: int) -> None:
    store = TensorStore(tmp_path)
    leaves = relu_leaves(n_ops)
    committed = commit_result(DIGEST, leaves)
    root = store.put_result(DIGEST, leaves)
    assert root == committed.root and store.has_result(root) and store.results() == [root]
    assert store.roots() == []  # results are not tensors
    for k in range(n_ops):
        proof = store.op_proof(root, k)
        assert proof == prove_op(committed, k) and verify_op(root, proof, DIGEST)
        assert proof.leaf == leaves[k]
    for k in (-1, n_ops):
        with pytest.raises(DataRangeError):
            store.op_proof(root, k)
    with pytest.raises(DataNotFound) as info:
        store.op_proof(bytes(32), 0)
    assert info.value.root == bytes(32)
    reopened = TensorStore(tmp_path)
    assert reopened.results() == [root] and reopened.op_proof(root, n_ops - 1) == prove_op(
        committed, n_ops - 1
    )


def test_put_result_is_idempotent_counted_capped_and_deletable(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    leaves = relu_leaves(3)
    root = store.put_result(DIGEST, leaves)
    path = tmp_path / "results" / f"{root.hex()}.gcxr"
    written = path.stat().st_mtime_ns
    assert store.put_result(DIGEST, tuple(leaves)) == root and path.stat().st_mtime_ns == written
    assert store.used_bytes == path.stat().st_size == 44 + 3 * 66
    other = store.put_result(bytes(32), leaves)  # the program digest is bound
    assert other != root and sorted(store.results()) == sorted([root, other])
    with pytest.raises(CommitmentError):
        store.put_result(DIGEST, leaves[1:])  # leaf 0 must be op 0
    full = TensorStore(tmp_path / "small", max_bytes=44 + 66)
    with pytest.raises(StoreFull):
        full.put_result(DIGEST, leaves)
    assert full.results() == [] and list((tmp_path / "small" / "tmp").iterdir()) == []
    assert store.delete_result(root) and not store.has_result(root) and not path.exists()
    assert not store.delete_result(root)
    with pytest.raises(DataNotFound):
        store.op_proof(root, 0)
    assert TensorStore(tmp_path).results() == [other]


def test_a_crash_while_writing_a_result_leaves_nothing_visible(tmp_path: Path) -> None:
    store = TensorStore(tmp_path)
    leaves = relu_leaves(4)
    kept = store.put_result(DIGEST, leaves[:2])
    raw = (tmp_path / "results" / f"{kept.hex()}.gcxr").read_bytes()
    torn_root = commit_result(DIGEST, leaves).root
    # a process died mid-write: its temporary file is left behind ...
    (tmp_path / "tmp" / "0123.part").write_bytes(raw[:50])
    # ... and a torn or foreign file under a result's name (e.g. a filesystem without rename
    # atomicity, or a copy gone wrong) must not be served either
    (tmp_path / "results" / f"{torn_root.hex()}.gcxr").write_bytes(raw[:-10])
    (tmp_path / "results" / f"{bytes(32).hex()}.gcxr").write_bytes(raw)  # leaves of another root
    reopened = TensorStore(tmp_path)
    assert reopened.results() == [kept] and not reopened.has_result(torn_root)
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(DataNotFound):
        reopened.op_proof(torn_root, 0)
    assert reopened.put_result(DIGEST, leaves) == torn_root  # written again, whole
    assert verify_op(torn_root, TensorStore(tmp_path).op_proof(torn_root, 3))
