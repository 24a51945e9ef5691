"""Train / validation / test splits: the :class:`Splits` every loader returns, the checks of the
split settings (``data.*_fraction``, ``data.train_size``, ``data.eval_size``, ``data.train_on``)
and the one stratified, seeded subset that the loaders and the final evaluation draw."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from fmnist.errors import ConfigError

__all__ = [
    "TRAIN_ON",
    "Splits",
    "as_images",
    "check_split",
    "check_train_on",
    "finish_splits",
    "stratified_indices",
]

log = logging.getLogger(__name__)

#: what a run trains on (``data.train_on``): the training split, or training and validation
#: together for a final model (no validation split then)
TRAIN_ON = ("train", "train+val")


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays plus the label mapping.

    ``x_*`` are float32 (N, H, W, 1) in [0, 1]; ``y_*`` are int32 class ids 0..K-1;
    ``class_values[k]`` is the original label of class id ``k`` and ``class_names[k]`` its name.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_values: list[Any]
    class_names: list[str]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_values)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) arrays of ``name`` in ``train``, ``val``, ``test``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be one of train, val, test, got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def describe(self) -> str:
        return (
            f"{self.source}: {len(self.y_train)} train / {len(self.y_val)} val / "
            f"{len(self.y_test)} test images of shape {self.input_shape}, "
            f"{self.num_classes} classes {self.class_values}"
        )


def check_train_on(train_on: str) -> None:
    """``data.train_on`` must be one of :data:`TRAIN_ON`."""
    if train_on not in TRAIN_ON:
        raise ConfigError(f"data.train_on must be one of {', '.join(TRAIN_ON)}, "
                          f"got data.train_on={train_on!r}")


def check_split(name: str, fraction: float, n: int, num_classes: int) -> None:
    """A stratified split holding out ``fraction`` of ``n`` images keeps every class on both
    sides (scikit-learn holds out ``ceil(fraction * n)``).

    >>> check_split("data.val_fraction", 0.1, 60000, 10)
    """
    held = math.ceil(fraction * n)
    if held < num_classes or n - held < num_classes:
        raise ConfigError(
            f"{name}={fraction:g} holds out {held} of {n} images; a stratified split needs at "
            f"least {num_classes} (one per class) on each side, so {name} must be in "
            f"[{num_classes / n:.6g}, {1 - num_classes / n:.6g}]")


def stratified_indices(y: np.ndarray, size: int | None, seed: int, what: str) -> np.ndarray:
    """Indices of a seeded, stratified subset of ``size`` of the labels ``y``, in the order
    scikit-learn draws them (all of them, in order, when ``size`` is None or >= ``len(y)``).
    ``what`` names the setting in the error when ``size`` is below the number of classes.

    >>> stratified_indices(np.repeat(np.arange(2), 3), 2, seed=0, what="size").tolist()
    [2, 5]
    """
    if size is None or size >= len(y):
        return np.arange(len(y))
    n_classes = len(np.unique(y))
    if size < n_classes:
        raise ConfigError(
            f"{what} must be at least the number of classes ({n_classes}) for a stratified "
            f"subset, got {what}={size}"
        )
    keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    return np.asarray(keep)


def _subset(x: np.ndarray, y: np.ndarray, size: int | None, seed: int, what: str
            ) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded subset of ``size`` samples (all of them when size is None)."""
    if size is not None and size > len(y):
        raise ConfigError(
            f"{what}={size} is more than the {len(y)} images available: {what} must be at most "
            f"{len(y)} (or null for all)"
        )
    if size is None or size == len(y):
        return x, y
    keep = stratified_indices(y, size, seed, what)
    return x[keep], y[keep]


def _check_sizes(train_size: int | None, eval_size: int | None, n_val: int, n_test: int) -> None:
    for name, size in (("data.train_size", train_size), ("data.eval_size", eval_size)):
        if size is not None and (not isinstance(size, int) or size <= 0):
            raise ConfigError(f"{name} must be a positive integer or null, got {name}={size!r}")
    if eval_size is not None and eval_size > min(n_val, n_test):
        raise ConfigError(
            f"data.eval_size={eval_size} is more than the images available: the validation split "
            f"has {n_val}, the test split {n_test}; data.eval_size must be at most "
            f"{min(n_val, n_test)} (or null for all)"
        )


def as_images(x: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) float in [0, 1] -> contiguous float32 (N, H, W, 1)."""
    if x.ndim == 3:
        x = x[..., None]
    return np.ascontiguousarray(x, dtype=np.float32)


def finish_splits(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    train_size: int | None,
    eval_size: int | None,
    seed: int,
    class_values: list[Any],
    class_names: list[str],
    source: str,
    extra: dict[str, Any] | None = None,
    train_on: str = "train",
) -> Splits:
    """The :class:`Splits` of the (x, y) pairs ``train``, ``val`` and ``test`` (images in
    [0, 1]), after the stratified subsets ``train_size`` (training) and ``eval_size``
    (validation and test); ``train_on=train+val`` then folds validation into training."""
    check_train_on(train_on)
    _check_sizes(train_size, eval_size, len(val[1]), len(test[1]))
    x_train, y_train = _subset(*train, train_size, seed, "data.train_size")
    x_val, y_val = _subset(*val, eval_size, seed, "data.eval_size")
    x_test, y_test = _subset(*test, eval_size, seed, "data.eval_size")
    if train_on == "train+val":  # validation folded into training: no validation split
        x_train, y_train = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
        x_val, y_val = x_val[:0], y_val[:0]
    splits = Splits(
        as_images(x_train), y_train.astype(np.int32),
        as_images(x_val), y_val.astype(np.int32),
        as_images(x_test), y_test.astype(np.int32),
        class_values=class_values, class_names=class_names, source=source, extra=extra or {},
    )
    log.info("Data: %s", splits.describe())
    return splits
