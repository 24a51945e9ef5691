"""``python -m fmnist.summary PATH... [--output DIR] [--top N]`` — summarise runs and sweeps."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from fmnist.errors import run_cli
from fmnist.summary.report import summarize


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fmnist.summary",
        description="Collate runs (a multirun or sweep directory, several, or a parent "
                    "directory) into tables, plots and one self-contained report.html.")
    parser.add_argument("paths", nargs="+", help="run, multirun or sweep directories")
    parser.add_argument("-o", "--output", help="where to write (default: FIRST_PATH/summary)")
    parser.add_argument("--top", type=int, default=8,
                        help="runs drawn in colour in the plots (the rest faded; default 8)")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error(f"--top must be >= 1, got {args.top}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_cli(lambda: summarize(args.paths, args.output, top_n=args.top))


if __name__ == "__main__":
    sys.exit(main())
