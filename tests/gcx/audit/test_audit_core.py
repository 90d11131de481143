"""The pure audit core: sizing and its cost model, detection, messages, checks and records."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcx import wire
from gcx.audit.core import (
    GEN_COST,
    HASH_COST,
    MAX_BLOCKS,
    AnswerRejected,
    AuditConfig,
    AuditError,
    AuditRecord,
    Challenge,
    ChallengeShape,
    Opening,
    OpenRequest,
    Verdict,
    check_answer,
    check_opening,
    claimed_int8_ops_per_s,
    cost_ratio,
    decode_answer,
    decode_challenge,
    decode_open,
    decode_opening,
    decode_record,
    expected_rows,
    make_challenge,
    pass_probability,
    recheck,
    recompute_cost,
    rows_for_detection,
    seeded_b,
    seeded_rows,
    sign_answer,
    size_challenge,
    verifier_cost,
)
from gcx.errors import GCXError, SignatureError
from gcx.tp.backends.numpy_backend import matmul_nt_blocked
from gcx.tp.commit import TensorCommitment, commit_tensor, prove_row
from gcx.tp.seeded import seeded_tensor
from gcx.tp.tensor import MAX_TENSOR_ELEMENTS, TensorType

VERIFIER_KEY = bytes(31) + b"\x01"
PROVIDER_KEY = bytes(31) + b"\x02"
OTHER_KEY = bytes(31) + b"\x03"
PROVIDER = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"  # address of PROVIDER_KEY
SMALL = AuditConfig(target_s=0.01, rows_to_open=8, min_ratio=2.0, max_dim=32)


def test_provider_constant_is_the_key_address() -> None:
    from eth_account import Account

    assert Account.from_key(PROVIDER_KEY).address == PROVIDER


def _challenge(config: AuditConfig = SMALL, claimed: float = 1e6, seed: int = 7) -> Challenge:
    return make_challenge(
        VERIFIER_KEY,
        verifier_peer="verifier-peer",
        provider_peer="provider-peer",
        provider=PROVIDER,
        claimed_ops_per_s=claimed,
        config=config,
        now_ms=1_700_000_000_000,
        rng=random.Random(seed),
    )


def _compute(ch: Challenge, *, zero_every: int = 0) -> tuple[list[np.ndarray], list[TensorCommitment]]:
    """What an honest provider computes (optionally with every ``zero_every``-th row zeroed)."""
    s = ch.shape
    b = seeded_b(ch.seed, s)
    blocks, commits = [], []
    for j in range(s.blocks):
        c = matmul_nt_blocked(seeded_rows(np, ch.seed, j + 1, s.k, 0, s.m), b)
        if zero_every:
            c[::zero_every] = 0
        blocks.append(c)
        commits.append(commit_tensor(j, c))
    return blocks, commits


def _open(
    ch: Challenge, blocks: list[np.ndarray], commits: list[TensorCommitment], rows: tuple[int, ...]
) -> list[bytes]:
    out = []
    for r in rows:
        j, local = ch.shape.locate(r)
        out.append(prove_row(commits[j], blocks[j], local).encode())
    return out


# --------------------------------------------------------------------------- sizing, cost, detection


def test_default_rows_detect_a_ten_percent_cheat_with_odds_below_one_in_a_thousand() -> None:
    r = AuditConfig().rows_to_open
    assert r == rows_for_detection(0.9, 1e-3) == 66
    assert pass_probability(0.9, r) <= 1e-3 < pass_probability(0.9, r - 1)
    assert rows_for_detection(0.5, 1e-2) == 7


@settings(max_examples=200, deadline=None)
@given(f=st.floats(0.01, 0.999), p=st.floats(1e-12, 0.5))
def test_rows_for_detection_is_the_least_sufficient_count(f: float, p: float) -> None:
    r = rows_for_detection(f, p)
    assert f**r <= p
    assert r == 1 or f ** (r - 1) > p


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(1e3, 1e18),
    target=st.floats(0.01, 600),
    r=st.integers(1, 256),
    min_ratio=st.floats(1, 100),
    max_dim=st.sampled_from([16, 64, 1000, 4096, 8192]),
)
def test_sizing_stays_within_limits_and_keeps_the_verifier_cheaper(
    rate: float, target: float, r: int, min_ratio: float, max_dim: int
) -> None:
    s = size_challenge(rate, target, rows_to_open=r, min_ratio=min_ratio, max_dim=max_dim)
    assert s.n == s.k and 16 <= s.n <= max_dim and s.k <= 65_536
    assert max(s.m * s.k, s.n * s.k, s.m * s.n) <= MAX_TENSOR_ELEMENTS and 1 <= s.blocks <= MAX_BLOCKS
    assert s.rows >= r
    # The cost property, counted in operations (not time).
    assert recompute_cost(s) >= min_ratio * verifier_cost(s, r)
    assert cost_ratio(s, r) >= min_ratio
    # The work is the claim × target unless clamped by the smallest or the largest challenge.
    want = rate * target
    smallest = s.n == 16 or s.ops > want
    largest = s.blocks == MAX_BLOCKS and s.m == MAX_TENSOR_ELEMENTS // s.n
    if not (smallest or largest):
        assert 0.5 * want <= s.ops <= 1.5 * want


def test_cost_model_counts_generation_macs_and_hashing() -> None:
    s = ChallengeShape(m=1000, blocks=2, n=64, k=32)
    depth = 10  # ceil(log2(1000))
    g, h = GEN_COST, HASH_COST
    assert verifier_cost(s, 5) == g * 64 * 32 + 5 * (g * 32 + 64 * 32 + h * (64 + 16 * (depth + 2)))
    assert recompute_cost(s) == 2000 * 64 * 32 + g * (2000 + 64) * 32


def test_figures_at_default_settings() -> None:
    cfg = AuditConfig()
    gpu = size_challenge(175e12, cfg.target_s)  # the reference GPU's gemm_int8
    cpu = size_challenge(1e11, cfg.target_s)
    assert cost_ratio(gpu, 66) > 2e4 and cost_ratio(cpu, 66) > 20
    assert abs(gpu.ops / 175e12 - 5) < 0.05 and abs(cpu.ops / 1e11 - 5) < 0.05


def test_sizing_refuses_nonsense() -> None:
    for rate in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(AuditError):
            size_challenge(rate, 5)
    with pytest.raises(AuditError):
        AuditConfig(rows_to_open=0)


def test_seeded_rows_are_slices_of_the_seeded_tensor() -> None:
    full = seeded_tensor(2**64 - 5, 3, TensorType("int8", (37, 21)))
    assert np.array_equal(seeded_rows(np, 2**64 - 5, 3, 21, 0, 37), full)
    assert np.array_equal(seeded_rows(np, 2**64 - 5, 3, 21, 11, 5), full[11:16])


def test_expected_rows_are_the_product_rows() -> None:
    ch = _challenge()
    s = ch.shape
    b = seeded_b(ch.seed, s)
    a0 = seeded_tensor(ch.seed, 1, TensorType("int8", (s.m, s.k))).astype(np.int64)
    c0 = a0 @ b.astype(np.int64).T
    rows = [0, 3, s.m - 1]
    got = expected_rows(ch.seed, s, rows, b)
    assert got == [c0[r].astype("<i4").tobytes() for r in rows]


# --------------------------------------------------------------------------- messages


def test_challenge_is_signed_and_round_trips() -> None:
    ch = _challenge()
    again = decode_challenge(ch.encode())
    assert again == ch and again.id == ch.id
    ch.check_signature()
    tampered = wire.unpack(ch.encode())
    tampered["seed"] ^= 1
    with pytest.raises(SignatureError):
        decode_challenge(wire.canonical_bytes(tampered)).check_signature()
    assert _challenge(seed=8).id != ch.id  # fresh seed and nonce: a fresh id


def _valid_messages() -> list[bytes]:
    ch = _challenge()
    blocks, commits = _compute(ch)
    answer = sign_answer(PROVIDER_KEY, ch, [c.root for c in commits])
    proofs = _open(ch, blocks, commits, (0, 1))
    record = AuditRecord(Verdict.PASSED, ch.encode(), answer.encode(), (), 1, 2, 3)
    return [
        ch.encode(),
        answer.encode(),
        OpenRequest(ch.id, (0, 1)).encode(),
        Opening(ch.id, tuple(proofs)).encode(),
        record.encode(),
    ]


DECODERS = (decode_challenge, decode_answer, decode_open, decode_opening, decode_record)
VALID = _valid_messages()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=512))
def test_decoders_raise_only_typed_errors_on_junk(data: bytes) -> None:
    for decode in DECODERS:
        with contextlib.suppress(GCXError):
            decode(data)


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(0, len(VALID) - 1),
    pos=st.integers(0, 10**6),
    byte=st.integers(0, 255),
    cut=st.booleans(),
)
def test_decoders_raise_only_typed_errors_on_damaged_messages(
    which: int, pos: int, byte: int, cut: bool
) -> None:
    data = bytearray(VALID[which])
    pos %= len(data)
    if cut:
        del data[pos:]
    else:
        data[pos] = byte
    with contextlib.suppress(GCXError):
        DECODERS[which](bytes(data))


@pytest.mark.parametrize(
    "change",
    [
        {"v": True},
        {"v": 2},
        {"seed": -1},
        {"seed": 2**64},
        {"nonce": b"short"},
        {"m": 0},
        {"k": 65_537},
        {"n": 2**20, "k": 2**10},  # B over GCX-TP's tensor limit
        {"blocks": MAX_BLOCKS + 1},
        {"deadline_ms": 0},
        {"extra": 1},
        {"claimed_ops_per_s": 1.5},
    ],
)
def test_challenge_decoder_refuses_out_of_schema_fields(change: dict[str, Any]) -> None:
    body = wire.unpack(_challenge().encode())
    body.update(change)
    with pytest.raises(GCXError):
        decode_challenge(wire.canonical_bytes(body))


def test_open_decoder_refuses_duplicates_and_too_many_rows() -> None:
    cid = bytes(32)
    with pytest.raises(GCXError):
        decode_open(
            wire.canonical_bytes({"type": "gcx.audit.open", "v": 1, "challenge": cid, "rows": [1, 1]})
        )
    with pytest.raises(GCXError):
        decode_open(OpenRequest(cid, tuple(range(257))).encode())
    assert decode_open(OpenRequest(cid, (5, 2)).encode()).rows == (5, 2)


# --------------------------------------------------------------------------- answers and openings


def test_check_answer_accepts_the_honest_answer_and_refuses_replays_and_forgeries() -> None:
    ch, other = _challenge(seed=1), _challenge(seed=2)
    _, commits = _compute(ch)
    roots = [c.root for c in commits]
    good = sign_answer(PROVIDER_KEY, ch, roots)
    assert check_answer(ch, good.encode()) == good
    cases = {
        "replay": (sign_answer(PROVIDER_KEY, other, roots).encode(), Verdict.BAD_SIGNATURE),
        "forged": (sign_answer(OTHER_KEY, ch, roots).encode(), Verdict.BAD_SIGNATURE),
        "too_few": (sign_answer(PROVIDER_KEY, ch, roots + roots).encode(), Verdict.WRONG_ROOT_FORMAT),
        "junk": (b"\x93\x01\x02", Verdict.WRONG_ROOT_FORMAT),
    }
    # a forged signature on the provider's own name
    body = good.body()
    body["signature"] = sign_answer(OTHER_KEY, ch, roots).signature
    cases["stolen_name"] = (wire.canonical_bytes(body), Verdict.BAD_SIGNATURE)
    for name, (data, verdict) in cases.items():
        with pytest.raises(AnswerRejected) as err:
            check_answer(ch, data)
        assert err.value.verdict is verdict, name


def test_honest_opening_passes() -> None:
    ch = _challenge()
    blocks, commits = _compute(ch)
    answer = sign_answer(PROVIDER_KEY, ch, [c.root for c in commits])
    rows = (0, 5, ch.shape.rows - 1)
    verdict, checks = check_opening(ch, answer, rows, _open(ch, blocks, commits, rows))
    assert verdict is Verdict.PASSED and all(c.ok for c in checks)
    assert [c.row for c in checks] == list(rows)


def test_a_wrong_row_is_named_with_expected_and_got_digests() -> None:
    ch = _challenge()
    blocks, commits = _compute(ch, zero_every=4)  # rows 0, 4, 8 … of each block are zero
    answer = sign_answer(PROVIDER_KEY, ch, [c.root for c in commits])
    rows = (1, 4, 6)
    verdict, checks = check_opening(ch, answer, rows, _open(ch, blocks, commits, rows))
    assert verdict is Verdict.WRONG_ROW
    assert [c.ok for c in checks] == [True, False, True]
    bad = checks[1]
    assert bad.row == 4 and bad.problem == "wrong row" and bad.expected != bad.got and bad.proof
    # The evidence stands on its own: a third party re-derives the verdict from the record.
    record = AuditRecord(Verdict.WRONG_ROW, ch.encode(), answer.encode(), checks, 10, 5, 1)
    again = decode_record(record.encode())
    assert again == record
    assert recheck(again) is Verdict.WRONG_ROW
    assert again.summary()["rows_failed"][0]["row"] == 4


def test_bad_proofs_are_bad_proofs() -> None:
    ch = _challenge()
    blocks, commits = _compute(ch)
    answer = sign_answer(PROVIDER_KEY, ch, [c.root for c in commits])
    good = _open(ch, blocks, commits, (2, 3))
    swapped = [good[1], good[0]]  # proofs of the other row
    verdict, checks = check_opening(ch, answer, (2, 3), swapped)
    assert verdict is Verdict.BAD_PROOF and not any(c.ok for c in checks)
    damaged = bytearray(good[0])
    damaged[-1] ^= 1  # a sibling
    verdict, checks = check_opening(ch, answer, (2, 3), [bytes(damaged), good[1]])
    assert verdict is Verdict.BAD_PROOF and [c.ok for c in checks] == [False, True]
    assert "root" in checks[0].problem
    verdict, _ = check_opening(ch, answer, (2, 3), [b"\x01\x01junk", good[1]])
    assert verdict is Verdict.BAD_PROOF
    verdict, _ = check_opening(ch, answer, (2, 3), good[:1])
    assert verdict is Verdict.BAD_PROOF


def test_recheck_proves_nothing_for_a_pass_and_refuses_a_forged_challenge() -> None:
    ch = _challenge()
    _, commits = _compute(ch)
    answer = sign_answer(PROVIDER_KEY, ch, [c.root for c in commits])
    assert recheck(AuditRecord(Verdict.PASSED, ch.encode(), answer.encode(), (), 1, 1, 1)) is None
    assert recheck(AuditRecord(Verdict.LATE, ch.encode(), b"", (), -1, -1, 1)) is None
    body = wire.unpack(ch.encode())
    body["claimed_ops_per_s"] += 1
    with pytest.raises(SignatureError):
        recheck(AuditRecord(Verdict.LATE, wire.canonical_bytes(body), b"", (), -1, -1, 1))


def test_claimed_rate_comes_from_the_reports_gemm_int8() -> None:
    report = {
        "results": [
            {"name": "gemm_fp32", "median": 2.0, "unit": "TFLOP/s"},
            {"name": "gemm_int8", "median": 175.0, "unit": "TOP/s"},
        ]
    }
    assert claimed_int8_ops_per_s(report) == 175e12
    assert claimed_int8_ops_per_s({"results": []}) is None
    assert (
        claimed_int8_ops_per_s({"results": [{"name": "gemm_int8", "median": 1, "unit": "parsecs"}]}) is None
    )
