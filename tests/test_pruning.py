"""Pruning step semantics (step = epochs completed) and the shipped pruner configs (the
allowlist that keeps a job from running anything named by the storage is tested with the
sweeper: ``sweeper/tests/test_pruners.py``)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra_plugins.fmnist_optuna_sweeper.job import open_trial
from omegaconf import OmegaConf

from fmnist.pruning import OptunaPruning, pruner_from_spec
from tests.conftest import CONF

MEDIAN = "optuna.pruners.MedianPruner"
GOOD = [0.70, 0.80, 0.85, 0.88]  # validation accuracy after epochs 1..4 of a completed trial
BETTER = [0.72, 0.82, 0.86, 0.89]
BAD = [0.50, 0.60, 0.65, 0.70]

#: (pruner spec, curves of completed trials, the new trial's curve, its budget in epochs,
#:  expected should-stop answer after each epoch it reports)
CASES = {
    "median prunes from the first epoch without warm-up": (
        {"_target_": MEDIAN, "n_startup_trials": 1, "n_warmup_steps": 0},
        [GOOD], BAD, 4, [True]),
    "n_warmup_steps=1 changes nothing: the first report is step 1": (
        {"_target_": MEDIAN, "n_startup_trials": 1, "n_warmup_steps": 1},
        [GOOD], BAD, 4, [True]),
    "n_warmup_steps=2: never before 2 epochs are done": (
        {"_target_": MEDIAN, "n_startup_trials": 1, "n_warmup_steps": 2},
        [GOOD], BAD, 4, [False, True]),
    "n_startup_trials=2 with one completed trial: no pruning": (
        {"_target_": MEDIAN, "n_startup_trials": 2, "n_warmup_steps": 0},
        [GOOD], BAD, 4, [False, False, False, False]),
    "n_startup_trials=2 with two completed trials: pruning": (
        {"_target_": MEDIAN, "n_startup_trials": 2, "n_warmup_steps": 0},
        [GOOD, BETTER], BAD, 4, [True]),
    "a trial above the median runs its whole budget": (
        {"_target_": MEDIAN, "n_startup_trials": 1, "n_warmup_steps": 0},
        [GOOD], BETTER, 4, [False, False, False, False]),
    "never pruned at its last epoch: the budget is spent": (
        {"_target_": MEDIAN, "n_startup_trials": 1, "n_warmup_steps": 2},
        [GOOD], BAD, 2, [False, False]),
    "best value so far counts (a dip after a good epoch is kept)": (
        {"_target_": MEDIAN, "n_startup_trials": 1, "n_warmup_steps": 0},
        [GOOD], [0.75, 0.55, 0.60, 0.90], 4, [False, True]),
    "threshold pruner: below the lower bound from its warm-up step on": (
        {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.6, "n_warmup_steps": 2},
        [], BAD, 4, [False, False, False, False]),
    "threshold pruner: step 2 of a trial stuck at 0.5": (
        {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.6, "n_warmup_steps": 2},
        [], [0.5, 0.5, 0.5, 0.5], 4, [False, True]),
    "no pruner: nothing is pruned": (None, [GOOD], BAD, 4, [False, False, False, False]),
}


def _decisions(tmp_path: Path, spec, completed, curve, epochs) -> list[bool]:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.set_user_attr("pruner", spec)
    for values in completed:
        study.add_trial(optuna.trial.create_trial(
            value=max(values), intermediate_values={i + 1: v for i, v in enumerate(values)}))
    trial = study.ask()
    job = OptunaPruning(open_trial(storage, "s", trial._trial_id), monitor="val_accuracy", epochs=epochs)
    answers = []
    for epoch, value in enumerate(curve[:epochs]):  # the job's loop: stop when told
        answers.append(job.report(epoch + 1, value))
        if answers[-1]:
            break
    return answers


@pytest.mark.parametrize("case", list(CASES))
def test_prune_decisions(tmp_path: Path, case: str) -> None:
    spec, completed, curve, epochs, expected = CASES[case]
    assert _decisions(tmp_path, spec, completed, curve, epochs) == expected


def _pruner_cfg(*overrides: str) -> dict:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
            return {"pruner": OmegaConf.to_container(cfg.hydra.sweeper.pruner, resolve=True),
                    "epochs": cfg.trainer.epochs, "T": cfg.schedule.T}
    finally:
        GlobalHydra.instance().clear()


def test_shipped_searches_wait_for_a_meaningful_signal() -> None:
    full = _pruner_cfg("hparams_search=elastic_sgdr")
    assert full["pruner"]["n_warmup_steps"] == full["T"] == 10  # end of the first SGDR cycle
    assert full["pruner"]["n_startup_trials"] >= 3
    quick = _pruner_cfg("hparams_search=elastic_sgdr_quick")
    assert quick["pruner"]["n_warmup_steps"] == 2 and quick["epochs"] == 4


@pytest.mark.parametrize("search", ["elastic_sgdr", "elastic_sgdr_quick"])
@pytest.mark.parametrize("option", ["hyperband_epochs", "successive_halving_epochs", "nop",
                                    "median_cycle", "median_early"])
def test_pruner_options_count_epochs_up_to_the_budget(search: str, option: str) -> None:
    cfg = _pruner_cfg(f"hparams_search={search}", f"hydra/sweeper/pruner={option}",
                      "trainer.epochs=7")
    pruner = pruner_from_spec(cfg["pruner"])
    if option == "hyperband_epochs":
        assert cfg["pruner"]["max_resource"] == 7 and cfg["pruner"]["min_resource"] == 1
        assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    elif option == "nop":
        assert isinstance(pruner, optuna.pruners.NopPruner)
