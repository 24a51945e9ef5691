"""``data.train_on=train+val``: a final model trained on the training and validation images,
with no validation split; what needs one refuses to run, before any data loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fmnist.app import run
from fmnist.data import load_fashion_mnist
from fmnist.errors import ConfigError
from fmnist.validate import validate


def test_validation_is_folded_into_training(data_dir: Path) -> None:
    kept = load_fashion_mnist(data_dir, download=False, train_size=300, eval_size=200, seed=1)
    folded = load_fashion_mnist(data_dir, download=False, train_size=300, eval_size=200, seed=1,
                                train_on="train+val")
    assert len(folded.y_train) == 500 and len(folded.y_val) == 0 and folded.x_val.shape[1:] == (28, 28, 1)
    assert np.array_equal(folded.x_train, np.concatenate([kept.x_train, kept.x_val]))
    assert np.array_equal(folded.y_train, np.concatenate([kept.y_train, kept.y_val]))
    assert np.array_equal(folded.x_test, kept.x_test)


@pytest.mark.parametrize(("overrides", "message"), [
    (["data.train_on=train+val"],
     "trainer.restore_best_weights=True picks epochs by trainer.monitor=val_accuracy, but "
     "data.train_on=train+val leaves no validation split: set trainer.restore_best_weights=false"),
    (["data.train_on=train+val", "trainer.restore_best_weights=false",
      "trainer.early_stopping_patience=3"],
     "set trainer.early_stopping_patience=null"),
    (["data.train_on=val"], "data.train_on must be one of train, train+val, got data.train_on='val'"),
])
def test_what_needs_a_validation_split_refuses_before_data_loads(compose_cfg, tmp_path: Path,
                                                                  overrides, message) -> None:
    cfg = compose_cfg(*overrides)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("+", r"\+")):
        run(cfg)
    assert not (tmp_path / "labels.json").exists()  # written as soon as the data has loaded
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


def test_a_training_metric_may_pick_the_best_weights(compose_cfg) -> None:
    validate(compose_cfg("data.train_on=train+val", "trainer.monitor=loss"))


def test_a_train_plus_val_run(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("data.train_on=train+val", "trainer.restore_best_weights=false",
                      "model=deeper", "trainer.bn_recalibration_batches=2",
                      "optimized_metric=test_accuracy", "trainer.eval_train_size=null")
    value = run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "completed" and "val" not in metrics
    assert value == pytest.approx(metrics["test"]["accuracy"])
    cm = np.loadtxt(tmp_path / "confusion_matrix.csv", delimiter=",", skiprows=1, usecols=range(1, 11))
    assert cm.sum() == 200
    # precise BN ran once, after fit, before the final evaluation (no validation ran it)
    assert len(metrics["bn_recalibration_call_seconds"]) == 1
