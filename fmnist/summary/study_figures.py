"""Figures of an Optuna study, drawn for readability at 1100 px: optimisation history,
intermediate values per epoch (integer steps, pruned trials grey), parameter importances and
parallel coordinates with short axis names and min / max ticks (or the Pareto front)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from fmnist.summary.tables import short_value

__all__ = ["study_figures"]

_W = 11.0


def _names(study: Any) -> list[str]:
    names = getattr(study, "metric_names", None)
    return list(names) if names else [f"objective {i}" for i in range(len(study.directions))]


def _history(study: Any, complete: list[Any]) -> Any:
    fig, ax = plt.subplots(figsize=(_W, 3.8), layout="constrained")
    name = _names(study)[0]
    maximize = study.direction.name == "MAXIMIZE"
    numbers = [t.number for t in complete]
    values = [t.value for t in complete]
    ax.scatter(numbers, values, color="#1f77b4", zorder=3, label=name)
    best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)
    ax.step(numbers, best, where="post", color="#d62728", label=f"best {name}")
    ax.set_xlabel("trial")
    ax.set_ylabel(name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(f"Optimisation history of {study.study_name}")
    return fig


def _intermediate(study: Any, trials: list[Any], top_n: int) -> Any:
    import optuna

    fig, ax = plt.subplots(figsize=(_W, 4.0), layout="constrained")
    maximize = study.direction.name == "MAXIMIZE"
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    top = sorted(complete, key=lambda t: -t.value if maximize else t.value)[:top_n]
    palette = [plt.get_cmap("tab10")(i) for i in range(10) if i != 7]
    last = 1
    for t in trials:
        if not t.intermediate_values or t in top:
            continue
        steps = sorted(t.intermediate_values)
        last = max(last, steps[-1])
        pruned = t.state == optuna.trial.TrialState.PRUNED
        ax.plot(steps, [t.intermediate_values[s] for s in steps], color="#bbbbbb",
                linestyle=":" if pruned else "-", marker="x" if pruned else None, linewidth=1)
    for i, t in enumerate(reversed(top)):
        rank = len(top) - 1 - i
        steps = sorted(t.intermediate_values)
        if not steps:
            continue
        last = max(last, steps[-1])
        ax.plot(steps, [t.intermediate_values[s] for s in steps], color=palette[rank % len(palette)],
                marker="o", markersize=4 + 0.5 * rank, linewidth=1.3 + 0.35 * rank,
                label=f"T{t.number}", zorder=10 + len(top) - rank)
    ax.set_xlim(0.5, last + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epoch (step)")
    ax.set_ylabel("reported value")
    ax.grid(alpha=0.3)
    n_pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    if top:
        # drawn worst first (the best on top); listed best first, in one column
        handles, labels = ax.get_legend_handles_labels()
        order = {f"T{t.number}": i for i, t in enumerate(top)}
        pairs = sorted(zip(handles, labels, strict=True), key=lambda hl: order.get(hl[1], len(top)))
        ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], fontsize=8, ncol=1,
                  title=f"best first; grey: others ({n_pruned} pruned, x)", title_fontsize=8)
    ax.set_title("Values reported each epoch")
    return fig


def _importances(study: Any) -> Any | None:
    import optuna

    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):
        return None
    if not importances:
        return None
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(_W, 0.45 * len(names) + 1.2), layout="constrained")
    ax.barh(names, [importances[n] for n in names], color="#1f77b4")
    for y, n in enumerate(names):
        ax.text(importances[n], y, f" {importances[n]:.3f}", va="center", fontsize=9)
    ax.set_xlabel(f"importance for {_names(study)[0]} (fANOVA)")
    ax.set_xlim(0, max(importances.values()) * 1.15 or 1)
    ax.set_title("Parameter importances")
    return fig


def _axis_values(trials: list[Any], name: str) -> tuple[list[float], list[str], list[float]]:
    """Positions in [0, 1] of each trial's value of ``name``, tick labels and positions."""
    import optuna

    dist = trials[0].distributions[name]
    raw = [t.params[name] for t in trials]
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        choices = [c for c in dist.choices if c in raw] or list(dist.choices)
        count = max(len(choices) - 1, 1)
        return ([choices.index(v) / count for v in raw], [str(c) for c in choices],
                [i / count for i in range(len(choices))])
    log = getattr(dist, "log", False)
    x = [math.log10(v) if log else float(v) for v in raw]
    lo, hi = min(x), max(x)
    span = (hi - lo) or 1.0
    ticks = [min(raw), max(raw)] if hi > lo else [raw[0]]
    return [(v - lo) / span for v in x], [short_value(float(v)) for v in ticks], \
        ([0.0, 1.0] if hi > lo else [0.0])


def _parallel(study: Any, complete: list[Any]) -> Any | None:
    names = sorted({n for t in complete for n in t.params}, key=str)
    trials = [t for t in complete if all(n in t.params for n in names)]
    if not names or len(trials) < 2:
        return None
    objective = _names(study)[0]
    axes_names = [*names, objective]
    fig, ax = plt.subplots(figsize=(_W, 4.6), layout="constrained")
    values = np.array([t.value for t in trials])
    lo, hi = values.min(), values.max()
    norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1)
    cmap = plt.get_cmap("viridis")
    columns = [_axis_values(trials, n) for n in names]
    obj_pos = [(v - lo) / ((hi - lo) or 1) for v in values]
    order = np.argsort(values if study.direction.name == "MAXIMIZE" else -values)
    for i in order:
        ys = [c[0][i] for c in columns] + [obj_pos[i]]
        ax.plot(range(len(axes_names)), ys, color=cmap(norm(values[i])), linewidth=1.6, alpha=0.85)
    for x, (_, labels, positions) in enumerate([*columns, ([], [short_value(float(lo)),
                                                               short_value(float(hi))], [0.0, 1.0])]):
        ax.axvline(x, color="#444444", linewidth=1)
        for label, y in zip(labels, positions, strict=False):
            ax.text(x + 0.03, y, label, fontsize=8, va="center", ha="left",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax.set_xticks(range(len(axes_names)),
                  ["\n".join(textwrap.wrap(n.split(".")[-1], 16)) for n in axes_names], fontsize=9)
    ax.set_yticks([])
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlim(-0.2, len(axes_names) - 0.6)
    for spine in ("left", "right", "top"):
        ax.spines[spine].set_visible(False)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=objective,
                 fraction=0.03)
    ax.set_title(f"Parallel coordinates of {len(trials)} completed trials (log axes where "
                 "searched on a log scale)")
    return fig


def _pareto(study: Any, complete: list[Any]) -> Any | None:
    if len(study.directions) != 2:
        return None
    names = _names(study)
    fig, ax = plt.subplots(figsize=(_W * 0.75, 5), layout="constrained")
    best = {t.number for t in study.best_trials}
    for t in complete:
        on_front = t.number in best
        ax.scatter(*t.values, color="#d62728" if on_front else "#999999", zorder=3 if on_front else 1)
        if on_front:
            ax.annotate(f"T{t.number}", t.values, fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.grid(alpha=0.3)
    ax.set_title("Pareto front (red)")
    return fig


def study_figures(study: Any, top_n: int = 8) -> Iterator[tuple[str, str, Any]]:
    """(title, file name, figure) of each plot that the study's trials allow."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(study.directions) == 1:
        if complete:
            yield "Optimisation history", "optuna_history.png", _history(study, complete)
        if any(t.intermediate_values for t in trials):
            yield "Intermediate values", "optuna_intermediate.png", _intermediate(study, trials, top_n)
        if len(complete) >= 2 and any(t.params for t in complete):
            fig = _importances(study)
            if fig is not None:
                yield "Parameter importances", "optuna_importances.png", fig
            fig = _parallel(study, complete)
            if fig is not None:
                yield "Parallel coordinates", "optuna_parallel.png", fig
    elif complete:
        fig = _pareto(study, complete)
        if fig is not None:
            yield "Pareto front", "optuna_pareto.png", fig
