"""Writing files in the notebook's Kaggle format, for tests: what ``np.save(path, dict)`` in the
notebook writes, and what :func:`fmnist.data.load_kaggle` and ``fmnist-predict`` read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_kaggle_file"]


def write_kaggle_file(
    path: str | Path, features: np.ndarray, *, target: np.ndarray | None = None,
    ids: np.ndarray | None = None
) -> Path:
    """Write ``{'features', 'target', 'id'}`` (the ones given) as ``np.save`` of a dict.

    >>> write_kaggle_file("t.npy", np.zeros((3, 28, 28)), target=np.ones(3))  # doctest: +SKIP
    PosixPath('t.npy')
    """
    obj: dict[str, Any] = {"features": np.asarray(features, dtype=np.float64)}
    if target is not None:
        obj["target"] = np.asarray(target, dtype=np.float64)
    if ids is not None:
        obj["id"] = np.asarray(ids)
    path = Path(path)
    with open(path, "wb") as f:
        np.save(f, obj, allow_pickle=True)  # type: ignore[arg-type]
    return path
