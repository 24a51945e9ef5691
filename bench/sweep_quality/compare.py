"""Replay mode: the methods of the comparison, replayed on the table, repeated, summarised.

The methods come from the preset (its sampler and pruner specs), so switching the benchmark to
another shipped search is one argument:

- ``default``: the preset as the README runs it (its sampler, its pruner, its enqueued trials);
- ``random``: random search, no pruning;
- ``official``: the official plugin's way: the preset's sampler, no pruning, batches of
  ``workers`` trials (with one worker: plain sequential TPE without pruning);
- alternatives that decide defaults: each pruner option of ``conf/hydra/sweeper/pruner/`` and
  other ``n_startup_trials``, all with the preset's sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from sweep_quality.preset import CONF, Preset, load_preset
from sweep_quality.replay import Method, Nearest, Trace, replay
from sweep_quality.stats import Band, band, first_reach
from sweep_quality.table import Recorded

__all__ = ["Result", "headline", "methods", "preset_of", "run_all", "table_path"]

RANDOM = {"_target_": "optuna.samplers.RandomSampler"}


def preset_of(meta: dict[str, object]) -> Preset:
    """The preset a table was recorded from (its JSON sidecar)."""
    name, overrides = meta.get("preset"), meta.get("overrides", [])
    if not isinstance(name, str) or not isinstance(overrides, list):
        raise ValueError(f"the table's sidecar must name its preset and overrides, got {meta}")
    return load_preset(name, [str(o) for o in overrides])


def methods(preset: Preset, workers: int | None = None, alternatives: bool = True) -> list[Method]:
    """``default``, ``random``, ``official`` and (``alternatives``) the variants that decide
    defaults: other pruners, other ``n_startup_trials``, more workers. ``workers``: the
    preset's ``n_jobs`` unless given."""
    workers = workers or preset.n_jobs
    default = Method("default", preset.sampler, preset.pruner, workers, enqueue=preset.enqueue)
    out = [default, Method("random", RANDOM, {}, workers),
           Method("official", preset.sampler, {}, workers, batch=True)]
    if not alternatives:
        return out
    for option in sorted(p.stem for p in (CONF / "hydra" / "sweeper" / "pruner").glob("*.yaml")):
        try:
            pruner = load_preset(preset.name, [*preset.overrides, f"hydra/sweeper/pruner={option}"]).pruner
        except (HydraException, OmegaConfBaseException):
            continue  # an option made for another preset (median_cycle needs schedule.T)
        if pruner != preset.pruner:
            out.append(replace(default, name=f"pruner={option}", pruner=pruner))
    startup = preset.sampler.get("n_startup_trials")
    for n in (2, 8, 16):
        if startup is not None and n != startup:
            out.append(replace(default, name=f"n_startup_trials={n}",
                               sampler={**preset.sampler, "n_startup_trials": n}))
    if preset.pruner and "n_startup_trials" in preset.pruner:
        for n in (1, 6):
            if n != preset.pruner["n_startup_trials"]:
                out.append(replace(default, name=f"pruner.n_startup_trials={n}",
                                   pruner={**preset.pruner, "n_startup_trials": n}))
    out.append(replace(default, name="no enqueue", enqueue=()))
    multivariate = bool(preset.sampler.get("multivariate"))
    out.append(replace(default, name=f"multivariate={not multivariate}",
                       sampler={**preset.sampler, "multivariate": not multivariate}))
    return out


@dataclass(frozen=True)
class Result:
    """A method's repetitions: traces, best-so-far at every epoch of the budget (repetitions x
    budget+1, index = epochs), and the band over repetitions."""

    method: Method
    traces: list[Trace]
    curves: np.ndarray
    band: Band

    def at(self, fraction: float) -> np.ndarray:
        """Best-so-far of every repetition at ``fraction`` of the budget."""
        return self.curves[:, round(fraction * (self.curves.shape[1] - 1))]


def _traces(method: Method, preset: Preset, recorded: Sequence[Recorded], budget: int,
            seeds: Sequence[int]) -> list[Trace]:
    lookup = Nearest(preset.space, recorded)
    return [replay(method, preset.space, lookup, epochs=preset.epochs, budget=budget, seed=seed)
            for seed in seeds]


def run_all(chosen: Sequence[Method], preset: Preset, recorded: Sequence[Recorded], *, budget: int,
            repetitions: int, jobs: int = 1) -> dict[str, Result]:
    """``repetitions`` replays of each method (sampler seeds 0, 1, ...) within ``budget``
    epochs, spread over ``jobs`` processes (the replays are independent: same results)."""
    tasks = [(m, list(range(s, min(s + 5, repetitions)))) for m in chosen for s in range(0, repetitions, 5)]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            futures = [pool.submit(_traces, m, preset, recorded, budget, seeds) for m, seeds in tasks]
            done = [f.result() for f in futures]
    else:
        done = [_traces(m, preset, recorded, budget, seeds) for m, seeds in tasks]
    out: dict[str, Result] = {}
    for method in chosen:
        traces = [t for (m, _), ts in zip(tasks, done, strict=True) if m is method for t in ts]
        curves = np.array([[t.best_at(b) for b in range(budget + 1)] for t in traces])
        out[method.name] = Result(method, traces, curves, band(curves))
    return out


def headline(default: Result, random: Result) -> tuple[float, int, int]:
    """(r, k, n): the median fraction of the budget at which ``default``'s best-so-far first
    reaches random search's median full-budget best (inf: never in at least half of the
    repetitions); in how many of the n repetitions ``default`` is strictly better than
    ``random`` (same repetition index) at 1/3 of the budget."""
    budget = default.curves.shape[1] - 1
    target = float(np.median(random.curves[:, -1]))
    reach = [first_reach(range(budget + 1), c, target) / budget for c in default.curves]
    wins = int((default.at(1 / 3) > random.at(1 / 3)).sum())
    return float(np.median(reach)), wins, len(default.curves)


def table_path(name: str) -> Path:
    return Path(__file__).resolve().parents[1] / f"replay_{name}.csv"
