"""Metering: a hand-computed example, and it depends on shapes only."""

from __future__ import annotations

from gcx.reference import ReferenceProfile
from gcx.tp import Add, InputDecl, MatmulNT, OutputDecl, TensorType, make_program
from gcx.tp.metering import meter


def test_hand_computed_example(shipped_profile: ReferenceProfile) -> None:
    p = make_program(
        [InputDecl("a", TensorType("int8", (4096, 4096))), InputDecl("b", TensorType("int8", (4096, 4096))),
         InputDecl("bias", TensorType("int32", (4096,)))],
        [MatmulNT(0, 1), Add(3, 2)],
        [OutputDecl("c", 4)],
    )  # fmt: skip
    got = meter(p, shipped_profile)
    assert got.gemm_ops == 2 * 4096**3
    assert got.bytes_moved == 4 * 4096 * 4096 * 2 + 4 * 4096
    assert got.elementwise_ops == 4096 * 4096  # the add: one per output element
    # 2·4096³ / 175e12 s + 134_234_112 / 670e9 s = 0.000785... + 0.000200... s → 0.27 µCH, up to 1
    assert got.micro_ch == 1
    # 150 GEMMs of 1024x1024x65536: 150 * 2**37 ops / 175e12 OP/s = 0.1178 s = 32.72 µCH -> 33
    a = [InputDecl("a", TensorType("int8", (1024, 65536)))]
    big = make_program(a, [MatmulNT(0, 0)] * 150, [OutputDecl("c", 1)])
    assert meter(big, shipped_profile).micro_ch == 33 and meter(big, shipped_profile).bytes_moved == 0
    assert meter(big, shipped_profile).elementwise_ops == 0
