"""Training the best trials again: one ``python -m fmnist`` run per trial and seed, composed
from the trial's experiment file with the caller's overrides on top, into
``<best dir>/<trial>/<seed>/``; then a table of each run's test accuracy and F1 with each
trial's mean and standard deviation, the trials ranked by mean test accuracy."""

from __future__ import annotations

import logging
import math
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fmnist.best.experiment import searchpath_override
from fmnist.record import METRICS_FILE, RunRecord

__all__ = ["RUNS_CSV", "SUMMARY_CSV", "TABLE_MD", "Retrained", "command", "ranked", "read_run",
           "retrain", "write_tables"]

log = logging.getLogger(__name__)

#: in the best directory: one row per run; one row per trial (ranked); both as Markdown
RUNS_CSV, SUMMARY_CSV, TABLE_MD = "retrain.csv", "retrain_summary.csv", "retrain.md"


@dataclass(frozen=True)
class Retrained:
    """One retraining run and what its ``metrics.json`` says."""

    trial: int
    seed: int
    status: str
    test_accuracy: float
    test_f1_macro: float
    wall_seconds: float
    run_dir: str


def command(experiment: str, best_dir: Path, searchpath: Sequence[str], seed: int,
            overrides: Sequence[str], run_dir: Path) -> list[str]:
    """The ``python -m fmnist`` command line of one run: the trial's experiment, the seed, the
    caller's overrides, the run directory."""
    quoted = "'" + str(run_dir).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return [sys.executable, "-m", "fmnist", "--config-dir", str(best_dir), f"+experiment={experiment}",
            *searchpath_override(searchpath), f"seed={seed}", *overrides, f"hydra.run.dir={quoted}"]


def read_run(trial: int, seed: int, run_dir: Path) -> Retrained:
    """The run's outcome from its ``metrics.json`` (``missing`` when it wrote none)."""
    try:
        record = RunRecord.read(run_dir / METRICS_FILE, missing_status="missing")
    except (OSError, ValueError):
        record = RunRecord(status="missing")
    test = record.split("test")

    def number(value: Any) -> float:
        return float(value) if isinstance(value, int | float) else math.nan

    return Retrained(trial, seed, record.status, number(test.get("accuracy")),
                     number(test.get("f1_macro")), number(record.wall_seconds), str(run_dir))


def retrain(runs: Sequence[tuple[int, str]], best_dir: Path, searchpath: Sequence[str],
            seeds: Sequence[int], overrides: Sequence[str]) -> list[Retrained]:
    """Train each ``(trial number, experiment name)`` once per seed, one after the other."""
    results = []
    for number, experiment in runs:
        for seed in seeds:
            run_dir = best_dir / str(number) / str(seed)
            cmd = command(experiment, best_dir, searchpath, seed, overrides, run_dir)
            log.info("Trial %d, seed %d: %s", number, seed, " ".join(cmd[1:]))
            subprocess.run(cmd, check=False)
            result = read_run(number, seed, run_dir)
            log.info("Trial %d, seed %d: %s, test accuracy %.4f, F1 %.4f", number, seed,
                     result.status, result.test_accuracy, result.test_f1_macro)
            results.append(result)
    return results


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; NaN for a single value) of the finite ones."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else math.nan


def ranked(results: Sequence[Retrained], values: dict[int, float]) -> list[dict[str, Any]]:
    """One row per trial: its sweep value, completed seeds, mean / std of test accuracy and F1;
    best mean test accuracy first (then F1, then trial number)."""
    rows = []
    for number in dict.fromkeys(r.trial for r in results):
        mine = [r for r in results if r.trial == number]
        acc, acc_std = _mean_std([r.test_accuracy for r in mine if r.status == "completed"])
        f1, f1_std = _mean_std([r.test_f1_macro for r in mine if r.status == "completed"])
        rows.append({"trial": number, "sweep_value": values.get(number, math.nan),
                     "seeds": sum(r.status == "completed" for r in mine), "runs": len(mine),
                     "test_accuracy_mean": acc, "test_accuracy_std": acc_std,
                     "test_f1_macro_mean": f1, "test_f1_macro_std": f1_std})

    def key(row: dict[str, Any]) -> tuple[float, float, int]:
        acc, f1 = row["test_accuracy_mean"], row["test_f1_macro_mean"]
        return (-acc if math.isfinite(acc) else math.inf, -f1 if math.isfinite(f1) else math.inf,
                row["trial"])

    rows.sort(key=key)
    return [{"rank": i + 1, **row} for i, row in enumerate(rows)]


def write_tables(best_dir: Path, results: Sequence[Retrained], values: dict[int, float],
                 objective: str) -> Path:
    """``retrain.csv`` (runs), ``retrain_summary.csv`` (trials, ranked) and ``retrain.md``
    (both, each trial's runs followed by their mean and std); returns the Markdown file."""
    import pandas as pd

    from fmnist.summary.report import markdown_table

    runs = pd.DataFrame([asdict(r) for r in results])
    summary = pd.DataFrame(ranked(results, values)).rename(columns={"sweep_value": objective})
    runs.to_csv(best_dir / RUNS_CSV, index=False)
    summary.to_csv(best_dir / SUMMARY_CSV, index=False)
    parts = ["# Best trials, trained again", "",
             f"Ranked by mean test accuracy over the seeds (std: sample standard deviation); "
             f"`{objective}` is the trial's value in the sweep.", "", markdown_table(summary)]
    for row in summary.itertuples(index=False):
        mine = runs[runs["trial"] == row.trial][["seed", "status", "test_accuracy", "test_f1_macro",
                                                 "wall_seconds"]]
        stats = pd.DataFrame([
            {"seed": "mean", "status": "", "test_accuracy": row.test_accuracy_mean,
             "test_f1_macro": row.test_f1_macro_mean, "wall_seconds": math.nan},
            {"seed": "std", "status": "", "test_accuracy": row.test_accuracy_std,
             "test_f1_macro": row.test_f1_macro_std, "wall_seconds": math.nan}])
        parts += [f"## Trial {row.trial}", "",
                  markdown_table(pd.concat([mine.astype({"seed": str}), stats], ignore_index=True))]
    path = best_dir / TABLE_MD
    path.write_text("\n".join(parts))
    return path
