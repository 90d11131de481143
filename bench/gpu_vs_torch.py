"""Compare our CuPy GEMM and memory kernels with PyTorch on the same GPU, in the same process.

Run on a GPU machine with PyTorch and CuPy installed (no network needed)::

    python bench/gpu_vs_torch.py [--size 8192] [--repeats 10] [--iters 10]

Method, identical for both sides: warm-up, then ``repeats`` samples of ``iters`` back-to-back
operations timed with CUDA events; the median sample is reported. Prints one JSON object: TFLOP/s
(TOP/s for int8) of ours and torch's per precision with the ratio, copy/triad GB/s against the
card's nominal peak bandwidth, and the total wall time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from node_agent.backends.base import BenchPlan, Kernel
from node_agent.backends.cupy_backend import CupyBackend

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8")

# Nominal peak memory bandwidth (GB/s) by card; matched against the CUDA device name.
NOMINAL_GBS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("H200",), 4800.0),
    (("H100", "PCIE"), 2000.0),
    (("H100", "SXM"), 3350.0),
    (("H100", "HBM3"), 3350.0),
    (("A100", "80GB"), 2039.0),
    (("RTX 3080",), 760.0),
)


def nominal_bandwidth(device_name: str) -> float | None:
    upper = device_name.upper()
    if "3080 TI" in upper:  # a different card (912 GB/s), not in the table
        return None
    for needles, gbs in NOMINAL_GBS:
        if all(n in upper for n in needles):
            return gbs
    return None


def median_seconds(timed: Callable[[int], float], iters: int, repeats: int, warmup: int = 3) -> float:
    """Median over ``repeats`` of the time of ``iters`` back-to-back operations (seconds)."""
    for _ in range(warmup):
        timed(1)
    return statistics.median(timed(iters) for _ in range(repeats))


def torch_timer(torch: Any, op: Callable[[], Any]) -> Callable[[int], float]:
    def timed(iters: int) -> float:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            op()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end)) / 1000.0

    return timed


def torch_gemm(torch: Any, precision: str, n: int) -> Callable[[int], float]:
    """A timer for ``torch.matmul`` (``torch._int_mm`` for int8) at ``n``³."""
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    if precision == "int8":
        a = torch.randint(-128, 128, (n, n), dtype=torch.int8, device="cuda")
        b = torch.randint(-128, 128, (n, n), dtype=torch.int8, device="cuda").t()  # column-major
        return torch_timer(torch, lambda: torch._int_mm(a, b))
    dtype = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    a = torch.rand((n, n), dtype=dtype[precision], device="cuda") * 2 - 1
    b = torch.rand((n, n), dtype=dtype[precision], device="cuda") * 2 - 1
    return torch_timer(torch, lambda: torch.matmul(a, b))


def ours(backend: CupyBackend, name: str) -> Kernel:
    plan = BenchPlan(quick=False, repeats=1, target_sample_s=0.1, only=frozenset({name}))
    kernels = list(backend.kernels(plan))
    if not kernels:
        raise RuntimeError(f"{name} is not offered on this GPU")
    return kernels[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--iters", type=int, default=10)
    args = parser.parse_args()
    torch: Any = importlib.import_module("torch")  # preinstalled on the GPU machine; untyped here

    t0 = time.monotonic()
    backend = CupyBackend(0)
    device = backend.device()
    out: dict[str, Any] = {
        "device": device.name,
        "details": {
            k: device.details.get(k) for k in ("compute_capability", "driver_version", "cupy_version")
        },
        "torch_version": torch.__version__,
        "method": f"warm-up 3, median of {args.repeats} samples of {args.iters} ops, CUDA events",
        "gemm": {},
        "memory": {},
    }
    for precision in PRECISIONS:
        name = f"gemm_{precision}"
        row: dict[str, Any] = {}
        try:
            kernel = ours(backend, name)
            try:
                seconds = median_seconds(kernel.run, args.iters, args.repeats)
                kernel.check()
                row["shape"] = kernel.shape
                row["ours_tflops"] = kernel.work_per_iter * args.iters / seconds / 1e12
                n = int(kernel.shape.split("x")[0])
            finally:
                kernel.close()
        except Exception as exc:
            row["ours_error"] = f"{type(exc).__name__}: {exc}"
            n = 8192
        try:
            seconds = median_seconds(torch_gemm(torch, precision, n), args.iters, args.repeats)
            row["torch_tflops"] = 2.0 * n**3 * args.iters / seconds / 1e12
        except Exception as exc:
            row["torch_error"] = f"{type(exc).__name__}: {exc}"
        torch.cuda.empty_cache()
        if "ours_tflops" in row and "torch_tflops" in row:
            row["ratio_ours_over_torch"] = row["ours_tflops"] / row["torch_tflops"]
        out["gemm"][precision] = row
    peak = nominal_bandwidth(device.name)
    for name in ("mem_copy", "mem_triad"):
        kernel = ours(backend, name)
        try:
            seconds = median_seconds(kernel.run, args.iters, args.repeats)
            kernel.check()
            gbs = kernel.work_per_iter * args.iters / seconds / 1e9
            out["memory"][name] = {
                "shape": kernel.shape,
                "gbs": gbs,
                "nominal_gbs": peak,
                "fraction_of_nominal": gbs / peak if peak else None,
            }
        finally:
            kernel.close()
    out["total_s"] = time.monotonic() - t0
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
