"""``/gcx/data/1`` between real py-libp2p hosts on loopback, over real files: verified tensor
downloads, proofs, uploads under quotas, typed refusals of bad input (fuzzed decoders)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from jobs_helpers import DIGEST, connected_hosts, relu_leaves, tensor
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from gcx.errors import GCXError, WireError
from gcx.jobs import DataMismatch, DataNotFound, DataRangeError, QuotaExceeded, StoreFull
from gcx.jobs.data import (
    DATA_PROTOCOL,
    MAX_DATA,
    MAX_FRAME,
    DataClient,
    DataServer,
    ElementProofRequest,
    HeaderReply,
    HeaderRequest,
    OpProofRequest,
    ProofReply,
    PutAbort,
    PutAbortReply,
    PutBegin,
    PutBeginReply,
    PutFinish,
    PutFinishReply,
    PutRows,
    PutRowsReply,
    RowProofRequest,
    RowsReply,
    RowsRequest,
    decode_reply,
    decode_request,
)
from gcx.jobs.store import TensorStore, file_size
from gcx.p2p import FrameTooLarge, RemoteError, connect, listen_addrs, request
from gcx.tp.commit import (
    DType,
    OpProof,
    RowProof,
    TensorHeader,
    commit_result,
    commit_tensor,
    verify_element,
    verify_op,
    verify_row,
)
from gcx.wire import canonical_bytes, unpack

pytestmark = pytest.mark.timeout(60)


class FlippingStore(TensorStore):
    """A store that serves one data byte flipped (its levels, hence its proofs, stay true)."""

    flip_at = -1

    def read(self, root: bytes, offset: int, length: int) -> bytes:
        data = super().read(root, offset, length)
        if offset <= self.flip_at < offset + length:
            out = bytearray(data)
            out[self.flip_at - offset] ^= 0x01
            data = bytes(out)
        return data


class LyingProofStore(TensorStore):
    """A store that answers every row proof with row 0's row and path under the asked index."""

    def row_proof(self, root: bytes, index: int) -> RowProof:
        true = super().row_proof(root, 0)
        other = super().row_proof(root, 1)
        return RowProof(true.header, index, other.row, true.siblings)


class LyingOpStore(TensorStore):
    """A store that answers op proofs with the proof of the next op (``mode`` "op") or of the
    same op in another stored result (``mode`` "root")."""

    mode = "op"
    other = b""

    def op_proof(self, result_root: bytes, k: int) -> OpProof:
        if self.mode == "op":
            return super().op_proof(result_root, k + 1)
        return super().op_proof(self.other, k)


async def _raw(client: Any, server: Any, payload: bytes) -> bytes:
    return await request(client, server.get_id(), DATA_PROTOCOL, payload, timeout_s=10, max_size=MAX_FRAME)


@pytest.mark.trio
async def test_tensors_round_trip_in_chunks_and_wide_rows_in_parts(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "server")
    cases = {
        "int8 rank 1": tensor("int8", (1000,)),
        "int32 rank 1 wider than a chunk": tensor("int32", (3000,)),  # 12000 bytes, chunk 4096
        "int8 rank 2": tensor("int8", (77, 13)),
        "int32 rank 2": tensor("int32", (300, 9)),
        "one element": tensor("int32", (1, 1)),
    }
    roots = {name: store.put(i, a) for i, (name, a) in enumerate(cases.items())}
    async with connected_hosts(2) as (client_host, server_host):
        server = DataServer(store, max_data=1500)  # shorter replies than the client asks for
        srv = server.register(server_host)
        small = DataClient(client_host, chunk=4096, depth=3)
        for name, array in cases.items():
            got = await small.fetch_tensor(server_host.get_id(), roots[name])
            assert got.dtype == array.dtype and got.shape == array.shape, name
            assert np.array_equal(got, array), name
        rows = await small.fetch_rows(server_host.get_id(), roots["int32 rank 2"], 7, 5)
        assert rows == cases["int32 rank 2"][7:12].tobytes()
        with pytest.raises(DataRangeError):
            await small.fetch_rows(server_host.get_id(), roots["int32 rank 2"], 299, 2)
        assert srv.stats.handled > 3 * len(cases)  # many chunks each


@pytest.mark.trio
async def test_the_commitment_hashed_during_the_download_is_commit_tensor(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "server")
    cases = [  # rows of >= 2048 bytes are hashed as they arrive, narrower ones at the end
        (tensor("int32", (37, 600)), 2400 * 3),  # whole wide rows, 13 pieces, odd levels
        (tensor("int8", (33, 2048)), 2048 * 4 + 5),  # pieces of 4 rows
        (tensor("int32", (3, 1024)), 1000),  # wide rows fetched in parts: hashed at the end
        (tensor("int32", (5000,)), 4096),  # one wide row in parts
        (tensor("int32", (77, 13)), 4 * 13 * 5),  # narrow rows: commit_tensor at the end
        (tensor("int8", (1000,)), 256),
        (tensor("int32", (1, 1)), 4096),
    ]
    async with connected_hosts(2) as (client_host, server_host):
        DataServer(store).register(server_host)
        for n, (array, chunk) in enumerate(cases):
            root = store.put(n, array)
            got, commitment = await DataClient(client_host, chunk=chunk, depth=3).fetch_committed(
                server_host.get_id(), root
            )
            want = commit_tensor(n, array)
            assert commitment.levels == want.levels and commitment.root == root, array.shape
            assert np.array_equal(got, array)


@pytest.mark.trio
async def test_multi_megabyte_tensor_with_the_default_chunks(tmp_path: Path) -> None:
    big = tensor("int32", (4352, 1024))  # 17 MiB: three 8 MiB chunks
    store = TensorStore(tmp_path / "server")
    root = store.put(7, big)
    async with connected_hosts(2) as (client_host, server_host):
        srv = DataServer(store).register(server_host)
        local = TensorStore(tmp_path / "client")
        assert await DataClient(client_host).fetch_into(local, server_host.get_id(), root) == root
        assert np.array_equal(local.load(root), big) and local.verify(root)
        assert srv.stats.handled == 1 + 3  # the header, then 17 MiB in 8 MiB replies


@pytest.mark.trio
@pytest.mark.parametrize(("shape", "bad_row"), [((64, 8), 0), ((64, 8), 37), ((64, 8), 63), ((50, 3), 49)])
async def test_corrupted_bytes_raise_data_mismatch_naming_the_first_bad_row(
    tmp_path: Path, shape: tuple[int, int], bad_row: int
) -> None:
    array = tensor("int32", shape)
    store = FlippingStore(tmp_path / "server")
    root = store.put(1, array)
    row_size = shape[1] * 4
    store.flip_at = bad_row * row_size + row_size - 1
    local = TensorStore(tmp_path / "client")
    async with connected_hosts(2) as (client_host, server_host):
        DataServer(store).register(server_host)
        client = DataClient(client_host, chunk=row_size * 5)
        with pytest.raises(DataMismatch) as info:
            await client.fetch_tensor(server_host.get_id(), root)
        assert info.value.row == bad_row and info.value.root == root and not info.value.remote
        with pytest.raises(DataMismatch):
            await client.fetch_into(local, server_host.get_id(), root)
        assert local.roots() == [] and list((tmp_path / "client" / "tmp").iterdir()) == []


@pytest.mark.trio
async def test_a_peer_that_cannot_prove_its_rows_still_gets_a_mismatch(tmp_path: Path) -> None:
    array = tensor("int8", (16, 4))
    store = LyingProofStore(tmp_path / "server")
    root = store.put(1, array)
    async with connected_hosts(2) as (client_host, server_host):
        DataServer(store).register(server_host)
        client = DataClient(client_host)
        with pytest.raises(DataMismatch) as info:
            await client.fetch_row_proof(server_host.get_id(), root, 5)  # row 1's bytes as row 5
        assert info.value.row == 5


@pytest.mark.trio
async def test_proofs_over_the_wire_verify_against_the_root(tmp_path: Path) -> None:
    array = tensor("int32", (45, 6))
    store = TensorStore(tmp_path / "server")
    root = store.put(3, array)
    async with connected_hosts(2) as (client_host, server_host):
        DataServer(store).register(server_host)
        client = DataClient(client_host)
        for i in (0, 22, 44):
            proof = await client.fetch_row_proof(server_host.get_id(), root, i)
            assert proof.index == i and verify_row(root, proof) and proof.row == array[i].tobytes()
            element = await client.fetch_element_proof(server_host.get_id(), root, i, 5)
            assert verify_element(root, element) and element.value == int(array[i, 5])
            assert not verify_row(commit_tensor(4, array).root, proof)  # bound to its tensor
        with pytest.raises(DataRangeError) as range_info:
            await client.fetch_row_proof(server_host.get_id(), root, 45)
        assert range_info.value.remote
        with pytest.raises(DataRangeError):
            await client.fetch_element_proof(server_host.get_id(), root, 0, 6)


@pytest.mark.trio
async def test_op_proofs_over_the_wire_verify_against_the_result_root(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "provider")
    leaves = relu_leaves(6)
    root = store.put_result(DIGEST, leaves)
    async with connected_hosts(2) as (verifier, provider):
        DataServer(store).register(provider)
        client = DataClient(verifier)
        for k in range(6):
            proof = await client.fetch_op_proof(provider.get_id(), root, k)
            assert proof.leaf == leaves[k] and verify_op(root, proof, DIGEST)
        with pytest.raises(DataRangeError) as out:
            await client.fetch_op_proof(provider.get_id(), root, 6)
        assert out.value.remote
        with pytest.raises(DataNotFound) as missing:
            await client.fetch_op_proof(provider.get_id(), bytes(32), 0)
        assert missing.value.remote and missing.value.root == bytes(32)


@pytest.mark.trio
@pytest.mark.parametrize("mode", ["op", "root"])
async def test_a_provider_lying_about_an_op_is_a_data_mismatch(tmp_path: Path, mode: str) -> None:
    store = LyingOpStore(tmp_path / "provider")
    leaves = relu_leaves(4)
    root = store.put_result(DIGEST, leaves)
    store.other = store.put_result(DIGEST, relu_leaves(4, seed=2))
    store.mode = mode
    lie = store.op_proof(root, 1)  # a true proof, of something else
    assert verify_op(root if mode == "op" else store.other, lie) and (lie.leaf.op_index == 1) == (
        mode == "root"
    )
    async with connected_hosts(2) as (verifier, provider):
        DataServer(store).register(provider)
        with pytest.raises(DataMismatch) as info:
            await DataClient(verifier).fetch_op_proof(provider.get_id(), root, 1)
        assert info.value.root == root and not info.value.remote
        assert str(info.value).startswith(f"result {root.hex()[:16]}") and "op 1" in str(info.value)


@pytest.mark.trio
async def test_withhold_refuses_exactly_the_named_roots(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "provider")
    array = tensor("int32", (20, 3))
    hidden, shown = store.put(1, array), store.put(2, array)
    hidden_result = store.put_result(DIGEST, relu_leaves(3))
    shown_result = store.put_result(bytes(32), relu_leaves(3))
    withheld = {hidden, hidden_result}
    async with connected_hosts(2) as (client_host, provider):
        DataServer(store, withhold=lambda root: root in withheld).register(provider)
        client = DataClient(client_host)
        peer = provider.get_id()
        for fetch in (
            client.fetch_header(peer, hidden),
            client.fetch_tensor(peer, hidden),
            client.fetch_row_proof(peer, hidden, 0),
            client.fetch_element_proof(peer, hidden, 0, 0),
            client.fetch_op_proof(peer, hidden_result, 0),
        ):
            with pytest.raises(DataNotFound) as info:
                await fetch
            assert info.value.remote
        for payload in (RowsRequest(hidden, 0, 1).encode(), OpProofRequest(hidden_result, 1).encode()):
            with pytest.raises(RemoteError) as raw:
                await _raw(client_host, provider, payload)
            assert raw.value.code == "DataNotFound"
        assert np.array_equal(await client.fetch_tensor(peer, shown), array)
        assert (await client.fetch_row_proof(peer, shown, 19)).row == array[19].tobytes()
        proof = await client.fetch_op_proof(peer, shown_result, 2)
        assert verify_op(shown_result, proof) and proof.program_digest == bytes(32)
        withheld.clear()  # asked per request: a fault can be switched off
        assert np.array_equal(await client.fetch_tensor(peer, hidden), array)
        assert (await client.fetch_op_proof(peer, hidden_result, 0)).leaf == relu_leaves(3)[0]
    assert commit_result(DIGEST, relu_leaves(3)).root == hidden_result


@pytest.mark.trio
async def test_unknown_root_is_data_not_found(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "server")
    missing = bytes(range(32))
    async with connected_hosts(2) as (client_host, server_host):
        DataServer(store).register(server_host)
        client = DataClient(client_host)
        with pytest.raises(DataNotFound) as info:
            await client.fetch_tensor(server_host.get_id(), missing)
        assert info.value.remote and info.value.root == missing
        with pytest.raises(DataNotFound):
            await client.fetch_row_proof(server_host.get_id(), missing, 0)
        with pytest.raises(RemoteError) as raw:  # the code on the wire
            await _raw(client_host, server_host, RowsRequest(missing, 0, 1).encode())
        assert raw.value.code == "DataNotFound"


@pytest.mark.trio
async def test_bad_requests_are_typed_errors_and_the_server_survives(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "server")
    array = tensor("int8", (8, 8))
    root = store.put(0, array)
    good = HeaderRequest(root).encode()
    valid = {"type": "gcx.data.rows", "v": 1, "root": root, "start": 0, "count": 1, "offset": 0, "length": 8}
    cases = {
        b"\xc1": "DecodeError",  # not msgpack
        canonical_bytes([1, 2]): "SchemaError",
        canonical_bytes({"type": "gcx.capacity", "v": 1}): "SchemaError",
        canonical_bytes({**valid, "extra": 1}): "SchemaError",
        canonical_bytes({**valid, "count": True}): "SchemaError",  # a bool is not an integer
        canonical_bytes({**valid, "v": 2}): "SchemaError",
        canonical_bytes({**valid, "root": root[:31]}): "SchemaError",
        canonical_bytes({**valid, "count": 0}): "SchemaError",
        good + b"\x00": "DecodeError",  # trailing bytes
        RowsRequest(root, 4, 5).encode(): "DataRangeError",
        RowsRequest(root, 0, 1, 8).encode(): "DataRangeError",  # offset past the rows
        PutFinish(bytes(16)).encode(): "UploadError",
    }
    async with connected_hosts(2) as (client_host, server_host):
        srv = DataServer(store).register(server_host)
        for payload, code in cases.items():
            with pytest.raises(RemoteError) as info:
                await _raw(client_host, server_host, payload)
            assert info.value.code == code, payload[:40]
        with pytest.raises(FrameTooLarge) as too_large:  # refused from the length alone
            await request(
                client_host,
                server_host.get_id(),
                DATA_PROTOCOL,
                b"\x00" * (MAX_FRAME + 1),
                timeout_s=10,
                max_size=2 * MAX_FRAME,
            )
        assert too_large.value.remote
        stream = await client_host.new_stream(server_host.get_id(), [TProtocol(DATA_PROTOCOL)])
        await stream.write((1000).to_bytes(4, "big") + b"\x80" * 10)  # truncated, then closed
        await stream.close()
        with trio.fail_after(5):
            while srv.stats.truncated == 0:
                await trio.sleep(0.05)
        reply = decode_reply(await _raw(client_host, server_host, good), HeaderReply.TYPE)
        assert isinstance(reply, HeaderReply) and reply.authentic
        assert srv.stats.rejected_too_large == 1


@pytest.mark.trio
async def test_upload_verified_deduplicated_and_visible_on_reopen(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "coordinator")
    array = tensor("int32", (2100, 1000))  # 8.4 MB: two put_rows
    async with connected_hosts(2) as (buyer, coordinator):
        srv = DataServer(store).register(coordinator)
        client = DataClient(buyer)
        root = await client.upload(coordinator.get_id(), 5, array)
        assert root == commit_tensor(5, array).root and store.has(root)
        assert store.info(root).owner == str(buyer.get_id())
        handled = srv.stats.handled
        assert await client.upload(coordinator.get_id(), 5, array) == root
        assert srv.stats.handled == handled + 1  # already there: put_begin only
        assert np.array_equal(await client.fetch_tensor(coordinator.get_id(), root), array)
    assert TensorStore(tmp_path / "coordinator").roots() == [root]


@pytest.mark.trio
async def test_upload_with_a_wrong_declared_root_is_refused(tmp_path: Path) -> None:
    store = TensorStore(tmp_path / "coordinator")
    array = tensor("int8", (20, 20))
    header = TensorHeader.of(1, array)
    declared = commit_tensor(1, array[::-1].copy()).root
    async with connected_hosts(2) as (buyer, coordinator):
        DataServer(store).register(coordinator)
        begun = decode_reply(
            await _raw(buyer, coordinator, PutBegin(declared, header).encode()), PutBeginReply.TYPE
        )
        assert isinstance(begun, PutBeginReply) and begun.upload is not None
        await _raw(buyer, coordinator, PutRows(begun.upload, 0, array.tobytes()).encode())
        with pytest.raises(RemoteError) as info:
            await _raw(buyer, coordinator, PutFinish(begun.upload).encode())
        assert info.value.code == "DataMismatch"
        assert store.roots() == [] and store.uploads() == [] and store.used_bytes == 0
        with pytest.raises(RemoteError) as gone:  # the upload is gone
            await _raw(buyer, coordinator, PutRows(begun.upload, 0, b"x").encode())
        assert gone.value.code == "UploadError"


@pytest.mark.trio
async def test_quotas_per_peer_and_in_all_and_uploads_are_private(tmp_path: Path) -> None:
    array = tensor("int8", (64, 64))
    header = TensorHeader.of(0, array)
    size = file_size(header)
    store = TensorStore(tmp_path / "coordinator", max_bytes=3 * size)
    async with connected_hosts(3) as (buyer, coordinator, other):
        await connect(other, listen_addrs(coordinator)[0], timeout_s=5)
        server = DataServer(store, peer_quota=2 * size, max_uploads_per_peer=2)
        server.register(coordinator)
        client = DataClient(buyer)
        await client.upload(coordinator.get_id(), 0, array)
        await client.upload(coordinator.get_id(), 1, array)
        with pytest.raises(QuotaExceeded) as info:
            await client.upload(coordinator.get_id(), 2, array)
        assert info.value.remote and len(store.roots()) == 2
        # another peer has its own quota, but the store's cap binds them all
        rival = DataClient(other)
        await rival.upload(coordinator.get_id(), 3, array)
        with pytest.raises(StoreFull):
            await rival.upload(coordinator.get_id(), 4, array)
        # open uploads are limited per peer and cannot be touched by another peer
        store.delete(store.roots()[0])
        begin = PutBegin(commit_tensor(9, array).root, TensorHeader.of(9, array)).encode()
        begun = decode_reply(await _raw(other, coordinator, begin), PutBeginReply.TYPE)
        assert isinstance(begun, PutBeginReply) and begun.upload is not None
        for req in (PutRows(begun.upload, 0, b"x"), PutFinish(begun.upload), PutAbort(begun.upload)):
            with pytest.raises(RemoteError) as denied:
                await _raw(buyer, coordinator, req.encode())
            assert denied.value.code == "UploadError"
        await _raw(other, coordinator, PutAbort(begun.upload).encode())
        assert store.uploads() == []


@pytest.mark.trio
async def test_abandoned_uploads_expire_and_leave_nothing(tmp_path: Path) -> None:
    now = [0.0]
    store = TensorStore(tmp_path / "coordinator")
    array = tensor("int32", (32, 32))
    header = TensorHeader.of(0, array)
    async with connected_hosts(2) as (buyer, coordinator):
        server = DataServer(store, upload_idle_s=60, clock=lambda: now[0])
        server.register(coordinator)
        begun = decode_reply(
            await _raw(buyer, coordinator, PutBegin(commit_tensor(0, array).root, header).encode()),
            PutBeginReply.TYPE,
        )
        assert isinstance(begun, PutBeginReply) and begun.upload is not None
        await _raw(buyer, coordinator, PutRows(begun.upload, 0, array.tobytes()[:1000]).encode())
        assert store.used_bytes == file_size(header)  # reserved
        now[0] = 61.0
        assert server.expire_uploads() == 1
        assert store.used_bytes == 0 and store.roots() == []
        assert list((tmp_path / "coordinator" / "tmp").iterdir()) == []
        with pytest.raises(RemoteError) as gone:
            await _raw(buyer, coordinator, PutFinish(begun.upload).encode())
        assert gone.value.code == "UploadError"


# ------------------------------------------------------------------ fuzzed decoders

ROOTS = st.binary(min_size=32, max_size=32)
U32 = st.integers(0, 2**32 - 1)
HEADERS = st.builds(
    lambda t, d, r, rows, cols: TensorHeader(t, d, r, 1 if r == 1 else rows, cols),
    U32,
    st.sampled_from([DType.INT8, DType.INT32]),
    st.sampled_from([1, 2]),
    st.integers(1, 4096),
    st.integers(1, 4096),
)
REQUESTS = st.one_of(
    st.builds(HeaderRequest, ROOTS),
    st.builds(
        RowsRequest,
        ROOTS,
        U32,
        st.integers(1, 2**32 - 1),
        st.integers(0, 2**64 - 1),
        st.integers(1, 2**32 - 1),
    ),
    st.builds(RowProofRequest, ROOTS, U32),
    st.builds(ElementProofRequest, ROOTS, U32, U32),
    st.builds(OpProofRequest, ROOTS, U32),
    st.builds(PutBegin, ROOTS, HEADERS),
    st.builds(
        PutRows,
        st.binary(min_size=16, max_size=16),
        st.integers(0, 2**64 - 1),
        st.binary(min_size=1, max_size=64),
    ),
    st.builds(PutFinish, st.binary(min_size=16, max_size=16)),
    st.builds(PutAbort, st.binary(min_size=16, max_size=16)),
)
UPLOADS = st.binary(min_size=16, max_size=16)
REPLIES = st.one_of(
    st.builds(HeaderReply, ROOTS, HEADERS, ROOTS),
    st.builds(
        RowsReply, ROOTS, U32, st.integers(1, 2**32 - 1), st.integers(0, 2**64 - 1), st.binary(min_size=1)
    ),
    st.builds(ProofReply, ROOTS, st.binary(min_size=1, max_size=300)),
    st.just(PutBeginReply(None, True)),
    st.builds(PutBeginReply, UPLOADS, st.just(False)),
    st.builds(PutRowsReply, UPLOADS, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
    st.builds(PutFinishReply, ROOTS),
    st.just(PutAbortReply()),
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.binary(max_size=40),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(REQUESTS)
def test_requests_round_trip(req: Any) -> None:
    assert decode_request(req.encode()) == req


@settings(max_examples=300, deadline=None)
@given(REQUESTS, st.data())
def test_mutated_requests_decode_or_raise_a_wire_error(req: Any, data: st.DataObject) -> None:
    m = unpack(req.encode())
    key = data.draw(st.sampled_from(sorted(m)))
    action = data.draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace":
        m[key] = data.draw(VALUES)
    elif action == "drop":
        del m[key]
    else:
        m[data.draw(st.text(min_size=1, max_size=6))] = data.draw(VALUES)
    try:
        decoded = decode_request(canonical_bytes(m))
    except WireError:
        return
    assert decode_request(decoded.encode()) == decoded  # whatever is accepted is a valid request


@settings(max_examples=200, deadline=None)
@given(REPLIES)
def test_replies_round_trip_and_only_as_their_own_type(reply: Any) -> None:
    assert decode_reply(reply.encode(), reply.TYPE) == reply
    other = RowsReply.TYPE if reply.TYPE != RowsReply.TYPE else HeaderReply.TYPE
    with pytest.raises(WireError):
        decode_reply(reply.encode(), other)


@settings(max_examples=300, deadline=None)
@given(REPLIES, st.data())
def test_mutated_replies_decode_or_raise_a_wire_error(reply: Any, data: st.DataObject) -> None:
    m = unpack(reply.encode())
    key = data.draw(st.sampled_from(sorted(m)))
    if data.draw(st.booleans()):
        m[key] = data.draw(VALUES)
    else:
        del m[key]
    try:
        decoded = decode_reply(canonical_bytes(m), reply.TYPE)
    except WireError:
        return
    assert decode_reply(decoded.encode(), reply.TYPE) == decoded


def test_the_op_proof_request_on_the_wire() -> None:
    root = bytes(range(32))
    wire = {"type": "gcx.data.op_proof", "v": 1, "result_root": root, "index": 7}
    assert OpProofRequest(root, 7).encode() == canonical_bytes(wire)
    assert decode_request(canonical_bytes(wire)) == OpProofRequest(root, 7)
    for bad in (
        {**wire, "index": -1},
        {**wire, "index": 2**32},
        {**wire, "index": True},
        {**wire, "result_root": root[:31]},
        {k: v for k, v in wire.items() if k != "index"},
        {**{k: v for k, v in wire.items() if k != "result_root"}, "root": root},  # not row_proof's key
        {**wire, "v": 2},
    ):
        with pytest.raises(WireError):
            decode_request(canonical_bytes(bad))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_decoders(data: bytes) -> None:
    for decode in (
        decode_request,
        lambda d: decode_reply(d, RowsReply.TYPE),
        lambda d: decode_reply(d, HeaderReply.TYPE),
        lambda d: decode_reply(d, ProofReply.TYPE),
        lambda d: decode_reply(d, PutBeginReply.TYPE),
    ):
        with contextlib.suppress(WireError):
            decode(data)


@settings(max_examples=60, deadline=None)
@given(REQUESTS, st.binary(max_size=64))
def test_the_server_handler_answers_or_raises_a_typed_error(
    tmp_path_factory: Any, req: Any, junk: bytes
) -> None:
    store = TensorStore(tmp_path_factory.mktemp("fuzz"), max_bytes=1 << 20)
    root = store.put(0, tensor("int8", (4, 4)))
    result = store.put_result(DIGEST, relu_leaves(2))
    server = DataServer(store, peer_quota=1 << 16)
    peer = ID(b"\x00\x25" + bytes(37))
    targeted = {**unpack(req.encode())}
    if "root" in targeted:
        targeted["root"] = root  # hit the stored tensor: ranges, proofs, existing uploads
    if "result_root" in targeted:
        targeted["result_root"] = result  # hit the stored result: op ranges

    async def run() -> None:
        for payload in (req.encode(), canonical_bytes(targeted), junk):
            try:
                body = await server.handle(peer, payload)
            except GCXError:
                continue
            assert isinstance(body, bytes) and unpack(body)["type"].startswith("gcx.data.")

    trio.run(run)
    server.close()
    assert store.uploads() == []


def test_frame_limit_fits_the_largest_reply() -> None:
    reply = RowsReply(bytes(32), 2**32 - 1, 2**32 - 1, 2**64 - 1, b"\x00" * MAX_DATA).encode()
    envelope = canonical_bytes({"ok": True, "body": reply})
    assert len(envelope) <= MAX_FRAME
    put = PutRows(bytes(16), 2**64 - 1, b"\x00" * MAX_DATA).encode()
    assert len(put) <= MAX_FRAME
