"""Tables from runs: one row per run, groups over categorical choices, and an Optuna study's
digest. The CSV files hold every column; :func:`compact` picks the ones a page shows."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fmnist.metrics import flatten
from fmnist.summary.collect import Run

__all__ = ["categorical_keys", "compact", "compact_groups", "factor_table", "group_table", "objective_of",
           "objectives_of", "runs_table", "short_names", "short_value", "study_tables", "swept_keys"]

log = logging.getLogger(__name__)

_METRIC_COLUMNS = [
    (split, name)
    for split in ("train", "val", "test")
    for name in ("accuracy", "precision_macro", "recall_macro", "f1_macro")
]
_LOWER_IS_BETTER = ("loss", "seconds", "params")
#: metric columns of the compact table (besides the objectives)
_COMPACT_METRICS = ("val_accuracy", "test_accuracy", "test_f1_macro")


def short_value(value: Any) -> str:
    """A value for display: floats to 4 significant digits (``0.0274519...`` -> ``0.02745``);
    anything else as it is. The CSV files keep the exact values."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return f"{number:.4g}" if ("." in text or "e" in text.lower()) else text


def swept_keys(runs: Sequence[Run]) -> list[str]:
    """Override keys whose real value (see :meth:`Run.value`) differs between runs."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run.overrides if k not in keys)
    return [k for k in keys if len({r.value(k) for r in runs}) > 1]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def categorical_keys(runs: Sequence[Run], exclude: Sequence[str] = ("seed",)) -> list[str]:
    """Swept keys whose values are choices: names (``model=deeper``), or numbers taken from a
    few values that repeat (``trainer.batch_size=32,64``); never a continuous search."""
    out = []
    for key in swept_keys(runs):
        if key in exclude:
            continue
        values = [r.value(key) for r in runs]
        if not all(_is_number(v) for v in values if v != "-"):
            out.append(key)
            continue
        distinct = set(values)
        if len(distinct) <= 6 and all(values.count(v) >= 2 for v in distinct):
            out.append(key)
    return out


def objectives_of(runs: Sequence[Run]) -> list[str]:
    """The optimised metric(s) named in the runs' configs."""
    for run in runs:
        metric = run.config.get("optimized_metric")
        if isinstance(metric, list) and metric:
            return [str(m) for m in metric]
        if isinstance(metric, str):
            return [metric]
    return ["val_accuracy"]


def objective_of(runs: Sequence[Run]) -> str:
    """The first optimised metric."""
    return objectives_of(runs)[0]


def runs_table(runs: Sequence[Run], objective: str | None = None) -> pd.DataFrame:
    """One row per run: swept hyperparameters (the runs' real values), status, epochs,
    metrics, parameters, seconds, note; sorted by the objective (best first, unfinished runs
    last) with the best marked."""
    objectives = objectives_of(runs)
    objective = objective or objectives[0]
    if objective not in objectives:
        objectives = [objective, *objectives]
    keys = swept_keys(runs)
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.name, "label": run.label}
        row.update({k: run.value(k) for k in keys})
        row.update(status=run.status, epochs=run.metrics.get("epochs", len(run.history)))
        flat = flatten(run.metrics)
        for name in objectives:
            row[name] = flat.get(name, math.nan)
        for split, name in _METRIC_COLUMNS:
            row.setdefault(f"{split}_{name}", run.metric(split, name))
        row.update(params=run.metrics.get("params"), seconds=run.metrics.get("wall_seconds"),
                   note=run.note)
        rows.append(row)
    table = pd.DataFrame(rows)
    for name in objectives:
        table[name] = pd.to_numeric(table[name], errors="coerce")
    ascending = any(word in objective for word in _LOWER_IS_BETTER)
    completed = table["status"] == "completed"
    table["_rank"] = np.where(completed, 0, 1)
    table = table.sort_values(["_rank", objective], ascending=[True, ascending], na_position="last")
    table = table.drop(columns="_rank").reset_index(drop=True)
    table.insert(1, "best", "")
    if completed.any() and pd.notna(table.loc[0, objective]):
        table.loc[0, "best"] = "★"
    return table


def short_names(keys: Sequence[str], reserved: Sequence[str] = ()) -> dict[str, str]:
    """Column names for swept keys: the last part (``model.dropout_conv2`` -> ``dropout_conv2``)
    where that names one key and no other column (``trainer.epochs`` stays, beside ``epochs``).

    >>> short_names(["optim.learning_rate", "trainer.epochs"], reserved=["epochs"])
    {'optim.learning_rate': 'learning_rate'}
    """
    last = [k.split(".")[-1] for k in keys]
    taken = {str(c) for c in reserved} - set(keys)
    return {k: name for k, name in zip(keys, last, strict=True)
            if k != name and last.count(name) == 1 and name not in taken}


def compact(table: pd.DataFrame, runs: Sequence[Run]) -> pd.DataFrame:
    """The columns a page shows: run (★ on the best), swept values (4 significant digits), status,
    epochs, the objectives, validation / test accuracy, test F1, note."""
    objectives = objectives_of(runs)
    keys = [k for k in swept_keys(runs) if k in table]
    wanted = ["label", *keys, "status", "epochs", *objectives,
              *(c for c in _COMPACT_METRICS if c not in objectives), "note"]
    out = table[[c for c in wanted if c in table]].copy()
    out["label"] = [f"{label} {best}".strip() for label, best in zip(out["label"], table["best"],
                                                                   strict=True)]
    out = out.rename(columns={"label": "run", **short_names(keys, reserved=out.columns)})
    for column, key in zip(out.columns, table[[c for c in wanted if c in table]].columns,
                           strict=True):
        if key in keys:
            out[column] = out[column].map(short_value)
    out["note"] = out["note"].fillna("").map(lambda n: n if len(n) <= 80 else n[:77] + "...")
    return out


def compact_groups(groups: pd.DataFrame) -> pd.DataFrame:
    """The groups table for a page: each metric as ``mean ± std`` in one column."""
    if groups.empty:
        return groups
    out = groups[[c for c in groups.columns if not c.endswith(("_mean", "_std"))]].copy()
    for metric in ("val_accuracy", "test_accuracy", "test_f1_macro"):
        mean, std = groups[f"{metric}_mean"], groups[f"{metric}_std"]
        out[metric] = [("" if pd.isna(m) else f"{m:.4f}" + ("" if pd.isna(s) else f" ± {s:.4f}"))
                       for m, s in zip(mean, std, strict=True)]
    return out


def group_table(runs: Sequence[Run], repeat_key: str = "seed") -> pd.DataFrame:
    """Runs grouped by their categorical choices (never by a continuous parameter): how many
    ran, completed, were pruned or failed, and mean / std of validation and test accuracy and
    test F1 over the completed ones. Empty when nothing was chosen from a set."""
    keys = categorical_keys(runs, exclude=(repeat_key,))
    if not keys or not runs:
        return pd.DataFrame()
    frame = pd.DataFrame([
        {**{k: r.value(k) for k in keys}, "status": r.status,
         "val_accuracy": r.metric("val", "accuracy") if r.status == "completed" else math.nan,
         "test_accuracy": r.metric("test", "accuracy") if r.status == "completed" else math.nan,
         "test_f1_macro": r.metric("test", "f1_macro") if r.status == "completed" else math.nan}
        for r in runs
    ])
    grouped = frame.groupby(keys, dropna=False)
    out = grouped.size().rename("runs").to_frame()
    for status in ("completed", "pruned", "failed"):
        out[status] = grouped["status"].apply(lambda s, st=status: int((s == st).sum()))
    other = out["runs"] - out[["completed", "pruned", "failed"]].sum(axis=1)
    if other.any():
        out["other"] = other
    for metric in ("val_accuracy", "test_accuracy", "test_f1_macro"):
        out[f"{metric}_mean"] = grouped[metric].mean()
        out[f"{metric}_std"] = grouped[metric].std()
    return out.sort_values("val_accuracy_mean", ascending=False, na_position="last").reset_index()


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (std NaN for fewer than two)."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan


def factor_table(runs: Sequence[Run], repeat_key: str = "seed") -> pd.DataFrame:
    """One row per option of each factor (each categorical key, see :func:`categorical_keys`):
    the runs that have that option, how many completed, were pruned or failed, and mean / std
    of validation and test accuracy and test F1 over the completed ones. For a grid
    ``model=brief,deeper optim=adam,adamax``: model=brief and model=deeper over two runs each,
    then optim=adam and optim=adamax. Empty when nothing was chosen from a set."""
    rows = []
    for key in categorical_keys(runs, exclude=(repeat_key,)):
        options = sorted({r.value(key) for r in runs}, key=lambda v: (not _is_number(v), _sort_key(v)))
        for option in options:
            members = [r for r in runs if r.value(key) == option]
            completed = [r for r in members if r.status == "completed"]
            row: dict[str, Any] = {"factor": key, "option": option, "runs": len(members),
                                   **{status: sum(r.status == status for r in members)
                                      for status in ("completed", "pruned", "failed")}}
            for split, name in (("val", "accuracy"), ("test", "accuracy"), ("test", "f1_macro")):
                mean, std = _mean_std([r.metric(split, name) for r in completed])
                row[f"{split}_{name}_mean"], row[f"{split}_{name}_std"] = mean, std
            rows.append(row)
    return pd.DataFrame(rows)


def _sort_key(value: str) -> Any:
    return float(value) if _is_number(value) else value


def _metric_names(study: Any) -> list[str]:
    names = getattr(study, "metric_names", None)
    if names and len(names) == len(study.directions):
        return [str(n) for n in names]
    return [f"value_{i}" for i in range(len(study.directions))]


def study_tables(study: Any, objectives: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Best trial(s) (objective columns named after the study's metric names, else
    ``objectives``), counts of trial states and parameter importances of an Optuna study."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    states = pd.Series([t.state.name for t in trials]).value_counts().rename_axis("state")
    tables: dict[str, pd.DataFrame] = {"study_states": states.reset_index(name="trials")}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return tables
    names = _metric_names(study)
    if names[0].startswith("value_") and objectives and len(objectives) == len(names):
        names = list(objectives)
    best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    tables["study_best"] = pd.DataFrame([
        {"trial": t.number, **dict(zip(names, t.values, strict=True)),
         **t.params, "run_dir": t.user_attrs.get("run_dir", "")}
        for t in best
    ])
    if len(study.directions) == 1 and len(complete) >= 2:
        try:
            importances = optuna.importance.get_param_importances(study)
            tables["study_importances"] = pd.DataFrame(
                {"parameter": list(importances), "importance": list(importances.values())})
        except (RuntimeError, ValueError) as exc:
            log.info("No parameter importances: %s", exc)
    return tables
