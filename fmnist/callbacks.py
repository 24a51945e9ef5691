"""The callbacks of ``fit``, assembled from the ``trainer.*`` flags: the learning-rate schedule,
the history, the stop on a non-finite loss, and those the flags turn on (best weights, early
stopping, precise BatchNorm, the EMA swap) or a sweep adds (pruning)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
from hydra.utils import instantiate

from fmnist.data import Splits
from fmnist.divergence import StopOnNonFinite
from fmnist.ema import EMAWeights, uses_ema
from fmnist.precise_bn import PreciseBatchNorm, batch_norm_layers
from fmnist.pruning import OptunaPruning
from fmnist.train import BestWeights, EpochLogger

__all__ = ["Callbacks", "build_callbacks"]


@dataclass
class Callbacks:
    """One run's callbacks; the run reads some of them after training (the history, the best
    epoch, the pruned epoch, precise BN)."""

    schedule: keras.callbacks.Callback
    history: EpochLogger
    best: BestWeights | None = None
    early_stopping: keras.callbacks.EarlyStopping | None = None
    pruning: OptunaPruning | None = None
    precise_bn: PreciseBatchNorm | None = None
    ema: EMAWeights | None = None
    stop_on_non_finite: StopOnNonFinite = field(default_factory=StopOnNonFinite)

    def ordered(self) -> list[keras.callbacks.Callback]:
        """In the order they run: the EMA swap first (validation, precise BN and best-weight
        snapshots use the averaged weights), precise BN before every validation."""
        callbacks = [self.ema, self.precise_bn, self.schedule, self.history, self.stop_on_non_finite,
                     self.best, self.early_stopping, self.pruning]
        return [c for c in callbacks if c is not None]

    @property
    def pruned_at(self) -> int | None:
        """The epoch the trial's pruner stopped training at (None: not pruned)."""
        return self.pruning.pruned_at if self.pruning is not None else None


def build_callbacks(trainer: Any, schedule: Any, model: keras.Model,
                    optimizer: keras.optimizers.Optimizer, splits: Splits, *, history: Path,
                    seed: int, pruning: OptunaPruning | None = None) -> Callbacks:
    """The callbacks for ``cfg.trainer`` and ``cfg.schedule`` (instantiated here); the history
    goes to ``history``, precise BN draws its batches with ``seed``."""
    bn_batches = trainer.get("bn_recalibration_batches")
    patience = trainer.early_stopping_patience
    return Callbacks(
        schedule=instantiate(schedule),
        history=EpochLogger(history),
        best=BestWeights(trainer.monitor) if trainer.restore_best_weights else None,
        early_stopping=keras.callbacks.EarlyStopping(monitor=trainer.monitor, patience=int(patience))
        if patience else None,
        pruning=pruning,
        # precise BN before every validation: fresh statistics for the current weights
        precise_bn=PreciseBatchNorm(splits.x_train, int(trainer.batch_size), int(bn_batches), seed=seed)
        if bn_batches and batch_norm_layers(model) else None,
        ema=EMAWeights() if uses_ema(optimizer) else None,
    )
