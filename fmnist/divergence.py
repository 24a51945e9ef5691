"""Stop training when the loss stops being a number.

A learning rate too large for a model makes the loss ``nan`` or ``inf``; training on is wasted
time, and the run's metrics (an accuracy of one class, say) would still look like a result.
:class:`StopOnNonFinite` ends training at the first epoch whose loss is not finite by raising
:class:`~fmnist.errors.TrainingDiverged`, which names the metric, its value and the epoch: the
run's ``metrics.json`` says ``failed`` with that note and a sweep records the trial as FAIL,
whatever its objective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras

from fmnist.errors import ConfigError, TrainingDiverged

__all__ = ["StopOnNonFinite"]


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises :class:`TrainingDiverged` at the end of the first epoch where one of
    ``monitors`` is logged as ``nan`` or ``inf``.

    The check is made once per epoch, from the epoch's logs, so it costs nothing per batch;
    a diverged epoch is the most it lets run.

    Args:
        monitors: logged names to check (missing ones are skipped, e.g. ``val_loss`` when
            there is no validation data).

    >>> StopOnNonFinite().on_epoch_end(2, {"loss": float("nan")})
    Traceback (most recent call last):
    fmnist.errors.TrainingDiverged: loss became nan at epoch 3: training stopped ...
    """

    def __init__(self, monitors: Sequence[str] = ("loss", "val_loss")) -> None:
        super().__init__()
        if isinstance(monitors, str) or not monitors:
            raise ConfigError(f"monitors must be a non-empty list of names, got {monitors!r}")
        self.monitors = list(monitors)

    def get_config(self) -> dict[str, Any]:
        return {"monitors": self.monitors}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for name in self.monitors:
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                raise TrainingDiverged(
                    f"{name} became {float(value)} at epoch {epoch + 1}: training stopped (the "
                    "run diverged; a smaller learning rate usually helps)",
                    epoch=epoch + 1,
                )
