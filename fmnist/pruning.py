"""Reporting to an Optuna trial from a training job, wherever the job runs.

The sweeper passes ``optuna.storage``, ``optuna.study_name`` and ``optuna.trial_id`` as
overrides; the job loads the study from the storage and reports its validation metric every
epoch, so pruning works in-process, in a subprocess, or on another machine.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
import optuna
from hydra.utils import instantiate
from hydra_plugins.fmnist_optuna_sweeper.journal import open_storage

__all__ = ["OptunaPruning"]

log = logging.getLogger(__name__)


class OptunaPruning(keras.callbacks.Callback):
    """Reports ``monitor`` to trial ``trial_id`` after every epoch and stops training when the
    study's pruner says so (``pruned_at`` then holds the epoch).

    Multi-objective studies cannot prune (Optuna does not support it): nothing is reported.
    """

    def __init__(self, storage: str, study_name: str, trial_id: int, monitor: str) -> None:
        super().__init__()
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
        # the sweeper stores its pruner's config with the study (storages keep no pruner)
        spec = study.user_attrs.get("pruner")
        study.pruner = instantiate(spec) if spec else optuna.pruners.NopPruner()
        self.trial = optuna.trial.Trial(study, int(trial_id))
        self.monitor = monitor
        self.enabled = len(study.directions) == 1
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.enabled:
            return
        value = float((logs or {}).get(self.monitor, math.nan))
        if not math.isfinite(value):
            return
        self.trial.report(value, step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            log.info("Trial %d pruned at epoch %d (%s=%.4f)", self.trial.number, epoch + 1,
                     self.monitor, value)
            self.model.stop_training = True
