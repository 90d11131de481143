"""The CuPy executor: cuBLAS ``gemmEx`` (int8 inputs, int32 compute and output) and CUDA kernels.

``cupy.matmul`` on int8 does not accumulate in int32, so ``matmul_nt`` calls ``cublasGemmEx``
directly. cuBLAS is column-major: the row-major ``C[m,n] = A·Bᵀ`` is the column-major
``Cᵀ[n,m] = op(B)·op(A)`` with ``op(B) = T`` (row-major ``B[n,k]`` is column-major ``Bᵀ`` with
leading dimension k) and ``op(A) = N``. The int8 path wants leading dimensions that are
multiples of 4, so m, n and k are zero-padded to multiples of 4 (zeros add nothing to a dot
product) and the result is cut back. The sums are exact in int32 (|sum| ≤ 2**30).

The elementwise kernels spell out the spec's integer rules instead of relying on C++'s: the
wrapping add goes through ``unsigned int``, ``requant`` computes in 64-bit ``long long`` (exact,
see docs/gcx-tp.md) with an arithmetic shift, and ``argmax`` scans each row keeping the first
maximum. CuPy is imported when the backend is opened, never at module import.

:meth:`CupyBackend.commit` hashes a tensor's commitment on the device with the SHA-256 kernels
of :mod:`.sha256_kernel` (one thread per row for the leaves, one per parent for each level) and
brings back only the digests (``2·rows·32`` bytes), not the tensor. Opening the backend checks
it against :func:`gcx.tp.commit.commit_tensor` on a small tensor that exercises every path of
the leaf kernel: a GPU that hashes wrongly is unusable, not a source of wrong roots.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gcx.errors import BackendUnavailable

from ..commit import (
    HASH_SIZE,
    TAG_ROW_LEAF,
    TAG_ROW_NODE,
    TensorCommitment,
    TensorHeader,
    commit_tensor,
    commitment_from_levels,
    row_pads,
)
from .sha256_kernel import KERNEL_NAMES, SHA256_SOURCE

# cudaDataType_t / cublasComputeType_t / cublasOperation_t values (library_types.h, cublas_api.h).
CUDA_R_8I, CUDA_R_32I = 3, 10
CUBLAS_COMPUTE_32I = 72
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUBLAS_POINTER_MODE_HOST = 0
CUBLAS_DEFAULT_MATH = 0
CUBLAS_GEMM_DEFAULT = -1

_KERNELS = r"""
extern "C" __global__ void add_wrap(const int* x, const int* y, int* out,
                                    unsigned long long n, unsigned long long ny) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = (int)((unsigned int)x[i] + (unsigned int)y[i % ny]);
}
extern "C" __global__ void relu(const int* x, int* out, unsigned long long n) {
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        out[i] = x[i] > 0 ? x[i] : 0;
}
extern "C" __global__ void requant(const int* x, signed char* out, unsigned long long n,
                                   long long multiplier, int shift, long long zero_point) {
    const long long half = shift > 0 ? (1LL << (shift - 1)) : 0LL;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        long long p = (((long long)x[i] * multiplier + half) >> shift) + zero_point;
        out[i] = (signed char)(p < -128 ? -128 : (p > 127 ? 127 : p));
    }
}
extern "C" __global__ void argmax_rows(const int* x, int* out, unsigned long long m,
                                       unsigned long long n) {
    for (unsigned long long r = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; r < m;
         r += (unsigned long long)gridDim.x * blockDim.x) {
        const int* row = x + r * n;
        unsigned long long best = 0;
        for (unsigned long long j = 1; j < n; ++j)
            if (row[j] > row[best]) best = j;
        out[r] = (int)best;
    }
}
"""

_BLOCK = 256
_SHA_BLOCK = 64  # one thread per row: small blocks spread a few thousand rows over every SM
_MAX_DEPTH = 32  # rows <= 2**32 - 1


def _round4(v: int) -> int:
    return (v + 3) // 4 * 4


class CupyBackend:
    """Exact GCX-TP on an NVIDIA GPU. Opening it imports CuPy and smoke-tests the device;
    :class:`gcx.errors.BackendUnavailable` says why it cannot be used."""

    name = "cupy"

    def __init__(self) -> None:
        try:
            import cupy as cp
        except ImportError as exc:
            raise BackendUnavailable(f"CuPy is not installed ({exc})") from None
        self.cp: Any = cp
        try:
            if not cp.is_available():
                raise BackendUnavailable("no CUDA device is available")
            self._module = cp.RawModule(code=_KERNELS)
            self._fns = {
                n: self._module.get_function(n) for n in ("add_wrap", "relu", "requant", "argmax_rows")
            }
            self._grid = 4 * int(cp.cuda.Device().attributes["MultiProcessorCount"])
            self._open_sha()
            a = cp.asarray(np.arange(-8, 8, dtype=np.int8).reshape(2, 8))
            got = self.fetch(self.matmul_nt(a, a))
            # 3 rows of 160 bytes: first, aligned interior and last blocks, an odd level
            probe = np.arange(-240, 240, dtype=np.int32).reshape(3, 40) * 40503
            hashed = self.commit(7, probe)
        except BackendUnavailable:
            raise
        except Exception as exc:  # CUDA runtime, NVRTC or cuBLAS missing or failing
            raise BackendUnavailable(f"the GPU cannot run GCX-TP: {type(exc).__name__}: {exc}") from None
        host = np.arange(-8, 8, dtype=np.int64).reshape(2, 8)
        if not np.array_equal(got, host @ host.T):
            raise BackendUnavailable("the GPU's int8 GEMM smoke test computed wrong numbers")
        if hashed.levels != commit_tensor(7, probe).levels:
            raise BackendUnavailable("the GPU's SHA-256 commitment smoke test computed wrong digests")

    def _open_sha(self) -> None:
        """Compile the SHA-256 kernels and put the tags and padding digests on the device."""
        cp = self.cp
        module = cp.RawModule(code=SHA256_SOURCE)
        self._fns.update({n: module.get_function(n) for n in KERNEL_NAMES})
        self._leaf_tag = cp.asarray(np.frombuffer(TAG_ROW_LEAF, dtype=np.uint8))
        self._node_tag = cp.asarray(np.frombuffer(TAG_ROW_NODE, dtype=np.uint8))
        self._pads = cp.asarray(np.frombuffer(b"".join(row_pads(_MAX_DEPTH)), dtype=np.uint8))

    def _launch(self, name: str, items: int, *args: Any) -> None:
        grid = max(1, min(self._grid, (items + _BLOCK - 1) // _BLOCK))
        self._fns[name]((grid,), (_BLOCK,), args)

    def load(self, value: np.ndarray) -> Any:
        return self.cp.asarray(value)

    def fetch(self, value: Any) -> np.ndarray:
        return np.ascontiguousarray(self.cp.asnumpy(value))

    def matmul_nt(self, a: Any, b: Any) -> Any:
        cp = self.cp
        (m, k), n = a.shape, b.shape[0]
        mp, np_, kp = _round4(m), _round4(n), _round4(k)
        if (mp, kp) != (m, k):
            a = cp.pad(a, ((0, mp - m), (0, kp - k)))
        if (np_, kp) != (n, k):
            b = cp.pad(b, ((0, np_ - n), (0, kp - k)))
        a, b = cp.ascontiguousarray(a), cp.ascontiguousarray(b)
        c = cp.zeros((mp, np_), dtype=cp.int32)
        alpha, beta = np.array(1, dtype=np.int32), np.array(0, dtype=np.int32)
        cublas = cp.cuda.cublas
        handle = cp.cuda.device.get_cublas_handle()
        old_ptr, old_math = cublas.getPointerMode(handle), cublas.getMathMode(handle)
        cublas.setPointerMode(handle, CUBLAS_POINTER_MODE_HOST)
        cublas.setMathMode(handle, CUBLAS_DEFAULT_MATH)
        try:
            cublas.gemmEx(
                handle, CUBLAS_OP_T, CUBLAS_OP_N, np_, mp, kp,
                alpha.ctypes.data, b.data.ptr, CUDA_R_8I, kp,
                a.data.ptr, CUDA_R_8I, kp,
                beta.ctypes.data, c.data.ptr, CUDA_R_32I, np_,
                CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT,
            )  # fmt: skip
        finally:
            cublas.setPointerMode(handle, old_ptr)
            cublas.setMathMode(handle, old_math)
        return cp.ascontiguousarray(c[:m, :n])

    def add(self, x: Any, y: Any) -> Any:
        out = self.cp.empty_like(x)
        self._launch("add_wrap", x.size, x, y, out, np.uint64(x.size), np.uint64(y.size))
        return out

    def relu(self, x: Any) -> Any:
        out = self.cp.empty_like(x)
        self._launch("relu", x.size, x, out, np.uint64(x.size))
        return out

    def requant(self, x: Any, multiplier: int, shift: int, zero_point: int) -> Any:
        out = self.cp.empty(x.shape, dtype=self.cp.int8)
        self._launch(
            "requant",
            x.size,
            x,
            out,
            np.uint64(x.size),
            np.int64(multiplier),
            np.int32(shift),
            np.int64(zero_point),
        )
        return out

    def argmax(self, x: Any) -> Any:
        m, n = x.shape
        out = self.cp.empty(m, dtype=self.cp.int32)
        self._launch("argmax_rows", m, x, out, np.uint64(m), np.uint64(n))
        return out

    def commit(self, tensor_id: int, value: Any) -> TensorCommitment:
        """The commitment of ``value`` (a device array, or a host array, which is copied over)
        as tensor ``tensor_id``, hashed on the GPU; equal to :func:`commit_tensor`'s.
        :class:`gcx.tp.commit.CommitmentError` when ``value`` cannot be a tensor."""
        cp = self.cp
        if isinstance(value, np.ndarray):
            value = value.astype(value.dtype.newbyteorder("="), copy=False)  # device: little-endian
        x = cp.ascontiguousarray(cp.asarray(value))
        header = TensorHeader.for_shape(tensor_id, np.dtype(x.dtype), tuple(x.shape))
        counts = [(header.rows + (1 << h) - 1) >> h for h in range(header.depth + 1)]
        starts = [HASH_SIZE * sum(counts[:h]) for h in range(len(counts) + 1)]
        digests = cp.empty(starts[-1], dtype=cp.uint8)  # every level, leaves first

        def level(h: int) -> Any:
            return digests[starts[h] : starts[h + 1]]

        self._launch_sha(
            "row_leaves", header.rows, x, np.uint64(header.rows), np.uint32(header.row_size),
            np.uint32(tensor_id), np.uint32(int(header.dtype)), np.uint32(header.cols),
            self._leaf_tag, level(0),
        )  # fmt: skip
        for h in range(header.depth):
            pad = self._pads[HASH_SIZE * h : HASH_SIZE * (h + 1)]
            self._launch_sha(
                "tree_level", counts[h + 1], level(h), np.uint64(counts[h]), self._node_tag, pad, level(h + 1)
            )
        raw = cp.asnumpy(digests).tobytes()
        levels = [
            [raw[starts[h] + HASH_SIZE * i : starts[h] + HASH_SIZE * (i + 1)] for i in range(n)]
            for h, n in enumerate(counts)
        ]
        return commitment_from_levels(header, levels)

    def _launch_sha(self, name: str, items: int, *args: Any) -> None:
        grid = max(1, min(self._grid, (items + _SHA_BLOCK - 1) // _SHA_BLOCK))
        self._fns[name]((grid,), (_SHA_BLOCK,), args)
