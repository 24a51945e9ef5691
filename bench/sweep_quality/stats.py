"""Best-so-far curves over repetitions: interquartile mean with bootstrap 95 % intervals (the
protocol of Syne Tune's benchmarks), medians, and when a curve first reaches a value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Band", "band", "first_reach", "iqm"]


def iqm(values: Sequence[float] | np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean: the mean of the middle half (25 % trimmed off each end, as
    ``scipy.stats.trim_mean(x, 0.25)``).

    >>> float(iqm([0.0, 1.0, 2.0, 3.0, 100.0, -100.0, 1.5, 2.5]))
    1.75
    """
    x = np.sort(np.asarray(values, dtype=float), axis=axis)
    n = x.shape[axis]
    cut = int(0.25 * n)
    return np.asarray(np.take(x, range(cut, n - cut), axis=axis).mean(axis=axis))


@dataclass(frozen=True)
class Band:
    """IQM and its bootstrap 95 % interval at each budget point, and the median."""

    iqm: np.ndarray
    low: np.ndarray
    high: np.ndarray
    median: np.ndarray


def band(curves: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> Band:
    """``curves``: repetitions x budget points. The interval resamples repetitions."""
    curves = np.asarray(curves, dtype=float)
    if curves.ndim != 2 or curves.shape[0] < 1:
        raise ValueError(f"curves must be repetitions x points with >= 1 repetition, got {curves.shape}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, curves.shape[0], size=(resamples, curves.shape[0]))
    boots = np.stack([iqm(curves[p], axis=0) for p in picks])
    return Band(iqm(curves, axis=0), np.percentile(boots, 2.5, axis=0),
                np.percentile(boots, 97.5, axis=0), np.median(curves, axis=0))


def first_reach(budgets: Sequence[float], curve: Sequence[float], target: float) -> float:
    """The first budget at which ``curve`` (best-so-far at ``budgets``) is >= ``target``
    (``inf``: never).

    >>> first_reach([1, 2, 3], [0.5, 0.7, 0.9], 0.7)
    2.0
    """
    for b, v in zip(budgets, curve, strict=True):
        if v >= target:
            return float(b)
    return float("inf")
