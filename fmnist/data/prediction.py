"""The images a saved model predicts: the notebook's ``.npy`` prediction file (``features`` and
``id``) or an IDX image file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fmnist.data.idx import read_idx
from fmnist.data.images import check_image_size, read_features
from fmnist.data.safe_npy import read_npy_dict
from fmnist.data.splits import as_images
from fmnist.errors import DataError

__all__ = ["load_prediction_file"]


def _read_npy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = read_npy_dict(path)
    x = read_features(obj, path)
    if "id" not in obj:
        return x, np.arange(len(x))
    ids = np.asarray(obj["id"])
    if ids.shape != (len(x),):
        raise DataError(
            f"{path}: 'id' must have shape ({len(x)},) to match 'features', got {ids.shape}"
        )
    return x, ids


def _read_idx_images(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = read_idx(path)
    if raw.ndim != 3:
        raise DataError(f"{path}: an IDX image file must be 3-D (N, H, W), got {raw.shape}")
    check_image_size(raw.shape, path)
    return raw.astype(np.float32) / 255.0, np.arange(len(raw))


def load_prediction_file(
    path: str | os.PathLike[str], image_shape: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images and ids to predict: the notebook's ``.npy`` (``features`` and ``id``) or an IDX
    image file (ids 0..N-1). Returns (float32 (N, H, W, 1) in [0, 1], ids).

    ``image_shape`` (H, W), when given, must match the file's images.
    """
    path = Path(os.path.expanduser(str(path)))
    x, ids = _read_npy(path) if path.suffix == ".npy" else _read_idx_images(path)
    if image_shape is not None and tuple(x.shape[1:3]) != tuple(image_shape)[:2]:
        raise DataError(
            f"{path}: images are {x.shape[1]}x{x.shape[2]}, the model expects "
            f"{image_shape[0]}x{image_shape[1]}"
        )
    return as_images(x), ids
