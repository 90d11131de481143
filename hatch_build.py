"""The wheel's and sdist's build step (hatchling custom build hook).

Wheel (not editable installs, which use the source tree):

* the contracts' ABIs and creation bytecode go into ``gcx/chain/artifacts/`` — packed from
  Foundry's ``contracts/out`` in a checkout (``make dist`` runs ``forge build`` first), or from
  the ``release/artifacts/`` an sdist carries;
* the matching engine is compiled with Cython into ``coordinator/exchange/core/engine.*.so``
  (with its ``engine.build.json``), which makes the wheel a platform wheel
  (``cp311-cp311-<platform>``). A failed compile fails the build, naming the cause; set
  ``GCX_BUILD_PURE=1`` to build a pure ``py3-none-any`` wheel that runs the same engine as plain
  Python (the coordinator logs which one it runs).

Sdist: the packed artifacts go in at ``release/artifacts/`` so that a wheel can be built from the
sdist without npm or a Solidity compiler.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PURE_ENV = "GCX_BUILD_PURE"
SDIST_ARTIFACTS = "release/artifacts"
CORE = "src/coordinator/exchange/core"


def _load(root: Path, relative: str) -> ModuleType:
    """A stdlib-only module of ours by file path (GCX's dependencies are not in the build env)."""
    path = root / relative
    spec = importlib.util.spec_from_file_location(f"_gcx_build_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class GcxBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return  # an editable install reads contracts/out and `make native`'s build in place
        root = Path(self.root)
        work = root / "build" / "gcx-release"
        shutil.rmtree(work, ignore_errors=True)
        artifacts = self._pack_artifacts(root, work / "artifacts")
        if self.target_name == "sdist":
            build_data["force_include"][str(artifacts)] = SDIST_ARTIFACTS
            return
        build_data["force_include"][str(artifacts)] = "gcx/chain/artifacts"
        self._compile_engine(root, work / "native", build_data)

    def _pack_artifacts(self, root: Path, dest: Path) -> Path:
        packer = _load(root, "src/gcx/chain/artifact_pack.py")
        out = root / "contracts" / "out"
        shipped = root / SDIST_ARTIFACTS
        if not out.is_dir() and (shipped / packer.MANIFEST).is_file():  # building from the sdist
            shutil.copytree(shipped, dest)
            return dest
        try:
            manifest = packer.pack(out, dest)
        except packer.ArtifactPackError as exc:
            raise RuntimeError(f"gcx wheel: cannot ship the contracts' artifacts: {exc}") from None
        self.app.display_info(f"gcx: packed {len(manifest['contracts'])} contract artifacts from {out}")
        return dest

    def _compile_engine(self, root: Path, dest: Path, build_data: dict[str, Any]) -> None:
        if os.environ.get(PURE_ENV, "") not in ("", "0"):
            self.app.display_warning(
                f"gcx: {PURE_ENV} is set: a pure wheel, the matching engine runs as plain Python"
            )
            return
        native = _load(root, "src/coordinator/exchange/native_build.py")
        target = dest / f"engine{sysconfig.get_config_var('EXT_SUFFIX')}"
        try:
            native.compile_engine(root / CORE, target)
        except Exception as exc:  # ImportError (no Cython), the compiler's error, ...
            raise RuntimeError(
                f"gcx wheel: compiling the matching engine failed: {exc!r}. Install Cython, setuptools "
                f"and a C compiler, or set {PURE_ENV}=1 for a pure wheel (a slower engine)"
            ) from exc
        package = CORE.removeprefix("src/")
        build_data["force_include"][str(target)] = f"{package}/{target.name}"
        build_data["force_include"][str(dest / native.INFO_NAME)] = f"{package}/{native.INFO_NAME}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        self.app.display_info(f"gcx: compiled the matching engine ({target.name})")
