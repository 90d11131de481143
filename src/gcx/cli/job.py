"""``gcx job …``: GCX-TP jobs on this machine — write example jobs, inspect them, run them.

A job file is a GCX-TP program with its input values (docs/gcx-tp.md, "Job files"). ``run``
checks the inputs against the program's committed roots, executes the program on a backend,
commits every tensor and prints the result root and the metered Compute Hours. Bad files exit
2 with one ``error:`` line.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from gcx.tp.jobfile import JobFile
    from gcx.tp.metering import Metering
    from gcx.tp.runner import JobRun

app = typer.Typer(
    help="GCX-TP jobs: write, inspect and run them locally; submit them to the network and fetch verified results.",
    no_args_is_help=True,
)
example_app = typer.Typer(help="Write an example job file.", no_args_is_help=True)
app.add_typer(example_app, name="example")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ReferenceOpt = Annotated[
    Path | None,
    typer.Option("--reference", help="Reference profile for metering (default: the shipped one)."),
]


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _ch(micro: int) -> str:
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def _metering(m: Metering) -> dict[str, Any]:
    return {
        "ch": _ch(m.micro_ch),
        "micro_ch": m.micro_ch,
        "gemm_ops": m.gemm_ops,
        "bytes_moved": m.bytes_moved,
    }


def _summary(job: JobFile, m: Metering) -> dict[str, Any]:
    p = job.program
    return {
        "program_digest": _hex(p.digest),
        "inputs": [
            {"name": d.name, "type": d.type.describe(), "root": None if d.root is None else _hex(d.root)}
            for d in p.inputs
        ],
        "ops": [op.name for op in p.ops],
        "outputs": [
            {"name": o.name, "tensor": o.tensor, "type": p.types[o.tensor].describe()} for o in p.outputs
        ],
        "metering": _metering(m),
    }


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="The job file.")],
    reference: ReferenceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a job's program (digest, inputs, ops, outputs) and its metered Compute Hours."""
    from gcx.reference import load_profile
    from gcx.tp.jobfile import read_job
    from gcx.tp.metering import meter

    job = read_job(file)
    info = _summary(job, meter(job.program, load_profile(reference)))
    if as_json:
        print(json.dumps({"file": str(file), **info}))
        return
    typer.echo(f"program {info['program_digest']}  ({len(info['ops'])} ops: {' '.join(info['ops'])})")
    for i in info["inputs"]:
        typer.echo(f"  input  {i['name']:<10} {i['type']:<18} root {i['root'] or '(none committed)'}")
    for o in info["outputs"]:
        typer.echo(f"  output {o['name']:<10} {o['type']:<18} tensor {o['tensor']}")
    m = info["metering"]
    typer.echo(f"metered {m['ch']} CH ({m['gemm_ops']:,} GEMM ops, {m['bytes_moved']:,} bytes moved)")


def _run_json(file: Path, job: JobFile, run: JobRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": str(file),
        "backend": run.backend,
        "seconds": round(run.seconds, 6),
        "commit_seconds": round(run.commit_seconds, 6),
        **_metering(run.metering),
        "program_digest": _hex(job.program.digest),
        "result_root": _hex(run.result_root),
        "outputs": {
            o.name: {
                "type": job.program.types[o.tensor].describe(),
                "tensor": o.tensor,
                "root": _hex(run.commitment.tensors[o.tensor].root),
            }
            for o in job.program.outputs
        },
    }
    if run.score is not None:
        out |= {"accuracy": run.score.accuracy, "agreement": run.score.agreement, "images": run.score.images}
    return out


@app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="The job file.")],
    backend: Annotated[
        str, typer.Option(help="auto (CuPy when a GPU is usable, else NumPy), cupy, numpy or python.")
    ] = "auto",
    reference: ReferenceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a job here: check its inputs, execute, commit every tensor, print the result root,
    the metered CH and, for a classifier job, its accuracy and agreement with the float model."""
    from gcx.reference import load_profile
    from gcx.tp.backends import open_backend
    from gcx.tp.jobfile import read_job
    from gcx.tp.runner import run_job

    profile = load_profile(reference)
    engine = open_backend(backend)
    job = read_job(file)
    if not as_json:
        print(f"running {file} ({len(job.program.ops)} ops) on {engine.name}…", file=sys.stderr, flush=True)
    result = run_job(job, engine, profile)
    info = _run_json(file, job, result)
    if as_json:
        print(json.dumps(info))
        return
    typer.echo(
        f"backend {info['backend']}: executed in {info['seconds']:.4f} s, committed in {info['commit_seconds']:.4f} s"
    )
    typer.echo(
        f"metered {info['ch']} CH ({info['gemm_ops']:,} GEMM ops, {info['bytes_moved']:,} bytes moved)"
    )
    typer.echo(f"result root {info['result_root']}")
    for name, o in info["outputs"].items():
        typer.echo(f"  output {name:<10} {o['type']:<18} root {o['root']}")
    if result.score is not None:
        s = result.score
        typer.echo(
            f"accuracy {100 * s.accuracy:.2f} % on {s.images} test images; "
            f"agreement with the float model {100 * s.agreement:.2f} %"
        )


OutOpt = Annotated[Path, typer.Option("--out", help="Where to write the job file.")]


@example_app.command("matmul")
def example_matmul(
    size: Annotated[int, typer.Option(help="m = n = k of the int8 GEMM (1..8192).")] = 1024,
    seed: Annotated[int, typer.Option(help="Seed of the inputs (0..2**64-1).", min=0)] = 1,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write it (default matmul-SIZE.gcxjob).")
    ] = None,
) -> None:
    """Write a seeded int8 GEMM job (C = A·Bᵀ, size³) for benchmarks; inputs are generated
    from the seed, so the file stays small."""
    from gcx.tp.examples.matmul import matmul_job
    from gcx.tp.jobfile import write_job

    path = out or Path(f"matmul-{size}.gcxjob")
    job = matmul_job(size, seed)
    n = write_job(path, job)
    typer.echo(f"wrote {path} ({n:,} bytes): matmul_nt {size}³, program {_hex(job.program.digest)}")


@example_app.command("digits")
def example_digits(
    out: OutOpt,
    seed: Annotated[int, typer.Option(help="Seed of the train/test split and of training.", min=0)] = 0,
) -> None:
    """Train a 64-128-10 MLP on scikit-learn's bundled digits, quantize it to int8 and write it
    with the held-out test images as a job (needs the `examples` extra: scikit-learn)."""
    from gcx.tp.examples.digits import digits_job
    from gcx.tp.jobfile import write_job

    print("training a 64-128-10 MLP on the digits data set…", file=sys.stderr, flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job, model = digits_job(seed)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    n = write_job(out, job)
    typer.echo(
        f"wrote {out} ({n:,} bytes): {model.test_images} test images, program {_hex(job.program.digest)}; "
        f"float model accuracy {100 * model.float_accuracy:.2f} % (trained on {model.train_images})"
    )


def _register_market() -> None:
    from .job_market import register

    register(app)


_register_market()
