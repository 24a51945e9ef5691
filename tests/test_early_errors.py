"""Bad inputs that used to train, or fail after the data loaded with a library's error, are
clear errors before the work starts (issue 22): each names the key, the value and the rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fmnist.errors import ConfigError, DataError
from fmnist.validate import check_directions, check_swept, rule_for

#: the option each option key is checked with: its rules live on what the option builds
_TARGETS = {"optim": "keras.optimizers.SGD", "schedule": "keras.callbacks.ReduceLROnPlateau",
            "model": "fmnist.models.brief"}
_OPTIONS = OmegaConf.create({group: {"_target_": target} for group, target in _TARGETS.items()})


def check_value(key: str, value) -> None:
    rule = rule_for(key, _OPTIONS)
    assert rule is not None, f"no rule for {key}"
    rule(key, value)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("optim.beta_1", 2.0, "optim.beta_1 must be a number in [0, 1), got optim.beta_1=2.0"),
    ("optim.beta_2", 1.0, "optim.beta_2 must be a number in [0, 1)"),
    ("optim.momentum", -1, "optim.momentum must be a number in [0, 1], got optim.momentum=-1"),
    ("optim.rho", "x", "optim.rho must be a number in [0, 1)"),
    ("schedule.factor", 2, "schedule.factor must be a number in (0, 1), got schedule.factor=2"),
    ("schedule.patience", -1, "schedule.patience must be an integer >= 0"),
    ("model.filters", 0, "model.filters must be an integer >= 1, got model.filters=0"),
    ("trainer.augment_workers", "abc", "trainer.augment_workers must be auto or an integer >= 1, "
                                       "got trainer.augment_workers='abc'"),
    ("trainer.augment_workers", 0, "trainer.augment_workers must be auto or an integer >= 1"),
    ("trainer.eval_train_size", 0, "trainer.eval_train_size must be null or an integer >= 1"),
    ("trainer.bn_recalibration_batches", 0, "must be null or an integer >= 1"),
    ("seed", -1, "seed must be an integer >= 0, got seed=-1"),
])
def test_new_rules_name_key_value_and_rule(key: str, value, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_value(key, value)


@pytest.mark.parametrize(("key", "value"), [
    ("optim.beta_1", 0.0), ("optim.momentum", 1.0), ("schedule.factor", 0.5),
    ("trainer.augment_workers", "auto"), ("trainer.augment_workers", 4), ("seed", 0),
    ("trainer.eval_train_size", None), ("model.filters", 32),
])
def test_new_rules_accept_good_values(key: str, value) -> None:
    check_value(key, value)


@pytest.mark.parametrize(("overrides", "message"), [
    (["trainer.epochs=1,abc"], "got trainer.epochs='abc'"),
    (["model=brief,deeper", "seed=range(-1,3)"], "got seed=-1"),
    (["optim.beta_1=0.5,2.0"], "got optim.beta_1=2.0"),
    (["+trainer.batch_size=glob(*)"], None),  # no list of values: left to the jobs
    (["trainer.epochs=1,2", "optim.learning_rate=interval(0.1,1)", "model=brief,deeper"], None),
])
def test_every_swept_value_is_checked(overrides: list[str], message: str | None) -> None:
    if message is None:
        check_swept(overrides, _OPTIONS)
        return
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_swept(overrides, _OPTIONS)


@pytest.mark.parametrize(("direction", "metric", "ok"), [
    (["maximize", "minimize"], "val_accuracy", False),
    (["maximize"], ["val_accuracy", "val_loss"], False),
    (["maximize", "minimize"], ["val_accuracy", "val_loss"], True),
    ("maximize", "val_accuracy", True),
    (None, "val_accuracy", True),
])
def test_directions_and_objectives_agree(direction, metric, ok: bool) -> None:
    from fmnist.metrics import objective_names

    cfg = OmegaConf.create({"hydra": {"sweeper": {"direction": direction}}, "optimized_metric": metric})
    objectives = objective_names(cfg.optimized_metric)
    if ok:
        check_directions(cfg, objectives)
    else:
        with pytest.raises(ConfigError, match="give one direction per optimised metric"):
            check_directions(cfg, objectives)


@pytest.mark.parametrize(("fraction", "n", "classes", "ok"), [
    (0.1, 60000, 10, True),
    (0.0001, 60000, 10, False),   # 6 images held out for 10 classes
    (0.9999, 60000, 10, False),   # 6 left to train
    (10 / 60000, 60000, 10, True),
    (0.2, 40, 5, True),
    (0.1, 40, 5, False),
])
def test_a_split_keeps_every_class_on_both_sides(fraction: float, n: int, classes: int,
                                                  ok: bool) -> None:
    from fmnist.data.splits import check_split

    if ok:
        check_split("data.val_fraction", fraction, n, classes)
    else:
        with pytest.raises(ConfigError, match=r"data\.val_fraction=.* holds out \d+ of \d+ images"):
            check_split("data.val_fraction", fraction, n, classes)


def test_a_tiny_val_fraction_and_a_file_as_directory_fail_before_the_split(data_dir: Path,
                                                                            tmp_path: Path) -> None:
    from fmnist.data import load_fashion_mnist

    with pytest.raises(ConfigError, match=r"data\.val_fraction=0\.0001 holds out 6 of 60000"):
        load_fashion_mnist(data_dir, download=False, val_fraction=0.0001)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match=r"data\.directory=.*file is a file"):
        load_fashion_mnist(blocker, download=True)


@pytest.mark.parametrize(("layer", "kwargs", "message"), [
    ("RandomAffine", {"rotation_range": "abc"},
     "rotation_range must be a number >= 0, got rotation_range='abc'"),
    ("RandomAffine", {"zoom_range": "x"}, "zoom_range must be a number in [0, 1) or [low, high]"),
    ("RandomAffine", {"zoom_range": [0.5, "y"]}, "zoom_range must be a number or [low, high]"),
    ("RandomAffine", {"vertical_flip": "yes"}, "vertical_flip must be true or false"),
    ("ElasticDistortion", {"sigma": "wide"}, "sigma must be a number > 0, got sigma='wide'"),
    ("ElasticDistortion", {"alpha": [float("nan"), 3]}, "alpha must be a number or [low, high]"),
])
def test_augment_constructors_name_a_bad_value(layer: str, kwargs: dict, message: str) -> None:
    import fmnist.augment

    with pytest.raises(ConfigError, match=re.escape(message)):
        getattr(fmnist.augment, layer)(**kwargs)


def test_eval_train_size_below_the_classes_fails_before_training() -> None:
    from fmnist.app import _check_eval_train_size

    with pytest.raises(ConfigError, match=r"at least the number of classes \(10\), got "
                                          r"trainer\.eval_train_size=3"):
        _check_eval_train_size(3, 10)
    _check_eval_train_size(None, 10)
    _check_eval_train_size(10, 10)


def test_an_output_directory_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    from fmnist.validate import check_output_dir

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"hydra\.run\.dir=.*/file/run/1 cannot be created: .*/file "
                                          r"is a file"):
        check_output_dir("hydra.run.dir", blocker / "run" / "1")
    check_output_dir("hydra.run.dir", tmp_path / "new" / "deeper")  # creatable
    check_output_dir("hydra.run.dir", None)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("mode", ["run", "multirun"])
def test_a_run_under_a_file_stops_before_hydra_creates_it(tmp_path: Path, mode: str) -> None:
    from tests.conftest import run_module

    blocker = tmp_path / "file"
    blocker.write_text("x")
    key = "hydra.run.dir" if mode == "run" else "hydra.sweep.dir"
    args = ["-m", "seed=1,2"] if mode == "multirun" else []
    proc = run_module("fmnist", *args, f"{key}={blocker}/out", "data.train_size=300", cwd=tmp_path,
                      timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"error: {key}={blocker}/out cannot be created: {blocker} is a file" in proc.stderr
    assert "Traceback" not in proc.stderr
