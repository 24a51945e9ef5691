"""Live mode: the methods run for real on the reduced problem, at equal budget in epochs,
interleaved trial by trial (so a change of machine load hits every method alike), in this
process (one TensorFlow start), for several seeds:

- ``fmnist``: the shipped search as the README runs it: the preset's sampler (seeded), its
  pruner (the job's own ``OptunaPruning`` callback on a SQLite study), precise BN, enqueued
  trials;
- ``random``: random search, no pruning;
- ``official``: the official plugin's way: the preset's sampler, no pruning, no precise BN,
  batches of the preset's ``n_jobs`` (asked together, told together);
- ``keras_tuner`` (with ``--keras-tuner PATH``): Keras Tuner's ``Hyperband`` over the same
  model builder and ranges (:mod:`sweep_quality.kt_model`), run after the others of its seed
  (its search loop cannot be interleaved);
- ``keras_tuner+bn``: the same with fmnist's precise BN in every trial, so that it trains
  exactly as fmnist's trials do and only the search differs.

Each trial is one ``fmnist.app.run(cfg)``; a method stops starting trials once it has spent the
budget (its last trial may end past it). Best-so-far counts completed trials' values.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from hydra_plugins.fmnist_optuna_sweeper.search_space import active, suggest

from sweep_quality.preset import CONF, Preset, load_preset
from sweep_quality.replay import build

__all__ = ["LiveTrial", "live_mode", "reach", "search"]

FRACTIONS = (0.25, 0.5, 1.0)
OPTUNA_METHODS = ("fmnist", "random", "official")
KT_METHODS = ("keras_tuner", "keras_tuner+bn")


@dataclass
class LiveTrial:
    """One trial run for real: epochs it ran, the method's epochs spent when it ended, its value
    (None: pruned or failed), its test accuracy, its wall time."""

    epochs: int
    spent: int
    value: float | None
    test: float | None
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)


def _train(preset: Preset, params: dict[str, Any], out: Path,
           extra: list[str]) -> tuple[int, float | None, float | None]:
    """One ``fmnist.app.run`` in this process: (epochs run, value or None if pruned, test acc)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from fmnist.app import run

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", [f"hparams_search={preset.name}", *preset.overrides, *preset.space.fixed,
                                 *(f"{preset.space.key(n)}={v}" for n, v in params.items()),
                                 "trainer.verbose=0", f"paths.output_dir={out}", *extra])
    GlobalHydra.instance().clear()
    value: float | None
    try:
        value = float(run(cfg))  # type: ignore[arg-type]
    except optuna.TrialPruned:
        value = None
    with (out / "history.csv").open() as f:
        epochs = len(list(csv.DictReader(f)))
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics.get("test", {}).get("accuracy")
    return epochs, value, None if test is None else float(test)


def search(method: str, preset: Preset, seed: int, budget: int, work: Path) -> Iterator[LiveTrial]:
    """The trials of ``method`` (fmnist | random | official), one per step, until ``budget``
    epochs are spent."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fmnist = method == "fmnist"
    sampler = (build({"_target_": "optuna.samplers.RandomSampler"}, seed=seed) if method == "random"
               else build(preset.sampler, seed=seed))
    storage = f"sqlite:///{work / method}.db"
    name = f"{method}-{seed}"
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                sampler=sampler, load_if_exists=False)
    study.set_user_attr("pruner", preset.pruner if fmnist else {})
    if fmnist:
        for enqueued in preset.enqueue:
            study.enqueue_trial(dict(enqueued))
    batch = int(preset.n_jobs) if method == "official" else 1
    spent = 0
    while spent < budget:
        asked = [study.ask() for _ in range(batch)]
        told: list[tuple[optuna.Trial, float | None]] = []
        for trial in asked:
            params: dict[str, Any] = {}
            for param in preset.space.params:
                if active(param, params):
                    params[param.name] = suggest(trial, param)
            out = work / f"{name}-{trial.number}"
            extra = ([f"optuna.storage={storage}", f"optuna.study_name={name}",
                      f"optuna.trial_id={trial._trial_id}", f"optuna.trial_number={trial.number}"]
                     if fmnist else [])
            if method == "official":
                extra.append("trainer.bn_recalibration_batches=null")
            started = time.perf_counter()
            epochs, value, test = _train(preset, params, out, extra)
            shutil.rmtree(out, ignore_errors=True)
            spent += epochs
            told.append((trial, value))
            yield LiveTrial(epochs, spent, value, test, time.perf_counter() - started, params)
        for trial, value in told:
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, value)


def best_at(trials: list[LiveTrial], epochs: float) -> tuple[float, float | None]:
    """Best value of the trials completed within ``epochs`` and its test accuracy."""
    done = [t for t in trials if t.value is not None and t.spent <= epochs]
    if not done:
        return 0.0, None
    best = max(done, key=lambda t: t.value or 0.0)
    return float(best.value or 0.0), best.test


def _interleave(runs: dict[str, Iterator[LiveTrial]], log: dict[str, list[LiveTrial]],
                finished: Callable[[str], None]) -> None:
    while runs:
        for name in list(runs):
            trial = next(runs[name], None)
            if trial is None:
                del runs[name]
                finished(name)
                continue
            log[name].append(trial)
            print(f"  {name:12} trial {len(log[name]) - 1:>3}: {trial.epochs} epochs, value "
                  f"{'pruned' if trial.value is None else f'{trial.value:.4f}'}, spent {trial.spent}, "
                  f"{trial.seconds:.0f} s", flush=True)


def spec(method: str, preset: Preset) -> dict[str, Any]:
    """What a method's search depends on besides the problem: the preset's sampler, pruner and
    enqueued trials for ``fmnist``, its sampler and ``n_jobs`` for ``official``, Hyperband's
    settings for ``keras_tuner`` (and whether its trials use precise BN); in JSON form."""
    specs = {"fmnist": {"sampler": preset.sampler, "pruner": preset.pruner, "enqueue": list(preset.enqueue)},
             "random": {},
             "official": {"sampler": preset.sampler, "batch": preset.n_jobs},
             "keras_tuner": {"max_epochs": preset.epochs, "factor": 3},
             "keras_tuner+bn": {"max_epochs": preset.epochs, "factor": 3, "precise_bn": True}}
    return json.loads(json.dumps(specs[method], default=str))  # as a live.jsonl line holds it


def _done(path: Path, setting: dict[str, Any],
          specs: dict[str, dict[str, Any]]) -> dict[tuple[int, str], list[LiveTrial]]:
    """The (seed, method) searches already in ``path`` (one JSON line each) that ran as
    ``specs`` says (a method whose spec changed, for example a new default sampler, runs again);
    an error if they were run with another setting (preset, problem or budget)."""
    done: dict[tuple[int, str], list[LiveTrial]] = {}
    if not path.exists():
        return done
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["setting"] != setting:
            raise SystemExit(f"{path} line {number} was run with {row['setting']}, not {setting}: "
                             "pass another --out, or delete the file to start over")
        if row.get("spec") == specs.get(row["method"]):
            done[(int(row["seed"]), row["method"])] = [LiveTrial(**t) for t in row["trials"]]
    return done


def live_mode(args: argparse.Namespace) -> None:
    from fmnist.quiet import import_tensorflow

    chosen = (args.methods.split(",") if args.methods
              else [*OPTUNA_METHODS, *(KT_METHODS if args.keras_tuner else [])])
    unknown = set(chosen) - {*OPTUNA_METHODS, *KT_METHODS}
    if unknown:
        raise SystemExit(f"--methods must name {', '.join((*OPTUNA_METHODS, *KT_METHODS))}, "
                         f"got {sorted(unknown)}")
    if set(chosen) & set(KT_METHODS) and not args.keras_tuner:
        raise SystemExit("--methods keras_tuner needs --keras-tuner PATH (see BENCHMARKS.md)")
    overrides = [f"data.train_size={args.train_size}", f"data.eval_size={args.eval_size}",
                 f"trainer.eval_train_size={args.eval_size}", f"trainer.epochs={args.epochs}"]
    preset = load_preset(args.preset, overrides)
    budget = (args.budget_trials or preset.n_trials) * preset.epochs
    out = Path(args.out or "outputs/sweep_quality")
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    setting = {"preset": preset.name, "overrides": overrides, "budget": budget}
    record = out / "live.jsonl"
    specs = {name: spec(name, preset) for name in chosen}
    done = _done(record, setting, specs)
    print(f"live: hparams_search={preset.name} ({' '.join(overrides)}), budget {budget} epochs "
          f"({budget // preset.epochs} full trials) per method and seed, seeds {seeds}; "
          f"{len(done)} searches already in {record}", flush=True)

    def keep(seed: int, name: str, trials: list[LiveTrial]) -> None:
        done[(seed, name)] = trials
        with record.open("a") as f:
            f.write(json.dumps({"setting": setting, "seed": seed, "method": name, "spec": specs[name],
                                "trials": [asdict(t) for t in trials]}, default=str) + "\n")

    for seed in seeds:
        names = [n for n in chosen if n in OPTUNA_METHODS and (seed, n) not in done]
        tuners = [n for n in chosen if n in KT_METHODS and (seed, n) not in done]
        if not names and not tuners:
            continue  # all recorded: nothing to train
        import_tensorflow()
        work = out / f"seed{seed}"
        work.mkdir(parents=True, exist_ok=True)
        for name in names:
            (work / f"{name}.db").unlink(missing_ok=True)
        log: dict[str, list[LiveTrial]] = {n: [] for n in names}
        _interleave({n: search(n, preset, seed, budget, work) for n in names}, log,
                    lambda name: keep(seed, name, log[name]))  # noqa: B023 (called within the loop)
        for name in tuners:
            from sweep_quality.kt_model import hyperband

            keep(seed, name, hyperband(preset, seed, budget, work, args.keras_tuner,
                                       precise_bn=name == "keras_tuner+bn"))
    results = {name: [done[(seed, name)] for seed in seeds] for name in chosen}
    (out / "live.json").write_text(json.dumps(
        {k: [[asdict(t) for t in ts] for ts in v] for k, v in results.items()}, indent=1, default=str))
    _report(results, budget, out)


def reach(ours: list[LiveTrial], theirs: list[LiveTrial]) -> float:
    """The share of ``theirs``'s epochs after which ``ours`` first has a completed trial at least
    as good as ``theirs``'s best (``inf``: never)."""
    target = best_at(theirs, float("inf"))[0]
    spent = [t.spent for t in ours if t.value is not None and t.value >= target]
    return min(spent) / theirs[-1].spent if spent and theirs else float("inf")


def _report(results: dict[str, list[list[LiveTrial]]], budget: int, out: Path) -> None:
    print(f"\n{'method':14} {'best val % at 25 / 50 / 100 % budget (median of seeds)':>56} "
          f"{'test % of pick':>15} {'epochs':>7} {'seconds':>8}")
    # the final pick: the search's best trial; its test accuracy, median over seeds
    picks = {name: _median([best_at(s, float("inf"))[1] for s in seeds]) for name, seeds in results.items()}
    for name, seeds in results.items():
        cells = [f"{100 * np.median([best_at(s, f * budget)[0] for s in seeds]):6.2f}" for f in FRACTIONS]
        epochs = np.median([s[-1].spent if s else 0 for s in seeds])
        seconds = np.median([sum(t.seconds for t in s) for s in seeds])
        print(f"{name:14} {'  /  '.join(cells):>56} {100 * picks[name]:15.2f} {epochs:7.0f} {seconds:8.0f}")
    if "fmnist" in results and "random" in results:
        reaches = [reach(f, r) for f, r in zip(results["fmnist"], results["random"], strict=True)]
        line = (f"live: fmnist reaches random's full-budget best at {_share(float(np.median(reaches)))} of "
                f"random's epochs (median of {len(reaches)} seeds: "
                f"{', '.join(_share(r) for r in reaches)})")
        line += f"; test of the pick (median): fmnist {100 * picks['fmnist']:.2f} %"
        line += "".join(f", {name} {100 * picks[name]:.2f} %" for name in KT_METHODS if name in results)
        print(line)
    _plot(results, budget, out / "best_so_far.png")
    print(f"plot: {out / 'best_so_far.png'}; trials: {out / 'live.json'}")


def _share(r: float) -> str:
    return "never" if r == float("inf") else f"{r:.2f}"


def _median(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else float("nan")


def _plot(results: dict[str, list[list[LiveTrial]]], budget: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = list(range(budget + 1))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, seeds in results.items():
        curves = np.array([[best_at(s, b)[0] for b in grid] for s in seeds])
        ax.plot(grid, np.median(curves, axis=0), label=name)
        ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), alpha=0.2)
    ax.set_xlabel("epochs spent (budget)")
    ax.set_ylabel("best validation accuracy so far")
    finals = [best_at(s, budget)[0] for v in results.values() for s in v]
    ax.set_ylim(bottom=max(0.0, min(finals, default=0.0) - 0.1))
    ax.legend()
    ax.set_title("best-so-far: median and range across seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
