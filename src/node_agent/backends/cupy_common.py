"""Shared pieces of the CuPy backend: cuBLAS/CUDA constants, the compiled helper kernels
(random fill, bf16 rounding, memory kernels, an empty kernel) and CUDA-event timing."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import numpy as np

MiB = 1 << 20
GiB = 1 << 30

# cudaDataType_t values (library_types.h; CuPy's runtime module lacks CUDA_R_32I).
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_8I, CUDA_R_32I, CUDA_R_16BF = 0, 1, 2, 3, 10, 14
# cublasComputeType_t and friends, as declared in cupy_backends/cuda/libs/cublas.pxd.
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUBLAS_POINTER_MODE_HOST = 0
CUBLAS_DEFAULT_MATH = 0
CUBLAS_GEMM_DEFAULT = -1
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_32I, CUBLAS_COMPUTE_32F_FAST_TF32 = 68, 70, 72, 77

U64 = 2.0**-53  # fp64 unit roundoff, for the reference computation itself
FREIVALDS_SAFETY = 16.0
CHECK_CHUNK_BYTES = 64 * MiB  # fp64 scratch per chunk during checks

GEMM_NAMES = ("gemm_fp64", "gemm_fp32", "gemm_tf32", "gemm_fp16", "gemm_bf16", "gemm_int8")
OTHER_NAMES = ("mem_copy", "mem_triad", "launch_latency", "h2d_bandwidth", "d2h_bandwidth", "h2d_latency")
ALL_NAMES = GEMM_NAMES + OTHER_NAMES

_CUDA_SOURCE = r"""
__device__ __forceinline__ unsigned long long splitmix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
__device__ __forceinline__ double unit_uniform(unsigned long long seed, unsigned long long i) {
    return (double)(splitmix64(seed ^ splitmix64(i)) >> 11) * (1.0 / 9007199254740992.0);
}
extern "C" __global__ void fill_f32(float* out, unsigned long long n, unsigned long long seed) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = (float)(2.0 * unit_uniform(seed, i) - 1.0);
}
extern "C" __global__ void fill_f64(double* out, unsigned long long n, unsigned long long seed) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = 2.0 * unit_uniform(seed, i) - 1.0;
}
extern "C" __global__ void fill_sign_f64(double* out, unsigned long long n, unsigned long long seed) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = (splitmix64(seed ^ splitmix64(i)) >> 63) ? 1.0 : -1.0;
}
extern "C" __global__ void fill_i8(signed char* out, unsigned long long n, unsigned long long seed) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = (signed char)((int)(splitmix64(seed ^ splitmix64(i)) >> 56) - 128);
}
extern "C" __global__ void fill_u32(unsigned int* out, unsigned long long n, unsigned long long seed) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = (unsigned int)(splitmix64(seed ^ splitmix64(i)) >> 32);
}
extern "C" __global__ void f32_to_bf16(const float* in, unsigned short* out, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        unsigned int u = __float_as_uint(in[i]);
        u += 0x7FFFu + ((u >> 16) & 1u);  /* round to nearest even (inputs are finite) */
        out[i] = (unsigned short)(u >> 16);
    }
}
extern "C" __global__ void copy_f4(const float4* __restrict__ src, float4* __restrict__ dst,
                                   unsigned long long n4) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n4;
         i += (unsigned long long)gridDim.x * blockDim.x)
        dst[i] = src[i];
}
extern "C" __global__ void triad_f4(float4* __restrict__ a, const float4* __restrict__ b,
                                    const float4* __restrict__ c, float s, unsigned long long n4) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n4;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        float4 x = b[i], y = c[i];
        a[i] = make_float4(x.x + s * y.x, x.y + s * y.y, x.z + s * y.z, x.w + s * y.w);
    }
}
extern "C" __global__ void noop(int* flag, int value) {
    if (value) *flag = value;
}
"""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _elapsed_s(cp: Any, op: Callable[[], None], iters: int) -> float:
    """Run ``op`` ``iters`` times between two CUDA events on the current stream; seconds."""
    stream = cp.cuda.get_current_stream()
    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record(stream)
    for _ in range(iters):
        op()
    end.record(stream)
    end.synchronize()
    return float(cp.cuda.get_elapsed_time(start, end)) / 1000.0


class _Module:
    """The compiled CUDA helpers (random fill, bf16 rounding, memory kernels, empty kernel)."""

    def __init__(self, cp: Any, sm_count: int, max_threads_per_sm: int) -> None:
        self.cp = cp
        self.raw = cp.RawModule(code=_CUDA_SOURCE)
        self.block = 256
        self.grid = max(1, sm_count) * max(1, max_threads_per_sm // self.block)
        self._fns: dict[str, Any] = {}

    def fn(self, name: str) -> Any:
        if name not in self._fns:
            self._fns[name] = self.raw.get_function(name)
        return self._fns[name]

    def launch(self, name: str, *args: Any, grid: int | None = None, block: int | None = None) -> None:
        self.fn(name)((grid or self.grid,), (block or self.block,), args)

    def fill(self, out: Any, seed: int) -> None:
        """Fill ``out`` with reproducible pseudo-random values for its dtype."""
        kernel = {"float32": "fill_f32", "float64": "fill_f64", "int8": "fill_i8", "uint32": "fill_u32"}
        self.launch(kernel[str(out.dtype)], out, np.uint64(out.size), np.uint64(seed))

    def signs(self, n: int, seed: int) -> Any:
        out = self.cp.empty(n, dtype=self.cp.float64)
        self.launch("fill_sign_f64", out, np.uint64(n), np.uint64(seed))
        return out


def _new_seed() -> int:
    return secrets.randbits(63)
