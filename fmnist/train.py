"""The training loop's pieces: an in-memory ``tf.data`` pipeline, per-epoch logging of the
history (learning rate and seconds included), best-weight restoring, and ``fit``."""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from hydra_plugins.fmnist_optuna_sweeper import atomic

from fmnist.errors import ConfigError

__all__ = [
    "BestWeights",
    "EpochLogger",
    "augmentation_workers",
    "fit",
    "make_dataset",
    "predict_probabilities",
]

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


def augmentation_workers(setting: int | str = "auto") -> int:
    """Parallel calls of the augmentation map. ``auto``: one on small CPUs, where more threads
    only take cores from training (the batched layers run far faster than training consumes),
    and tf.data's autotuning where there are cores to spare."""
    if setting == "auto":
        return 1 if (os.cpu_count() or 1) <= 4 else tf.data.AUTOTUNE
    workers = int(setting)
    if workers < 1 and workers != tf.data.AUTOTUNE:
        raise ConfigError(f"trainer.augment_workers must be auto or >= 1, got {setting!r}")
    return workers


def make_dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augmentation: keras.layers.Layer | None = None,
    augment_workers: int | str = "auto",
) -> tf.data.Dataset:
    """Batches from in-memory arrays; shuffled (seeded, reshuffled every epoch) when
    ``shuffle_seed`` is given; ``augmentation`` applied to whole batches inside the pipeline."""
    if batch_size <= 0:
        raise ConfigError(f"trainer.batch_size must be > 0, got {batch_size}")
    ds = tf.data.Dataset.from_tensor_slices((x, y) if y is not None else x)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augmentation is not None:
        ds = ds.map(
            lambda images, labels: (augmentation(images, training=True), labels),
            num_parallel_calls=augmentation_workers(augment_workers),
            deterministic=True,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def _learning_rate(model: keras.Model) -> float:
    """The rate of the last step taken (a per-step schedule has moved on to the next one)."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    rate = getattr(optimizer, "_learning_rate", None)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        step = max(int(keras.ops.convert_to_numpy(optimizer.iterations)) - 1, 0)
        return float(keras.ops.convert_to_numpy(rate(step)))
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class EpochLogger(keras.callbacks.Callback):
    """Adds ``learning_rate`` (the rate of the epoch's last batch) and ``seconds`` to the logs
    and appends each epoch to ``history.csv`` as it ends, so an interrupted or pruned run
    keeps its history. The file is rewritten whole (a temporary file renamed over it) each
    time, so a full disk or a kill leaves the previous epoch's file, never a torn row."""

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        self.path = Path(path) if path is not None else None
        self.rows: list[dict[str, float]] = []
        self._start = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.rows = []
        self._write()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _learning_rate(self.model)
        logs["seconds"] = time.perf_counter() - self._start
        row = {"epoch": epoch + 1, **{k: float(logs.get(k, math.nan)) for k in HISTORY_COLUMNS[1:]}}
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        with atomic.atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(HISTORY_COLUMNS)
            writer.writerows([r[k] for k in HISTORY_COLUMNS] for r in self.rows)


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by ``monitor`` and restores them when training ends.

    Args:
        monitor: a logged metric, e.g. ``val_accuracy`` or ``val_loss``.
        mode: ``max``, ``min`` or ``auto`` (``max`` for accuracy-like names, else ``min``).
    """

    def __init__(self, monitor: str = "val_accuracy", mode: str = "auto") -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"trainer.monitor_mode must be auto, min or max, got {mode!r}")
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ConfigError(
                f"trainer.monitor={self.monitor!r} is not logged; logged: {sorted(logs or {})}"
            )
        value = float(value)
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better and math.isfinite(value):
            self.best, self.best_epoch = value, epoch + 1
            self._weights = self.model.get_weights()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._weights is not None:
            self.model.set_weights(self._weights)
            log.info("Restored the weights of epoch %s (%s=%.4f)", self.best_epoch, self.monitor,
                     self.best)


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset | None,
    *,
    epochs: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 1,
) -> None:
    """``model.fit`` with the project's checks (the callbacks write the history); ``val``
    None: no validation (``data.train_on=train+val``). ``epochs`` is checked with the config
    (:data:`fmnist.validate.RULES`)."""
    model.fit(train, validation_data=val, epochs=epochs, callbacks=list(callbacks),
              verbose=verbose, shuffle=False)


def predict_probabilities(model: keras.Model, x: np.ndarray, batch_size: int = 512,
                          tta: bool = False) -> np.ndarray:
    """Class probabilities for images ``x`` (no augmentation, inference mode); with ``tta``
    the mean of the probabilities of ``x`` and of ``x`` mirrored left-right."""
    probs = np.asarray(model.predict(make_dataset(x, None, batch_size), verbose=0))
    if tta:
        flipped = np.ascontiguousarray(x[:, :, ::-1])
        probs = (probs + np.asarray(model.predict(make_dataset(flipped, None, batch_size), verbose=0))) / 2
    return probs
