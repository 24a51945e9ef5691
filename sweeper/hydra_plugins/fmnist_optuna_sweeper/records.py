"""What a sweep writes down: each trial's outcome and user attributes, the sweep's failure
count, the fixed settings a study was started with, and ``optimization_results.yaml``."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.workers import Outcome
from omegaconf import OmegaConf
from optuna.trial import TrialState

__all__ = ["RESULTS_FILE", "SETTINGS_ATTR", "Failures", "check_settings", "run_metrics", "tell",
           "write_results"]

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
#: study user attribute: the fixed overrides the study was started with
SETTINGS_ATTR = "fixed_overrides"


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """Final metrics of a job directory's ``metrics.json`` (fmnist writes one), for the
    trial's user attributes; nothing when there is none."""
    path = run_dir / "metrics.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    attrs: dict[str, Any] = {"status": data.get("status")}
    for split in ("val", "test"):
        for name in ("accuracy", "f1_macro", "loss"):
            value = (data.get(split) or {}).get(name)
            if isinstance(value, int | float) and math.isfinite(value):
                attrs[f"{split}_{name}"] = value
    for key in ("epochs", "wall_seconds", "train_seconds", "params"):
        if isinstance(data.get(key), int | float):
            attrs[key] = data[key]
    return attrs


def tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome, run_dir: Path | None) -> Outcome:
    """Record the job's directory, metrics and error on the trial, then tell its state.
    Returns the outcome told (a COMPLETE with the wrong number of values becomes FAIL)."""
    n_values = len(study.directions)
    if outcome.state == TrialState.COMPLETE and len(outcome.values or []) != n_values:
        outcome = Outcome(TrialState.FAIL, error=(
            f"the job returned {len(outcome.values or [])} value(s) {outcome.values}, "
            f"the study has {n_values} direction(s)"))
    if run_dir is not None:
        trial.set_user_attr("run_dir", str(run_dir))
        for key, value in run_metrics(run_dir).items():
            trial.set_user_attr(key, value)
    if outcome.error:
        trial.set_user_attr("error" if outcome.state == TrialState.FAIL else "message",
                            outcome.error[-2000:])
    try:
        if outcome.state == TrialState.COMPLETE:
            study.tell(trial, outcome.values)
        else:
            study.tell(trial, state=outcome.state)
    except RuntimeError as exc:
        # GridSampler/BruteForceSampler call study.stop() once the grid is done; the trial's
        # state is already stored, and the sweep ends on its own (n_trials is capped)
        if "Study.stop" not in str(exc):
            raise
    return outcome


class Failures:
    """Counts this sweep's finished and failed trials against ``max_failure_rate``."""

    def __init__(self, max_failure_rate: float) -> None:
        self.max_failure_rate = max_failure_rate
        self.finished = self.failed = 0
        self.last_error: str | None = None

    def add(self, outcome: Outcome) -> str | None:
        """Count one outcome; the reason to stop the sweep, if any."""
        self.finished += 1
        if outcome.state != TrialState.FAIL:
            return None
        self.failed += 1
        self.last_error = outcome.error
        rate = self.failed / self.finished
        if rate > self.max_failure_rate:
            return (f"stopping the sweep: {self.failed} of {self.finished} trials failed ({rate:.0%}), "
                    f"more than hydra.sweeper.max_failure_rate={self.max_failure_rate}; "
                    f"last error: {outcome.error}")
        return None

    def all_failed(self) -> str | None:
        """The error when every trial of this sweep failed (whatever max_failure_rate says)."""
        if self.finished and self.failed == self.finished:
            return f"all {self.finished} trials of this sweep failed; last error: {self.last_error}"
        return None


def _settings(fixed: Sequence[str]) -> dict[str, str]:
    parser = OverridesParser.create()
    out = {}
    for text in fixed:
        override = parser.parse_override(text)
        out[override.get_key_element()] = override.get_value_element_as_str()
    return out


def check_settings(study: optuna.Study, fixed: Sequence[str], accept: bool) -> None:
    """Record the fixed overrides a new study starts with; refuse to resume a study with
    other ones (its trials would not be comparable), unless ``accept``."""
    current = _settings(fixed)
    recorded = study.user_attrs.get(SETTINGS_ATTR)
    if recorded is None or accept:
        if recorded is not None and recorded != current:
            log.warning("Study %r: fixed settings changed (accepted): %s", study.study_name,
                        _differences(recorded, current))
        study.set_user_attr(SETTINGS_ATTR, current)
        return
    if recorded != current:
        raise SweepError(
            f"study {study.study_name!r} was started with other fixed settings: "
            f"{_differences(recorded, current)}. Its trials would not be comparable: use another "
            "hydra.sweeper.study_name, or run again with the same settings, or accept the change "
            "with hydra.sweeper.accept_changed_settings=true")


def _differences(recorded: dict[str, str], current: dict[str, str]) -> str:
    parts = []
    for key in sorted(recorded.keys() | current.keys()):
        old, new = recorded.get(key), current.get(key)
        if old != new:
            parts.append(f"{key}: {'(unset)' if old is None else old} -> {'(unset)' if new is None else new}")
    return "; ".join(parts)


def write_results(path: Path, study: optuna.Study, storage: str) -> None:
    """``optimization_results.yaml``: the official keys (``name``, ``best_params`` and
    ``best_value``, or ``solutions`` for several objectives) and the study's whereabouts."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    results: dict[str, Any] = {"name": "optuna"}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(study.directions) == 1 and complete:
        best = study.best_trial
        # best_trial: the name of earlier versions; best_trial_number: the explicit one
        results.update(best_params=dict(best.params), best_value=best.value, best_trial=best.number,
                       best_trial_number=best.number, best_run_dir=best.user_attrs.get("run_dir"))
    elif complete:
        results["solutions"] = [
            {"params": dict(t.params), "values": list(t.values or []), "trial": t.number,
             "run_dir": t.user_attrs.get("run_dir")}
            for t in study.best_trials
        ]
    results.update(study_name=study.study_name, storage=storage,
                   directions=[d.name.lower() for d in study.directions], n_trials=len(trials),
                   states=counts)
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(results), path)
    log.info("Results: %s", path)
