"""Random erasing (Zhong et al. 2017) as a batched Keras preprocessing layer that runs inside
``tf.data``: with probability ``probability`` an image gets one rectangle, of ``area`` (a
fraction of the image, drawn uniformly in ``[low, high]``) and ``aspect`` ratio (drawn
log-uniformly), filled with uniform noise in [0, 1] (or ``fill`` when it is a number).

>>> import numpy as np
>>> layer = RandomErasing(probability=1.0, seed=1)
>>> out = np.asarray(layer(np.zeros((4, 28, 28, 1), "float32"), training=True))
>>> bool((out > 0).any(axis=(1, 2, 3)).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from fmnist.errors import ConfigError

__all__ = ["RandomErasing"]


def _pair(name: str, value: Sequence[float], low: float, high: float) -> tuple[float, float]:
    seq = list(value)
    if len(seq) != 2 or not low <= float(seq[0]) <= float(seq[1]) <= high:
        raise ConfigError(
            f"augment.erasing.{name} must be [low, high] with {low:g} <= low <= high <= {high:g}, "
            f"got {name}={value!r}")
    return float(seq[0]), float(seq[1])


@keras.saving.register_keras_serializable(package="fmnist")
class RandomErasing(keras.layers.Layer):
    """Erase one random rectangle per image with probability ``probability``.

    Args:
        probability: chance that an image is erased, in [0, 1].
        area: ``[low, high]`` fraction of the image the rectangle covers, within (0, 1].
        aspect: ``[low, high]`` height/width ratio of the rectangle (drawn log-uniformly), > 0.
        fill: ``noise`` (uniform in [0, 1], per pixel) or a number.
        seed: seeds the draws (same seed, same rectangles).
    """

    def __init__(self, probability: float = 0.5, area: Sequence[float] = (0.02, 0.25),
                 aspect: Sequence[float] = (0.3, 3.3), fill: float | str = "noise",
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 <= float(probability) <= 1:
            raise ConfigError(f"augment.erasing.probability must be in [0, 1], got "
                              f"probability={probability!r}")
        self.probability = float(probability)
        self.area = _pair("area", area, 1e-6, 1.0)
        self.aspect = _pair("aspect", aspect, 1e-3, 1e3)
        if fill != "noise" and not isinstance(fill, int | float):
            raise ConfigError(f"augment.erasing.fill must be 'noise' or a number, got fill={fill!r}")
        self.fill = fill
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def masks(self, batch: Any, height: int, width: int) -> Any:
        """(B, H, W, 1) float masks, 1 inside each image's rectangle (all 0 for images that
        are not erased)."""
        def uniform(low: float, high: float) -> Any:
            return keras.random.uniform((batch, 1, 1, 1), low, high, seed=self.seed_generator)

        area = uniform(*self.area) * (height * width)
        log_aspect = uniform(math.log(self.aspect[0]), math.log(self.aspect[1]))
        aspect = ops.exp(log_aspect)
        # whole pixels: at least 1, at most the image
        h = ops.clip(ops.round(ops.sqrt(area * aspect)), 1.0, float(height))
        w = ops.clip(ops.round(ops.sqrt(area / aspect)), 1.0, float(width))
        top = ops.floor(uniform(0.0, 1.0) * (height - h + 1))
        left = ops.floor(uniform(0.0, 1.0) * (width - w + 1))
        rows = ops.reshape(ops.arange(height, dtype="float32"), (1, -1, 1, 1))
        cols = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, -1, 1))
        inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        chosen = uniform(0.0, 1.0) < self.probability
        return ops.cast(inside & chosen, "float32")

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training or self.probability == 0:
            return inputs
        images = ops.convert_to_tensor(inputs)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        batch = ops.shape(images)[0]
        mask = ops.cast(self.masks(batch, int(images.shape[1]), int(images.shape[2])), images.dtype)
        if self.fill == "noise":
            fill = keras.random.uniform(ops.shape(images), 0.0, 1.0, seed=self.seed_generator)
            fill = ops.cast(fill, images.dtype)
        else:
            fill = ops.cast(ops.full_like(images, float(self.fill)), images.dtype)
        out = images * (1 - mask) + fill * mask
        return out[0] if unbatched else out

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "probability": self.probability, "area": list(self.area),
                "aspect": list(self.aspect), "fill": self.fill, "seed": self.seed}
