"""Checking a composed config before any data loads: every known value's type and range, and
the optimised metric. Each error names the key, the value and the rule."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from fmnist.data import check_train_on
from fmnist.errors import ConfigError
from fmnist.metrics import objective_names

__all__ = ["RULES", "ConfigCheck", "check_value", "validate"]

Rule = tuple[str, str, Callable[[Any], bool] | None, str]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def _positive(v: Any) -> bool:
    return v > 0


#: (key, type, range check or None, the rule in words); keys absent from a config are skipped
RULES: list[Rule] = [
    ("seed", "int", None, "an integer"),
    ("trainer.epochs", "int", _positive, "an integer >= 1"),
    ("trainer.batch_size", "int", _positive, "an integer >= 1"),
    ("trainer.early_stopping_patience", "int?", _positive, "null or an integer >= 1"),
    ("trainer.restore_best_weights", "bool", None, "true or false"),
    ("trainer.deterministic", "bool", None, "true or false"),
    ("trainer.jit_compile", "bool", None, "true or false"),
    ("trainer.verbose", "verbose", None, "auto, 0, 1 or 2"),
    ("trainer.monitor", "str", None, "a metric name such as val_accuracy"),
    ("data.train_size", "int?", _positive, "null or an integer >= 1"),
    ("data.eval_size", "int?", _positive, "null or an integer >= 1"),
    ("data.val_fraction", "number", lambda v: 0 < v < 1, "a number in (0, 1)"),
    ("data.test_fraction", "number", lambda v: 0 < v < 1, "a number in (0, 1)"),
    ("optim.learning_rate", "number", _positive, "a number > 0"),
    ("schedule.max_lr", "number", _positive, "a number > 0"),
    ("schedule.min_lr", "number", lambda v: v >= 0, "a number >= 0"),
    ("schedule.T", "number", _positive, "a number > 0"),
    ("schedule.T_mul", "number", lambda v: v >= 1, "a number >= 1"),
    ("schedule.min_lr_fraction", "number?", lambda v: 0 <= v < 1, "null or a number in [0, 1)"),
    ("model.dropout_conv2", "number", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("model.dropout_conv3", "number", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("model.dense_units", "int", _positive, "an integer >= 1"),
]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "number": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "verbose": lambda v: v == "auto" or (_is_int(v) and v in (0, 1, 2)),
}


def check_value(key: str, value: Any, kind: str, check: Callable[[Any], bool] | None,
                rule: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is of ``kind`` (``int?``: null allowed) and
    passes ``check``."""
    if kind.endswith("?"):
        if value is None:
            return
        kind = kind[:-1]
    ok = _TYPES[kind](value) and (check is None or kind in ("bool", "str", "verbose") or check(value))
    if not ok:
        raise ConfigError(f"{key} must be {rule}, got {key}={value!r}")


def validate(cfg: DictConfig) -> list[str]:
    """Check ``cfg`` against :data:`RULES` and ``optimized_metric``; returns the objective
    names. Interpolations are resolved (so ``${seed}`` is checked as the value it becomes)."""
    missing = object()
    for key, kind, check, rule in RULES:
        try:
            value = OmegaConf.select(cfg, key, default=missing, throw_on_missing=False)
        except Exception as exc:  # an interpolation that cannot resolve
            raise ConfigError(f"{key} cannot be read: {exc}") from exc
        if value is missing:
            continue
        check_value(key, value, kind, check, rule)
    _check_validation_split(cfg)
    return objective_names(cfg.optimized_metric)


def _check_validation_split(cfg: DictConfig) -> None:
    """``data.train_on=train+val`` leaves no validation split: what picks epochs by a
    validation metric (the best-weights snapshot, early stopping) cannot run then."""
    train_on = OmegaConf.select(cfg, "data.train_on", default="train")
    check_train_on(train_on)
    monitor = str(OmegaConf.select(cfg, "trainer.monitor", default="val_accuracy"))
    if train_on == "train" or not monitor.startswith("val_"):
        return
    needs = [("trainer.restore_best_weights", "false"), ("trainer.early_stopping_patience", "null")]
    for key, off in needs:
        value = OmegaConf.select(cfg, key, default=None)
        if value:
            raise ConfigError(
                f"{key}={value} picks epochs by trainer.monitor={monitor}, but data.train_on="
                f"{train_on} leaves no validation split: set {key}={off} (or monitor a training "
                "metric, e.g. trainer.monitor=loss)")


class ConfigCheck(Callback):
    """A Hydra callback: a multirun or sweep checks its config once, before its first job
    (``trainer.epochs=two`` or ``optimized_metric=nonsense`` stop it at once instead of failing
    every trial). Swept values are checked by each job as it starts."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            validate(config)
        except ConfigError as exc:
            # Hydra turns an Exception raised by a callback into a warning and goes on: end the
            # program here (message alone, exit 1; HYDRA_FULL_ERROR=1 shows the traceback)
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise SystemExit(1) from exc
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
