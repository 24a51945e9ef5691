"""A loss that becomes NaN or inf stops training and fails the run / the trial, with the epoch."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from fmnist.app import run
from fmnist.divergence import StopOnNonFinite
from fmnist.errors import ConfigError, TrainingDiverged
from tests.conftest import REPO, run_module

#: plain SGD with a learning rate no network survives: NaN within the first epoch
DIVERGE = ["optim=sgd", "optim.learning_rate=1e12", "trainer.epochs=3"]


@pytest.mark.parametrize(
    ("logs", "message"),
    [
        ({"loss": math.nan, "val_loss": 0.5}, "loss became nan at epoch 4"),
        ({"loss": 0.5, "val_loss": math.inf}, "val_loss became inf at epoch 4"),
        ({"loss": -math.inf}, "loss became -inf at epoch 4"),
    ],
)
def test_non_finite_losses_stop_with_the_epoch(logs: dict, message: str) -> None:
    with pytest.raises(TrainingDiverged, match=message) as info:
        StopOnNonFinite().on_epoch_end(3, logs)
    assert info.value.epoch == 4


def test_finite_and_missing_losses_pass() -> None:
    StopOnNonFinite().on_epoch_end(0, {"loss": 0.3, "val_loss": 1e30})
    StopOnNonFinite().on_epoch_end(0, {"accuracy": math.nan})  # not a monitored name
    with pytest.raises(ConfigError, match="non-empty list"):
        StopOnNonFinite(monitors="loss")


def test_a_diverging_run_fails_whatever_the_objective(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*DIVERGE, "optimized_metric=val_accuracy")
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at epoch 1"):
        run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed"
    assert "at epoch 1" in metrics["note"] and metrics["error"].startswith("TrainingDiverged")
    with open(tmp_path / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 1  # the diverged epoch, then nothing
    assert not (tmp_path / "model.keras").exists()


SEARCH = """\
# @package _global_
defaults:
  - override /hydra/sweeper: optuna
optimized_metric: val_accuracy
data:
  train_size: 200
  eval_size: 100
trainer:
  epochs: 3
  batch_size: 32
optim:
  momentum: 0.0
hydra:
  sweeper:
    study_name: diverge
    n_trials: 1
    n_jobs: 1   # in process: the trial records the exception's type
    params:
      optim.learning_rate: interval(1e11, 1e12)
"""


def test_a_diverging_trial_is_fail_with_the_epoch(tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "hparams_search"
    conf.mkdir(parents=True)
    (conf / "diverge.yaml").write_text(SEARCH)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    proc = run_module("fmnist", "-m", "hparams_search=diverge", "optim=sgd",
                      f"hydra.searchpath=[file://{conf.parent}]",
                      f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.sweeper.storage={storage}",
                      cwd=REPO)
    study = optuna.load_study(study_name="diverge", storage=storage)
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL, proc.stderr[-3000:]
    assert "TrainingDiverged" in trial.user_attrs["error"]
    assert "at epoch 1" in trial.user_attrs["error"]
