"""Checking a composed config before any data loads: the run-wide settings' types and ranges,
each option's arguments by the rules of what it builds (:mod:`fmnist.rules`), and the
optimised metric. Each error names the key, the value and the rule."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf

from fmnist.data import check_train_on
from fmnist.errors import ConfigError
from fmnist.metrics import objective_names
from fmnist.rules import Rule, check_option, check_value, rules_for

__all__ = ["RULES", "ConfigCheck", "check_directions", "check_output_dir", "check_swept", "check_value",
           "rule_for", "validate"]

RuleRow = tuple[str, str, Callable[[Any], bool] | None, str]


def _positive(v: Any) -> bool:
    return v > 0


#: the run-wide settings, present whatever the options: (key, type, range check or None, the
#: rule in words); keys absent from a config are skipped. An option's own arguments (a model's
#: dropout, a schedule's period, an optimizer's betas, a data option's sizes and fractions) are
#: checked by the rules of what the option builds (:mod:`fmnist.rules`), not here.
RULES: list[RuleRow] = [
    ("seed", "int", lambda v: v >= 0, "an integer >= 0"),
    ("trainer.epochs", "int", _positive, "an integer >= 1"),
    ("trainer.batch_size", "int", _positive, "an integer >= 1"),
    ("trainer.early_stopping_patience", "int?", _positive, "null or an integer >= 1"),
    ("trainer.restore_best_weights", "bool", None, "true or false"),
    ("trainer.deterministic", "bool", None, "true or false"),
    ("trainer.jit_compile", "bool", None, "true or false"),
    ("trainer.verbose", "verbose", None, "auto, 0, 1 or 2"),
    ("trainer.monitor", "str", None, "a metric name such as val_accuracy"),
    ("trainer.augment_workers", "workers", None, "auto or an integer >= 1"),
    ("trainer.eval_train_size", "int?", _positive, "null or an integer >= 1"),
    ("trainer.bn_recalibration_batches", "int?", _positive, "null or an integer >= 1"),
]


def _register_library_rules() -> None:
    """Load the modules that give Keras' own classes (optimizers, ReduceLROnPlateau) their
    rules; TensorFlow first, quietly (the options' modules import Keras)."""
    from fmnist.quiet import import_tensorflow

    import_tensorflow()
    import fmnist.optimizers
    import fmnist.schedules  # noqa: F401


def rule_for(key: str, cfg: Any = None) -> Rule | None:
    """The rule of ``key``: a run-wide setting's (:data:`RULES`), or an option's argument
    (``optim.beta_1``) by the rules of the ``_target_`` that ``cfg`` gives its group."""
    for row_key, kind, check, text in RULES:
        if row_key == key:
            return Rule(kind, check, text)
    group, _, name = key.partition(".")
    node = OmegaConf.select(cfg, group, default=None) if cfg is not None and name else None
    target = node.get("_target_") if isinstance(node, DictConfig | dict) else None
    if not isinstance(target, str):
        return None
    from hydra.utils import get_object

    _register_library_rules()
    try:
        return rules_for(get_object(target)).get(name)
    except Exception:  # an unknown target: instantiating it reports that
        return None


def _check_options(cfg: DictConfig) -> None:
    """Every top-level node with a ``_target_`` (model, optim, schedule, data) against the rules
    of what it builds, before anything is built."""
    _register_library_rules()
    for group in cfg:
        node = cfg.get(group) if group != "hydra" else None
        if isinstance(node, DictConfig) and "_target_" in node:
            check_option(node, str(group))


def validate(cfg: DictConfig) -> list[str]:
    """Check ``cfg`` against :data:`RULES`, its options' rules and ``optimized_metric``;
    returns the objective names. Interpolations are resolved (so ``${seed}`` is checked as the
    value it becomes)."""
    missing = object()
    for key, kind, check, rule in RULES:
        try:
            value = OmegaConf.select(cfg, key, default=missing, throw_on_missing=False)
        except Exception as exc:  # an interpolation that cannot resolve
            raise ConfigError(f"{key} cannot be read: {exc}") from exc
        if value is missing:
            continue
        check_value(key, value, kind, check, rule)
    _check_options(cfg)
    _check_validation_split(cfg)
    return objective_names(cfg.optimized_metric)


def check_swept(overrides: list[str], cfg: Any = None) -> None:
    """Check every value of the command line's sweeps (``trainer.epochs=1,abc``,
    ``seed=range(-1,3)``, ``optim.beta_1=0.5,2.0`` by the rules of ``cfg``'s optimizer), so a
    bad value stops the multirun before its first job instead of failing (or training) the
    jobs before it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text in overrides:
        try:
            override = parser.parse_override(text)
        except Exception:  # Hydra reports its own syntax errors
            continue
        if not override.is_sweep_override():
            continue
        rule = rule_for(override.key_or_group, cfg)
        if rule is None:
            continue
        try:
            values = list(override.sweep_iterator())
        except Exception:  # interval(...) and other sweeps without a list of values
            continue
        for value in values:
            rule(override.key_or_group, value)


def check_directions(cfg: DictConfig, objectives: list[str]) -> None:
    """A sweep's ``direction`` list and ``optimized_metric`` name as many values."""
    direction = OmegaConf.select(cfg, "hydra.sweeper.direction", default=None)
    if isinstance(direction, ListConfig | list) and len(direction) != len(objectives):
        raise ConfigError(
            f"hydra.sweeper.direction has {len(direction)} directions {list(direction)}, but "
            f"optimized_metric names {len(objectives)} value(s) {objectives}: give one direction "
            "per optimised metric")


def check_output_dir(key: str, path: Any) -> None:
    """``path`` can be created (or is) a writable directory: its nearest existing ancestor is a
    directory this process may write to. Hydra would otherwise fail with a raw ``OSError``."""
    if path is None:
        return
    target = Path(os.path.expanduser(str(path))).absolute()
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{key}={path} cannot be created: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={path} cannot be created: {existing} is not writable")


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

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._stop_on_error(lambda: check_output_dir(
            "hydra.run.dir", OmegaConf.select(config, "hydra.run.dir", default=None)))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        def checks() -> None:
            check_directions(config, validate(config))
            check_swept(list(OmegaConf.select(config, "hydra.overrides.task", default=None) or []),
                        config)
            check_output_dir("hydra.sweep.dir", OmegaConf.select(config, "hydra.sweep.dir",
                                                                  default=None))

        self._stop_on_error(checks)

    @staticmethod
    def _stop_on_error(checks: Callable[[], None]) -> None:
        try:
            checks()
        except ConfigError as exc:
            # Hydra turns an Exception raised by a callback into a warning and goes on: end the
            # program here (message alone, exit 1; HYDRA_FULL_ERROR=1 shows the traceback)
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise SystemExit(1) from exc
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
