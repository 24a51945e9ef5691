"""Reporting to an Optuna trial from a training job, wherever the job runs.

The job's trial comes from the sweeper's job-side module
(``hydra_plugins.fmnist_optuna_sweeper.job``): it opens the storage the sweep named in the
``optuna.*`` overrides, with the pruner the sweep stored (only Optuna's own pruner classes,
see ``hydra_plugins.fmnist_optuna_sweeper.pruners``). The job reports its validation metric
every epoch, so pruning works in-process, in a subprocess, or on another machine.

**Steps are epochs completed**: the value of the first epoch is reported as step 1, of the
n-th as step n. So Optuna's ``n_warmup_steps: k`` means "never prune before k epochs are
done" (Optuna prunes only from ``step >= n_warmup_steps``), ``n_startup_trials: n`` means "no
pruning until n trials have *completed*" (pruned ones do not count), and the resource of
successive halving / Hyperband (``min_resource``, ``max_resource``) is counted in epochs.
A trial is never pruned at its last epoch (``trainer.epochs``): its budget is spent, so it
completes with its value instead of being thrown away.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
from hydra_plugins.fmnist_optuna_sweeper.job import JobTrial, trial_of
from hydra_plugins.fmnist_optuna_sweeper.pruners import pruner_from_spec

from fmnist.errors import ConfigError

__all__ = ["OptunaPruning", "pruner_from_spec"]

log = logging.getLogger(__name__)


class OptunaPruning(keras.callbacks.Callback):
    """Reports ``monitor`` to the job's trial after every epoch (step = epochs completed) and
    stops training when the study's pruner says so (``pruned_at`` then holds the epoch). With
    ``epochs`` (the trial's budget) the last epoch is reported but never pruned: the trial has
    spent its budget and completes with its value.

    Multi-objective studies cannot prune (Optuna does not support it): nothing is reported.
    """

    def __init__(self, trial: JobTrial, monitor: str, epochs: int | None = None) -> None:
        super().__init__()
        self.trial, self.monitor, self.epochs = trial, monitor, epochs
        self.enabled = trial.single
        self.pruned_at: int | None = None

    @classmethod
    def for_trial(cls, node: Any, monitor: str, epochs: int | None = None) -> OptunaPruning:
        """The callback for the trial a job's ``optuna`` config node names."""
        trial = trial_of(node)
        if trial is None:
            raise ConfigError("optuna.trial_id is set but optuna.storage is not, got "
                              f"optuna.storage={node.get('storage')!r}")
        return cls(trial, monitor, epochs)

    def report(self, epochs_done: int, value: float) -> bool:
        """Reports ``value`` as step ``epochs_done``; True when the trial should stop."""
        if not self.enabled or not math.isfinite(value):
            return False
        self.trial.report(epochs_done, value)
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
