"""Config validation: each rule against good and bad values (types included)."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from fmnist.errors import ConfigError
from fmnist.validate import rule_for

#: the option each option key is checked with: its rules live on what the option builds
_OPTIONS = OmegaConf.create({"optim": {"_target_": "keras.optimizers.Adam"},
                             "schedule": {"_target_": "fmnist.schedules.SGDR"},
                             "model": {"_target_": "fmnist.models.deeper"},
                             "data": {"_target_": "fmnist.data.load_fashion_mnist"}})


def check_value(key: str, value) -> None:
    rule = rule_for(key, _OPTIONS)
    assert rule is not None, f"no rule for {key}"
    rule(key, value)


@pytest.mark.parametrize(("key", "value"), [
    ("trainer.epochs", 3), ("trainer.batch_size", 1), ("trainer.early_stopping_patience", None),
    ("data.train_size", None), ("data.train_size", 300), ("data.val_fraction", 0.1),
    ("optim.learning_rate", 1e-3), ("optim.learning_rate", 1), ("trainer.verbose", "auto"),
    ("trainer.verbose", 2), ("schedule.min_lr_fraction", None), ("model.dropout_conv2", 0.0),
    ("trainer.restore_best_weights", False), ("seed", 0),
])
def test_good_values_pass(key: str, value) -> None:
    check_value(key, value)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("trainer.epochs", "two", "trainer.epochs must be an integer >= 1, got trainer.epochs='two'"),
    ("trainer.epochs", 0, "trainer.epochs must be an integer >= 1, got trainer.epochs=0"),
    ("trainer.epochs", 2.5, "got trainer.epochs=2.5"),
    ("trainer.epochs", True, "got trainer.epochs=True"),
    ("trainer.batch_size", None, "trainer.batch_size must be an integer >= 1"),
    ("data.train_size", -5, "data.train_size must be null or an integer >= 1"),
    ("data.val_fraction", 1.0, "data.val_fraction must be a number in (0, 1)"),
    ("optim.learning_rate", "fast", "optim.learning_rate must be a number > 0"),
    ("optim.learning_rate", float("nan"), "optim.learning_rate must be a number > 0"),
    ("trainer.verbose", 3, "trainer.verbose must be auto, 0, 1 or 2"),
    ("trainer.restore_best_weights", "yes", "must be true or false"),
    ("model.dropout_conv2", 1.0, "model.dropout_conv2 must be in [0, 1), got model.dropout_conv2=1.0"),
    ("seed", "42a", "seed must be an integer"),
])
def test_bad_values_name_key_value_and_rule(key: str, value, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_value(key, value)


def test_the_composed_config_is_validated(compose_cfg) -> None:
    from fmnist.validate import validate

    assert validate(compose_cfg()) == ["val_accuracy"]
    with pytest.raises(ConfigError, match=r"trainer\.batch_size must be an integer >= 1"):
        validate(compose_cfg("trainer.batch_size=many"))
    with pytest.raises(ConfigError, match="optimized_metric"):
        validate(compose_cfg("optimized_metric=val_acc"))


@pytest.mark.parametrize(("overrides", "message"), [
    (["optimized_metric=nonsense", "model=brief,deeper"], "optimized_metric=['nonsense'] is not a metric"),
    (["hparams_search=elastic_sgdr", "trainer.epochs=two"], "trainer.epochs must be an integer >= 1"),
    # issue 22: a swept value, and directions that do not match the objectives
    (["trainer.epochs=1,abc"], "trainer.epochs must be an integer >= 1, got trainer.epochs='abc'"),
    (["hparams_search=elastic_sgdr", "hydra.sweeper.direction=[maximize,minimize]"],
     "hydra.sweeper.direction has 2 directions ['maximize', 'minimize'], but optimized_metric "
     "names 1 value(s)"),
])
def test_a_multirun_checks_its_config_before_the_first_job(tmp_path, overrides, message) -> None:
    """Issue 12: a bad setting stops a sweep at once, not after every trial has failed."""
    from tests.conftest import run_module

    proc = run_module("fmnist", "-m", *overrides, "data.train_size=300", cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("metrics.json")), "a job ran"
    assert not list(tmp_path.rglob("optuna.db")), "the study was opened"
