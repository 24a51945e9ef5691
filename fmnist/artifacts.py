"""The files a run (or a re-evaluation) leaves beside its record: a confusion matrix as CSV and
figure, and the augmentation preview. Written whole or not at all (``atomic``)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from hydra_plugins.fmnist_optuna_sweeper import atomic

from fmnist import plots

__all__ = ["save_augmentation_preview", "save_confusion"]


def save_confusion(stem: Path, cm: np.ndarray, class_names: list[str], title: str) -> None:
    """``<stem>.csv`` (rows: true class, columns: predicted) and ``<stem>.png`` (row-normalised)."""
    header = "true\\predicted," + ",".join(class_names)
    rows = [f"{name}," + ",".join(str(int(v)) for v in row)
            for name, row in zip(class_names, np.asarray(cm), strict=True)]
    atomic.write_text(stem.with_suffix(".csv"), "\n".join([header, *rows]) + "\n")
    plots.save(plots.confusion_matrix_figure(cm, class_names, title=title), stem.with_suffix(".png"))


def save_augmentation_preview(path: Path, augmentation: keras.Layer, images: np.ndarray,
                              labels: np.ndarray, class_names: list[str]) -> None:
    """The first (up to) 16 ``images`` beside their augmented versions."""
    n = min(16, len(labels))
    originals = images[:n]
    augmented = np.asarray(augmentation(originals, training=True))
    plots.save(plots.augmentation_grid(originals, augmented, labels[:n], class_names), path)
