"""The notebook's models, built by functions that take the data's shape and class count.

Each builder is referenced from ``conf/model/<name>.yaml`` by ``_target_`` with ``_partial_:
true``; the training job completes it with ``input_shape`` and ``num_classes``. Adding a model
is adding a function here and a YAML file there.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import layers

from fmnist.errors import ConfigError, WeightsUnavailableError
from fmnist.rules import DROPOUT, POSITIVE_INT, checked

__all__ = ["brief", "convnet", "deeper", "resnet152", "vgg16"]

log = logging.getLogger(__name__)

#: ImageNet channel means of the "caffe" preprocessing used by ResNet and VGG (BGR order).
_CAFFE_MEAN = (103.939, 116.779, 123.68)


@checked("model", filters=POSITIVE_INT, dense_units=POSITIVE_INT)
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


@checked("model", dropout_conv2=DROPOUT, dropout_conv3=DROPOUT, dense_units=POSITIVE_INT)
def deeper(
    input_shape: Sequence[int],
    num_classes: int,
    dropout_conv2: float = 0.25,
    dropout_conv3: float = 0.25,
    dense_units: int = 64,
) -> keras.Model:
    """Conv32 - MaxPool - BN - Conv64 - Dropout - MaxPool - Conv64 - BN - Dropout - Flatten -
    Dense64 - Dense(n), as in the notebook (dropout rates are config values)."""
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


def _stage_depths(depth: int | Sequence[int], stages: int) -> list[int]:
    """``depth`` as one number of blocks per stage (``stages`` of them) or a list of one per
    stage; every entry an integer >= 1."""
    if isinstance(depth, int) and not isinstance(depth, bool):
        if stages < 1:
            raise ConfigError(f"model.stages must be an integer >= 1, got model.stages={stages}")
        depths = [depth] * stages
    else:
        depths = list(depth) if isinstance(depth, Sequence) and not isinstance(depth, str) else []
    if not depths or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in depths):
        raise ConfigError(
            f"model.depth must be an integer >= 1 or a list of them (one per stage), got "
            f"model.depth={depth!r}")
    return depths


@checked("model", dropout=DROPOUT, head_dropout=DROPOUT)
def convnet(
    input_shape: Sequence[int],
    num_classes: int,
    width: int = 16,
    depth: int | Sequence[int] = (1, 1, 2, 2),
    stages: int = 4,
    growth: float = 2.0,
    residual: bool = True,
    dropout: float = 0.1,
    head_dropout: float = 0.2,
    bn_momentum: float = 0.9,
) -> keras.Model:
    """A parametric CNN: stages of conv3x3-BN-ReLU blocks, max-pooling between stages, a
    global-average-pooling head.

    Args:
        width: channels of the first stage; stage ``i`` has ``round(width * growth**i)``.
        depth: blocks per stage: one number (for ``stages`` stages) or a list, one per stage.
        stages: number of stages when ``depth`` is a number (ignored for a list).
        growth: channel factor from one stage to the next (>= 1).
        residual: every block after a stage's first adds its input (identity shortcut).
        dropout: spatial dropout after each pooling (in [0, 1)).
        head_dropout: dropout before the classifier (in [0, 1)).
        bn_momentum: BatchNormalization's moving-average momentum (in (0, 1)).

    The defaults (16-32-64-128 channels, 1-1-2-2 blocks) have 284k parameters.
    """
    depths = _stage_depths(depth, stages)
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ConfigError(f"model.width must be an integer >= 1, got model.width={width!r}")
    if not growth >= 1:
        raise ConfigError(f"model.growth must be >= 1, got model.growth={growth}")
    if not 0 < bn_momentum < 1:
        raise ConfigError(f"model.bn_momentum must be in (0, 1), got model.bn_momentum={bn_momentum}")
    smallest = min(int(input_shape[0]), int(input_shape[1]))
    if smallest // 2 ** (len(depths) - 1) < 1:
        raise ConfigError(
            f"model.depth has {len(depths)} stages, too many for {smallest}-pixel inputs (each "
            f"stage after the first halves the size): use at most "
            f"{int(math.log2(smallest)) + 1} stages")
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    for stage, blocks in enumerate(depths):
        if stage:
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
            if dropout:
                x = layers.SpatialDropout2D(dropout, name=f"drop{stage}")(x)
        channels = max(1, round(width * growth**stage))
        for block in range(blocks):
            name = f"s{stage}b{block}"
            y = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
            y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(y)
            y = layers.ReLU(name=f"{name}_relu")(y)
            x = layers.Add(name=f"{name}_add")([x, y]) if residual and block else y
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if head_dropout:
        x = layers.Dropout(head_dropout, name="head_drop")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="classifier")(x)
    return keras.Model(inputs, outputs, name="convnet")


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


@checked("model", dense_units=POSITIVE_INT)
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


@checked("model", dense_units=POSITIVE_INT, dropout=DROPOUT)
def vgg16(
    input_shape: Sequence[int],
    num_classes: int,
    weights: str | None = "imagenet",
    dense_units: int = 4096,
    dropout: float = 0.5,
) -> keras.Model:
    """Frozen VGG16 base - Flatten - Dense4096 - Dropout .5 - Dense4096 - Dropout .5 - Dense(n)."""
    return _transfer(
        keras.applications.VGG16, "vgg16", input_shape, num_classes, weights,
        [(dense_units, dropout), (dense_units, dropout)],
    )
