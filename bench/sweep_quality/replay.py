"""Any Optuna sampler x pruner x number of workers, replayed on the replay table.

A replayed trial is a real Optuna trial of an in-memory study with the real sampler and
pruner: the sampler proposes parameters in the preset's space, and the trial then reports, epoch
by epoch, the recorded curve of the **nearest recorded configuration** in normalised parameter
space (each numeric parameter scaled to [0, 1] over its range, on a log scale where the
distribution is log; a categorical one adds 1 when it differs). That nearest-neighbour surrogate
is a function of the sampled point, so TPE models the same landscape the table holds, which
a categorical over recorded ids would hide from it. The trial costs the recorded epoch times;
workers are simulated by :func:`sweep_quality.simulate.simulate`.

Step semantics are fmnist's (``fmnist.pruning``): step = epochs completed, never pruned at the
last epoch; a completed trial's value is its best epoch's (the job restores the best weights).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from hydra_plugins.fmnist_optuna_sweeper.search_space import SearchSpace, active, suggest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweep_quality.simulate import simulate
from sweep_quality.table import Recorded

__all__ = ["Method", "Nearest", "Outcome", "Trace", "build", "replay"]


def build(spec: Mapping[str, Any] | None, **override: Any) -> Any:
    """An Optuna sampler or pruner from its config spec (``_target_`` and arguments; unset
    ``None`` arguments dropped), with ``override`` on top. ``None`` or ``{}``: NopPruner."""
    if not spec:
        return optuna.pruners.NopPruner()
    from hydra.utils import get_class

    kwargs = {k: v for k, v in spec.items() if k != "_target_" and v is not None}
    return get_class(str(spec["_target_"]))(**{**kwargs, **override})


class Nearest:
    """The recorded configuration nearest to a point of ``space`` (ties: the lowest id)."""

    def __init__(self, space: SearchSpace, recorded: Sequence[Recorded]) -> None:
        if not recorded:
            raise ValueError("the replay table holds no configuration")
        self.space, self.recorded = space, list(recorded)
        self._points = np.array([self._coords(r.params) for r in self.recorded])

    def _coords(self, params: Mapping[str, Any]) -> list[float]:
        out: list[float] = []
        for p in self.space.params:
            d, value = p.distribution, params.get(p.name)
            if isinstance(d, CategoricalDistribution):
                out.extend(float(value == c) / math.sqrt(2) for c in d.choices)
            elif value is None:
                out.append(-1.0)  # an inactive conditional parameter: far from every value
            else:
                assert isinstance(d, (FloatDistribution, IntDistribution))
                lo, hi, x = float(d.low), float(d.high), float(value)
                if d.log:
                    lo, hi, x = math.log(lo), math.log(hi), math.log(x)
                out.append((x - lo) / (hi - lo) if hi > lo else 0.0)
        return out

    def __call__(self, params: Mapping[str, Any]) -> Recorded:
        distances = ((self._points - np.array(self._coords(params))) ** 2).sum(axis=1)
        return self.recorded[int(np.argmin(distances))]


@dataclass(frozen=True)
class Method:
    """A way to search: a sampler spec, a pruner spec ({}: none), workers, batches.

    Attributes:
        name: shown in tables.
        sampler: ``_target_`` and arguments; its ``seed`` is replaced by each repetition's.
        pruner: ``_target_`` and arguments; ``{}`` for no pruning.
        workers: trials running at once.
        batch: the official plugin's way: a batch of ``workers`` trials, all told before the next.
        enqueue: configurations run first (the preset's ``enqueue``).
    """

    name: str
    sampler: dict[str, Any]
    pruner: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    batch: bool = False
    enqueue: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """A completed trial: the epochs all workers had run and the simulated time when it ended,
    its value, and the recorded configuration it replayed."""

    total_epochs: int
    time: float
    value: float
    config: int


@dataclass(frozen=True)
class Trace:
    """One replayed search: its completed trials in time order, trials started, epochs run,
    and what each trial did, in start order: (recorded config, epochs run, pruned)."""

    outcomes: tuple[Outcome, ...]
    trials: int
    epochs: int
    ran: tuple[tuple[int, int, bool], ...] = ()

    def best_at(self, epochs: float) -> float:
        """Best value of the trials completed within ``epochs`` epochs (0.0: none yet)."""
        return max((o.value for o in self.outcomes if o.total_epochs <= epochs), default=0.0)

    def pick(self, epochs: float) -> Outcome | None:
        """The final pick at a budget: its best completed trial (first of equals)."""
        done = [o for o in self.outcomes if o.total_epochs <= epochs]
        return max(done, key=lambda o: o.value) if done else None


class _Trial:
    """A replayed trial: the sampler's point, the nearest recorded curve, the pruner's say."""

    def __init__(self, study: optuna.Study, space: SearchSpace, lookup: Nearest, epochs: int,
                 outcomes: list[Outcome], clock: list[int]) -> None:
        self.study, self.trial = study, study.ask()
        values: dict[str, Any] = {}
        for param in space.params:
            if active(param, values):
                values[param.name] = suggest(self.trial, param)
        self.curve = lookup(values)
        self.budget = min(epochs, len(self.curve.values))
        self.seconds = self.curve.seconds[:self.budget]
        self.outcomes, self.clock = outcomes, clock
        self.ran: tuple[int, int, bool] | None = None

    def report(self, epoch: int) -> bool:
        self.clock[0] += 1
        self.trial.report(self.curve.values[epoch - 1], epoch)
        return epoch < self.budget and self.trial.should_prune()

    def end(self, epochs: int, stopped: bool) -> None:
        self.ran = (self.curve.config, epochs, stopped)
        if stopped:
            self.study.tell(self.trial, state=optuna.trial.TrialState.PRUNED)
            return
        value = max(self.curve.values[:epochs])
        self.study.tell(self.trial, value)
        self.outcomes.append(Outcome(self.clock[0], 0.0, value, self.curve.config))  # time: below


def replay(method: Method, space: SearchSpace, lookup: Nearest, *, epochs: int, budget: int,
           seed: int) -> Trace:
    """One search by ``method`` on the table until ``budget`` epochs have run in all; trials
    of ``epochs`` epochs at most; the sampler seeded with ``seed``."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", study_name=f"{method.name}-{seed}",
                                sampler=build(method.sampler, seed=seed), pruner=build(method.pruner))
    for params in method.enqueue:
        study.enqueue_trial(dict(params))
    outcomes: list[Outcome] = []
    clock = [0]  # epochs run so far, all workers
    started: list[_Trial] = []

    def start() -> _Trial:
        started.append(_Trial(study, space, lookup, epochs, outcomes, clock))
        return started[-1]

    completions = simulate(start, method.workers, max_epochs=budget, batch=method.batch)
    times = iter(c.time for c in completions if not c.stopped)
    timed = tuple(Outcome(o.total_epochs, next(times), o.value, o.config) for o in outcomes)
    return Trace(timed, len(started), clock[0], tuple(t.ran for t in started if t.ran is not None))
