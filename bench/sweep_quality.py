"""Sweep quality: how fast each search finds a good model, at equal budget (issue 18).

Three modes (the package ``bench/sweep_quality/`` holds the pieces):

``--replay`` (seconds): every method replayed on the recorded table (``bench/replay_<preset>.csv``)
    with simulated time, ``--repetitions`` seeds each; prints IQM [bootstrap 95 %] of the best
    validation accuracy so far at 25 / 33 / 50 / 100 % of the budget, and, as its last line,
    ``replay: default reaches random's full-budget best at <r> of the budget; beats random at
    1/3 budget in <k>/<n> repetitions``.

``--record`` (CPU-heavy; resumable): trains configurations of the preset's space on the reduced
    problem in this process and appends their curves to the table.

live (no mode flag; CPU-heavy): the methods run for real, interleaved, at equal budget.

    python bench/sweep_quality.py --replay --repetitions 30
    nice -n 19 python bench/sweep_quality.py --record --count 400 --until 13:45
    nice -n 19 python bench/sweep_quality.py --seeds 3 --budget-trials 12
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep_quality.compare import headline, methods, preset_of, run_all, table_path
from sweep_quality.preset import load_preset
from sweep_quality.table import read_meta, read_table

PRESET = "convnet"
PROBLEM = {"train_size": 3000, "eval_size": 2000, "epochs": 6}


def problem(train_size: int, eval_size: int, epochs: int) -> list[str]:
    """The reduced problem as overrides (validation and test on ``eval_size`` images each)."""
    return [f"data.train_size={train_size}", f"data.eval_size={eval_size}",
            f"trainer.eval_train_size={eval_size}", f"trainer.epochs={epochs}"]


def _fmt(values: np.ndarray) -> str:
    return f"{100 * float(np.median(values)):5.1f}"


def replay_mode(args: argparse.Namespace) -> None:
    table = args.table or table_path(args.preset)
    recorded = read_table(table)
    preset = preset_of(read_meta(table))
    budget_trials = args.budget_trials or preset.n_trials
    budget = budget_trials * preset.epochs
    best = max(recorded, key=lambda r: max(r.values))
    print(f"replay table {table}: {len(recorded)} configurations of hparams_search={preset.name} "
          f"({' '.join(preset.overrides)}); best recorded val {max(best.values):.4f} (config "
          f"{best.config}); budget {budget} epochs = {budget_trials} full trials; "
          f"{args.repetitions} repetitions; {args.workers or preset.n_jobs} worker(s)")
    print(f"{'method':32} {'IQM best val accuracy % [95% CI] at 25 / 33 / 50 / 100 % of budget':70} "
          f"{'reach':>6} {'test':>5} {'trials':>6}")
    started = time.perf_counter()
    chosen = methods(preset, args.workers, alternatives=args.alternatives)
    results = run_all(chosen, preset, recorded, budget=budget, repetitions=args.repetitions,
                      jobs=args.jobs)
    tests = {r.config: r.test for r in recorded}
    for name, result in results.items():
        cells = []
        for f in (0.25, 1 / 3, 0.5, 1.0):
            i = round(f * budget)
            cells.append(f"{100 * result.band.iqm[i]:4.1f} [{100 * result.band.low[i]:4.1f},"
                         f"{100 * result.band.high[i]:4.1f}]")
        reach = headline(result, results["random"])[0]
        picks = [tests.get(p.config) for p in (t.pick(budget) for t in result.traces) if p is not None]
        known = [t for t in picks if t is not None]
        test = f"{100 * float(np.median(known)):5.1f}" if known else "  -  "
        trials = np.median([t.trials for t in result.traces])
        print(f"{name:32} {'  '.join(cells):70} {reach:6.2f} {test} {trials:6.0f}")
    print(f"({time.perf_counter() - started:.0f} s; reach: median share of the budget at which the "
          f"method first matches random's median full-budget best; test: median test accuracy of "
          f"the final pick)")
    if args.plot:
        from sweep_quality.plot import best_so_far

        best_so_far({k: results[k] for k in ("default", "random", "official")}, budget, args.plot)
        print(f"plot: {args.plot}")
    r, k, n = headline(results["default"], results["random"])
    shown = f"{r:.2f}" if np.isfinite(r) else "never (within the budget)"
    print(f"replay: default reaches random's full-budget best at {shown} of the budget; "
          f"beats random at 1/3 budget in {k}/{n} repetitions")


def record_mode(args: argparse.Namespace) -> None:
    import datetime

    from sweep_quality.record import record

    preset = load_preset(args.preset, problem(args.train_size, args.eval_size, args.epochs))
    deadline = None
    if args.until:
        hour, minute = (int(x) for x in args.until.split(":"))
        deadline = datetime.datetime.now().replace(hour=hour, minute=minute, second=0).timestamp()
    added = record(args.table or table_path(args.preset), preset, args.count, seed=args.seed,
                   deadline=deadline)
    print(f"recorded {added} configurations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--replay", action="store_true", help="replay the methods on the table")
    mode.add_argument("--record", action="store_true", help="record configurations into the table")
    parser.add_argument("--preset", default=PRESET, help=f"hparams_search option (default {PRESET})")
    parser.add_argument("--table", type=Path, default=None,
                        help="replay table (default bench/replay_<preset>.csv)")
    parser.add_argument("--repetitions", type=int, default=30)
    parser.add_argument("--budget-trials", type=int, default=None,
                        help="budget in full trials' epochs (default: the preset's n_trials)")
    parser.add_argument("--workers", type=int, default=None,
                        help="--replay: simulated workers (default: the preset's n_jobs)")
    parser.add_argument("--out", type=Path, default=None,
                        help="live: where trials, live.json and the plot go (outputs/sweep_quality)")
    parser.add_argument("--seeds", type=int, default=3, help="live: seeds per method")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="live: the first seed (seeds --first-seed, +1, ...: several processes, "
                             "one --out each, can share the seeds; their live.jsonl lines concatenate)")
    parser.add_argument("--keras-tuner", default=None, metavar="PATH",
                        help="live: Keras Tuner 1.4.8 (and tensorboard) installed here")
    parser.add_argument("--methods", default=None,
                        help="live: comma-separated methods (default: fmnist,random,official, and "
                             "keras_tuner with --keras-tuner)")
    parser.add_argument("--alternatives", action="store_true",
                        help="also replay the variants that decide defaults (pruners, startup trials)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes for the replays (default: up to 2)")
    parser.add_argument("--plot", type=Path, default=None, help="best-so-far plot (PNG)")
    parser.add_argument("--train-size", type=int, default=PROBLEM["train_size"])
    parser.add_argument("--eval-size", type=int, default=PROBLEM["eval_size"])
    parser.add_argument("--epochs", type=int, default=PROBLEM["epochs"])
    parser.add_argument("--count", type=int, default=400, help="--record: configurations in all")
    parser.add_argument("--seed", type=int, default=0, help="--record: seed of the configurations")
    parser.add_argument("--until", default=None, metavar="HH:MM",
                        help="--record: start no configuration after this time")
    args = parser.parse_args()
    if args.repetitions < 1 or (args.budget_trials or 1) < 1 or (args.workers or 1) < 1:
        parser.error(f"--repetitions, --budget-trials and --workers must be >= 1, got "
                     f"{args.repetitions}, {args.budget_trials}, {args.workers}")
    if args.replay:
        replay_mode(args)
    elif args.record:
        record_mode(args)
    else:
        from sweep_quality.live import live_mode

        live_mode(args)


if __name__ == "__main__":
    main()
