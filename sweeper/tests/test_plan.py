"""A sweep's plan from its options and arguments, before any storage is touched (a table)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from hydra_plugins.fmnist_optuna_sweeper.config import OptunaSweeperConf
from hydra_plugins.fmnist_optuna_sweeper.plan import make_plan
from omegaconf import OmegaConf

TPE = {"_target_": "optuna.samplers.TPESampler", "seed": 1}
GRID = {"_target_": "optuna.samplers.GridSampler", "_partial_": True, "seed": None}
MEDIAN = {"_target_": "optuna.pruners.MedianPruner", "n_warmup_steps": 2, "n_startup_trials": None}


def _options(**given: Any):
    defaults = OmegaConf.structured(OptunaSweeperConf)
    keep = {k: defaults[k] for k in defaults if k not in ("_target_", "defaults", "sampler", "pruner")}
    return OmegaConf.create({**keep, **given})


#: (options, sampler, pruner, arguments) -> (directions, n_trials, searched, enqueued, pruner spec)
CASES = {
    "one direction, two parameters": (
        {"n_trials": 5}, TPE, None, ["x=interval(0, 1)", "y=choice(a, b)", "z=3"],
        (["minimize"], 5, ["x", "y"], [], None)),
    "several directions, upper case": (
        {"n_trials": 2, "direction": ["MAXIMIZE", "minimize"]}, TPE, None, ["x=interval(0, 1)"],
        (["maximize", "minimize"], 2, ["x"], [], None)),
    "a grid caps n_trials at its size": (
        {"n_trials": 50}, GRID, None, ["x=choice(1, 2, 3)", "y=range(0, 2)"],
        (["minimize"], 9, ["x", "y"], [], None)),
    "enqueued trials and the pruner's stored spec": (
        {"n_trials": 3, "enqueue": [{"x": 0.5}]}, TPE, MEDIAN, ["x=interval(0, 1)"],
        (["minimize"], 3, ["x"], [{"x": 0.5}], {"_target_": "optuna.pruners.MedianPruner",
                                                "n_warmup_steps": 2})),
}


@pytest.mark.parametrize("case", list(CASES))
def test_plan(case: str) -> None:
    options, sampler, pruner, arguments, expected = CASES[case]
    plan = make_plan(_options(**options), OmegaConf.create(sampler),
                     None if pruner is None else OmegaConf.create(pruner), arguments)
    directions, n_trials, searched, enqueued, spec = expected
    assert plan.directions == directions and plan.n_trials == n_trials
    assert [p.name for p in plan.space.params] == searched
    assert plan.enqueued == enqueued and plan.pruner_spec == spec
    assert isinstance(plan.sampler, optuna.samplers.BaseSampler)
    assert plan.pruner is None or isinstance(plan.pruner, optuna.pruners.MedianPruner)
