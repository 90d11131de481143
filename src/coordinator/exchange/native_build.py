"""Compiling the matching engine with Cython: the one build step, shared by ``make native``
(:func:`coordinator.exchange.native.build`, into the source tree) and the wheel's build hook
(``hatch_build.py``, into the wheel).

This module imports nothing but the standard library at import time (the build hook loads it by
file path, in a build environment without GCX's dependencies); Cython and setuptools are imported
only by :func:`compile_engine`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

#: The files the compiled engine is built from, in ``coordinator/exchange/core/``.
SOURCES = ("engine.py", "engine.pxd")
#: Beside the extension: the SHA-256 of :data:`SOURCES` it was built from (``native.status``).
INFO_NAME = "engine.build.json"
MODULE = "coordinator.exchange.core.engine"

# Cython reads the types from engine.pxd only: the .py annotations are for mypy.
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "embedsignature": True}


def source_digest(core_dir: Path) -> str:
    """SHA-256 over the engine's sources in ``core_dir`` (names and contents)."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (core_dir / name).read_bytes() + b"\0")
    return digest.hexdigest()


def compile_engine(core_dir: Path, target: Path, *, quiet: bool = True) -> str:
    """Compile ``engine.py`` + ``engine.pxd`` from ``core_dir`` into the extension module ``target``
    (written atomically) and write :data:`INFO_NAME` beside it; returns the source digest. Needs
    Cython, setuptools and a C compiler (``ImportError`` / the compiler's error otherwise; nothing
    is written then). The compile runs on a copy: no generated file lands beside the sources."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension  # type: ignore[import-untyped]
    from setuptools.command.build_ext import build_ext  # type: ignore[import-untyped]

    digest = source_digest(core_dir)
    with tempfile.TemporaryDirectory(prefix="gcx-native-") as tmp:
        work = Path(tmp)
        pkg = work / "coordinator" / "exchange" / "core"
        pkg.mkdir(parents=True)
        for name in SOURCES:
            shutil.copyfile(core_dir / name, pkg / name)
        for folder in (work / "coordinator", pkg.parent, pkg):
            (folder / "__init__.py").touch()
        ext = Extension(MODULE, [str(pkg / "engine.py")])
        modules = cythonize(  # type: ignore[no-untyped-call]
            [ext], compiler_directives=DIRECTIVES, quiet=quiet, force=True
        )
        dist = Distribution({"ext_modules": modules, "script_name": "gcx-native"})
        cmd = build_ext(dist)
        cmd.build_temp = str(work / "temp")
        cmd.build_lib = str(work / "lib")
        cmd.ensure_finalized()
        cmd.run()
        built = Path(cmd.get_ext_fullpath(MODULE))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".tmp")
        shutil.copyfile(built, partial)
        partial.replace(target)  # an importer never sees half a file
    info = {"source_sha256": digest, "extension": target.name}
    (target.parent / INFO_NAME).write_text(json.dumps(info, indent=1) + "\n")
    return digest
