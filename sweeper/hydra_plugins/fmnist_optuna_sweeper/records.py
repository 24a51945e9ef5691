"""What a sweep writes down: each trial's outcome (``outcome.tell``), the sweep's failure
count, the fixed settings a study was started with, and ``optimization_results.yaml``."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra_plugins.fmnist_optuna_sweeper import atomic
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.kinds import MEMORY, kind_of
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome, tell
from hydra_plugins.fmnist_optuna_sweeper.storage import mask_url
from omegaconf import OmegaConf
from optuna.trial import TrialState

__all__ = ["RESULTS_FILE", "SETTINGS_ATTR", "Failures", "check_settings", "dashboard_command",
           "tell", "write_results"]

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"
#: study user attribute: the fixed overrides the study was started with
SETTINGS_ATTR = "fixed_overrides"


def dashboard_command(url: str, artifact_dir: Path | None = None) -> str:
    """The ``optuna-dashboard`` command that shows the study: its storage (password masked; a
    journal file by its plain path, the dashboard's form) and, where the jobs upload files to
    an Optuna artifact store, ``--artifact-dir`` (without it the trial pages show no files).

    >>> dashboard_command("sqlite:///o.db", Path("/s/optuna_artifacts"))
    'optuna-dashboard sqlite:///o.db --artifact-dir /s/optuna_artifacts'
    """
    target = mask_url(url if url == MEMORY else kind_of(url).dashboard_target())
    words = ["optuna-dashboard", shlex.quote(target)]
    if artifact_dir is not None:
        words += ["--artifact-dir", shlex.quote(str(artifact_dir))]
    return " ".join(words)


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
    with atomic.atomic_path(path) as tmp:  # a full disk leaves the old file, never 0 bytes
        OmegaConf.save(OmegaConf.create(results), tmp)
    log.info("Results: %s", path)
