"""The images a data file holds: its ``features`` array checked (shape, size, values) and
scaled to float32 in [0, 1]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fmnist.errors import DataError

__all__ = ["MIN_IMAGE_SIDE", "check_image_size", "read_features"]

#: smallest image side accepted (Fashion-MNIST is 28x28): a file of a million 1x1 "images"
#: is not a data set
MIN_IMAGE_SIDE = 8


def check_image_size(shape: tuple[int, ...], path: Path) -> None:
    """Images of ``shape`` (N, H, W, ...) are at least :data:`MIN_IMAGE_SIDE` on each side."""
    if min(shape[1:3]) < MIN_IMAGE_SIDE:
        raise DataError(f"{path}: images must be at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} "
                        f"pixels, got {shape[1]}x{shape[2]} (shape {shape})")


def read_features(obj: dict[str, Any], path: Path) -> np.ndarray:
    """The file's ``features`` as float32 (N, H, W) in [0, 1] (values in [0, 255] are scaled)."""
    if "features" not in obj:
        raise DataError(f"{path} has no 'features' key (keys: {sorted(obj)})")
    x = np.asarray(obj["features"])
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[0] == 0:
        raise DataError(
            f"{path}: 'features' must have shape (N, H, W) or (N, H, W, 1), got {x.shape}"
        )
    check_image_size(x.shape, path)
    if not np.issubdtype(x.dtype, np.number) or x.dtype.kind == "c":
        raise DataError(f"{path}: 'features' must be real numbers, got dtype {x.dtype}")
    try:
        x = x.astype(np.float32)
    except MemoryError as exc:
        raise DataError(f"{path}: not enough memory for {x.shape[0]:,} images of "
                        f"{x.shape[1]}x{x.shape[2]} as float32") from exc
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise DataError(f"{path}: 'features' holds {bad} NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise DataError(
            f"{path}: 'features' must lie in [0, 1] or [0, 255], got values in [{lo}, {hi}]"
        )
    return x / 255.0 if hi > 1.0 else x
