from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from hydra.utils import instantiate

from fmnist.app import available_metrics, run
from fmnist.errors import ConfigError
from tests.conftest import CONF, REPO, run_module

ARTIFACTS = {"history.csv", "metrics.json", "confusion_matrix.csv", "confusion_matrix.png",
             "model.keras", "labels.json"}


def _read_history(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_run_writes_every_artifact(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("model=brief", "trainer.epochs=2")
    value = run(cfg)
    assert {p.name for p in tmp_path.iterdir()} >= ARTIFACTS
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    assert value == pytest.approx(metrics["val"]["accuracy"])
    for split in ("train", "val", "test"):
        assert set(metrics[split]) >= {"loss", "accuracy", "precision_macro", "recall_macro",
                                       "f1_macro", "precision_weighted", "recall_weighted",
                                       "f1_weighted"}
    assert metrics["params"] == 804_682 and metrics["wall_seconds"] > 0
    rows = _read_history(tmp_path / "history.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy",
                            "learning_rate", "seconds"}
    assert float(rows[0]["learning_rate"]) == pytest.approx(0.001)
    cm = np.loadtxt(tmp_path / "confusion_matrix.csv", delimiter=",", skiprows=1,
                    usecols=range(1, 11))
    assert cm.sum() == 200  # eval_size test images
    assert np.trace(cm) / cm.sum() == pytest.approx(metrics["test"]["accuracy"])
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert labels["class_values"] == list(range(10)) and labels["class_names"][9] == "Ankle boot"
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert model.count_params() == 804_682


def test_unknown_optimized_metric_lists_the_available(compose_cfg) -> None:
    cfg = compose_cfg("optimized_metric=val_acc")
    with pytest.raises(ConfigError, match="val_acc") as info:
        run(cfg)
    assert "val_accuracy" in str(info.value) and "test_f1_macro" in str(info.value)


def test_multi_objective_returns_a_tuple(compose_cfg) -> None:
    cfg = compose_cfg("optimized_metric=[val_accuracy,train_seconds]")
    value = run(cfg)
    assert isinstance(value, tuple) and len(value) == 2 and value[1] > 0
    assert set(available_metrics()) >= {"val_accuracy", "train_seconds", "test_f1_weighted"}


def test_same_seed_same_metrics_on_cpu(compose_cfg, tmp_path: Path) -> None:
    first = run(compose_cfg("model=deeper", "seed=5"))
    m1 = json.loads((tmp_path / "metrics.json").read_text())
    second = run(compose_cfg("model=deeper", "seed=5"))
    m2 = json.loads((tmp_path / "metrics.json").read_text())
    assert first == second
    assert m1["test"] == m2["test"] and m1["train"] == m2["train"]


def test_a_failed_run_records_its_error(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("model.dropout_conv2=1.5", "model=deeper")
    with pytest.raises(ConfigError):
        run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "dropout_conv2" in metrics["error"]


GROUPS = {
    group: sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    for group in ("data", "model", "optim", "augment", "schedule")
}


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g, options in GROUPS.items() for o in options]
)
def test_every_config_option_instantiates(compose_cfg, kaggle_files, group, option,
                                          monkeypatch) -> None:
    monkeypatch.setenv("FMNIST_KAGGLE_TRAIN", str(kaggle_files[0]))
    extra = ["model.weights=null"] if option in ("resnet152", "vgg16") else []
    if option == "kaggle":  # its 1,500 images hold 150 validation images, less than TINY's 200
        extra = ["data.eval_size=100"]
    cfg = compose_cfg(f"{group}={option}", *extra)
    node = cfg[group]
    if group == "augment":
        layers = [instantiate(layer)(seed=0) for layer in node.values()]
        assert all(isinstance(layer, keras.layers.Layer) for layer in layers)
    elif group == "model":
        model = instantiate(node)(input_shape=(28, 28, 1), num_classes=5)
        assert model.output_shape == (None, 5)
    elif group == "optim":
        assert isinstance(instantiate(node), keras.optimizers.Optimizer)
    elif group == "schedule":
        assert isinstance(instantiate(node), keras.callbacks.Callback)
    else:
        splits = instantiate(node)
        assert len(splits.y_train) == 300 and splits.input_shape == (28, 28, 1)


EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", [
    # ResNet152 is the heaviest (about 25 s for one tiny epoch on 2 cores): full runs only;
    # vgg16 keeps a transfer model in the default run
    pytest.param(n, marks=pytest.mark.slow) if n == "resnet152" else n for n in EXPERIMENTS])
def test_every_experiment_composes_and_runs_one_short_epoch(compose_cfg, tmp_path, name) -> None:
    extra = ["model.weights=null", "data.train_size=64", "data.eval_size=64"] if name in (
        "resnet152", "vgg16") else []
    cfg = compose_cfg(f"+experiment={name}", *extra)
    notebook_epochs = 80 if name == "deeper" else 100
    assert cfg.trainer.batch_size == 32  # shrunk by the fixture after the experiment's 128
    cfg.trainer.epochs = 1
    run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 1
    assert notebook_epochs in (80, 100)
    if name in ("deeper_affine", "deeper_elastic"):
        assert (tmp_path / "augment_preview.png").stat().st_size > 5000
    if name == "deeper_elastic":
        rows = _read_history(tmp_path / "history.csv")
        # SGDR: after one of 10 epochs the rate has fallen from max_lr along the cosine
        assert 0.001 < float(rows[0]["learning_rate"]) < 0.006


def test_experiment_configs_reproduce_the_notebook(compose_cfg) -> None:
    cfg = compose_cfg("+experiment=deeper_elastic", tiny=False)
    assert cfg.model._target_ == "fmnist.models.deeper"
    assert cfg.optim._target_ == "keras.optimizers.Adamax"
    assert (cfg.schedule.max_lr, cfg.schedule.min_lr, cfg.schedule.T, cfg.schedule.T_mul) == (
        0.006, 0.001, 10, 1)
    assert list(cfg.augment.elastic.alpha) == [10, 12] and cfg.augment.elastic.sigma == 3.0
    assert cfg.augment.shift_flip.height_shift_range == 2 and cfg.augment.shift_flip.horizontal_flip
    assert (cfg.trainer.batch_size, cfg.trainer.epochs) == (128, 100)
    deeper = compose_cfg("+experiment=deeper", tiny=False)
    assert deeper.trainer.epochs == 80 and deeper.optim._target_ == "keras.optimizers.Adam"


def test_kaggle_run_trains_and_writes_a_submission(compose_cfg, kaggle_files, tmp_path,
                                                   monkeypatch) -> None:
    train, pred = kaggle_files
    cfg = compose_cfg("data=kaggle", f"data.path={train}", f"data.predict_path={pred}",
                      "data.train_size=null", "data.eval_size=null")
    run(cfg)
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert labels["class_values"] == [1, 2, 3, 4, 5]
    rows = _read_history(tmp_path / "history.csv")
    assert len(rows) == 1
    with open(tmp_path / "submission.csv") as f:
        sub = list(csv.reader(f))
    assert sub[0] == ["id", "target"] and len(sub) == 41
    assert [int(r[0]) for r in sub[1:]] == list(range(1000, 1040))
    assert {int(r[1]) for r in sub[1:]} <= {1, 2, 3, 4, 5}


def test_training_learns_after_a_few_hundred_steps(compose_cfg, tmp_path) -> None:
    """~280 steps of the brief CNN: well above the 10 % of chance on the real test images."""
    cfg = compose_cfg("data.train_size=3000", "data.eval_size=1000", "trainer.epochs=3")
    run(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.7


def test_multirun_makes_one_directory_per_job(data_dir, tmp_path) -> None:
    sweep = tmp_path / "multirun"
    proc = run_module(
        "fmnist", "-m", "model=brief,deeper", "optim=adam,adamax", "trainer.epochs=1",
        "data.train_size=300", "data.eval_size=200", f"hydra.sweep.dir={sweep}",
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    seen = set()
    for job in jobs:
        assert {p.name for p in job.iterdir()} >= ARTIFACTS
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        seen.add(tuple(sorted(line for line in overrides.splitlines()
                              if "model=" in line or "optim=" in line)))
        assert json.loads((job / "metrics.json").read_text())["status"] == "completed"
    assert len(seen) == 4
    # a line per epoch inside a multirun, not a progress bar
    assert "━" not in proc.stdout
    # and the summary report is written at the end without any extra command
    assert (sweep / "summary" / "report.html").exists()


def test_pruning_reports_the_optimised_metric_when_it_is_logged_every_epoch() -> None:
    from fmnist.app import _pruning_monitor

    assert _pruning_monitor(None, ["val_loss"]) == "val_loss"
    assert _pruning_monitor(None, ["val_accuracy", "train_seconds"]) == "val_accuracy"
    assert _pruning_monitor(None, ["test_f1_macro"]) == "val_accuracy"
    assert _pruning_monitor("loss", ["val_accuracy"]) == "loss"
    with pytest.raises(ConfigError, match=r"optuna\.monitor must be one of .*, got 'test_accuracy'"):
        _pruning_monitor("test_accuracy", ["val_accuracy"])
