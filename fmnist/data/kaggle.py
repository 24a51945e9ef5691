"""The notebook's Kaggle format: a ``.npy`` pickled dict ``{'features', 'target'}`` (and ``id``
in a prediction file), read by :mod:`fmnist.data.safe_npy` without running the pickle."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from fmnist.data.images import read_features
from fmnist.data.prediction import load_prediction_file
from fmnist.data.safe_npy import read_npy_dict
from fmnist.data.splits import Splits, check_split, check_train_on, finish_splits
from fmnist.errors import ConfigError, DataError
from fmnist.rules import FRACTION, SIZE, checked

__all__ = ["load_kaggle"]

def _plain(value: Any) -> Any:
    """Numpy scalar -> plain Python value; integral floats become ints (1.0 -> 1)."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_test_fraction(val_fraction: float, test_fraction: float) -> None:
    """Both fractions together leave training images (each alone is checked by the rules)."""
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            "data.val_fraction + data.test_fraction must be < 1, got "
            f"{val_fraction} + {test_fraction}"
        )


def _read_target(obj: dict[str, Any], n: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The sorted class values of ``target`` and each image's class id 0..K-1."""
    if "target" not in obj:
        raise DataError(f"{path} has no 'target' key (keys: {sorted(obj)}): cannot train on it")
    target = np.asarray(obj["target"])
    if target.ndim != 1 or len(target) != n:
        raise DataError(
            f"{path}: 'target' must have shape ({n},) to match 'features', got {target.shape}"
        )
    if np.issubdtype(target.dtype, np.floating) and not np.isfinite(target).all():
        raise DataError(f"{path}: 'target' holds NaN or infinite values")
    values, y = np.unique(target, return_inverse=True)
    if len(values) < 2:
        raise DataError(f"{path}: 'target' has {len(values)} class value(s); need at least 2")
    counts = np.bincount(y)
    if counts.min() < 3:
        raise DataError(
            f"{path}: class {values[counts.argmin()]!r} has {counts.min()} image(s); each class "
            "needs at least 3 for a stratified train/val/test split"
        )
    return values, y


@checked("data", val_fraction=FRACTION, test_fraction=FRACTION, train_size=SIZE, eval_size=SIZE)
def load_kaggle(
    path: str | os.PathLike[str],
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    train_size: int | None = None,
    eval_size: int | None = None,
    seed: int = 42,
    predict_path: str | os.PathLike[str] | None = None,
    class_names: Sequence[str] | None = None,
    train_on: str = "train",
) -> Splits:
    """The notebook's Kaggle format: a ``.npy`` pickled dict ``{'features', 'target'}``.

    The target values (any set, e.g. 1..5) are mapped to 0..K-1 in sorted order; the mapping is
    ``Splits.class_values``. The split is the notebook's: ``test_fraction + val_fraction`` is
    held out (stratified, seeded) and then divided between validation and test (80/10/10 by
    default). ``predict_path``, when given, is checked now (features only) and kept in
    ``Splits.extra['predict']`` so the run can write a submission. ``train_on=train+val``
    trains on the training and validation images together (no validation split then).
    """
    check_train_on(train_on)
    _check_test_fraction(val_fraction, test_fraction)
    path = Path(os.path.expanduser(str(path)))
    obj = read_npy_dict(path)
    x = read_features(obj, path)
    values, y = _read_target(obj, len(x), path)
    class_values = [_plain(v) for v in values]
    names = list(class_names) if class_names else [str(v) for v in class_values]
    if len(names) != len(class_values):
        raise ConfigError(
            f"data.class_names has {len(names)} names for {len(class_values)} classes "
            f"{class_values}"
        )
    held = val_fraction + test_fraction
    check_split("data.val_fraction + data.test_fraction", held, len(y), len(class_values))
    check_split("data.test_fraction / (data.val_fraction + data.test_fraction)",
                test_fraction / held, math.ceil(held * len(y)), len(class_values))
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=held, stratify=y, random_state=seed
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=test_fraction / held, stratify=y_rest, random_state=seed
    )
    extra: dict[str, Any] = {}
    if predict_path is not None:
        extra["predict"] = load_prediction_file(predict_path, image_shape=x.shape[1:])
    return finish_splits(
        (x_train, y_train), (x_val, y_val), (x_test, y_test),
        train_size=train_size,
        eval_size=eval_size,
        seed=seed,
        class_values=class_values,
        class_names=names,
        source=f"kaggle ({path})",
        extra=extra,
        train_on=train_on,
    )
