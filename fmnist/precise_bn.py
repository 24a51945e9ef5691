"""Precise BatchNorm: re-estimate BatchNormalization moving statistics for the current weights.

Keras' BatchNormalization keeps an exponential moving average (momentum 0.99, starting at mean
0 / variance 1) of the batch statistics seen during training. For hundreds of steps that
average lags far behind the statistics of the current weights, so inference-mode outputs are
garbage although the weights are fine: a short trial's validation accuracy says nothing.

As pycls and detectron2 ("precise BN") and ``torch.optim.swa_utils.update_bn`` do, we run
``num_batches`` training batches forward in training mode, with no weight update, and set every
trainable BatchNormalization layer's moving mean and variance to the plain average of the batch
means and variances over those batches.

The batches are *unaugmented* training images: the moving statistics are only used at
inference, on unaugmented images, and augmentation (elastic distortion smooths and displaces
pixels) shifts the activation statistics away from those of clean images.

>>> recalibrate_batch_norm(model, x_train, batch_size=128, num_batches=40)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from fmnist.errors import ConfigError

__all__ = ["BatchNormRecalibrator", "PreciseBatchNorm", "batch_norm_layers", "recalibrate_batch_norm"]

log = logging.getLogger(__name__)


def batch_norm_layers(model: keras.Layer) -> list[keras.layers.BatchNormalization]:
    """The trainable BatchNormalization layers of ``model``, nested models included (frozen
    ones, e.g. of an ImageNet base, keep their statistics: they run in inference mode)."""
    found: list[keras.layers.BatchNormalization] = []

    def walk(layer: keras.Layer) -> None:
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable:
                found.append(layer)
            return
        for sub in getattr(layer, "layers", None) or []:
            walk(sub)

    walk(model)
    return found


class BatchNormRecalibrator:
    """Re-estimates the moving statistics of ``model``'s BatchNormalization layers; keeps one
    compiled forward pass, so calling it every epoch costs no retracing.

    Args:
        model: a built Keras model.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.layers = batch_norm_layers(model)
        self._forward: Any = None

    def _batch_moments(self, x: np.ndarray) -> list[np.ndarray]:
        if self._forward is None:
            model, layers = self.model, self.layers

            @tf.function(reduce_retracing=True)
            def forward(images: tf.Tensor) -> list[tf.Tensor]:
                model(images, training=True)
                # with momentum 0 the moving statistics now hold this batch's moments
                return [tf.identity(v.value) for bn in layers
                        for v in (bn.moving_mean, bn.moving_variance)]

            self._forward = forward
        return [np.asarray(t) for t in self._forward(tf.convert_to_tensor(x))]

    def __call__(self, x: np.ndarray, batch_size: int, num_batches: int,
                 rng: np.random.Generator | None = None) -> int:
        """Sets the statistics from ``num_batches`` batches of ``batch_size`` images drawn
        without replacement from ``x`` (fewer when ``x`` holds fewer; at least one batch).
        Returns the number of batches used."""
        if batch_size <= 0 or num_batches <= 0:
            raise ConfigError(
                f"batch_size and num_batches must be > 0, got {batch_size} and {num_batches}")
        if not self.layers:
            return 0
        rng = rng if rng is not None else np.random.default_rng(0)
        n_batches = max(1, min(num_batches, len(x) // batch_size))
        size = min(len(x), n_batches * batch_size)
        order = rng.permutation(len(x))[:size]
        saved = [(bn.momentum, bn.moving_mean.numpy(), bn.moving_variance.numpy())
                 for bn in self.layers]
        sums: list[np.ndarray] | None = None
        try:
            for bn in self.layers:
                bn.momentum = 0.0
            for start in range(0, size, batch_size):
                moments = self._batch_moments(x[np.sort(order[start:start + batch_size])])
                sums = moments if sums is None else [s + m for s, m in zip(sums, moments, strict=True)]
        except BaseException:
            for bn, (_, mean, var) in zip(self.layers, saved, strict=True):
                bn.moving_mean.assign(mean)
                bn.moving_variance.assign(var)
            raise
        finally:
            for bn, (momentum, _, _) in zip(self.layers, saved, strict=True):
                bn.momentum = momentum
        assert sums is not None
        for i, bn in enumerate(self.layers):
            bn.moving_mean.assign(sums[2 * i] / n_batches)
            bn.moving_variance.assign(sums[2 * i + 1] / n_batches)
        return n_batches


def recalibrate_batch_norm(model: keras.Model, x: np.ndarray, batch_size: int, num_batches: int,
                           seed: int = 0) -> int:
    """One-off :class:`BatchNormRecalibrator` call; returns the number of batches used."""
    return BatchNormRecalibrator(model)(x, batch_size, num_batches, np.random.default_rng(seed))


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recalibrates BatchNormalization statistics right before each validation inside ``fit``
    (Keras runs validation after an epoch's last batch and before ``on_epoch_end``, through
    ``on_test_begin``), so validation metrics, best-weight snapshots and the saved model carry
    statistics of the current weights.

    Args:
        x: unaugmented training images to draw the batches from.
        batch_size: images per batch (the training batch size: batch statistics depend on it).
        num_batches: batches per recalibration.
        seed: seeds which images are drawn (different ones each epoch).
    """

    def __init__(self, x: np.ndarray, batch_size: int, num_batches: int, seed: int = 0) -> None:
        super().__init__()
        if num_batches <= 0:
            raise ConfigError(
                f"trainer.bn_recalibration_batches must be > 0 or null, got {num_batches}")
        self.x, self.batch_size, self.num_batches, self.seed = x, batch_size, num_batches, seed
        self.call_seconds: list[float] = []  # the first call includes tracing the forward pass
        self._recalibrator: BatchNormRecalibrator | None = None
        self._rng = np.random.default_rng(seed)
        self._in_fit = False

    @property
    def seconds(self) -> float:
        """Time spent recalibrating, all calls."""
        return float(sum(self.call_seconds))

    @property
    def calls(self) -> int:
        return len(self.call_seconds)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = True
        self._recalibrator = BatchNormRecalibrator(self.model)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = False

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._in_fit:
            self.recalibrate()

    def recalibrate(self) -> None:
        """Recalibrate now (a run with no validation calls this once after ``fit``)."""
        if self._recalibrator is None:
            self._recalibrator = BatchNormRecalibrator(self.model)
        started = time.perf_counter()
        used = self._recalibrator(self.x, self.batch_size, self.num_batches, self._rng)
        self.call_seconds.append(time.perf_counter() - started)
        log.debug("Recalibrated %d BatchNormalization layers from %d batches",
                  len(self._recalibrator.layers), used)
