"""``python -m bench.tp [--json] [--quick] [--backend numpy|cupy]``: GCX-TP executors,
commitments and proofs (issue 12's figures).

Every job is the one-op program ``c = matmul_nt(a, b)`` on int8 ``a[s,s]``, ``b[s,s]`` built
with :func:`gcx.tp.make_program`, inputs from :func:`gcx.tp.seeded.seeded_tensor` (seed 1).
It measures, printing one JSON object (``"bench": "gcx.tp/1"``, with the machine):

* ``throughput`` — ``backend.matmul_nt`` alone on operands already loaded (one warm-up, then
  the median of a few runs; CuPy synchronizes the device before each clock read): ``{backend,
  m, n, k, runs, seconds, seconds_runs, tops, tops_best}`` with ``tops = 2·m·n·k / seconds /
  10**12`` (``tops_best`` from the fastest run: on a shared machine, the least disturbed).
  NumPy at 1024³ and 4096³; CuPy at 4096³ and 8192³ when a GPU is usable (``--backend numpy``
  tries it too). A backend that cannot run here is listed in ``skipped`` with its reason.
* ``commitment`` — the job at 4096³ on the chosen backend: ``exec_seconds`` is
  :func:`gcx.tp.execute` (inputs checked, loaded, the GEMM, every tensor back on the host),
  ``commit_seconds`` is :func:`gcx.tp.attest.commit_inputs` + :func:`gcx.tp.attest.commit_run`
  (hashing A, B and C, the op leaf and the result root), medians of a few runs;
  ``overhead_pct = 100 · commit / exec`` against ``target_pct`` (15 on NumPy, 5 on CuPy); on
  CuPy, ``matches_numpy`` says whether NumPy's run of the same job has the same result root.
* ``proof`` — on that run's result C: proving one element (:func:`gcx.tp.commit.prove_element`),
  its encoded size, decoding and verifying it, and the sizes of a row proof and an op proof.
* ``memory`` — one execute + commit of the 4096³ job in a fresh subprocess (see
  :func:`memory_child`): the peak bytes the job holds, its inputs included, against twice the
  tensors' own bytes (A 16 MiB + B 16 MiB + C 64 MiB).

* ``largest`` — the largest job the NumPy backend runs within 8 GiB: GCX-TP's own limits bind
  first (a tensor holds at most 2**26 elements, so the largest ``matmul_nt`` result is 8192²
  int32), so this is the 8192³ job, measured like ``memory`` (peak bytes, and ``seconds`` of
  its first execute + commit), with ``fits_8gib``. Not with ``--quick``.

``--quick`` does all of it at 1024³ only (the targets are for 4096³: ``met`` is then ``null``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gcx.errors import BackendUnavailable
from gcx.tp import InputDecl, MatmulNT, OutputDecl, Program, TensorType, execute, make_program
from gcx.tp.attest import RunCommitment, commit_inputs, commit_run
from gcx.tp.backends import Backend, open_backend
from gcx.tp.commit import decode_element_proof, prove_element, prove_op, prove_row, verify_element, verify_op
from gcx.tp.execute import ExecutionResult
from gcx.tp.seeded import seeded_tensor

BENCH = "gcx.tp/1"
SEED = 1
TARGET_SIZE = 4096
QUICK_SIZE = 1024
SIZES = {"numpy": (1024, 4096), "cupy": (4096, 8192)}
COMMIT_TARGET_PCT = {"numpy": 15.0, "cupy": 5.0}
MEMORY_TARGET_RATIO = 2.0
MIB = 1 << 20
LARGEST_SIZE = 8192  # C = 8192² int32 = 2**26 elements, GCX-TP's largest tensor

# A fresh process whose freed large arrays go back to the OS and whose new ones are fresh
# mappings, so its resident set counts every array the job allocates (glibc otherwise raises
# its mmap threshold after large frees and may serve later arrays from pages already resident).
_CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def gemm_program(m: int, n: int, k: int) -> Program:
    """``c = matmul_nt(a, b)`` on int8 ``a[m,k]``, ``b[n,k]`` (no buyer roots)."""
    inputs = [InputDecl("a", TensorType("int8", (m, k))), InputDecl("b", TensorType("int8", (n, k)))]
    return make_program(inputs, [MatmulNT(0, 1)], [OutputDecl("c", 2)])


def seeded_inputs(program: Program, seed: int = SEED) -> dict[str, np.ndarray]:
    """Each input's seeded value (tensor id = its position)."""
    return {d.name: seeded_tensor(seed, t, d.type) for t, d in enumerate(program.inputs)}


def _sync(backend: Backend) -> Callable[[], None]:
    if backend.name == "cupy":
        device = backend.cp.cuda.Device()  # type: ignore[attr-defined]
        return device.synchronize  # type: ignore[no-any-return]
    return lambda: None


def _runs(fn: Callable[[], object], runs: int, sync: Callable[[], None]) -> list[float]:
    out = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


def time_gemm(backend: Backend, size: int, runs: int) -> dict[str, Any]:
    """``backend.matmul_nt`` on seeded ``size³`` operands already loaded: one warm-up, then
    ``runs`` timed calls."""
    program = gemm_program(size, size, size)
    inputs = seeded_inputs(program)
    a, b = backend.load(inputs["a"]), backend.load(inputs["b"])
    sync = _sync(backend)
    backend.matmul_nt(a, b)
    times = _runs(lambda: backend.matmul_nt(a, b), runs, sync)
    seconds = statistics.median(times)
    return {
        "backend": backend.name,
        "m": size,
        "n": size,
        "k": size,
        "runs": runs,
        "seconds": round(seconds, 6),
        "seconds_runs": [round(t, 6) for t in times],
        "tops": round(2 * size**3 / seconds / 1e12, 6),
        "tops_best": round(2 * size**3 / min(times) / 1e12, 6),  # the fastest run: least disturbed
    }


def time_commitment(
    backend: Backend, size: int, runs: int, quick: bool
) -> tuple[dict[str, Any], Program, ExecutionResult, RunCommitment]:
    """The job's execution against its commitment (medians of ``runs``), and the last run."""
    program = gemm_program(size, size, size)
    inputs = seeded_inputs(program)
    execute(program, inputs, backend)  # warm-up: the backend's first call and page faults
    exec_t, inputs_t, run_t = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        result = execute(program, inputs, backend)
        t1 = time.perf_counter()
        committed = commit_inputs(program, inputs)
        t2 = time.perf_counter()
        run = commit_run(program, result, committed)
        t3 = time.perf_counter()
        exec_t.append(t1 - start)
        inputs_t.append(t2 - t1)
        run_t.append(t3 - t2)
    commit_t = [a + b for a, b in zip(inputs_t, run_t, strict=True)]
    exec_s, commit_s = statistics.median(exec_t), statistics.median(commit_t)
    target = COMMIT_TARGET_PCT[backend.name]
    overhead = 100 * commit_s / exec_s
    figures = {
        "backend": backend.name,
        "size": [size, size, size],
        "runs": runs,
        "exec_seconds": round(exec_s, 6),
        "commit_seconds": round(commit_s, 6),
        "commit_inputs_seconds": round(statistics.median(inputs_t), 6),
        "commit_run_seconds": round(statistics.median(run_t), 6),
        "hashed_bytes": sum(t.nbytes for t in result.tensors),
        "overhead_pct": round(overhead, 3),
        "target_pct": target,
        "met": None if quick else overhead <= target,
        "result_root": run.root.hex(),
    }
    return figures, program, result, run


def time_proofs(
    program: Program, result: ExecutionResult, run: RunCommitment, repeats: int
) -> dict[str, Any]:
    """Prove, encode, decode and verify one element of the result C; row and op proof sizes."""
    cid = len(program.inputs)
    c, tc = result.tensors[cid], run.tensors[cid]
    row, col = c.shape[0] // 3, c.shape[1] // 2

    def best(fn: Callable[[], object]) -> float:
        return statistics.median(_runs(fn, repeats, lambda: None))

    proof = prove_element(tc, c, row, col)
    encoded = proof.encode()
    decoded = decode_element_proof(encoded)
    if not (verify_element(tc.root, decoded) and decoded.value == int(c[row, col])):
        raise AssertionError("the element proof does not verify")  # a bug, not a figure
    op_proof = prove_op(run.result, 0)
    if not verify_op(run.root, op_proof):
        raise AssertionError("the op proof does not verify")
    return {
        "tensor": {"id": cid, "dtype": "int32", "shape": list(c.shape)},
        "element": [row, col],
        "element_proof_seconds": round(best(lambda: prove_element(tc, c, row, col)), 9),
        "element_proof_bytes": len(encoded),
        "verify_seconds": round(best(lambda: verify_element(tc.root, decode_element_proof(encoded))), 9),
        "row_proof_bytes": len(prove_row(tc, c, row).encode()),
        "op_proof_bytes": len(op_proof.encode()),
        "repeats": repeats,
    }


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def memory_child(size: int, backend_name: str) -> dict[str, Any]:
    """Run in a fresh process: one execute + commit of the ``size³`` job, measured twice.

    After the imports, input generation, opening the backend and ``gc.collect()``:

    * ``rss``: the kernel's peak resident set (``VmHWM``) is reset (``/proc/self/clear_refs``
      ← 5) and the current one (``VmRSS``) read as the baseline; after the job, ``VmHWM`` minus
      the baseline is every page the job touched and held at once, NumPy's, BLAS's buffers and
      the interpreter's objects alike (the parent sets glibc's mmap threshold low so that large
      arrays are always fresh mappings). Not on systems without ``/proc``.
    * ``tracemalloc``: the peak of the allocations traced during a second job, NumPy's array
      data included (NumPy reports its buffers to tracemalloc); it misses BLAS's own buffers.

    The inputs are resident in the baseline, so their bytes are added back: ``peak_bytes`` =
    inputs + the larger of the two peaks, the memory the job holds at its highest.
    """
    program = gemm_program(size, size, size)
    inputs = seeded_inputs(program)
    backend = open_backend(backend_name)
    input_bytes = sum(v.nbytes for v in inputs.values())

    def job() -> None:
        result = execute(program, inputs, backend)
        commit_run(program, result, commit_inputs(program, inputs))

    gc.collect()
    rss_delta: int | None = None
    t0 = time.perf_counter()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kib("VmRSS")
        t0 = time.perf_counter()
        job()
        rss_delta = (_status_kib("VmHWM") - base) * 1024
    except (OSError, KeyError):
        job()
    seconds = time.perf_counter() - t0
    gc.collect()
    tracemalloc.start()
    job()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "input_bytes": input_bytes,
        "rss_peak_delta_bytes": rss_delta,
        "traced_peak_bytes": traced,
        "seconds": round(seconds, 3),
    }


def measure_memory(size: int, backend_name: str, quick: bool) -> dict[str, Any]:
    """:func:`memory_child` in a fresh interpreter, and the figures against the target."""
    env = {**os.environ, **_CHILD_ENV}
    cmd = [sys.executable, "-m", "bench.tp", "--memory-child", str(size), "--backend", backend_name]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed: {proc.stderr.strip()[-500:]}")
    child = json.loads(proc.stdout)
    tensor_bytes = 2 * size * size + 4 * size * size  # A, B int8 and C int32
    held = max(v for v in (child["rss_peak_delta_bytes"], child["traced_peak_bytes"]) if v is not None)
    peak = child["input_bytes"] + held
    ratio = peak / tensor_bytes
    return {
        "backend": backend_name,
        "size": [size, size, size],
        "method": "rss+tracemalloc" if child["rss_peak_delta_bytes"] is not None else "tracemalloc",
        "method_note": (
            "fresh process; baseline after imports, input generation and opening the backend; "
            "peak_bytes = input bytes + max(VmHWM - VmRSS after resetting VmHWM, tracemalloc peak) "
            "of one execute + commit_inputs + commit_run"
        ),
        "peak_bytes": peak,
        "peak_mib": round(peak / MIB, 2),
        **child,
        "tensor_bytes": tensor_bytes,
        "ratio": round(ratio, 4),
        "target": MEMORY_TARGET_RATIO,
        "met": None if quick else ratio <= MEMORY_TARGET_RATIO,
    }


def _open(name: str) -> tuple[Backend | None, str | None]:
    try:
        return open_backend(name), None
    except BackendUnavailable as exc:
        return None, exc.reason


def machine(gpu: Backend | None) -> dict[str, Any]:
    """Where the figures were taken."""
    blas: str | None = None
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{cfg.get('name')} {cfg.get('version')}"
    except (TypeError, KeyError, AttributeError):  # an older NumPy: the BLAS goes unnamed
        pass
    device = "cpu"
    if gpu is not None:
        props = gpu.cp.cuda.runtime.getDeviceProperties(gpu.cp.cuda.Device().id)  # type: ignore[attr-defined]
        device = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "blas": blas,
        "device": device,
    }


def run(backend_name: str, quick: bool) -> dict[str, Any]:
    """Every figure (see the module's docstring)."""
    started = time.perf_counter()
    skipped: list[dict[str, Any]] = []
    throughput: list[dict[str, Any]] = []
    cupy, reason = _open("cupy")
    if cupy is None:
        sizes = [QUICK_SIZE] if quick else list(SIZES["cupy"])
        skipped.append({"what": "throughput", "backend": "cupy", "sizes": sizes, "reason": reason})
    main: Backend | None = open_backend("numpy") if backend_name == "numpy" else cupy
    if main is not None and main.name == "numpy":
        for size in [QUICK_SIZE] if quick else SIZES["numpy"]:
            throughput.append(time_gemm(main, size, 3 if size >= TARGET_SIZE else 5))
    if cupy is not None:
        for size in [QUICK_SIZE] if quick else SIZES["cupy"]:
            throughput.append(time_gemm(cupy, size, 10))
    size = QUICK_SIZE if quick else TARGET_SIZE
    commitment = proof = memory = None
    if main is None:
        for what in ("commitment", "proof", "memory"):
            skipped.append({"what": what, "backend": backend_name, "sizes": [size], "reason": reason})
    else:
        commitment, program, result, committed = time_commitment(main, size, 3, quick)
        if main.name == "cupy":  # the GPU's result root must be the CPU's, bit for bit
            inputs = seeded_inputs(program)
            cpu = execute(program, inputs, open_backend("numpy"))
            cpu_root = commit_run(program, cpu, commit_inputs(program, inputs)).root
            commitment["matches_numpy"] = cpu_root == committed.root
            del inputs, cpu
        proof = time_proofs(program, result, committed, 50)
        del result, committed
        gc.collect()
        memory = measure_memory(size, main.name, quick)
    largest = None
    if not quick and main is not None and main.name == "numpy":
        largest = measure_memory(LARGEST_SIZE, "numpy", quick)
        largest["fits_8gib"] = largest["peak_bytes"] <= 8 << 30
    return {
        "bench": BENCH,
        "machine": machine(cupy),
        "backend": backend_name,
        "quick": quick,
        "seed": SEED,
        "throughput": throughput,
        "commitment": commitment,
        "proof": proof,
        "memory": memory,
        "largest": largest,
        "skipped": skipped,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tp", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one compact JSON object")
    parser.add_argument("--quick", action="store_true", help="1024³ only (a smoke run, ~15 s)")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.backend)))
        return
    result = run(args.backend, args.quick)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
