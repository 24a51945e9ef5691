"""Short trials tell the truth: with precise BatchNorm statistics a few epochs on a few
thousand images give real test accuracy (issue 9's done-when figures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from fmnist.app import run
from tests.conftest import REPO, run_module


@pytest.mark.slow  # suite time: a faster sibling keeps the feature in the default run
def test_deeper_two_epochs_on_5000_images(compose_cfg, tmp_path: Path) -> None:
    run(compose_cfg("model=deeper", "trainer.epochs=2", "data.train_size=5000",
                    "data.eval_size=2000", "trainer.batch_size=128", tiny=False))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.70
    assert metrics["bn_recalibration_seconds"] > 0


def test_a_pruned_run_skips_the_final_evaluation(compose_cfg, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.set_user_attr("pruner", {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.99})
    trial = study.ask()
    cfg = compose_cfg("trainer.epochs=3", f"++optuna.storage={storage}", "optuna.study_name=s",
                      f"optuna.trial_id={trial._trial_id}", f"optuna.trial_number={trial.number}")
    with pytest.raises(optuna.TrialPruned, match="epoch 1"):
        run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "pruned" and metrics["epochs"] == 1
    assert set(metrics["val"]) == {"accuracy", "loss"} and "test" not in metrics
    assert not (tmp_path / "confusion_matrix.csv").exists()


def test_train_metrics_on_a_stratified_subset(compose_cfg, tmp_path: Path) -> None:
    from fmnist.data import stratified_indices

    y = np.repeat(np.arange(10), 30)
    keep = stratified_indices(y, 100, seed=0, what="trainer.eval_train_size")
    assert len(keep) == 100 and np.all(np.bincount(y[keep]) == 10)
    assert len(stratified_indices(y, None, seed=0, what="trainer.eval_train_size")) == 300


@pytest.mark.slow
def test_deeper_on_a_5_class_kaggle_file(fashion, compose_cfg, tmp_path: Path) -> None:
    """~12,000 real images of five classes in the notebook's format, 3 epochs."""
    from tests.npy_files import write_kaggle_file

    keep = np.isin(fashion.y_train, [0, 1, 2, 3, 4])
    x, y = fashion.x_train[keep][:12000, ..., 0], fashion.y_train[keep][:12000]
    path = write_kaggle_file(tmp_path / "train.npy", x, target=y + 1.0)
    run(compose_cfg("data=kaggle", f"data.path={path}", "model=deeper", "trainer.epochs=3",
                    "trainer.batch_size=128", tiny=False))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.80


@pytest.mark.slow
def test_a_4_trial_elastic_sgdr_sweep_finds_a_real_model(data_dir, tmp_path: Path) -> None:
    proc = run_module(
        "fmnist", "-m", "hparams_search=elastic_sgdr", "hydra.sweeper.n_trials=4",
        "hydra.sweeper.study_name=short", f"hydra.sweeper.storage=sqlite:///{tmp_path}/s.db",
        f"hydra.sweep.dir={tmp_path}/sweep", "trainer.epochs=2", "data.train_size=5000",
        "data.eval_size=2000", "hydra.callbacks.summary.enabled=false", cwd=REPO, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="short", storage=f"sqlite:///{tmp_path}/s.db")
    assert len(study.trials) == 4 and study.best_value >= 0.70
