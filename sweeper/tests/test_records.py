"""Telling outcomes, the failure count, the fixed settings a study keeps, the results file."""

from __future__ import annotations

import importlib
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState


def _records():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.records")


def _outcome(state: str, values=None, error=None):
    workers = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.workers")
    return workers.Outcome(TrialState[state], values, error)


def test_study_refuses_other_fixed_settings(tmp_path: Path) -> None:
    m = _records()
    errors = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.errors")
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}")
    m.check_settings(study, ["trainer.epochs=20", "seed=1"], accept=False)
    assert study.user_attrs["fixed_overrides"] == {"trainer.epochs": "20", "seed": "1"}
    m.check_settings(study, ["seed=1", "trainer.epochs=20"], accept=False)  # same, any order
    with pytest.raises(errors.SweepError) as info:
        m.check_settings(study, ["trainer.epochs=2", "data.train_size=2000"], accept=False)
    message = str(info.value)
    assert "study 's' was started with other fixed settings" in message
    assert "data.train_size: (unset) -> 2000; seed: 1 -> (unset); trainer.epochs: 20 -> 2" in message
    assert "another hydra.sweeper.study_name" in message
    assert "hydra.sweeper.accept_changed_settings=true" in message
    m.check_settings(study, ["trainer.epochs=2"], accept=True)  # accepted: the new ones are kept
    assert study.user_attrs["fixed_overrides"] == {"trainer.epochs": "2"}


@pytest.mark.parametrize(("rate", "states", "stop_at"), [
    (0.0, ["COMPLETE", "FAIL"], 2),
    (0.5, ["FAIL"], 1),
    (0.5, ["COMPLETE", "FAIL", "COMPLETE", "FAIL"], None),
    (0.5, ["COMPLETE", "FAIL", "FAIL"], 3),
    (1.0, ["FAIL", "FAIL"], None),
])
def test_failure_rate(rate: float, states: list[str], stop_at: int | None) -> None:
    failures = _records().Failures(rate)
    stops = [failures.add(_outcome(s, error="boom" if s == "FAIL" else None)) for s in states]
    first = next((i + 1 for i, r in enumerate(stops) if r), None)
    assert first == stop_at


def test_all_failed() -> None:
    failures = _records().Failures(1.0)
    assert failures.all_failed() is None
    failures.add(_outcome("FAIL", error="ValueError: a"))
    failures.add(_outcome("FAIL", error="ValueError: b"))
    assert failures.all_failed() == "all 2 trials of this sweep failed; last error: ValueError: b"
    failures.add(_outcome("PRUNED"))
    assert failures.all_failed() is None


def test_tell_checks_the_number_of_values() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    trial = study.ask()
    told = _records().tell(study, trial, _outcome("COMPLETE", [1.0]), None)
    assert told.state == TrialState.FAIL and "the study has 2 direction(s)" in told.error
    assert study.trials[0].state == TrialState.FAIL


def test_tell_survives_the_end_of_a_grid() -> None:
    study = optuna.create_study(sampler=optuna.samplers.GridSampler({"x": [1, 2]}))
    for _ in range(2):
        trial = study.ask({"x": optuna.distributions.CategoricalDistribution([1, 2])})
        _records().tell(study, trial, _outcome("COMPLETE", [float(trial.params["x"])]), None)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


def test_results_file_single_and_multi(tmp_path: Path) -> None:
    m = _records()
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    m.write_results(tmp_path / "r.yaml", study, "sqlite:///x.db")
    r = yaml.safe_load((tmp_path / "r.yaml").read_text())
    assert r["name"] == "optuna" and r["best_params"] == study.best_params
    assert r["best_value"] == study.best_value and r["states"] == {"COMPLETE": 3}
    assert r["best_trial_number"] == r["best_trial"] == study.best_trial.number
    multi = optuna.create_study(directions=["minimize", "maximize"])
    multi.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=4)
    m.write_results(tmp_path / "m.yaml", multi, "sqlite:///x.db")
    r = yaml.safe_load((tmp_path / "m.yaml").read_text())
    assert "best_params" not in r
    assert sorted(tuple(s["values"]) for s in r["solutions"]) == sorted(
        tuple(t.values) for t in multi.best_trials)
