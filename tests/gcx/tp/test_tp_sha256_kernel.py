"""The SHA-256 kernels of GPU commitments (gcx.tp.backends.sha256_kernel), checked three ways.

* Without a GPU: the kernel source is compiled as plain C by gcc through a shim (the CUDA
  keywords as macros, ``threadIdx``/``blockIdx``/``blockDim``/``gridDim`` as globals that a host
  "launcher" loops over, ``__byte_perm`` in C) and its leaves and levels are compared with
  ``hashlib.sha256`` and with :mod:`gcx.tp.commit` (padding boundaries, many rows, odd levels,
  several grid shapes: the grid-stride loops are exercised too).
* With nvcc: the source compiles to PTX for sm_90 (what NVRTC will see, modulo NVRTC itself).
* On a GPU (``gpu`` mark): :meth:`CupyBackend.commit` equals :func:`commit_tensor`.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gcx.errors import BackendUnavailable
from gcx.tp import InputDecl, MatmulNT, OutputDecl, TensorType, execute, make_program
from gcx.tp import commit as c
from gcx.tp.attest import InputRootError, commit_inputs, commit_run
from gcx.tp.backends import NumpyBackend
from gcx.tp.backends.sha256_kernel import SHA256_SOURCE
from gcx.tp.execute import ExecutionResult
from gcx.tp.ops import Add, Argmax, Relu, Requant
from gcx.tp.program import Program
from gcx.tp.seeded import seeded_tensor

SHIM = r"""
#define __global__
#define __device__ static
#define __forceinline__ inline
#define __constant__ static const
typedef struct { unsigned int x, y, z; } gcx_dim3;
static gcx_dim3 threadIdx, blockIdx, blockDim, gridDim;
/* CUDA's __byte_perm (default mode): result byte i = byte (s >> 4i) & 7 of {y, x} */
static unsigned int __byte_perm(unsigned int x, unsigned int y, unsigned int s) {
    unsigned long long v = ((unsigned long long)y << 32) | x;
    unsigned int r = 0;
    for (int i = 0; i < 4; ++i) r |= (unsigned int)((v >> (8 * ((s >> (4 * i)) & 7u))) & 0xffu) << (8 * i);
    return r;
}
"""

HARNESS = r"""
static void gcx_grid(unsigned int grid, unsigned int block) {
    gridDim.x = grid; blockDim.x = block; gridDim.y = gridDim.z = blockDim.y = blockDim.z = 1;
}
void launch_row_leaves(unsigned int grid, unsigned int block, const unsigned char* rows,
                       unsigned long long n_rows, unsigned int row_size, unsigned int tensor_id,
                       unsigned int dtype, unsigned int cols, const unsigned char* tag,
                       unsigned char* out) {
    gcx_grid(grid, block);
    for (blockIdx.x = 0; blockIdx.x < grid; ++blockIdx.x)
        for (threadIdx.x = 0; threadIdx.x < block; ++threadIdx.x)
            row_leaves(rows, n_rows, row_size, tensor_id, dtype, cols, tag, out);
}
void launch_tree_level(unsigned int grid, unsigned int block, const unsigned char* level,
                       unsigned long long n, const unsigned char* tag, const unsigned char* pad,
                       unsigned char* out) {
    gcx_grid(grid, block);
    for (blockIdx.x = 0; blockIdx.x < grid; ++blockIdx.x)
        for (threadIdx.x = 0; threadIdx.x < block; ++threadIdx.x)
            tree_level(level, n, tag, pad, out);
}
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the kernel source cannot be run on the host")
    d = tmp_path_factory.mktemp("sha256c")
    src, so = d / "sha256_kernel.c", d / "sha256_kernel.so"
    src.write_text(SHIM + SHA256_SOURCE + HARNESS)
    cmd = [gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Wno-unknown-pragmas", "-Werror"]
    subprocess.run([*cmd, "-shared", "-fPIC", "-o", str(so), str(src)], check=True, timeout=120)
    dll = ctypes.CDLL(str(so))
    u32, u64, p = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_void_p
    dll.launch_row_leaves.argtypes = [u32, u32, p, u64, u32, u32, u32, u32, p, p]
    dll.launch_row_leaves.restype = None
    dll.launch_tree_level.argtypes = [u32, u32, p, u64, p, p, p]
    dll.launch_tree_level.restype = None
    return dll


def _ptr(a: np.ndarray) -> int:
    return int(a.ctypes.data)


def _leaves(
    lib: ctypes.CDLL, header: c.TensorHeader, data: np.ndarray, grid: tuple[int, int] = (3, 5)
) -> list[bytes]:
    """The kernel's leaves of ``data`` (uint8 rows×row_size) under ``header``."""
    rows = np.ascontiguousarray(data, dtype=np.uint8)
    tag = np.frombuffer(c.TAG_ROW_LEAF, dtype=np.uint8).copy()
    out = np.zeros(32 * header.rows, dtype=np.uint8)
    lib.launch_row_leaves(
        grid[0], grid[1], _ptr(rows), header.rows, header.row_size, header.tensor_id,
        int(header.dtype), header.cols, _ptr(tag), _ptr(out),
    )  # fmt: skip
    raw = out.tobytes()
    return [raw[32 * i : 32 * i + 32] for i in range(header.rows)]


def _level(
    lib: ctypes.CDLL, level: list[bytes], tag: bytes, pad: bytes, grid: tuple[int, int] = (2, 3)
) -> list[bytes]:
    buf = np.frombuffer(b"".join(level), dtype=np.uint8).copy()
    t, p = np.frombuffer(tag, dtype=np.uint8).copy(), np.frombuffer(pad, dtype=np.uint8).copy()
    n_out = (len(level) + 1) // 2
    out = np.zeros(32 * n_out, dtype=np.uint8)
    lib.launch_tree_level(grid[0], grid[1], _ptr(buf), len(level), _ptr(t), _ptr(p), _ptr(out))
    raw = out.tobytes()
    return [raw[32 * i : 32 * i + 32] for i in range(n_out)]


def _kernel_commit(lib: ctypes.CDLL, tensor_id: int, array: np.ndarray) -> c.TensorCommitment:
    """What CupyBackend.commit does, with the gcc-compiled kernels."""
    header = c.TensorHeader.of(tensor_id, array)
    data = np.ascontiguousarray(array).view(np.uint8).reshape(header.rows, header.row_size)
    levels = [_leaves(lib, header, data)]
    for pad in c.row_pads(header.depth)[:-1]:
        levels.append(_level(lib, levels[-1], c.TAG_ROW_NODE, pad))
    return c.commitment_from_levels(header, levels)


# --- gcc: the kernel source as C ------------------------------------------------------------
def test_tp_sha256_kernel_leaves_every_row_size_1_to_300(lib: ctypes.CDLL) -> None:
    """Row sizes 1..300 cross every SHA-256 padding boundary with the 29-byte prefix (message
    lengths 30..329: 55/56 and 64 mod 64, one to six blocks), aligned and unaligned rows."""
    rng = np.random.default_rng(1)
    for size in range(1, 301):
        n = 3
        data = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
        header = c.TensorHeader(0xA1B2C3D4, c.DType.INT8, 2, n, size)
        got = _leaves(lib, header, data)
        for i in range(n):
            pre = c.TAG_ROW_LEAF + struct.pack(">IIBI", 0xA1B2C3D4, i, 1, size)
            assert got[i] == hashlib.sha256(pre + data[i].tobytes()).digest(), (size, i)
            assert got[i] == c.row_leaf(header, i, data[i].tobytes()), (size, i)


def test_tp_sha256_kernel_int32_rows_take_the_aligned_path(lib: ctypes.CDLL) -> None:
    """int32 rows (row size a multiple of 4: the __byte_perm path for interior blocks), with
    negative values (little-endian two's complement bytes) and a long row."""
    rng = np.random.default_rng(2)
    for cols in (1, 7, 16, 17, 100, 1024):
        a = rng.integers(-(2**31), 2**31, size=(5, cols), dtype=np.int32)
        header = c.TensorHeader.of(9, a)
        got = _leaves(lib, header, a.view(np.uint8).reshape(5, 4 * cols))
        assert got == [c.row_leaf(header, i, a[i].astype("<i4").tobytes()) for i in range(5)], cols


def test_tp_sha256_kernel_unaligned_buffer(lib: ctypes.CDLL) -> None:
    """Rows whose buffer starts off a 4-byte boundary must not take the aligned path."""
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, size=4 * 200 + 1, dtype=np.uint8)
    data = raw[1:].reshape(4, 200)  # row size 200 (a multiple of 4), base address odd
    assert data.ctypes.data % 4 != 0
    header = c.TensorHeader(3, c.DType.INT8, 2, 4, 200)
    got = _leaves(lib, header, data)
    assert got == [c.row_leaf(header, i, data[i].tobytes()) for i in range(4)]


@pytest.mark.parametrize("grid", [(1, 1), (1, 32), (2, 3), (64, 64)])
def test_tp_sha256_kernel_grid_stride_covers_every_row(lib: ctypes.CDLL, grid: tuple[int, int]) -> None:
    """Many rows under grids smaller and larger than the row count: each leaf written once."""
    rng = np.random.default_rng(4)
    a = rng.integers(-128, 128, size=(777, 12), dtype=np.int8)
    header = c.TensorHeader.of(5, a)
    got = _leaves(lib, header, a.view(np.uint8), grid)
    assert got == list(c.commit_tensor(5, a).levels[0])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 33])
def test_tp_sha256_kernel_tree_level_odd_lengths(lib: ctypes.CDLL, n: int) -> None:
    level = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
    pad = hashlib.sha256(b"pad").digest()
    want = [
        hashlib.sha256(c.TAG_ROW_NODE + level[i] + (level[i + 1] if i + 1 < n else pad)).digest()
        for i in range(0, n, 2)
    ]
    assert _level(lib, level, c.TAG_ROW_NODE, pad) == want
    assert _level(lib, level, c.TAG_ROW_NODE, pad, (1, 1)) == want


@pytest.mark.parametrize(
    ("shape", "dtype"), [((1,), np.int8), ((5,), np.int32), ((1, 3), np.int8), ((6, 33), np.int8),
                         ((17, 9), np.int32), ((64, 64), np.int8), ((129, 3), np.int32),
                         ((9, 4096), np.int8), ((5, 300), np.int32)]
)  # fmt: skip
def test_tp_sha256_kernel_commitment_equals_commit_tensor(
    lib: ctypes.CDLL, shape: tuple[int, ...], dtype: type[np.generic]
) -> None:
    """Every level (leaves … root) and the tensor root, as CupyBackend.commit assembles them."""
    info = np.iinfo(dtype)  # type: ignore[type-var]
    a = np.random.default_rng(5).integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    got, want = _kernel_commit(lib, 7, a), c.commit_tensor(7, a)
    assert got.header == want.header
    assert got.levels == want.levels
    assert got.root == want.root


def test_tp_commitment_from_levels_checks_the_shape() -> None:
    a = np.arange(10, dtype=np.int8).reshape(5, 2)
    t = c.commit_tensor(0, a)
    assert c.commitment_from_levels(t.header, t.levels).root == t.root
    with pytest.raises(c.CommitmentError, match="levels"):
        c.commitment_from_levels(t.header, t.levels[:-1])
    with pytest.raises(c.CommitmentError, match="level 1 holds 2 digests, 3 expected"):
        c.commitment_from_levels(t.header, (t.levels[0], t.levels[1][:2], *t.levels[2:]))
    with pytest.raises(c.CommitmentError, match="not 32 bytes"):
        c.commitment_from_levels(t.header, (t.levels[0], t.levels[1], t.levels[2], (b"x",)))


# --- CupyBackend.commit's host side, with NumPy for CuPy and the gcc kernels for NVRTC's -----
class _FakeModule:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib

    def get_function(self, name: str) -> Any:
        launch = getattr(self.lib, f"launch_{name}")

        def kernel(grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
            ptrs = [_ptr(a) if isinstance(a, np.ndarray) else int(a) for a in args]
            launch(grid[0], block[0], *ptrs)

        return kernel


class _FakeCupy:
    """The part of CuPy that CupyBackend.commit uses: host arrays, kernels that run on the host."""

    uint8 = np.uint8
    asarray = staticmethod(np.asarray)
    ascontiguousarray = staticmethod(np.ascontiguousarray)
    empty = staticmethod(np.empty)
    asnumpy = staticmethod(np.asarray)

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib

    def RawModule(self, code: str) -> _FakeModule:  # noqa: N802 (CuPy's name)
        assert code == SHA256_SOURCE
        return _FakeModule(self.lib)


@pytest.fixture
def host_backend(lib: ctypes.CDLL) -> Any:
    from gcx.tp.backends.cupy_backend import CupyBackend

    backend = CupyBackend.__new__(CupyBackend)  # no GPU: skip the device checks of __init__
    backend.cp = _FakeCupy(lib)
    backend._fns = {}
    backend._grid = 3  # 3 blocks of 64 threads: rows beyond 192 need the grid-stride loop
    backend._open_sha()
    return backend


@pytest.mark.parametrize(
    ("shape", "dtype"), [((1,), np.int8), ((6,), np.int32), ((2, 5), np.int8), ((33, 301), np.int8),
                         ((257, 64), np.int32), ((1025, 3), np.int8)]
)  # fmt: skip
def test_tp_cupy_commit_wiring_on_the_host(
    host_backend: Any, shape: tuple[int, ...], dtype: type[np.generic]
) -> None:
    """CupyBackend.commit's launches (argument order, level offsets, pads by height, the copy
    back) give commit_tensor's commitment when the kernels run as C on the host."""
    info = np.iinfo(dtype)  # type: ignore[type-var]
    a = np.random.default_rng(8).integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    got, want = host_backend.commit(3, a), c.commit_tensor(3, a)
    assert got.header == want.header
    assert got.levels == want.levels
    assert got.root == want.root
    big_endian = a.astype(a.dtype.newbyteorder(">"))  # the device has one byte order
    assert host_backend.commit(3, big_endian).levels == want.levels


def test_tp_cupy_commit_refuses_what_is_not_a_tensor(host_backend: Any) -> None:
    with pytest.raises(c.CommitmentError, match="int8 or int32"):
        host_backend.commit(0, np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(c.CommitmentError, match="rank 3"):
        host_backend.commit(0, np.zeros((2, 2, 2), dtype=np.int8))
    with pytest.raises(c.CommitmentError, match="empty"):
        host_backend.commit(0, np.zeros((0, 4), dtype=np.int8))


def _mlp_run() -> tuple[Program, dict[str, np.ndarray], ExecutionResult]:
    x, w, b = TensorType("int8", (70, 90)), TensorType("int8", (33, 90)), TensorType("int32", (33,))
    vals = {"x": seeded_tensor(3, 0, x), "w": seeded_tensor(3, 1, w), "bias": seeded_tensor(3, 2, b)}
    p = make_program(
        [InputDecl("x", x), InputDecl("w", w, c.tensor_root(1, vals["w"])), InputDecl("bias", b)],
        [MatmulNT(0, 1), Add(3, 2), Relu(4), Requant(5, 1 << 20, 24, -3), Argmax(4)],
        [OutputDecl("q", 6), OutputDecl("cls", 7)],
    )
    return p, vals, execute(p, vals, NumpyBackend())


def test_tp_commit_run_with_a_device_committer(host_backend: Any) -> None:
    """attest.commit_inputs / commit_run commit every tensor with the committer they are given
    (here CupyBackend.commit on host kernels): same result root as the default's, the buyer's
    root still checked."""
    p, vals, run = _mlp_run()
    calls: list[int] = []

    def committer(tensor_id: int, value: np.ndarray) -> c.TensorCommitment:
        calls.append(tensor_id)
        got: c.TensorCommitment = host_backend.commit(tensor_id, value)
        return got

    inputs = commit_inputs(p, vals, committer)
    assert calls == [0, 1, 2]
    got = commit_run(p, run, inputs, committer)
    assert calls == [0, 1, 2, 3, 4, 5, 6, 7]
    want = commit_run(p, run, commit_inputs(p, vals))
    assert got.root == want.root
    assert [t.root for t in got.tensors] == [t.root for t in want.tensors]
    assert commit_run(p, run, committer=committer).root == want.root
    wrong = dict(vals, w=vals["w"] ^ np.int8(1))
    with pytest.raises(InputRootError):
        commit_inputs(p, wrong, committer)


# --- nvcc: the source compiles for the GPU ---------------------------------------------------
def test_tp_sha256_kernel_compiles_for_sm90(tmp_path: Path) -> None:
    """nvcc (the NVRTC front end's sibling) accepts the source with warnings as errors; the PTX
    has the two unmangled entry points and the aligned path's byte permute; ptxas assembles it
    for sm_90 (H100/H200)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    src, ptx, cubin = tmp_path / "sha256_kernel.cu", tmp_path / "k.ptx", tmp_path / "k.cubin"
    src.write_text(SHA256_SOURCE)
    for kind, out in (("--ptx", ptx), ("-cubin", cubin)):
        proc = subprocess.run(
            [nvcc, kind, "-arch=sm_90", "-Werror", "all-warnings", "-o", str(out), str(src)],
            check=False, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    text = ptx.read_text()
    for name in ("row_leaves", "tree_level"):
        assert f".entry {name}(" in text, name  # extern "C": unmangled entry points
    assert "prmt.b32" in text  # __byte_perm of the aligned path
    assert cubin.stat().st_size > 0


# --- a real GPU ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpu() -> Iterator[Any]:
    try:
        from gcx.tp.backends.cupy_backend import CupyBackend

        opened = CupyBackend()
    except BackendUnavailable as exc:
        pytest.skip(f"no usable GPU: {exc.reason}")
    yield opened


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("shape", "dtype"), [((1,), np.int8), ((7,), np.int32), ((5, 3), np.int8), ((33, 301), np.int8),
                         ((129, 17), np.int32), ((1000, 256), np.int8), ((257, 1024), np.int32)]
)  # fmt: skip
def test_tp_cupy_commit_equals_commit_tensor(
    gpu: Any, shape: tuple[int, ...], dtype: type[np.generic]
) -> None:
    info = np.iinfo(dtype)  # type: ignore[type-var]
    a = np.random.default_rng(6).integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    got, want = gpu.commit(11, gpu.load(a)), c.commit_tensor(11, a)
    assert got.header == want.header
    assert got.levels == want.levels
    assert got.root == want.root
