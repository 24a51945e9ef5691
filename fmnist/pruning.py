"""Reporting to an Optuna trial from a training job, wherever the job runs.

The sweeper passes ``optuna.storage``, ``optuna.study_name`` and ``optuna.trial_id`` as
overrides; the job loads the study from the storage and reports its validation metric every
epoch, so pruning works in-process, in a subprocess, or on another machine.

**Steps are epochs completed**: the value of the first epoch is reported as step 1, of the
n-th as step n. So Optuna's ``n_warmup_steps: k`` means "never prune before k epochs are
done" (Optuna prunes only from ``step >= n_warmup_steps``), ``n_startup_trials: n`` means "no
pruning until n trials have *completed*" (pruned ones do not count), and the resource of
successive halving / Hyperband (``min_resource``, ``max_resource``) is counted in epochs.
A trial is never pruned at its last epoch (``trainer.epochs``): its budget is spent, so it
completes with its value instead of being thrown away.

The pruner comes from the study's ``pruner`` user attribute, written by the sweeper as a plain
dict ``{_target_: optuna.pruners.X, **kwargs}``. The storage may be shared, so nothing
executable is taken from it: only the Optuna pruner classes in :data:`ALLOWED_PRUNERS` are
built, with plain arguments (numbers, strings, booleans, null) and, for ``PatientPruner``, a
nested pruner spec; anything else is an :class:`UnsafePrunerSpec` error before anything runs.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
import optuna
from hydra_plugins.fmnist_optuna_sweeper.journal import open_storage

from fmnist.errors import ConfigError

__all__ = ["ALLOWED_PRUNERS", "OptunaPruning", "UnsafePrunerSpec", "pruner_from_spec"]

log = logging.getLogger(__name__)

#: the pruners a job builds from a study's ``pruner`` attribute
ALLOWED_PRUNERS = {
    f"optuna.pruners.{name}": getattr(optuna.pruners, name)
    for name in ("MedianPruner", "PercentilePruner", "SuccessiveHalvingPruner", "HyperbandPruner",
                 "ThresholdPruner", "PatientPruner", "WilcoxonPruner", "NopPruner")
}
_NESTED = {"wrapped_pruner"}  # arguments that are themselves pruner specs
_PLAIN = (bool, int, float, str, type(None))


class UnsafePrunerSpec(ConfigError):
    """A study's ``pruner`` attribute names something other than an allowed Optuna pruner, or
    passes it anything but plain values."""


def pruner_from_spec(spec: Any, *, where: str = "pruner") -> optuna.pruners.BasePruner:
    """The pruner a study's ``pruner`` attribute describes (``None`` or ``{}``: no pruning).

    >>> pruner_from_spec({"_target_": "optuna.pruners.MedianPruner", "n_warmup_steps": 2})
    ... # doctest: +ELLIPSIS
    <optuna.pruners._median.MedianPruner object at ...>
    """
    if spec is None or spec == {}:
        return optuna.pruners.NopPruner()
    if not isinstance(spec, dict):
        raise UnsafePrunerSpec(f"{where} must be a mapping with _target_, got {type(spec).__name__}")
    target = spec.get("_target_")
    if target not in ALLOWED_PRUNERS:
        raise UnsafePrunerSpec(
            f"{where}._target_={target!r} is not an allowed pruner; allowed: "
            f"{', '.join(sorted(ALLOWED_PRUNERS))}")
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "_target_":
            continue
        if key.startswith("_"):
            raise UnsafePrunerSpec(f"{where}.{key} is not allowed (only _target_ and arguments)")
        if key in _NESTED and (value is None or isinstance(value, dict)):
            kwargs[key] = None if value is None else pruner_from_spec(value, where=f"{where}.{key}")
        elif isinstance(value, _PLAIN):
            kwargs[key] = value
        else:
            raise UnsafePrunerSpec(
                f"{where}.{key} must be a number, string, boolean or null, got "
                f"{type(value).__name__} {value!r}")
    try:
        pruner: optuna.pruners.BasePruner = ALLOWED_PRUNERS[target](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {target}({kwargs}) failed: {exc}") from exc
    return pruner


class OptunaPruning(keras.callbacks.Callback):
    """Reports ``monitor`` to trial ``trial_id`` after every epoch (step = epochs completed) and
    stops training when the study's pruner says so (``pruned_at`` then holds the epoch). With
    ``epochs`` (the trial's budget) the last epoch is reported but never pruned: the trial has
    spent its budget and completes with its value.

    Multi-objective studies cannot prune (Optuna does not support it): nothing is reported.
    """

    def __init__(self, storage: str, study_name: str, trial_id: int, monitor: str,
                 epochs: int | None = None) -> None:
        super().__init__()
        self.epochs = epochs
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
        # the sweeper stores its pruner's config with the study (storages keep no pruner)
        study.pruner = pruner_from_spec(study.user_attrs.get("pruner"))
        self.trial = optuna.trial.Trial(study, int(trial_id))
        self.monitor = monitor
        self.enabled = len(study.directions) == 1
        self.pruned_at: int | None = None

    def report(self, epochs_done: int, value: float) -> bool:
        """Reports ``value`` as step ``epochs_done``; True when the trial should stop."""
        if not self.enabled or not math.isfinite(value):
            return False
        self.trial.report(value, step=epochs_done)
        if self.epochs is not None and epochs_done >= self.epochs:
            return False  # the budget is spent: the trial completes rather than being pruned
        return self.trial.should_prune()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = float((logs or {}).get(self.monitor, math.nan))
        if self.report(epoch + 1, value):
            self.pruned_at = epoch + 1
            log.info("Trial %d pruned at epoch %d (%s=%.4f)", self.trial.number, epoch + 1,
                     self.monitor, value)
            self.model.stop_training = True
