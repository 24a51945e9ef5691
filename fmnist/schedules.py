"""Learning-rate schedules as Keras callbacks, a new rate every training step: SGDR (as the
notebook applies it) and a one-cycle warmup + cosine decay.

The rate changes every step, also inside one call of the compiled train function
(``trainer.steps_per_execution > 1``, where Keras calls the batch callbacks once per call, not
per step): during ``fit`` the optimizer reads the rate of step ``optimizer.iterations`` from a
table of every step's rate (:class:`StepRates`, filled by a :class:`StepSchedule`), and after
``fit`` its learning-rate variable holds the rate of the last step, as if it had been set
before every batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from hydra.utils import get_class

from fmnist.errors import ConfigError
from fmnist.rules import Rule, checked, register

__all__ = ["SGDR", "ConstantLR", "StepRates", "StepSchedule", "WarmupCosine", "optimizer_summary",
           "sgdr_learning_rate", "unwrapped", "warmup_cosine_learning_rate"]


_MAX_LR = Rule("number", lambda v: v > 0, "> 0")
# conf/schedule/plateau.yaml names Keras' own callback, which takes any number
register(keras.callbacks.ReduceLROnPlateau,
         factor=Rule("number", lambda v: 0 < v < 1, "a number in (0, 1)"),
         patience=Rule("int", lambda v: v >= 0, "an integer >= 0"),
         min_lr=Rule("number", lambda v: v >= 0, "a number >= 0"))


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


def unwrapped(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that holds the learning rate (the inner one of a mixed-precision
    ``LossScaleOptimizer``)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


class StepRates(keras.optimizers.schedules.LearningRateSchedule):
    """The rate of each training step from a table: ``rates[step - first_step]`` (clipped to
    the table), computed inside the train function, so every step of an execution of
    ``steps_per_execution`` steps gets its own rate.

    Args:
        rates: one rate per step, as float32 (the dtype of the optimizer's rate variable, so
            the values equal those a callback would assign).
        first_step: the optimizer's ``iterations`` at ``rates[0]``.
    """

    def __init__(self, rates: Sequence[float] | np.ndarray, first_step: int = 0) -> None:
        super().__init__()
        self.rates = np.asarray(rates, dtype="float32")
        if self.rates.ndim != 1 or len(self.rates) == 0:
            raise ConfigError(f"rates must be a non-empty list, got shape {self.rates.shape}")
        self.first_step = int(first_step)

    def __call__(self, step: Any) -> Any:
        index = keras.ops.clip(keras.ops.cast(step, "int32") - self.first_step, 0,
                               len(self.rates) - 1)
        return keras.ops.take(keras.ops.convert_to_tensor(self.rates), index)

    def get_config(self) -> dict[str, Any]:
        return {"rates": self.rates.tolist(), "first_step": self.first_step}


class StepSchedule(keras.callbacks.Callback):
    """A callback that gives the optimizer a rate for every step of ``fit``: at its start, a
    :class:`StepRates` table of :meth:`rates` (one per step of the run) replaces the
    optimizer's rate variable; at its end the variable is back, holding the last step's rate.
    Subclasses define :meth:`rates`."""

    def __init__(self) -> None:
        super().__init__()
        self._first_step: int | None = None  # optimizer.iterations when the schedule began
        self._variable: Any = None  # the optimizer's rate variable, set aside during fit
        self._table: StepRates | None = None

    def rates(self, done: int, steps: int, epochs: int) -> list[float]:
        """The rates of this ``fit``'s ``steps * epochs`` steps, ``done`` steps after the
        schedule's first ``fit`` began."""
        raise NotImplementedError

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        if not steps or not epochs:
            raise ConfigError(f"{type(self).__name__} needs the number of steps per epoch and "
                              f"of epochs, got steps={steps}, epochs={epochs} (a dataset of "
                              "unknown length?)")
        optimizer = unwrapped(self.model.optimizer)
        start = int(keras.ops.convert_to_numpy(optimizer.iterations))
        if self._first_step is None:
            self._first_step = start
        self._table = StepRates(self.rates(start - self._first_step, int(steps), int(epochs)),
                                first_step=start)
        # the optimizer reads its rate through _learning_rate (Keras 3): swapping it, rather than
        # setting learning_rate, keeps the variable tracked, so the saved optimizer is unchanged
        self._variable = optimizer._learning_rate
        optimizer._learning_rate = self._table
        self.model.make_train_function(force=True)  # trace with the table, not the variable

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._table is None:
            return
        optimizer = unwrapped(self.model.optimizer)
        last = int(keras.ops.convert_to_numpy(optimizer.iterations)) - 1
        optimizer._learning_rate = self._variable
        if last >= self._table.first_step and hasattr(self._variable, "assign"):
            self._variable.assign(float(keras.ops.convert_to_numpy(self._table(last))))
        self._table = None
        self.model.make_train_function(force=True)


@checked("schedule", max_lr=_MAX_LR, min_lr=Rule("number", lambda v: v >= 0, "a number >= 0"),
         T=Rule("number", lambda v: v > 0, "> 0 epochs"), T_mul=Rule("number", lambda v: v >= 1, ">= 1"),
         min_lr_fraction=Rule("number?", lambda v: 0 <= v < 1, "null or a number in [0, 1)"))
class SGDR(StepSchedule):
    """Cosine annealing with warm restarts, a new rate every training step.

    During ``fit`` the optimizer's rate is a :class:`StepRates` table of the run's steps
    (steps per epoch x epochs, counted from the first ``fit``); after it, the optimizer's own
    rate variable is back, holding the last step's rate.

    Args:
        max_lr: learning rate at each (re)start.
        min_lr: learning rate at the end of each period; ``0 <= min_lr < max_lr``.
        T: first period in epochs (> 0).
        T_mul: factor applied to the period at each restart (>= 1).
        min_lr_fraction: when given (in [0, 1)), ``min_lr = min_lr_fraction * max_lr``, so a
            search over it keeps ``min_lr < max_lr`` by construction.
    """

    #: it sets the optimizer's learning rate itself: the optimizer's own value is not used
    sets_learning_rate = True

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
            min_lr = min_lr_fraction * max_lr
        self.min_lr_fraction = min_lr_fraction
        if not 0 <= min_lr < max_lr:
            raise ConfigError(
                f"schedule needs 0 <= min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}"
            )
        self.max_lr, self.min_lr, self.T, self.T_mul = max_lr, min_lr, T, T_mul

    def rates(self, done: int, steps: int, epochs: int) -> list[float]:
        return [sgdr_learning_rate(done + k, steps, self.max_lr, self.min_lr, self.T, self.T_mul)
                for k in range(steps * epochs)]

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


@checked("schedule", max_lr=_MAX_LR, warmup_epochs=Rule("number", lambda v: v >= 0, ">= 0"),
         start_fraction=Rule("number", lambda v: 0 <= v <= 1, "in [0, 1]"),
         final_fraction=Rule("number", lambda v: 0 <= v < 1, "in [0, 1)"))
class WarmupCosine(StepSchedule):
    """One-cycle schedule over each ``fit``, a rate per step: linear warmup for
    ``warmup_epochs``, then cosine decay to ``final_fraction * max_lr`` at the last batch.

    Args:
        max_lr: peak learning rate (> 0).
        warmup_epochs: epochs of linear warmup (>= 0; fractions allowed).
        start_fraction: the first batch's rate as a fraction of ``max_lr`` (in [0, 1]).
        final_fraction: the last batch's rate as a fraction of ``max_lr`` (in [0, 1)).
    """

    #: it sets the optimizer's learning rate itself: the optimizer's own value is not used
    sets_learning_rate = True

    def __init__(self, max_lr: float, warmup_epochs: float = 1.0, start_fraction: float = 0.0,
                 final_fraction: float = 0.0) -> None:
        super().__init__()
        self.max_lr, self.warmup_epochs = max_lr, warmup_epochs
        self.start_fraction, self.final_fraction = start_fraction, final_fraction

    def rates(self, done: int, steps: int, epochs: int) -> list[float]:
        total = steps * epochs  # the cycle starts again with every fit
        return [warmup_cosine_learning_rate(k, total, self.max_lr, round(self.warmup_epochs * steps),
                                            self.start_fraction, self.final_fraction)
                for k in range(total)]

    def get_config(self) -> dict[str, Any]:
        return {"max_lr": self.max_lr, "warmup_epochs": self.warmup_epochs,
                "start_fraction": self.start_fraction, "final_fraction": self.final_fraction}


def optimizer_summary(optimizer: str, learning_rate: Any, schedule: Mapping[str, Any] | None) -> str:
    """The optimizer as the log shows it: with its learning rate, or, where the schedule sets
    the rate itself (a class with ``sets_learning_rate``), with the schedule's numbers instead.

    >>> optimizer_summary("Adam", 0.001, {"_target_": "fmnist.schedules.ConstantLR"})
    'Adam(learning_rate=0.001)'
    >>> optimizer_summary("Adamax", 0.002, {"_target_": "fmnist.schedules.SGDR", "max_lr": 0.006,
    ...                                     "min_lr": 0.001, "T": 10, "T_mul": 1})
    'Adamax (learning rate set by the schedule: SGDR(max_lr=0.006, min_lr=0.001, T=10, T_mul=1))'
    """
    target = (schedule or {}).get("_target_")
    cls = get_class(str(target)) if target else None
    if not getattr(cls, "sets_learning_rate", False):
        return f"{optimizer}(learning_rate={learning_rate})"
    assert cls is not None and schedule is not None
    args = ", ".join(f"{k}={v}" for k, v in schedule.items() if not str(k).startswith("_") and v is not None)
    return f"{optimizer} (learning rate set by the schedule: {cls.__name__}({args}))"
