"""The same search with and without the pruner: epochs spent, wall time, best validation
accuracy, and whether the pruned study kept the unpruned study's best.

Both studies run ``hparams_search=elastic_sgdr_quick`` (deeper CNN, elastic augmentation,
SGDR; TPE seeded 42) with the same ``n_trials``, seed and budget, one with a pruner (the
preset's median pruner, or ``--pruner NAME`` with ``--pruner-set KEY=VALUE`` overrides) and one
with ``hydra/sweeper/pruner=nop``, each in its own SQLite storage under a temporary directory.
CPU-heavy: minutes.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist .venv/bin/python bench/pruning.py \
        --trials 16 --epochs 6 --train-size 3000 --eval-size 1000 \
        --pruner successive_halving_epochs --pruner-set min_resource=2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

REPO = Path(__file__).resolve().parents[1]


def _sweep(work: Path, name: str, args: argparse.Namespace, *extra: str) -> float:
    command = [
        sys.executable, "-m", "fmnist", "-m", "hparams_search=elastic_sgdr_quick",
        f"hydra.sweeper.study_name={name}", f"hydra.sweeper.n_trials={args.trials}",
        f"hydra.sweeper.storage=sqlite:///{work / name}.db", f"hydra.sweep.dir={work / name}",
        f"trainer.epochs={args.epochs}", f"data.train_size={args.train_size}",
        f"data.eval_size={args.eval_size}", f"trainer.eval_train_size={args.eval_size}",
        "hydra.callbacks.summary.enabled=false", *extra,
    ]
    started = time.perf_counter()
    with open(work / f"{name}.log", "w") as log:
        subprocess.run(command, check=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                       env={**os.environ})
    return time.perf_counter() - started


def _summary(work: Path, name: str) -> dict[str, object]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{work / name}.db")
    trials = study.get_trials(deepcopy=False)
    states = {s.name: sum(t.state == s for t in trials) for s in optuna.trial.TrialState}
    return {
        "epochs": sum(len(t.intermediate_values) for t in trials),
        "best": study.best_value,
        "best_trial": study.best_trial.number,
        "best_params": study.best_trial.params,
        "states": {k: v for k, v in states.items() if v},
        "trials": trials,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--pruner", default=None,
                        help="hydra/sweeper/pruner option of the pruned study (default: the preset's)")
    parser.add_argument("--pruner-set", action="append", default=[], metavar="KEY=VALUE",
                        help="hydra.sweeper.pruner.KEY=VALUE for the pruned study (repeatable)")
    args = parser.parse_args()
    pruned_extra = ([f"hydra/sweeper/pruner={args.pruner}"] if args.pruner else []) + [
        f"hydra.sweeper.pruner.{setting}" for setting in args.pruner_set]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seconds, results = {}, {}
        for name, extra in (("pruned", pruned_extra), ("unpruned", ("hydra/sweeper/pruner=nop",))):
            seconds[name] = _sweep(work, name, args, *extra)
            results[name] = _summary(work, name)
            print(f"{name}: {seconds[name]:.0f} s, {results[name]['epochs']} epochs, best "
                  f"{results[name]['best']:.4f}", flush=True)
    budget = args.trials * args.epochs
    print(f"pruned study: {' '.join(pruned_extra) or 'the preset pruner'}")
    print(f"{args.trials} trials x {args.epochs} epochs on {args.train_size} images "
          f"(validation on {args.eval_size}), budget {budget} epochs")
    print(f"{'study':10} {'epochs':>7} {'share':>6} {'wall s':>7} {'best val acc':>12}  states")
    for name, r in results.items():
        print(f"{name:10} {r['epochs']:>7} {r['epochs'] / budget:>6.0%} {seconds[name]:>7.0f} "
              f"{r['best']:>12.4f}  {r['states']}")
    pruned, unpruned = results["pruned"], results["unpruned"]
    kept = [t for t in pruned["trials"]  # type: ignore[attr-defined]
            if t.params == unpruned["best_params"] and t.state == optuna.trial.TrialState.COMPLETE]
    gap = 100 * (unpruned["best"] - pruned["best"])  # type: ignore[operator]
    print(f"epochs pruned / unpruned: {pruned['epochs'] / unpruned['epochs']:.0%} (target <= 60 %)")
    print(f"best val acc: pruned {pruned['best']:.4f} (trial {pruned['best_trial']}), unpruned "
          f"{unpruned['best']:.4f} (trial {unpruned['best_trial']}); gap {gap:+.2f} points "
          f"(target <= 0.3)")
    print(f"the pruned study kept the unpruned best trial (same parameters, completed): "
          f"{'yes' if kept else 'no'}")


if __name__ == "__main__":
    main()
