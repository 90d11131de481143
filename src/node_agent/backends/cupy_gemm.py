"""CuPy GEMM kernels: every precision through cuBLAS ``gemmEx``, checked by Freivalds on the device.

See :mod:`node_agent.backends.cupy_backend` for the theory of operation (layout, compute types
and the check's bound)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gcx.errors import BenchmarkError

from .cupy_common import (
    CHECK_CHUNK_BYTES,
    CUBLAS_COMPUTE_32F,
    CUBLAS_COMPUTE_32F_FAST_TF32,
    CUBLAS_COMPUTE_32I,
    CUBLAS_COMPUTE_64F,
    CUBLAS_DEFAULT_MATH,
    CUBLAS_GEMM_DEFAULT,
    CUBLAS_OP_N,
    CUBLAS_OP_T,
    CUBLAS_POINTER_MODE_HOST,
    CUDA_R_8I,
    CUDA_R_16BF,
    CUDA_R_16F,
    CUDA_R_32F,
    CUDA_R_32I,
    CUDA_R_64F,
    FREIVALDS_SAFETY,
    U64,
    _elapsed_s,
    _Module,
    _new_seed,
)


@dataclass(frozen=True, slots=True)
class GemmSpec:
    """One GEMM precision: storage and cuBLAS types, and the roundoffs used by the check."""

    name: str
    unit: str
    storage: str  # numpy dtype name of A and Bt on the device ("uint16" holds bf16 bits)
    out_storage: str
    a_type: int
    c_type: int
    compute_type: int
    scalar: str  # numpy dtype of alpha/beta (the compute type)
    u_in: float  # input rounding inside the GEMM (tf32)
    u_acc: float  # accumulation roundoff
    u_out: float  # rounding of the stored result
    exact: bool = False


# fmt: off
GEMM_SPECS: dict[str, GemmSpec] = {
    s.name: s
    for s in (
        GemmSpec("gemm_fp64", "TFLOP/s", "float64", "float64", CUDA_R_64F, CUDA_R_64F,
                 CUBLAS_COMPUTE_64F, "float64", 0.0, 2.0**-53, 0.0),
        GemmSpec("gemm_fp32", "TFLOP/s", "float32", "float32", CUDA_R_32F, CUDA_R_32F,
                 CUBLAS_COMPUTE_32F, "float32", 0.0, 2.0**-24, 0.0),
        GemmSpec("gemm_tf32", "TFLOP/s", "float32", "float32", CUDA_R_32F, CUDA_R_32F,
                 CUBLAS_COMPUTE_32F_FAST_TF32, "float32", 2.0**-11, 2.0**-24, 0.0),
        GemmSpec("gemm_fp16", "TFLOP/s", "float16", "float16", CUDA_R_16F, CUDA_R_16F,
                 CUBLAS_COMPUTE_32F, "float32", 0.0, 2.0**-24, 2.0**-11),
        GemmSpec("gemm_bf16", "TFLOP/s", "uint16", "uint16", CUDA_R_16BF, CUDA_R_16BF,
                 CUBLAS_COMPUTE_32F, "float32", 0.0, 2.0**-24, 2.0**-8),
        GemmSpec("gemm_int8", "TOP/s", "int8", "int32", CUDA_R_8I, CUDA_R_32I,
                 CUBLAS_COMPUTE_32I, "int32", 0.0, 0.0, 0.0, exact=True),
    )
}
# fmt: on


def gemm_size(name: str, quick: bool, free_bytes: int) -> int:
    """Square GEMM size for ``name``: 8192 (fp64 4096) in full mode, 2048 quick, halved to fit."""
    size = 2048 if quick else (4096 if name == "gemm_fp64" else 8192)
    spec = GEMM_SPECS[name]
    in_b, out_b = np.dtype(spec.storage).itemsize, np.dtype(spec.out_storage).itemsize
    while size > 256 and (2 * in_b + out_b) * size * size + 4 * CHECK_CHUNK_BYTES > 0.8 * free_bytes:
        size //= 2
    return size


def _to_f64(cp: Any, chunk: Any, storage: str) -> Any:
    """Decode a device chunk to fp64 exactly (bf16 bits shifted into the high half of fp32)."""
    if storage == "uint16":
        chunk = cp.left_shift(chunk.astype(cp.uint32), cp.uint32(16)).view(cp.float32)
    return chunk.astype(cp.float64)


def _row_chunks(rows: int, cols: int) -> Iterator[tuple[int, int]]:
    step = max(1, CHECK_CHUNK_BYTES // (8 * max(1, cols)))
    for r0 in range(0, rows, step):
        yield r0, min(rows, r0 + step)


class GemmKernel:
    """``C[m,n] = A[m,k] @ Bt[n,k].T`` through ``cublasGemmEx``; checked by Freivalds in fp64."""

    check_method = "freivalds"

    def __init__(self, cp: Any, module: _Module, spec: GemmSpec, size: int) -> None:
        self.cp, self.spec = cp, spec
        self._cublas = cp.cuda.cublas  # lazily loads libcublas (cupy_backends.cuda.libs.cublas)
        self.name, self.unit = spec.name, spec.unit
        self.m = self.n = self.k = size
        self.work_per_iter = 2.0 * self.m * self.n * self.k
        self.shape = f"{self.m}x{self.n}x{self.k}"
        self.a = self._random_input(module, (self.m, self.k))
        self.bt = self._random_input(module, (self.n, self.k))
        self.output = cp.full(
            (self.m, self.n), np.nan if spec.out_storage.startswith("float") else 0, dtype=spec.out_storage
        )
        self._alpha = np.array(1, dtype=spec.scalar)
        self._beta = np.array(0, dtype=spec.scalar)
        self._module = module
        self._handle = 0

    def _random_input(self, module: _Module, shape: tuple[int, int]) -> Any:
        cp, storage = self.cp, self.spec.storage
        if storage in ("float32", "float64", "int8"):
            out = cp.empty(shape, dtype=storage)
            module.fill(out, _new_seed())
            return out
        tmp = cp.empty(shape, dtype=cp.float32)
        module.fill(tmp, _new_seed())
        if storage == "float16":
            return tmp.astype(cp.float16)
        bits = cp.empty(shape, dtype=cp.uint16)
        module.launch("f32_to_bf16", tmp, bits, np.uint64(tmp.size))
        return bits

    def _gemm(self) -> None:
        s = self.spec
        self._cublas.gemmEx(
            self._handle, CUBLAS_OP_T, CUBLAS_OP_N, self.n, self.m, self.k,
            self._alpha.ctypes.data, self.bt.data.ptr, s.a_type, self.k,
            self.a.data.ptr, s.a_type, self.k,
            self._beta.ctypes.data, self.output.data.ptr, s.c_type, self.n,
            s.compute_type, CUBLAS_GEMM_DEFAULT,
        )  # fmt: skip

    def run(self, iters: int) -> float:
        cp, cublas = self.cp, self._cublas
        self._handle = cp.cuda.device.get_cublas_handle()
        old_ptr_mode = cublas.getPointerMode(self._handle)
        old_math = cublas.getMathMode(self._handle)
        cublas.setPointerMode(self._handle, CUBLAS_POINTER_MODE_HOST)
        cublas.setMathMode(self._handle, CUBLAS_DEFAULT_MATH)  # no TF32 unless the compute type asks
        try:
            return _elapsed_s(cp, self._gemm, iters)
        finally:
            cublas.setPointerMode(self._handle, old_ptr_mode)
            cublas.setMathMode(self._handle, old_math)

    def check(self) -> None:
        cp, s = self.cp, self.spec
        x = self._module.signs(self.n, _new_seed())
        y = cp.zeros(self.k, dtype=cp.float64)  # Bt^T x
        col_sq = cp.zeros(self.k, dtype=cp.float64)  # sum_j Bt[j, l]^2
        for r0, r1 in _row_chunks(self.n, self.k):
            b = _to_f64(cp, self.bt[r0:r1], s.storage)
            y += x[r0:r1] @ b
            col_sq += (b * b).sum(axis=0)
            del b
        ref = cp.empty(self.m, dtype=cp.float64)
        ab_sq = cp.empty(self.m, dtype=cp.float64)  # sum_l A[i, l]^2 * col_sq[l]
        for r0, r1 in _row_chunks(self.m, self.k):
            a = _to_f64(cp, self.a[r0:r1], s.storage)
            ref[r0:r1] = a @ y
            ab_sq[r0:r1] = (a * a) @ col_sq
            del a
        got = cp.empty(self.m, dtype=cp.float64)
        c_sq = cp.empty(self.m, dtype=cp.float64)
        for r0, r1 in _row_chunks(self.m, self.n):
            c = _to_f64(cp, self.output[r0:r1], s.out_storage)
            got[r0:r1] = c @ x
            c_sq[r0:r1] = (c * c).sum(axis=1)
            del c
        residual = cp.abs(got - ref)
        if s.exact:
            worst = float(residual.max())
            if not worst == 0.0:  # also catches NaN
                raise BenchmarkError(
                    f"{self.name} computed wrong results: max error {worst:.6g} "
                    f"exceeds bound 0 (integer GEMM must be exact)"
                )
            return
        bound = self.bound(cp.sqrt(c_sq), cp.sqrt(ab_sq))
        ratio = residual / bound
        worst_row = int(cp.argmax(cp.where(cp.isnan(ratio), cp.inf, ratio)))
        if not float(ratio[worst_row]) <= 1.0:
            raise BenchmarkError(
                f"{self.name} computed wrong results: max error {float(residual[worst_row]):.6g} "
                f"exceeds bound {float(bound[worst_row]):.6g} (row {worst_row} of {self.shape})"
            )

    def bound(self, c_row_norm: Any, ab_row_norm: Any) -> Any:
        """Per-row tolerance on ``|C·x - A·(Bt^T·x)|`` for a ±1 vector ``x`` (see module doc)."""
        s, k, n = self.spec, self.k, self.n
        rounding = 2.0 * s.u_in + math.sqrt(k) * s.u_acc + 2.0 * (math.sqrt(k) + math.sqrt(n)) * U64
        out_rounding = s.u_out + math.sqrt(n) * U64
        return FREIVALDS_SAFETY * (out_rounding * c_row_norm + rounding * ab_row_norm) + 1e-300

    def close(self) -> None:
        self.a = self.bt = self.output = None
        self.cp.get_default_memory_pool().free_all_blocks()
