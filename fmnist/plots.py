"""Figures written by a run: training curves, the confusion matrix and a grid of augmented samples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from hydra_plugins.fmnist_optuna_sweeper import atomic

__all__ = ["augmentation_grid", "confusion_matrix_figure", "curves_figure", "save"]


def save(fig: Any, path: str | Path) -> Path:
    """Save and close a figure (PNG, tight)."""
    path = Path(path)
    try:
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def confusion_matrix_figure(
    cm: np.ndarray, class_names: Sequence[str], normalize: bool = True, title: str = ""
) -> Any:
    """A labelled heat map of a confusion matrix (rows: true, columns: predicted)."""
    cm = np.asarray(cm, dtype=np.float64)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    k = len(class_names)
    size = max(4.5, 0.55 * k + 2)
    # constrained: the rotated class names and the "Predicted label" below them stay inside
    # the figure at its fixed size
    fig, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), class_names, rotation=60, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title or ("Confusion matrix (row-normalised)" if normalize else "Confusion matrix"))
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > threshold else "black")
    return fig


def augmentation_grid(
    originals: np.ndarray,
    augmented: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    title: str = "Augmented training samples",
) -> Any:
    """Pairs of rows: originals above, their augmented versions below, with labels."""
    n = len(originals)
    cols = min(8, n)
    pair_rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(2 * pair_rows, cols, figsize=(1.5 * cols, 3.2 * pair_rows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c = 2 * (i // cols), i % cols
        name = class_names[int(labels[i])]
        axes[r, c].imshow(originals[i, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_title(f"{name}\noriginal", fontsize=7)
        axes[r + 1, c].imshow(augmented[i, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        axes[r + 1, c].set_title("augmented", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves_figure(history: Any, title: str = "Training curves") -> Any:
    """Accuracy, loss and learning rate per epoch of one run (train solid, validation dashed),
    from its ``history.csv`` rows (a DataFrame); integer epoch ticks."""
    from matplotlib.ticker import MaxNLocator

    columns = [("accuracy", "accuracy"), ("loss", "loss"), ("learning_rate", "learning rate")]
    shown = [(c, label) for c, label in columns if c in history]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    epochs = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    for ax, (column, label) in zip(axes[0], shown, strict=True):
        ax.plot(epochs, history[column], marker="o", markersize=3, label="train"
                if column != "learning_rate" else None)
        if f"val_{column}" in history:
            ax.plot(epochs, history[f"val_{column}"], marker="s", markersize=3, linestyle="--",
                    label="validation")
            ax.legend(fontsize=8)
        if column == "learning_rate":
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
