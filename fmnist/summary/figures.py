"""Comparison plots of runs (and of an Optuna study), readable for 2 to 200 runs.

Every figure has a fixed size (at most ``MAX_WIDTH_PX`` x ``MAX_HEIGHT_PX``), short run labels
(the trial or job number), a legend of at most ``top_n`` entries with a table of those runs'
parameters below the plot (4 significant digits), and integer epoch axes. Each of the top
runs keeps one colour and marker in every plot; the rest are faded grey without legend
entries. Lines of equal values stay apart: the better a run, the thinner its line (and
marker), drawn on top of the wider lines of the runs below it.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from hydra_plugins.fmnist_optuna_sweeper import atomic
from matplotlib.ticker import MaxNLocator

from fmnist.plots import confusion_matrix_figure
from fmnist.summary.collect import Run
from fmnist.summary.tables import short_value

__all__ = ["DPI", "MAX_HEIGHT_PX", "MAX_WIDTH_PX", "run_colours", "run_figures", "write_run_figures",
           "write_study_figures"]

DPI = 100
WIDTH = 11.0  # inches: 1100 px, the report's column width
MAX_WIDTH_PX, MAX_HEIGHT_PX = 1100, 900
_FADED = "#c8c8c8"
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]


def run_colours(ranked: Sequence[str], top_n: int) -> dict[str, str]:
    """A colour for each of the first ``top_n`` run names; the rest are faded grey."""
    # tab10 / tab20 without their greys (grey means "faded")
    palette = ([plt.get_cmap("tab10")(i) for i in range(10) if i != 7] if top_n <= 9 else
               [plt.get_cmap("tab20")(i) for i in range(20) if i not in (14, 15)])
    return {name: (matplotlib.colors.to_hex(palette[i % len(palette)]) if i < top_n else _FADED)
            for i, name in enumerate(ranked)}


def _save(fig: Any, path: Path) -> Path:
    """Save at a fixed size (no tight bounding box that could grow the image)."""
    w, h = fig.get_size_inches()
    fig.set_size_inches(min(w, MAX_WIDTH_PX / DPI), min(h, MAX_HEIGHT_PX / DPI))
    try:
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _epoch_axis(ax: Any, last_epoch: int) -> None:
    ax.set_xlim(0.5, max(last_epoch, 1) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epoch")


def _curves(runs: Sequence[Run], column: str = "epoch") -> list[Run]:
    return [r for r in runs if not r.history.empty and "epoch" in r.history and column in r.history
            and r.history[column].notna().any()]


class _Style:
    """Colour, marker and line width of each run: top ``top_n`` in colour, best on top."""

    def __init__(self, ranked: Sequence[Run], top_n: int) -> None:
        self.top = list(ranked[:top_n])
        self.colours = run_colours([r.name for r in ranked], top_n)
        self.rank = {r.name: i for i, r in enumerate(ranked)}
        # line width grows by `step` per rank: at most 2.8 points wider for the last top run
        self.step = min(1.0, 2.8 / max(len(self.top) - 1, 1))

    def kwargs(self, run: Run) -> dict[str, Any]:
        i = self.rank[run.name]
        if i >= len(self.top):
            return {"color": _FADED, "linewidth": 0.9, "alpha": 0.6, "zorder": 1}
        return {"color": self.colours[run.name], "marker": _MARKERS[i % len(_MARKERS)],
                "markersize": 4 + 1.4 * self.step * i, "linewidth": 1.3 + self.step * i,
                "linestyle": "-" if run.status == "completed" else ":",
                "label": run.label, "zorder": 10 + len(self.top) - i, "alpha": 0.9}

    def drawing_order(self, runs: Sequence[Run]) -> list[Run]:
        """Faded runs first, then the top runs from worst to best (best drawn last)."""
        return sorted(runs, key=lambda r: -self.rank[r.name])


def _param_table(ax: Any, runs: Sequence[Run], keys: Sequence[str], colours: dict[str, str],
                 objective: str, values: dict[str, float]) -> None:
    """A table of the top runs' swept values under the plots (the legend's key)."""
    ax.axis("off")
    if not runs:
        return
    names = [k.split(".")[-1] for k in keys]
    if len(set(names)) < len(names):
        names = list(keys)
    header = ["run", *names, objective, "status"]
    cells = [[r.label, *(short_value(r.value(k)) for k in keys), short_value(values.get(r.name)),
              r.status] for r in runs]
    table = ax.table(cellText=cells, colLabels=[textwrap.shorten(h, 22) for h in header],
                     loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.scale(1, 1.15)
    for row, run in enumerate(runs, start=1):
        cell = table[row, 0]
        cell.set_facecolor(colours[run.name])
        cell.get_text().set_color("white")
        cell.get_text().set_fontweight("bold")
    table.auto_set_column_width(list(range(len(header))))


def _curves_figure(ranked: Sequence[Run], style: _Style, keys: Sequence[str],
                   columns: Sequence[str], title: str, objective: str,
                   values: dict[str, float]) -> Any:
    curves = _curves(ranked)
    shown_top = [r for r in style.top if r in curves]
    table_h = 0.25 * (len(shown_top) + 1) + 0.2
    fig = plt.figure(figsize=(WIDTH, 3.4 + table_h), layout="constrained")
    grid = fig.add_gridspec(2, len(columns), height_ratios=[3.4, table_h])
    axes = [fig.add_subplot(grid[0, i]) for i in range(len(columns))]
    last = int(max((r.history["epoch"].max() for r in curves), default=1))
    for run in style.drawing_order(curves):
        for ax, column in zip(axes, columns, strict=True):
            if column in run.history:
                ax.plot(run.history["epoch"], run.history[column], **style.kwargs(run))
    for ax, column in zip(axes, columns, strict=True):
        _epoch_axis(ax, last)
        ax.set_ylabel(column)
        ax.grid(alpha=0.3)
        if column == "learning_rate":
            ax.set_yscale("log")
    faded = len(curves) - len(shown_top)
    handles, labels = axes[0].get_legend_handles_labels()
    rank = {r.label: i for i, r in enumerate(style.top)}
    pairs = sorted(zip(handles, labels, strict=True), key=lambda hl: rank.get(hl[1], 0))
    handles, labels = [h for h, _ in pairs], [lab for _, lab in pairs]
    if handles:
        # one column, so that the entries read top to bottom in the order the title says
        axes[-1].legend(handles, labels, fontsize=8, loc="best", ncol=1,
                        title="best first" + (f" (+{faded} grey)" if faded else ""),
                        title_fontsize=8)
    _param_table(fig.add_subplot(grid[1, :]), shown_top, keys, style.colours, objective, values)
    fig.suptitle(title)
    return fig


def _comparison_grid(ranked: Sequence[Run], style: _Style) -> Any:
    """The notebook's grid for the top runs: accuracy (top) and loss (bottom) per run, train
    solid, validation dashed; four runs per row."""
    shown = [r for r in style.top if r in _curves(ranked)]
    cols = min(4, len(shown))
    blocks = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(2 * blocks, cols, figsize=(WIDTH, min(1.9 * 2 * blocks + 0.7, 9)),
                             squeeze=False, layout="constrained")
    last = int(max(r.history["epoch"].max() for r in shown))
    for ax in axes.ravel():
        ax.axis("off")
    for i, run in enumerate(shown):
        for j, metric in enumerate(("accuracy", "loss")):
            ax = axes[2 * (i // cols) + j, i % cols]
            ax.axis("on")
            colour = style.colours[run.name]
            h = run.history
            if metric in h:
                ax.plot(h["epoch"], h[metric], color=colour, marker="o", markersize=3, label="train")
            if f"val_{metric}" in h:
                ax.plot(h["epoch"], h[f"val_{metric}"], color=colour, linestyle="--", marker="s",
                        markersize=3, label="val")
            _epoch_axis(ax, last)
            ax.set_ylabel(metric, fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_title(f"{run.label} ({run.status})", fontsize=10, color=colour)
    axes[0, 0].legend(fontsize=7, loc="best")
    total = len(_curves(ranked))
    title = "Accuracy (top) and loss per run: train solid, validation dashed"
    if total > len(shown):
        title += f"; the best {len(shown)} of {total}"
    fig.suptitle(title)
    return fig


def _best_confusion(best: Run) -> Any | None:
    path = best.path / "confusion_matrix.csv"
    try:
        frame = pd.read_csv(path, index_col=0)
        cm = frame.to_numpy(dtype=float)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        return None
    return confusion_matrix_figure(cm, [str(c) for c in frame.columns], normalize=True,
                                   title=f"Best run {best.label}: test confusion matrix (row-normalised)")


def run_figures(runs: Sequence[Run], ranked: Sequence[str], top_n: int = 8,
                keys: Sequence[str] = (), objective: str = "val_accuracy",
                values: dict[str, float] | None = None) -> Iterator[tuple[str, str, Any]]:
    """(title, file name, figure) of each comparison plot (runs in ``ranked`` order, best
    first; the parameter tables show ``keys`` and ``objective``)."""
    by_name = {r.name: r for r in runs}
    ordered = [by_name[n] for n in ranked]
    style = _Style(ordered, top_n)
    values = values or {}
    if _curves(ordered, "val_accuracy"):
        yield ("Accuracy and loss per run", "comparison_grid.png",
               _comparison_grid(ordered, style))
        yield ("Validation accuracy and loss of all runs", "val_curves.png",
               _curves_figure(ordered, style, keys, ["val_accuracy", "val_loss"],
                              "Validation accuracy and loss per epoch", objective, values))
    if _curves(ordered, "learning_rate"):
        yield ("Learning rate", "learning_rate.png",
               _curves_figure(ordered, style, keys, ["learning_rate"], "Learning rate per epoch",
                              objective, values))
    completed = [r for r in ordered if r.status == "completed"]
    if completed:
        fig = _best_confusion(completed[0])
        if fig is not None:
            yield "Best run's confusion matrix", "confusion_matrix_best.png", fig


def write_run_figures(runs: Sequence[Run], ranked: Sequence[str], out: Path, top_n: int = 8,
                      keys: Sequence[str] = (), objective: str = "val_accuracy",
                      values: dict[str, float] | None = None) -> dict[str, Path]:
    """Write :func:`run_figures` into ``out``; returns {title: path}."""
    return {title: _save(fig, out / name)
            for title, name, fig in run_figures(runs, ranked, top_n, keys, objective, values)}


def write_study_figures(study: Any, out: Path, top_n: int = 8) -> dict[str, Path]:
    """Optimisation history, intermediate values (pruned trials visible), parameter
    importances and parallel coordinates (or the Pareto front) of an Optuna study."""
    from fmnist.summary.study_figures import study_figures

    written: dict[str, Path] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for title, name, fig in study_figures(study, top_n):
            written[title] = _save(fig, out / name)
    return written
