"""Classification metrics from predictions: pure numpy functions, checked against scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fmnist.errors import ConfigError

__all__ = [
    "SPLITS",
    "available_metrics",
    "classification_metrics",
    "confusion_matrix",
    "cross_entropy",
    "flatten",
    "objective_names",
]

SPLITS = ("train", "val", "test")
_EPSILON = 1e-7  # Keras' backend epsilon, so the loss matches model.evaluate

_METRIC_NAMES = (
    "loss", "accuracy", "precision_macro", "recall_macro", "f1_macro",
    "precision_weighted", "recall_weighted", "f1_weighted",
)
_RUN_NUMBERS = ("epochs", "wall_seconds", "train_seconds", "params", "trainable_params",
                "best_epoch")


def available_metrics() -> list[str]:
    """Every name ``optimized_metric`` may take."""
    return [f"{s}_{m}" for s in SPLITS for m in _METRIC_NAMES] + list(_RUN_NUMBERS)


def objective_names(optimized_metric: str | Sequence[str]) -> list[str]:
    """``optimized_metric`` (a name or a list of names) checked against the metrics that exist."""
    names = (
        list(optimized_metric)
        if not isinstance(optimized_metric, str) and isinstance(optimized_metric, Sequence)
        else [optimized_metric]
    )
    unknown = [n for n in names if n not in available_metrics()]
    if unknown or not names:
        raise ConfigError(
            f"optimized_metric={unknown or names} is not a metric this job reports; available: "
            f"{', '.join(available_metrics())}"
        )
    return [str(n) for n in names]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``cm[i, j]`` of samples of true class ``i`` predicted as ``j``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} must be in [0, {num_classes}), got values {y.min()}..{y.max()}")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def cross_entropy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy of probability rows, clipped like Keras."""
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    picked = np.clip(probs[np.arange(len(y_true)), np.asarray(y_true)], _EPSILON, 1 - _EPSILON)
    return float(-np.log(picked).mean())


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, num_classes: int | None = None
) -> dict[str, float]:
    """Loss, accuracy, and macro / weighted precision, recall and F1 (0 where undefined, as
    scikit-learn's ``zero_division=0``).

    >>> m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    >>> m["accuracy"], m["f1_macro"]
    (1.0, 1.0)
    """
    probs = np.asarray(probs)
    k = num_classes or probs.shape[1]
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, k).astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    precision = _safe_divide(tp, cm.sum(axis=0))
    recall = _safe_divide(tp, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    weights = support / support.sum()
    out = {"loss": cross_entropy(y_true, probs), "accuracy": float(tp.sum() / cm.sum())}
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = float(per_class.mean())
        out[f"{name}_weighted"] = float((per_class * weights).sum())
    return out


def flatten(metrics: dict[str, Any]) -> dict[str, float]:
    """``{'val': {'accuracy': a}, 'wall_seconds': s}`` -> ``{'val_accuracy': a, 'wall_seconds': s}``:
    the names ``optimized_metric`` may take."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict) and key in SPLITS:
            flat.update({f"{key}_{name}": float(v) for name, v in value.items()})
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[key] = float(value)
    return flat
