"""``python -m fmnist.best SWEEP_DIR [--retrain [--seeds N] [--top K] [overrides...]]`` (or
``fmnist-best``): the sweep's winner as a Hydra experiment file, trained again on request.

Bad input (not a sweep, no completed trial, an unreadable study, stored settings that are not
plain data, a bad override) is one line on stderr and exit 2, before anything is written; a
retraining run that fails is exit 1, after the table is written."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from fmnist.best import retrain_best, write_best
from fmnist.best.retrain import Retrained
from fmnist.errors import run_cli


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fmnist.best",
        description="Write SWEEP_DIR/best/best.yaml, the sweep's best trial as a Hydra experiment "
                    "(python -m fmnist +experiment=best --config-dir SWEEP_DIR/best); with --retrain, "
                    "train the best trial(s) again into SWEEP_DIR/best/<trial>/<seed>/ and write "
                    "a table of test accuracy and F1 (retrain.md, retrain.csv).")
    parser.add_argument("sweep_dir", help="a finished sweep's directory (optimization_results.yaml)")
    parser.add_argument("--retrain", action="store_true", help="train the best trial(s) again")
    parser.add_argument("--seeds", type=int, default=1,
                        help="runs per trial: the trial's seed and the next ones (default 1)")
    parser.add_argument("--top", type=int, default=1,
                        help="the K best trials by their sweep value, ranked again by mean test "
                             "accuracy (default 1)")
    parser.add_argument("overrides", nargs="*",
                        help="overrides on top of the trial's config, e.g. trainer.epochs=30 "
                             "data.train_on=train+val trainer.restore_best_weights=false")
    args = parser.parse_intermixed_args(argv)
    if not args.retrain and (args.overrides or args.seeds != 1):
        parser.error("--seeds and overrides need --retrain")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.retrain:
        return run_cli(lambda: write_best(args.sweep_dir, args.top))
    runs: list[Retrained] = []

    def action() -> object:
        table, results = retrain_best(args.sweep_dir, args.seeds, args.top, args.overrides)
        runs.extend(results)
        return table

    code = run_cli(action)
    failed = [r for r in runs if r.status != "completed"]
    if code == 0 and failed:
        print(f"error: {len(failed)} of {len(runs)} runs did not complete: "
              + ", ".join(f"trial {r.trial} seed {r.seed} ({r.status}, {r.run_dir})" for r in failed),
              file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
