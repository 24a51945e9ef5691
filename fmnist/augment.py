"""Data augmentation as batched Keras preprocessing layers that run inside ``tf.data``.

* :class:`ElasticDistortion` — Simard, Steinkraus & Platt (2003): per image, two uniform(-1, 1)
  displacement fields (rows and columns) smoothed by a Gaussian of std ``sigma``, scaled by
  ``alpha`` (a number, or a ``[low, high]`` range drawn per image), bilinear resampling with
  reflected borders. No per-image Python loop, no scipy.
* :class:`RandomAffine` — the notebook's ``ImageDataGenerator`` transforms (rotation, zoom,
  shear, shifts, flips) composed into one matrix per image and resampled once.

Both layers are active only when called with ``training=True``, take a ``seed``, and
round-trip through ``get_config``.

>>> import numpy as np
>>> layer = ElasticDistortion(alpha=[10, 12], sigma=3.0, seed=1)
>>> layer(np.zeros((4, 28, 28, 1), "float32"), training=True).shape
TensorShape([4, 28, 28, 1])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops
from omegaconf import ListConfig

from fmnist.errors import ConfigError

__all__ = [
    "ElasticDistortion",
    "RandomAffine",
    "build_augmentation",
    "gaussian_kernel",
    "smoothing_matrix",
]


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The normalised 1-D Gaussian that ``scipy.ndimage.gaussian_filter`` uses."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def _number(name: str, value: Any, rule: str = "a number") -> float:
    """``value`` as a finite float, or a :class:`ConfigError` naming it (``abc``, ``null``, a
    boolean or NaN are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be {rule}, got {name}={value!r}")
    return float(value)


def _range(name: str, value: float | Sequence[float], low_limit: float = 0.0) -> tuple[float, float]:
    """A number or a [low, high] pair -> (low, high), checked against ``low_limit``."""
    rule = "a number or [low, high]"
    if not isinstance(value, list | tuple | ListConfig):
        number = _number(name, value, rule)
        if number < low_limit:
            raise ConfigError(f"{name} must be >= {low_limit:g}, got {name}={value}")
        return (number, number)
    else:
        seq = list(value)
        if len(seq) != 2:
            raise ConfigError(f"{name} must be {rule}, got {name}={value!r}")
        pair = (_number(name, seq[0], rule), _number(name, seq[1], rule))
    if pair[0] < low_limit or pair[0] > pair[1]:
        raise ConfigError(
            f"{name} must be [low, high] with {low_limit:g} <= low <= high, got {name}={list(seq)}"
        )
    return pair


def _reflect_index(i: int, size: int) -> int:
    """scipy's 'reflect' border (d c b a | a b c d) for any index."""
    period = 2 * size
    i %= period
    return i if i < size else period - 1 - i


def smoothing_matrix(kernel: np.ndarray, size: int) -> np.ndarray:
    """The (size, size) matrix ``M`` with ``M @ x`` equal to filtering ``x`` with ``kernel``
    under scipy's 'reflect' border, for any kernel width."""
    radius = (len(kernel) - 1) // 2
    matrix = np.zeros((size, size), dtype=np.float64)
    for i in range(size):
        for k, weight in enumerate(kernel):
            matrix[i, _reflect_index(i + k - radius, size)] += weight
    return matrix.astype(np.float32)


def _reflect_coordinates(coord: Any, size: Any) -> Any:
    """Map coordinates into [0, size - 1] by half-sample symmetric reflection."""
    period = 2.0 * size
    c = coord + 0.5
    c = c - period * ops.floor(c / period)
    c = ops.where(c >= size, period - c, c) - 0.5
    return ops.clip(c, 0.0, size - 1.0)


def _bilinear(images: Any, rows: Any, cols: Any) -> Any:
    """Sample ``images`` (B, H, W, C) at per-pixel coordinates ``rows``/``cols`` (B, H, W),
    bilinearly, with reflected borders (``scipy.ndimage.map_coordinates(order=1,
    mode='reflect')``)."""
    shape = ops.shape(images)
    batch, height, width, channels = shape[0], images.shape[1], images.shape[2], images.shape[3]
    images = ops.cast(images, "float32")
    coords = ops.stack([ops.cast(rows, "float32"), ops.cast(cols, "float32")])
    sizes = ops.reshape(ops.convert_to_tensor([float(height), float(width)]), (2, 1, 1, 1))
    coords = _reflect_coordinates(coords, sizes)
    low = ops.floor(coords)
    frac = ops.expand_dims(coords - low, -1)
    low = ops.cast(low, "int32")
    # each pixel with its right, lower and lower-right neighbours (edge replicated), so one
    # gather fetches all four corners: (B * H * W, C, 4)
    padded = ops.pad(images, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="symmetric")
    quads = ops.stack([padded[:, :-1, :-1], padded[:, :-1, 1:], padded[:, 1:, :-1], padded[:, 1:, 1:]],
                      axis=-1)
    quads = ops.reshape(quads, (-1, channels, 4))
    base = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))
    corners = ops.take(quads, base + low[0] * width + low[1], axis=0)  # (B, H, W, C, 4)
    fr, fc = frac[0], frac[1]
    top = corners[..., 0] + (corners[..., 1] - corners[..., 0]) * fc
    bottom = corners[..., 2] + (corners[..., 3] - corners[..., 2]) * fc
    return top + (bottom - top) * fr


@keras.saving.register_keras_serializable(package="fmnist")
class ElasticDistortion(keras.layers.Layer):
    """Elastic distortion (Simard et al. 2003), batched.

    Args:
        alpha: displacement scale in pixels, a number or ``[low, high]`` drawn per image; >= 0.
        sigma: std of the Gaussian that smooths the fields, in pixels; > 0.
        seed: seeds the displacement fields (same seed, same fields).
    """

    def __init__(
        self,
        alpha: float | Sequence[float] = 34.0,
        sigma: float = 4.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._alpha_range = _range("alpha", alpha)
        if not _number("sigma", sigma, "a number > 0") > 0:
            raise ConfigError(f"sigma must be > 0, got sigma={sigma}")
        self.alpha = alpha if isinstance(alpha, int | float) else list(self._alpha_range)
        self.sigma = float(sigma)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._kernel = gaussian_kernel(self.sigma)
        self.supports_masking = True

    def _smooth(self, fields: Any) -> Any:
        """Gaussian-smooth (B, 2, H, W) fields with reflected borders: ``M_h @ f @ M_w.T``
        with the filter and its border reflections folded into two small matrices."""
        height, width = int(fields.shape[-2]), int(fields.shape[-1])
        rows = ops.convert_to_tensor(smoothing_matrix(self._kernel, height))
        cols_t = ops.convert_to_tensor(smoothing_matrix(self._kernel, width).T)
        return ops.matmul(ops.matmul(rows, fields), cols_t)

    def sample_displacements(self, batch: Any, height: int, width: int) -> Any:
        """Displacement fields (B, 2, H, W) in pixels: [:, 0] rows, [:, 1] columns."""
        noise = keras.random.uniform(
            (batch, 2, height, width), -1.0, 1.0, seed=self.seed_generator
        )
        low, high = self._alpha_range
        if low == high:
            return self._smooth(noise) * low
        alpha = keras.random.uniform((batch, 1, 1, 1), low, high, seed=self.seed_generator)
        return self._smooth(noise) * alpha

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training or self._alpha_range == (0.0, 0.0):
            return inputs
        images = ops.convert_to_tensor(inputs)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        height, width = int(images.shape[1]), int(images.shape[2])
        disp = self.sample_displacements(ops.shape(images)[0], height, width)
        grid_r = ops.reshape(ops.arange(height, dtype="float32"), (1, -1, 1))
        grid_c = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, -1))
        out = _bilinear(images, grid_r + disp[:, 0], grid_c + disp[:, 1])
        out = ops.cast(out, images.dtype)
        return out[0] if unbatched else out

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "sigma": self.sigma, "seed": self.seed}


@keras.saving.register_keras_serializable(package="fmnist")
class RandomAffine(keras.layers.Layer):
    """Random rotation, zoom, shear, shift and flips composed into one affine resample, with
    the parameter names of Keras' ``ImageDataGenerator``.

    Args:
        rotation_range: degrees; rotation drawn from [-r, r].
        zoom_range: z or [low, high]; a number z means [1 - z, 1 + z] (per axis, as IDG).
        shear_range: shear angle in degrees, drawn from [-s, s].
        width_shift_range, height_shift_range: a fraction of the size (< 1) or pixels (>= 1).
        horizontal_flip, vertical_flip: flip half of the images.
        fill_mode: how points outside the image are filled ('nearest', 'reflect', 'constant',
            'wrap').
        seed: seeds every draw.
    """

    def __init__(
        self,
        rotation_range: float = 0.0,
        zoom_range: float | Sequence[float] = 0.0,
        shear_range: float = 0.0,
        width_shift_range: float = 0.0,
        height_shift_range: float = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        fill_mode: str = "nearest",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("rotation_range", rotation_range),
            ("shear_range", shear_range),
            ("width_shift_range", width_shift_range),
            ("height_shift_range", height_shift_range),
        ):
            if _number(name, value, "a number >= 0") < 0:
                raise ConfigError(f"{name} must be >= 0, got {name}={value}")
        for name, flag in (("horizontal_flip", horizontal_flip), ("vertical_flip", vertical_flip)):
            if not isinstance(flag, bool):
                raise ConfigError(f"{name} must be true or false, got {name}={flag!r}")
        if not isinstance(zoom_range, list | tuple | ListConfig):
            zoom = _number("zoom_range", zoom_range, "a number in [0, 1) or [low, high]")
            if not 0 <= zoom < 1:
                raise ConfigError(f"zoom_range must be in [0, 1), got zoom_range={zoom_range}")
            self._zoom = (1.0 - zoom, 1.0 + zoom)
        else:
            self._zoom = _range("zoom_range", zoom_range, low_limit=1e-6)
        if fill_mode not in ("nearest", "reflect", "constant", "wrap"):
            raise ConfigError(
                "fill_mode must be one of nearest, reflect, constant, wrap, got "
                f"fill_mode={fill_mode!r}"
            )
        self.rotation_range = float(rotation_range)
        self.zoom_range = zoom_range if isinstance(zoom_range, int | float) else list(zoom_range)
        self.shear_range = float(shear_range)
        self.width_shift_range = float(width_shift_range)
        self.height_shift_range = float(height_shift_range)
        self.horizontal_flip = bool(horizontal_flip)
        self.vertical_flip = bool(vertical_flip)
        self.fill_mode = fill_mode
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch: Any, low: float, high: float) -> Any:
        if low == high:
            return ops.full((batch,), low, dtype="float32")
        return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

    def _flip(self, batch: Any, enabled: bool) -> Any:
        if not enabled:
            return ops.ones((batch,), dtype="float32")
        coin = keras.random.uniform((batch,), 0.0, 1.0, seed=self.seed_generator)
        return ops.where(coin < 0.5, -1.0, 1.0)

    @staticmethod
    def _pixels(shift: float, size: int) -> float:
        return shift * size if shift < 1 else shift

    def transforms(self, batch: Any, height: int, width: int) -> Any:
        """Per-image (B, 8) projective transforms mapping output to input points (x=column)."""
        theta = self._uniform(batch, -self.rotation_range, self.rotation_range) * (math.pi / 180)
        shear = self._uniform(batch, -self.shear_range, self.shear_range) * (math.pi / 180)
        zx = self._uniform(batch, *self._zoom)
        zy = self._uniform(batch, *self._zoom)
        max_tx = self._pixels(self.width_shift_range, width)
        max_ty = self._pixels(self.height_shift_range, height)
        tx = self._uniform(batch, -max_tx, max_tx)
        ty = self._uniform(batch, -max_ty, max_ty)
        fx = self._flip(batch, self.horizontal_flip)
        fy = self._flip(batch, self.vertical_flip)
        cos, sin = ops.cos(theta), ops.sin(theta)
        # A = R(theta) @ Shear @ Zoom @ Flip, acting on (x, y) relative to the centre.
        a00 = (cos * zx) * fx
        a01 = (cos * -ops.sin(shear) - sin * ops.cos(shear)) * zy * fy
        a10 = (sin * zx) * fx
        a11 = (sin * -ops.sin(shear) + cos * ops.cos(shear)) * zy * fy
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        b0 = cx - a00 * cx - a01 * cy + tx
        b1 = cy - a10 * cx - a11 * cy + ty
        zeros = ops.zeros_like(a00)
        return ops.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training:
            return inputs
        images = ops.convert_to_tensor(inputs)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        transforms = self.transforms(ops.shape(images)[0], images.shape[1], images.shape[2])
        out = keras.ops.image.affine_transform(
            images, transforms, interpolation="bilinear", fill_mode=self.fill_mode,
            data_format="channels_last",
        )
        return out[0] if unbatched else out

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rotation_range": self.rotation_range,
            "zoom_range": self.zoom_range,
            "shear_range": self.shear_range,
            "width_shift_range": self.width_shift_range,
            "height_shift_range": self.height_shift_range,
            "horizontal_flip": self.horizontal_flip,
            "vertical_flip": self.vertical_flip,
            "fill_mode": self.fill_mode,
            "seed": self.seed,
        }


def build_augmentation(
    factories: Sequence[Callable[..., keras.layers.Layer]] | None, seed: int
) -> keras.Sequential | None:
    """Chain layer factories (``_partial_`` configs) into one pipeline, giving each layer its
    own seed derived from ``seed``; ``None`` when there is nothing to apply."""
    if not factories:
        return None
    layers = [factory(seed=seed * 1000 + i) for i, factory in enumerate(factories)]
    return keras.Sequential(layers, name="augmentation")
