"""``python -m bench.gen_workload --ops N --seed S --out FILE``: write a mixed
matching workload (60 % limit, 10 % market, 30 % cancel; about 1,000 resting orders over about
40 price levels). The file format and the generator are described in :mod:`.workload`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .workload import write_workload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gen_workload", description=__doc__)
    parser.add_argument("--ops", type=int, default=1_000_000, help="number of operations")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    parser.add_argument("--out", type=Path, required=True, help="file to write")
    args = parser.parse_args(argv)
    write_workload(args.out, args.ops, args.seed)


if __name__ == "__main__":
    main()
