"""Learning-rate schedules as Keras callbacks, set every batch: SGDR (as the notebook applies
it) and a one-cycle warmup + cosine decay."""

from __future__ import annotations

import math
from typing import Any

import keras

from fmnist.errors import ConfigError

__all__ = ["SGDR", "ConstantLR", "WarmupCosine", "sgdr_learning_rate", "warmup_cosine_learning_rate"]


def _restart_steps(period_epochs: float, steps_per_epoch: int) -> int:
    """The first step count ``s`` since a restart with ``s / steps_per_epoch >= period``."""
    s = max(1, math.ceil(period_epochs * steps_per_epoch))
    while s > 1 and (s - 1) / steps_per_epoch >= period_epochs:
        s -= 1
    while s / steps_per_epoch < period_epochs:
        s += 1
    return s


def sgdr_learning_rate(
    step: int, steps_per_epoch: int, max_lr: float, min_lr: float, T: float, T_mul: float = 1.0
) -> float:
    """The learning rate of batch ``step`` (0-based, counted from the start of training).

    ``lr = min_lr + 0.5 (max_lr - min_lr) (1 + cos(pi T_cur / T))`` where ``T_cur`` is the
    number of epochs (``steps / steps_per_epoch``) since the last restart; at ``T_cur >= T``
    the schedule restarts and ``T *= T_mul`` (Loshchilov & Hutter 2016, as in the notebook).

    >>> sgdr_learning_rate(0, 100, 0.006, 0.001, T=10)
    0.006
    """
    period = float(T)
    since = step
    while True:
        length = _restart_steps(period, steps_per_epoch)
        if since < length:
            break
        since -= length
        period *= T_mul
    t_cur = since / steps_per_epoch
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * t_cur / period))


class SGDR(keras.callbacks.Callback):
    """Cosine annealing with warm restarts, set before every batch.

    Args:
        max_lr: learning rate at each (re)start.
        min_lr: learning rate at the end of each period; ``0 <= min_lr < max_lr``.
        T: first period in epochs (> 0).
        T_mul: factor applied to the period at each restart (>= 1).
        min_lr_fraction: when given (in [0, 1)), ``min_lr = min_lr_fraction * max_lr``, so a
            search over it keeps ``min_lr < max_lr`` by construction.
    """

    def __init__(
        self,
        max_lr: float,
        min_lr: float = 0.0,
        T: float = 10.0,
        T_mul: float = 1.0,
        min_lr_fraction: float | None = None,
    ) -> None:
        super().__init__()
        if min_lr_fraction is not None:
            if not 0 <= min_lr_fraction < 1:
                raise ConfigError(
                    f"schedule.min_lr_fraction must be in [0, 1), got {min_lr_fraction}"
                )
            min_lr = min_lr_fraction * max_lr
        self.min_lr_fraction = min_lr_fraction
        if not 0 <= min_lr < max_lr:
            raise ConfigError(
                f"schedule needs 0 <= min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}"
            )
        if T <= 0:
            raise ConfigError(f"schedule.T must be > 0 epochs, got T={T}")
        if T_mul < 1:
            raise ConfigError(f"schedule.T_mul must be >= 1, got T_mul={T_mul}")
        self.max_lr, self.min_lr, self.T, self.T_mul = max_lr, min_lr, T, T_mul
        self._step = 0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps = int(self.params.get("steps") or 1)
        lr = sgdr_learning_rate(self._step, steps, self.max_lr, self.min_lr, self.T, self.T_mul)
        self.model.optimizer.learning_rate.assign(lr)
        self._step += 1

    def get_config(self) -> dict[str, Any]:
        return {"max_lr": self.max_lr, "min_lr": self.min_lr, "T": self.T, "T_mul": self.T_mul,
                "min_lr_fraction": self.min_lr_fraction}


class ConstantLR(keras.callbacks.Callback):
    """The optimizer's own learning rate, unchanged (the ``constant`` schedule)."""


def warmup_cosine_learning_rate(
    step: int, total_steps: int, max_lr: float, warmup_steps: int,
    start_fraction: float = 0.0, final_fraction: float = 0.0,
) -> float:
    """One cycle: a linear warmup from ``start_fraction * max_lr`` to ``max_lr`` over
    ``warmup_steps`` batches, then a cosine decay to ``final_fraction * max_lr`` at
    ``total_steps`` (0-based ``step``; steps past the end keep the final rate).

    >>> warmup_cosine_learning_rate(0, 100, 0.01, 10)
    0.0
    >>> warmup_cosine_learning_rate(10, 100, 0.01, 10)
    0.01
    """
    if step < warmup_steps:
        return max_lr * (start_fraction + (1 - start_fraction) * step / warmup_steps)
    decay = max(1, total_steps - warmup_steps)
    t = min(1.0, (step - warmup_steps) / decay)
    final = final_fraction * max_lr
    return final + 0.5 * (max_lr - final) * (1 + math.cos(math.pi * t))


class WarmupCosine(keras.callbacks.Callback):
    """One-cycle schedule over the whole run, set before every batch: linear warmup for
    ``warmup_epochs``, then cosine decay to ``final_fraction * max_lr`` at the last batch.

    Args:
        max_lr: peak learning rate (> 0).
        warmup_epochs: epochs of linear warmup (>= 0; fractions allowed).
        start_fraction: the first batch's rate as a fraction of ``max_lr`` (in [0, 1]).
        final_fraction: the last batch's rate as a fraction of ``max_lr`` (in [0, 1)).
    """

    def __init__(self, max_lr: float, warmup_epochs: float = 1.0, start_fraction: float = 0.0,
                 final_fraction: float = 0.0) -> None:
        super().__init__()
        if not max_lr > 0:
            raise ConfigError(f"schedule.max_lr must be > 0, got schedule.max_lr={max_lr}")
        if not warmup_epochs >= 0:
            raise ConfigError(
                f"schedule.warmup_epochs must be >= 0, got schedule.warmup_epochs={warmup_epochs}")
        if not 0 <= start_fraction <= 1:
            raise ConfigError(f"schedule.start_fraction must be in [0, 1], got "
                              f"schedule.start_fraction={start_fraction}")
        if not 0 <= final_fraction < 1:
            raise ConfigError(f"schedule.final_fraction must be in [0, 1), got "
                              f"schedule.final_fraction={final_fraction}")
        self.max_lr, self.warmup_epochs = max_lr, warmup_epochs
        self.start_fraction, self.final_fraction = start_fraction, final_fraction
        self._step = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._step = 0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps = int(self.params.get("steps") or 1)
        total = steps * int(self.params.get("epochs") or 1)
        lr = warmup_cosine_learning_rate(self._step, total, self.max_lr,
                                         round(self.warmup_epochs * steps),
                                         self.start_fraction, self.final_fraction)
        self.model.optimizer.learning_rate.assign(lr)
        self._step += 1

    def get_config(self) -> dict[str, Any]:
        return {"max_lr": self.max_lr, "warmup_epochs": self.warmup_epochs,
                "start_fraction": self.start_fraction, "final_fraction": self.final_fraction}
