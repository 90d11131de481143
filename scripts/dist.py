"""Build the release artifacts — the platform wheel and the sdist — into a folder (``make dist``).

Runs hatchling's PEP 517 hooks in this interpreter (no build isolation: the dev extra has
hatchling, Cython and setuptools), so it needs no network. The wheel's build hook
(``hatch_build.py``) ships the contracts' artifacts from ``contracts/out`` (run
``make contracts`` first) and compiles the matching engine. Prints one JSON object: the paths.

    python scripts/dist.py [--out dist]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)  # hatchling builds the project in the current directory
    import hatchling.build as backend

    try:
        wheel = out / backend.build_wheel(str(out))
        sdist = out / backend.build_sdist(str(out))
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")
    print(json.dumps({"wheel": str(wheel), "sdist": str(sdist)}))


if __name__ == "__main__":
    main()
