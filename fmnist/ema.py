"""An exponential moving average of the weights, used where it matters.

Keras optimizers keep the average when built with ``use_ema=True`` (``optim.use_ema``,
``optim.ema_momentum``), but validate and snapshot the raw weights; only ``fit``'s very end
copies the average in. :class:`EMAWeights` swaps the average in before every validation (so
precise BN recalibrates the statistics *for the averaged weights*, the validation metrics and
the best-weights snapshot taken at the epoch's end are theirs) and the raw weights back in
before the next epoch trains. After the last epoch the averaged weights stay.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["EMAWeights", "uses_ema"]


def uses_ema(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether ``optimizer`` keeps a moving average of the weights."""
    return bool(getattr(optimizer, "use_ema", False))


class EMAWeights(keras.callbacks.Callback):
    """Validation, precise BN and best-weight snapshots see the optimizer's EMA weights.

    Put it before :class:`~fmnist.precise_bn.PreciseBatchNorm` in the callback list (both act
    in ``on_test_begin``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._raw: list[np.ndarray] | None = None
        self.swaps = 0

    def _pairs(self) -> list[tuple[Any, Any]]:
        optimizer = self.model.optimizer
        averages = getattr(optimizer, "_model_variables_moving_average", None) or []
        return [(var, avg) for var, avg in zip(optimizer._trainable_variables, averages, strict=True)
                if avg is not None]

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._raw is not None or int(self.model.optimizer.iterations) == 0:
            return
        pairs = self._pairs()
        self._raw = [np.array(var.numpy()) for var, _ in pairs]
        for var, avg in pairs:
            var.assign(avg)
        self.swaps += 1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._raw is None:
            return
        for (var, _), raw in zip(self._pairs(), self._raw, strict=True):
            var.assign(raw)
        self._raw = None

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._raw = None  # the averaged weights stay (fit's end copies them in as well)
