"""``/gcx/job/1`` codecs: round trips, strictness, fuzz."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx.jobs import delivery as d
from gcx.tp.attest import commit_inputs, commit_run
from gcx.tp.backends.numpy_backend import NumpyBackend
from gcx.tp.commit import OP_BODY_SIZE, OpLeaf
from gcx.tp.examples.matmul import matmul_job
from gcx.tp.execute import execute
from gcx.wire import canonical_bytes

JOB = bytes(range(32))


def _leaves() -> tuple[OpLeaf, ...]:
    job = matmul_job(8)
    backend = NumpyBackend()
    values = job.values()
    run = execute(job.program, values, backend)
    return commit_run(
        job.program, run, commit_inputs(job.program, values, backend.commit), backend.commit
    ).result.leaves


def _messages() -> list[d.Message]:
    job = matmul_job(8)
    return [
        d.Offer(
            JOB, "0x" + "ab" * 20, job.program.canonical,
            (d.OfferInput("a", seed=7), d.OfferInput("b", root=b"\x01" * 32)),
            amount=12, micro_ch=3, submit_deadline=1_900_000_000, challenge_window=600, source="",
        ),
        d.Accept(JOB),
        d.Refuse(JOB, "busy", "4 jobs queued"),
        d.Query(JOB),
        d.Status(JOB, "submitted", None, b"\x02" * 32),
        d.Status(JOB, "queued", "position 2", None),
        d.Result(JOB, b"\x03" * 32, _leaves(), b"\x04" * 32),
        d.Ack(JOB, False, "the chain shows another root"),
    ]  # fmt: skip


@pytest.mark.parametrize("msg", _messages(), ids=lambda m: type(m).__name__)
def test_round_trip(msg: d.Message) -> None:
    data = d.encode(msg)
    assert d.decode(data) == msg
    assert d.decode(data, (type(msg),)) == msg


def test_expected_types_are_enforced() -> None:
    with pytest.raises(d.JobMessageError, match="unexpected message type"):
        d.decode(d.encode(d.Accept(JOB)), d.REPLIES[d.Query])


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"v": 2}, "v1 message"),
        ({"type": "gcx-job/nope"}, "unexpected message type"),
        ({"extra": 1}, "fields"),
        ({"job_id": b"\x00" * 31}, "job_id"),
        ({"code": "because"}, "unknown refusal code"),
        ({"message": "x" * 513}, "message"),
    ],
)
def test_bad_refusals_are_refused(patch: dict[str, object], match: str) -> None:
    wire = d.to_wire(d.Refuse(JOB, "busy", "full"))
    wire.update(patch)
    with pytest.raises(d.JobMessageError, match=match):
        d.decode(canonical_bytes(wire))


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"buyer": "0x" + "zz" * 20}, "0x address"),
        ({"amount": 0}, "amount"),
        ({"inputs": []}, "inputs"),
        ({"inputs": [{"name": "a", "seed": 1, "root": b"\x00" * 32}]}, "input 0"),
        ({"inputs": [{"name": "A", "seed": 1}]}, "GCX-TP name"),
        ({"inputs": [{"name": "a", "root": b"\x00" * 3}]}, "root"),
    ],
)
def test_bad_offers_are_refused(patch: dict[str, object], match: str) -> None:
    wire = d.to_wire(_messages()[0])
    wire.update(patch)
    with pytest.raises(d.JobMessageError, match=match):
        d.decode(canonical_bytes(wire))


def test_leaves_must_be_in_op_order_and_well_formed() -> None:
    result = _messages()[6]
    assert isinstance(result, d.Result)
    wire = d.to_wire(result)
    wire["leaves"] = [wire["leaves"][0], wire["leaves"][0]]
    with pytest.raises(d.JobMessageError, match="leaf 1 is of op 0"):
        d.decode(canonical_bytes(wire))
    wire["leaves"] = [b"\xff" * OP_BODY_SIZE]
    with pytest.raises(d.JobMessageError, match="leaf 0"):
        d.decode(canonical_bytes(wire))


def test_non_canonical_bytes_are_refused() -> None:
    wire = d.to_wire(d.Accept(JOB))
    loose = msgpack.packb(dict(reversed(list(wire.items()))), use_bin_type=True)
    assert loose != d.encode(d.Accept(JOB))
    with pytest.raises(d.JobMessageError):
        d.decode(loose)


@pytest.mark.parametrize("msg", _messages(), ids=lambda m: type(m).__name__)
def test_every_truncation_and_bit_flip_is_refused_or_decodes_to_valid(msg: d.Message) -> None:
    data = d.encode(msg)
    for cut in range(len(data)):
        with pytest.raises(d.JobMessageError):
            d.decode(data[:cut])
    for i in range(0, len(data), max(1, len(data) // 200)):
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        try:
            got = d.decode(bytes(flipped))
        except d.JobMessageError:
            continue
        assert d.encode(got) == bytes(flipped)  # anything accepted is canonical and re-encodes


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(d.JobMessageError):
        d.decode(data)
