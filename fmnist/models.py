"""The notebook's models, built by functions that take the data's shape and class count.

Each builder is referenced from ``conf/model/<name>.yaml`` by ``_target_`` with ``_partial_:
true``; the training job completes it with ``input_shape`` and ``num_classes``. Adding a model
is adding a function here and a YAML file there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import layers

from fmnist.errors import ConfigError, WeightsUnavailableError

__all__ = ["brief", "deeper", "resnet152", "vgg16"]

log = logging.getLogger(__name__)

#: ImageNet channel means of the "caffe" preprocessing used by ResNet and VGG (BGR order).
_CAFFE_MEAN = (103.939, 116.779, 123.68)


def _check_dropout(name: str, rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {name}={rate}")


def brief(
    input_shape: Sequence[int], num_classes: int, filters: int = 32, dense_units: int = 128
) -> keras.Model:
    """Conv(32, 3x3, same, relu) - BN - MaxPool2 - Flatten - Dense(128, relu) - Dense(n)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.Conv2D(filters, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(dense_units, activation="relu"),
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="brief",
    )


def deeper(
    input_shape: Sequence[int],
    num_classes: int,
    dropout_conv2: float = 0.25,
    dropout_conv3: float = 0.25,
    dense_units: int = 64,
) -> keras.Model:
    """Conv32 - MaxPool - BN - Conv64 - Dropout - MaxPool - Conv64 - BN - Dropout - Flatten -
    Dense64 - Dense(n), as in the notebook (dropout rates are config values)."""
    _check_dropout("model.dropout_conv2", dropout_conv2)
    _check_dropout("model.dropout_conv3", dropout_conv3)
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.BatchNormalization(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.Dropout(dropout_conv2),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.Dropout(dropout_conv3),
            layers.Flatten(),
            layers.Dense(dense_units, activation="relu"),
            layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="deeper",
    )


def _to_imagenet_input(inputs: Any, min_size: int) -> Any:
    """Gray (H, W, 1) in [0, 1] -> zero-padded to at least ``min_size`` and 3 channels,
    scaled and centred like the ImageNet "caffe" preprocessing (inside the model)."""
    height, width = int(inputs.shape[1]), int(inputs.shape[2])
    pad_h, pad_w = max(0, min_size - height), max(0, min_size - width)
    x = inputs
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)))(x)
    x = layers.Concatenate(axis=-1, name="gray_to_rgb")([x, x, x])
    x = layers.Rescaling(255.0)(x)
    return layers.Normalization(mean=_CAFFE_MEAN, variance=(1.0, 1.0, 1.0), name="imagenet_norm")(x)


def _frozen_base(
    factory: Callable[..., keras.Model], weights: str | None, input_tensor: Any
) -> keras.Model:
    if weights not in ("imagenet", None):
        raise ConfigError(f"model.weights must be 'imagenet' or null, got {weights!r}")
    try:
        base = factory(include_top=False, weights=weights, input_tensor=input_tensor)
    except Exception as exc:
        if weights is None:
            raise
        raise WeightsUnavailableError(
            f"could not load the ImageNet weights of {factory.__name__} ({exc}). They are "
            "downloaded on first use into ~/.keras/models/ (or $KERAS_HOME/models/); offline, "
            "copy the file there from a machine with internet access, or train from scratch "
            "with model.weights=null."
        ) from exc
    base.trainable = False
    return base


def _transfer(
    factory: Callable[..., keras.Model],
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    weights: str | None,
    head: Sequence[tuple[int, float]],
) -> keras.Model:
    inputs = keras.Input(shape=tuple(input_shape))
    x = _to_imagenet_input(inputs, min_size=32)
    base = _frozen_base(factory, weights, x)
    x = layers.Flatten()(base.output)
    for units, dropout in head:
        x = layers.Dense(units, activation="relu")(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet152(
    input_shape: Sequence[int],
    num_classes: int,
    weights: str | None = "imagenet",
    dense_units: int = 1000,
) -> keras.Model:
    """Frozen ResNet152 base (inputs padded to 32x32, 3 channels) - Flatten - Dense(1000) -
    Dense(n)."""
    return _transfer(
        keras.applications.ResNet152, "resnet152", input_shape, num_classes, weights,
        [(dense_units, 0.0)],
    )


def vgg16(
    input_shape: Sequence[int],
    num_classes: int,
    weights: str | None = "imagenet",
    dense_units: int = 4096,
    dropout: float = 0.5,
) -> keras.Model:
    """Frozen VGG16 base - Flatten - Dense4096 - Dropout .5 - Dense4096 - Dropout .5 - Dense(n)."""
    _check_dropout("model.dropout", dropout)
    return _transfer(
        keras.applications.VGG16, "vgg16", input_shape, num_classes, weights,
        [(dense_units, dropout), (dense_units, dropout)],
    )
