"""Tables from runs: one row per run, groups over repeats, and an Optuna study's digest."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fmnist.metrics import flatten
from fmnist.summary.collect import Run

__all__ = ["group_table", "objective_of", "runs_table", "study_tables", "swept_keys"]

log = logging.getLogger(__name__)

_METRIC_COLUMNS = [
    (split, name)
    for split in ("train", "val", "test")
    for name in ("accuracy", "precision_macro", "recall_macro", "f1_macro")
]
_LOWER_IS_BETTER = ("loss", "seconds", "params")


def swept_keys(runs: Sequence[Run]) -> list[str]:
    """Override keys whose value differs between runs (the sweep's hyperparameters)."""
    keys: dict[str, set[str]] = {}
    for run in runs:
        for key, value in run.overrides.items():
            keys.setdefault(key, set()).add(value)
    for run in runs:  # a key missing from some runs varies too
        for key in keys:
            if key not in run.overrides:
                keys[key].add("<default>")
    return [k for k, values in keys.items() if len(values) > 1]


def objective_of(runs: Sequence[Run]) -> str:
    """The optimised metric named in the runs' configs (first one of a list)."""
    for run in runs:
        metric = run.config.get("optimized_metric")
        if isinstance(metric, list) and metric:
            return str(metric[0])
        if isinstance(metric, str):
            return metric
    return "val_accuracy"


def runs_table(runs: Sequence[Run], objective: str | None = None) -> pd.DataFrame:
    """One row per run: swept hyperparameters, status, epochs, metrics, parameters, seconds;
    sorted by the objective (best first, unfinished runs last) with the best marked."""
    objective = objective or objective_of(runs)
    keys = swept_keys(runs)
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.name}
        row.update({k: run.overrides.get(k, "<default>") for k in keys})
        row.update(status=run.status, epochs=run.metrics.get("epochs", len(run.history)))
        for split, name in _METRIC_COLUMNS:
            row[f"{split}_{name}"] = run.metric(split, name)
        row.update(params=run.metrics.get("params"), seconds=run.metrics.get("wall_seconds"),
                   note=run.note)
        row[objective] = flatten(run.metrics).get(objective, math.nan)
        rows.append(row)
    table = pd.DataFrame(rows)
    ascending = any(word in objective for word in _LOWER_IS_BETTER)
    completed = table["status"] == "completed"
    table["_rank"] = np.where(completed, 0, 1)
    table = table.sort_values(["_rank", objective], ascending=[True, ascending], na_position="last")
    table = table.drop(columns="_rank").reset_index(drop=True)
    table.insert(1, "best", "")
    if completed.any() and pd.notna(table.loc[0, objective]):
        table.loc[0, "best"] = "★"
    return table


def group_table(runs: Sequence[Run], repeat_key: str = "seed") -> pd.DataFrame:
    """Completed runs grouped by their swept choices (all swept keys but ``repeat_key``):
    mean, standard deviation and count of validation and test accuracy and F1."""
    keys = [k for k in swept_keys(runs) if k != repeat_key]
    finished = [r for r in runs if r.status == "completed"]
    if not finished:
        return pd.DataFrame()
    frame = pd.DataFrame([
        {**{k: r.overrides.get(k, "<default>") for k in keys},
         "val_accuracy": r.metric("val", "accuracy"), "test_accuracy": r.metric("test", "accuracy"),
         "test_f1_macro": r.metric("test", "f1_macro"), "seconds": r.metrics.get("wall_seconds")}
        for r in finished
    ])
    if not keys:
        frame["all runs"] = "all"
        keys = ["all runs"]
    grouped = frame.groupby(keys, dropna=False).agg(["mean", "std", "count"])
    grouped.columns = [f"{metric}_{stat}" for metric, stat in grouped.columns]
    count_columns = [c for c in grouped.columns if c.endswith("_count")]
    grouped["runs"] = grouped[count_columns[0]]
    grouped = grouped.drop(columns=count_columns)
    return grouped.sort_values("val_accuracy_mean", ascending=False).reset_index()


def study_tables(study: Any) -> dict[str, pd.DataFrame]:
    """Best trial(s), counts of trial states and parameter importances of an Optuna study."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    states = pd.Series([t.state.name for t in trials]).value_counts().rename_axis("state")
    tables: dict[str, pd.DataFrame] = {"study_states": states.reset_index(name="trials")}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return tables
    best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    tables["study_best"] = pd.DataFrame([
        {"trial": t.number, **{f"value_{i}": v for i, v in enumerate(t.values)},
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
