"""A sweep checks what it is given before its first trial: study names used as paths, enqueued
values against the search space."""

from __future__ import annotations

import importlib
from pathlib import Path

import optuna
import pytest

from tests.test_sweeper import _search, _sqlite, _sweep


def _storage():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.storage")


@pytest.mark.parametrize("name", ["../../../x", "a/b", "a\\b", "..", ".", "", " ", "a\nb"])
def test_study_names_that_name_no_directory_are_refused(name: str) -> None:
    errors = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.errors")
    with pytest.raises(errors.SweepError, match="cannot be used: a study name names a directory"):
        _storage().check_study_name(name)


@pytest.mark.parametrize("name", ["fmnist", "elastic_sgdr", "run 2026-11-24", "x.y", "Ü-study"])
def test_ordinary_study_names_pass(name: str) -> None:
    _storage().check_study_name(name)


def test_a_path_study_name_stops_the_sweep_before_any_trial(tmp_path: Path) -> None:
    proc = _sweep(tmp_path, "names", "hydra.sweeper.study_name=../../../escaped", check=False)
    assert proc.returncode != 0
    assert "study_name='../../../escaped' cannot be used" in proc.stderr


def test_an_enqueued_value_outside_the_search_space_stops_the_sweep(tmp_path: Path) -> None:
    enqueue = "    enqueue:\n      - {optim.learning_rate: 0.003, model.dense_units: 16}"
    conf = _search(tmp_path, "narrowed", extra=enqueue)
    proc = _sweep(tmp_path, "narrowed", "hydra.sweeper.n_trials=1",
                  "optim.learning_rate=tag(log, interval(1e-4, 1e-3))",
                  conf=conf, check=False)
    assert proc.returncode != 0
    assert "enqueue[0]: optim.learning_rate=0.003 is outside the search space" in proc.stderr
    with pytest.raises(KeyError):  # stopped before the study was even created
        optuna.load_study(study_name="narrowed", storage=_sqlite(tmp_path))
