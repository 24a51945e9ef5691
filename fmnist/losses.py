"""The training loss: sparse categorical cross-entropy, with optional label smoothing
(``trainer.label_smoothing``; Keras' sparse loss has no smoothing, so labels are one-hot
encoded inside the loss)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from fmnist.errors import ConfigError

__all__ = ["SmoothedSparseCrossentropy", "training_loss"]


@keras.saving.register_keras_serializable(package="fmnist")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against probabilities, the one-hot targets smoothed to
    ``1 - s + s / K`` and ``s / K`` (``s = label_smoothing``, ``K = num_classes``)."""

    def __init__(self, label_smoothing: float, num_classes: int, name: str = "smoothed_crossentropy",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.num_classes = int(num_classes)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        targets = ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(targets, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "num_classes": self.num_classes}


def training_loss(label_smoothing: float | None, num_classes: int) -> str | keras.losses.Loss:
    """Keras' own sparse cross-entropy when there is no smoothing (runs as before), else
    :class:`SmoothedSparseCrossentropy`."""
    smoothing = float(label_smoothing or 0.0)
    if not 0 <= smoothing < 1:
        raise ConfigError(f"trainer.label_smoothing must be in [0, 1), got "
                          f"trainer.label_smoothing={label_smoothing!r}")
    if smoothing == 0:
        return "sparse_categorical_crossentropy"
    return SmoothedSparseCrossentropy(smoothing, num_classes)
