"""Comparison plots of runs (and of an Optuna study). Each run keeps one colour in every plot;
with many runs the top N are drawn in colour and the rest faded grey."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from fmnist.plots import confusion_matrix_figure, save
from fmnist.summary.collect import Run

__all__ = ["run_colours", "write_run_figures", "write_study_figures"]

_FADED = "#c8c8c8"


def run_colours(ranked: Sequence[str], top_n: int) -> dict[str, str]:
    """A colour for each of the first ``top_n`` run names; the rest are faded grey."""
    cmap = plt.get_cmap("tab10" if top_n <= 10 else "tab20")
    return {name: (matplotlib.colors.to_hex(cmap(i % cmap.N)) if i < top_n else _FADED)
            for i, name in enumerate(ranked)}


def _curves(runs: Sequence[Run]) -> list[Run]:
    return [r for r in runs if not r.history.empty and "epoch" in r.history]


def _comparison_grid(runs: Sequence[Run], colours: dict[str, str], labels: dict[str, str],
                     top_n: int) -> Any:
    """The notebook's grid: a row per run (top N), accuracy and loss, train vs validation."""
    shown = _curves(runs)[:top_n]
    fig, axes = plt.subplots(len(shown), 2, figsize=(10, 2.4 * len(shown) + 0.6), squeeze=False)
    for row, run in zip(axes, shown, strict=True):
        h = run.history
        for ax, metric in zip(row, ("accuracy", "loss"), strict=True):
            ax.plot(h["epoch"], h[metric], color=colours[run.name], label="train", marker="o",
                    markersize=3)
            ax.plot(h["epoch"], h[f"val_{metric}"], color=colours[run.name], linestyle="--",
                    label="val", marker="s", markersize=3)
            ax.set_ylabel(metric)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{labels[run.name]} ({run.status})", fontsize=9)
            ax.grid(alpha=0.3)
        row[0].legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("epoch")
    axes[-1, 1].set_xlabel("epoch")
    title = "Accuracy and loss per run (train solid, validation dashed)"
    if len(_curves(runs)) > top_n:
        title += f": the best {top_n} of {len(_curves(runs))}"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _all_runs(runs: Sequence[Run], colours: dict[str, str], labels: dict[str, str],
              columns: Sequence[str], title: str) -> Any:
    fig, axes = plt.subplots(1, len(columns), figsize=(6 * len(columns), 4.2), squeeze=False)
    curves = _curves(runs)
    # faded runs first, so the highlighted ones are drawn on top
    for run in sorted(curves, key=lambda r: colours[r.name] != _FADED):
        for ax, column in zip(axes[0], columns, strict=True):
            if column not in run.history:
                continue
            faded = colours[run.name] == _FADED
            ax.plot(run.history["epoch"], run.history[column], color=colours[run.name],
                    alpha=0.5 if faded else 1.0, linewidth=1 if faded else 1.8, marker="o",
                    markersize=2 if faded else 3.5, label=None if faded else labels[run.name],
                    linestyle=":" if run.status != "completed" else "-")
    for ax, column in zip(axes[0], columns, strict=True):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(column)
        ax.grid(alpha=0.3)
        if column == "learning_rate":
            ax.set_yscale("log")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
                   title="runs (best first)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _best_confusion(best: Run) -> Any | None:
    path = best.path / "confusion_matrix.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, index_col=0)
    return confusion_matrix_figure(frame.to_numpy(), [str(c) for c in frame.columns],
                                   normalize=True,
                                   title=f"Best run {best.name}: test confusion matrix (row-normalised)")


def write_run_figures(runs: Sequence[Run], ranked: Sequence[str], out: Path, top_n: int = 8,
                      labels: dict[str, str] | None = None) -> dict[str, Path]:
    """Write the comparison plots into ``out`` (runs in ``ranked`` order, best first; legends
    from ``labels``); returns {title: path}."""
    colours = run_colours(ranked, top_n)
    labels = {name: (labels or {}).get(name, name) for name in ranked}
    by_name = {r.name: r for r in runs}
    ordered = [by_name[n] for n in ranked]
    written: dict[str, Path] = {}
    if _curves(ordered):
        written["Accuracy and loss per run"] = save(
            _comparison_grid(ordered, colours, labels, top_n), out / "comparison_grid.png")
        written["Validation accuracy and loss of all runs"] = save(
            _all_runs(ordered, colours, labels, ["val_accuracy", "val_loss"],
                      "Validation accuracy and loss of all runs"), out / "val_curves.png")
        written["Learning rate"] = save(
            _all_runs(ordered, colours, labels, ["learning_rate"], "Learning rate per epoch"),
            out / "learning_rate.png")
    completed = [r for r in ordered if r.status == "completed"]
    if completed:
        fig = _best_confusion(completed[0])
        if fig is not None:
            written["Best run's confusion matrix"] = save(fig, out / "confusion_matrix_best.png")
    return written


def write_study_figures(study: Any, out: Path) -> dict[str, Path]:
    """Optimisation history, intermediate values (pruned trials visible), parameter
    importances and parallel coordinates of an Optuna study."""
    import warnings

    import optuna
    from optuna.visualization import matplotlib as ovm

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    written: dict[str, Path] = {}
    single = len(study.directions) == 1
    plots: list[tuple[str, str, Callable[..., Any]]] = []
    if single:
        plots += [("Optimisation history", "optuna_history.png", ovm.plot_optimization_history)]
        plots += [("Intermediate values", "optuna_intermediate.png", ovm.plot_intermediate_values)]
        if len(complete) >= 2 and study.best_trial.params:
            plots += [("Parameter importances", "optuna_importances.png", ovm.plot_param_importances),
                      ("Parallel coordinates", "optuna_parallel.png", ovm.plot_parallel_coordinate)]
    elif complete:
        plots += [("Pareto front", "optuna_pareto.png", ovm.plot_pareto_front)]
    for title, name, function in plots:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = function(study)
            except (ValueError, RuntimeError):
                continue
        axes = np.ravel(result) if isinstance(result, np.ndarray) else [result]
        fig = axes[0].get_figure(root=True)
        fig.set_size_inches(max(fig.get_size_inches()[0], 8), max(fig.get_size_inches()[1], 4.5))
        written[title] = save(fig, out / name)
    return written

