"""What a swept job leaves in its Optuna trial: its final metrics as user attributes, and for
the dashboard the study's metric names, the run's files in Optuna's artifact store, and a short
Markdown note (optuna-dashboard).

The job finds its trial through the sweeper's job-side module (``optuna.storage``,
``optuna.study_name``, ``optuna.trial_id``, as pruning does), whatever the storage (SQLite,
PostgreSQL, a journal file); the files go to a ``FileSystemArtifactStore`` in
``optuna.artifact_dir`` (default ``<sweep dir>/optuna_artifacts``), which
``optuna-dashboard STORAGE --artifact-dir DIR`` serves.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper.job import trial_of
from omegaconf import DictConfig

from fmnist.record import METRICS_FILE, RunRecord

__all__ = ["ARTIFACTS", "artifact_dir", "note_text", "record_trial", "trial_attrs"]

log = logging.getLogger(__name__)

#: run files uploaded to the trial, in this order
ARTIFACTS = (METRICS_FILE, "history.csv", "curves.png", "confusion_matrix.png")


def artifact_dir(cfg: DictConfig, out: Path) -> Path:
    """``optuna.artifact_dir``, or ``optuna_artifacts`` beside the job directories of the sweep."""
    configured = (cfg.get("optuna") or {}).get("artifact_dir")
    return Path(configured) if configured else out.parent / "optuna_artifacts"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def note_text(record: RunRecord, out: Path, objectives: list[str]) -> str:
    """The trial's Markdown note: status, the objectives, key metrics and the run directory."""
    status = record.status
    lines = [f"### {status.capitalize()}", ""]
    if status == "failed":
        lines += [f"`{str(record.error or '')[:300]}`", ""]
    if status == "pruned":
        lines += [f"Pruned at epoch {record.epochs}.", ""]
    flat = record.flat()
    rows: list[tuple[str, Any]] = [(name, (record.objectives or {}).get(name, flat.get(name)))
                                   for name in objectives]
    rows += [(name, value) for name, value in record.headline().items() if name not in objectives]
    rows += [("epochs", record.epochs), ("best_epoch", record.best_epoch),
             ("wall_seconds", record.wall_seconds)]
    rows = [(k, v) for k, v in rows if v is not None]
    if rows:
        lines += ["| metric | value |", "|---|---|", *(f"| {k} | {_number(v)} |" for k, v in rows), ""]
    lines.append(f"Run directory: `{out}`")
    return "\n".join(lines) + "\n"


def record_trial(cfg: DictConfig, out: Path, objectives: list[str]) -> None:
    """Record the run's final metrics on its trial, name the study's metrics, upload the run's
    files and write the trial's note. Does
    nothing outside a sweep; a storage problem is logged, never raised (the run's own files
    are already on disk)."""
    trial_cfg = cfg.get("optuna") or {}
    if trial_cfg.get("trial_id") is None or not trial_cfg.get("storage"):
        return
    try:
        _record(cfg, out, objectives)
    except Exception as exc:
        log.warning("Could not record artifacts and note in trial %s: %s",
                    trial_cfg.get("trial_number", trial_cfg.get("trial_id")), exc)


def trial_attrs(record: RunRecord) -> dict[str, Any]:
    """The final metrics of a run's record that its trial keeps as user attributes (status,
    finite validation and test metrics, epochs, timings, parameters)."""
    attrs: dict[str, Any] = {"status": record.status}
    attrs |= {k: v for k, v in record.headline().items() if isinstance(v, int | float) and math.isfinite(v)}
    for key in ("epochs", "wall_seconds", "train_seconds", "params"):
        value = getattr(record, key)
        if isinstance(value, int | float):
            attrs[key] = value
    return attrs


def _record(cfg: DictConfig, out: Path, objectives: list[str]) -> None:
    trial = trial_of(cfg.optuna)
    if trial is None:
        return
    trial.name_metrics(objectives)
    try:
        record = RunRecord.read(out / METRICS_FILE)
    except (OSError, ValueError):
        record = RunRecord(status="unknown")
    if (out / METRICS_FILE).is_file():
        trial.set_user_attrs(trial_attrs(record))
    trial.upload([out / name for name in ARTIFACTS], artifact_dir(cfg, out))
    trial.note(note_text(record, out, objectives))
