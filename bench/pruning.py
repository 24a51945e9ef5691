"""The same search with and without the pruner: epochs spent, wall time, best validation
accuracy, and whether the pruned study kept the unpruned study's best trial.

All studies run ``hparams_search=elastic_sgdr_quick`` (deeper CNN, elastic augmentation, one
SGDR cycle over the budget; TPE seeded ``--seed``) with the same ``n_trials`` and budget, each
in its own SQLite storage under ``--work`` (a temporary directory unless given):

1. ``unpruned``: ``hydra/sweeper/pruner=nop``. Every trial runs every epoch.
2. ``replay`` (``--mode replay`` or ``both``): the pruned sweep on the *same trials*: the
   unpruned study's parameters are enqueued in the same order, so the pruner decides on the
   very trials the unpruned study ran (training is deterministic for given parameters), and
   "did it keep the best trial" has a plain answer. Before it runs, every pruner option in
   ``conf/hydra/sweeper/pruner/`` is replayed on the unpruned curves in memory
   (``prune_replay.py``), and the real sweep is checked against the replay of its pruner.
3. ``free`` (``--mode free`` or ``both``): the pruned sweep with its own TPE history: after
   the first pruned trial the two studies sample different parameters, so it measures the
   pruner and the sampler's reaction to it together.

CPU-heavy: about 8 minutes per unpruned study of 20 x 8 epochs on 2 quiet cores.

    FMNIST_DATA_DIR=../shared/data/fashion-mnist .venv/bin/python bench/pruning.py \
        --trials 20 --epochs 8 --train-size 3000 --eval-size 1000 --mode both
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
from prune_replay import curves_of, replay, summarise

from fmnist.__main__ import config_dir

REPO = Path(__file__).resolve().parents[1]
CONF = Path(config_dir())
PRUNERS = CONF / "hydra" / "sweeper" / "pruner"
PRESET = "median_early"  # the pruner of hparams_search=elastic_sgdr_quick


def _overrides(args: argparse.Namespace) -> list[str]:
    return ["hparams_search=elastic_sgdr_quick", f"hydra.sweeper.n_trials={args.trials}",
            f"hydra.sweeper.sampler.seed={args.seed}", f"trainer.epochs={args.epochs}",
            f"data.train_size={args.train_size}", f"data.eval_size={args.eval_size}",
            f"trainer.eval_train_size={args.eval_size}"]


def _url(work: Path, name: str) -> str:
    return f"sqlite:///{work / name}.db"


def _sweep(work: Path, name: str, args: argparse.Namespace, *extra: str) -> float:
    command = [
        sys.executable, "-m", "fmnist", "-m", *_overrides(args),
        f"hydra.sweeper.study_name={name}", f"hydra.sweeper.storage={_url(work, name)}",
        f"hydra.sweep.dir={work / name}", "hydra.callbacks.summary.enabled=false", *extra,
    ]
    started = time.perf_counter()
    with open(work / f"{name}.log", "w") as log:
        subprocess.run(command, check=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                       env={**os.environ})
    return time.perf_counter() - started


def _pruner_overrides(name: str, sets: list[str]) -> list[str]:
    """``hydra/sweeper/pruner=name`` with ``hydra.sweeper.pruner.KEY=VALUE`` for each of ``sets``."""
    return [f"hydra/sweeper/pruner={name}", *[f"hydra.sweeper.pruner.{s}" for s in sets]]


def _pruner(args: argparse.Namespace, name: str, sets: list[str]) -> optuna.pruners.BasePruner:
    """The pruner that ``hydra/sweeper/pruner=name`` builds for this budget (the app's own
    config, composed, so ``${trainer.epochs}`` and friends resolve as in a sweep)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from fmnist.pruning import pruner_from_spec

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", [*_overrides(args), *_pruner_overrides(name, sets)],
                      return_hydra_config=True)
    spec = OmegaConf.to_container(cfg.hydra.sweeper.pruner, resolve=True)
    return pruner_from_spec(spec)


def _study(work: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=_url(work, name))


def _epochs(study: optuna.Study) -> list[int]:
    """The epochs each trial ran (the steps it reported), by trial number."""
    return [len(t.intermediate_values)
            for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]


def _row(name: str, study: optuna.Study, budget: int, seconds: float | None) -> str:
    trials = study.get_trials(deepcopy=False)
    epochs = sum(_epochs(study))
    states = {s.name: sum(t.state == s for t in trials) for s in optuna.trial.TrialState}
    wall = f"{seconds:>7.0f}" if seconds is not None else f"{'(kept)':>7}"
    return (f"{name:36} {epochs:>7} {epochs / budget:>6.0%} {wall} {study.best_value:>12.4f} "
            f"{'t' + str(study.best_trial.number):>5}  {dict((k, v) for k, v in states.items() if v)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42, help="the TPE sampler's seed")
    parser.add_argument("--mode", choices=("replay", "free", "both"), default="replay")
    parser.add_argument("--pruner", default=PRESET,
                        help=f"hydra/sweeper/pruner option of the pruned study (default {PRESET})")
    parser.add_argument("--pruner-set", action="append", default=[], metavar="KEY=VALUE",
                        help="hydra.sweeper.pruner.KEY=VALUE for the pruned study (repeatable)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the studies here; an unpruned study already there is reused")
    args = parser.parse_args()
    pruned_extra = _pruner_overrides(args.pruner, args.pruner_set)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget = args.trials * args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        seconds: dict[str, float | None] = {}
        if (work / "unpruned.db").exists():
            seconds["unpruned"] = None
        else:
            seconds["unpruned"] = _sweep(work, "unpruned", args, "hydra/sweeper/pruner=nop")
        unpruned = _study(work, "unpruned")
        curves = curves_of(unpruned)
        print(f"{args.trials} trials x {args.epochs} epochs on {args.train_size} images "
              f"(validation on {args.eval_size}), TPE seed {args.seed}, budget {budget} epochs")

        print("\nEvery shipped pruner replayed on the unpruned study's curves (same trials):")
        print(f"{'pruner':28} {'epochs':>7} {'share':>6} {'pruned':>6} {'best':>7} {'gap':>6}  kept best")
        for option in sorted(p.stem for p in PRUNERS.glob("*.yaml")):
            sets = args.pruner_set if option == args.pruner else []
            s = summarise(replay(curves, _pruner(args, option, sets), args.epochs), curves)
            print(f"{option:28} {s['epochs']:>7} {s['share']:>6.0%} {s['pruned']:>6} "
                  f"{s['best']:>7.4f} {s['gap_points']:>6.2f}  {'yes' if s['kept_best'] else 'no'}")

        tag = "-".join([args.pruner, *args.pruner_set])  # several pruners can share --work
        replay_name, free_name = f"replay-{tag}", f"free-{tag}"
        if args.mode in ("replay", "both"):
            # the pruned study starts with the unpruned trials' parameters queued, in order
            replay_study = optuna.create_study(study_name=replay_name,
                                               storage=_url(work, replay_name),
                                               direction="maximize", load_if_exists=True)
            if not replay_study.get_trials(deepcopy=False):
                for trial in sorted(unpruned.get_trials(deepcopy=False), key=lambda t: t.number):
                    replay_study.enqueue_trial(trial.params)
            seconds[replay_name] = _sweep(work, replay_name, args, *pruned_extra)
            # a new pruner: Hyperband sets itself up from the first study it prunes
            expected = replay(curves, _pruner(args, args.pruner, args.pruner_set), args.epochs,
                              study_name=replay_name)
            real = _epochs(_study(work, replay_name))
            agree = real == [r.epochs for r in expected]
            print(f"\nreplay sweep's epochs per trial {real}; the in-memory replay predicted "
                  f"{[r.epochs for r in expected]}: {'agree' if agree else 'DIFFER'}")
        if args.mode in ("free", "both"):
            seconds[free_name] = _sweep(work, free_name, args, *pruned_extra)

        print(f"\npruned studies: {' '.join(pruned_extra)}")
        print(f"{'study':36} {'epochs':>7} {'share':>6} {'wall s':>7} {'best val acc':>12} "
              f"{'trial':>5}  states")
        for name, wall in seconds.items():
            print(_row(name, _study(work, name), budget, wall))
        best_params, full = unpruned.best_trial.params, sum(_epochs(unpruned))
        for name in (replay_name, free_name):
            if name not in seconds:
                continue
            study = _study(work, name)
            epochs = sum(_epochs(study))
            kept = any(t.params == best_params and t.state == optuna.trial.TrialState.COMPLETE
                       for t in study.get_trials(deepcopy=False))
            gap = 100 * (unpruned.best_value - study.best_value)
            print(f"{name}: epochs {epochs / full:.0%} of the unpruned study's (target <= 60 %); "
                  f"best {study.best_value:.4f} against {unpruned.best_value:.4f}, gap "
                  f"{gap:+.2f} points (target <= 0.3); kept the unpruned best trial: "
                  f"{'yes' if kept else 'no'}")


if __name__ == "__main__":
    main()
