"""Reading a finished sweep: its record (``optimization_results.yaml``, ``multirun.yaml``), its
study, its best trials and the overrides each trial's job ran with.

The study's stored settings are data: a trial's parameters and the study's fixed overrides may
set values and pick config-group options, never name code. A key or value that would make
Hydra build an object (``_target_``, ``_partial_``, ``_args_``, ...), a ``hydra`` setting, an
interpolation (``${...}``, which resolvers may turn into any config) or a group option that is
not a plain name is refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from fmnist.errors import FmnistError

__all__ = ["SPECIAL_KEYS", "Sweep", "SweepRecordError", "Trial", "best_trials", "check_setting",
           "open_study", "read_sweep"]

RESULTS_FILE = "optimization_results.yaml"
#: keys with which Hydra's ``instantiate`` builds objects or calls code
SPECIAL_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
_OPTION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


class SweepRecordError(FmnistError):
    """Not a finished sweep, an unreadable study, or stored settings that are not plain data."""


@dataclass(frozen=True)
class Sweep:
    """What a sweep directory records about itself."""

    path: Path
    study_name: str
    storage: str  #: as recorded (password masked)
    params: dict[str, Any]  #: ``hydra.sweeper.params``
    arguments: list[str]  #: the command line's overrides (``hydra.overrides.task``)
    searchpath: list[str]  #: ``hydra.searchpath``: where its configs were found
    objective: str  #: the name of the value the study optimised (``optimized_metric``)


@dataclass(frozen=True)
class Trial:
    """A completed trial and the overrides its job ran with (its study bookkeeping left out)."""

    number: int
    value: float
    run_dir: str | None
    params: dict[str, Any]
    fixed: list[str]  #: the fixed overrides, in the order the sweeper passes them
    swept: list[str]  #: ``key=value`` of each searched parameter

    @property
    def overrides(self) -> list[str]:
        return [*self.fixed, *self.swept]


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SweepRecordError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SweepRecordError(f"{path} is not a mapping")
    return data


def read_sweep(path: str | Path) -> Sweep:
    """The record of the sweep in ``path``; a directory that is not a finished sweep of the
    Optuna sweeper is a :class:`SweepRecordError`."""
    path = Path(path)
    results, multirun = path / RESULTS_FILE, path / "multirun.yaml"
    if not path.is_dir():
        raise SweepRecordError(f"{path} is not a directory: give a sweep directory")
    if not results.is_file() or not multirun.is_file():
        missing = results.name if not results.is_file() else multirun.name
        raise SweepRecordError(f"{path} is not a sweep directory: it has no {missing} (a finished "
                               "sweep of the Optuna sweeper writes both)")
    record, config = _yaml(results), _yaml(multirun)
    hydra = config.get("hydra") or {}
    study_name, storage = record.get("study_name"), record.get("storage")
    if not isinstance(study_name, str) or not isinstance(storage, str):
        raise SweepRecordError(f"{results} names no study_name and storage: not written by the "
                               "Optuna sweeper")
    params = (hydra.get("sweeper") or {}).get("params") or {}
    arguments = (hydra.get("overrides") or {}).get("task") or []
    searchpath = hydra.get("searchpath") or []
    if not isinstance(params, dict) or not isinstance(arguments, list) or not isinstance(searchpath, list):
        raise SweepRecordError(f"{multirun}: hydra.sweeper.params, hydra.overrides.task or "
                               "hydra.searchpath has the wrong type")
    metric = config.get("optimized_metric", "value")
    objective = ",".join(map(str, metric)) if isinstance(metric, list) else str(metric)
    return Sweep(path, study_name, storage, params, [str(a) for a in arguments],
                 [str(s) for s in searchpath], objective)


def open_study(sweep: Sweep) -> Any:
    """The sweep's study, from any storage the sweeper supports (SQLite, PostgreSQL, journal
    file), through the sweeper's job-side module; nothing is created where there is none."""
    from hydra_plugins.fmnist_optuna_sweeper.job import StudyUnavailable
    from hydra_plugins.fmnist_optuna_sweeper.job import open_study as open_existing

    try:
        return open_existing(sweep.storage, sweep.study_name)
    except StudyUnavailable as exc:
        raise SweepRecordError(str(exc)) from exc


def check_setting(key: str, value: Any, where: str) -> None:
    """Refuse a stored key or value that is not plain data (see the module docstring)."""
    bad = next((k for k in SPECIAL_KEYS if k in key), None)
    if bad or key == "hydra" or key.startswith(("hydra.", "hydra/")):
        raise SweepRecordError(
            f"{where}: {key}={value!r} is refused: fmnist.best copies plain values only, and a "
            f"{'key holding ' + bad if bad else 'hydra setting'} could run code or change how "
            "Hydra runs")
    if isinstance(value, dict):
        for k, v in value.items():
            check_setting(f"{key}.{k}", v, where)
    elif isinstance(value, list):
        for v in value:
            check_setting(key, v, where)
    elif isinstance(value, str) and "${" in value:
        raise SweepRecordError(f"{where}: {key}={value!r} is refused: an interpolation is not a "
                               "plain value")


def _check_override(text: str, where: str) -> None:
    """A stored override string: plain data; a top-level string (which may pick a config
    group's option: ``model=deeper``) must be a plain name."""
    try:
        override = OverridesParser.create().parse_override(text)
    except HydraException as exc:
        raise SweepRecordError(f"{where}: cannot parse the override {text!r}: {exc}") from exc
    key = override.get_key_element()
    value = override.value()
    check_setting(key, value, where)
    if "." not in key and isinstance(value, str) and not _OPTION.match(value):
        raise SweepRecordError(f"{where}: {text!r} is refused: a top-level setting (which may pick "
                               "a config group's option) must be a plain name")


def best_trials(sweep: Sweep, study: Any, top: int) -> list[Trial]:
    """The ``top`` best completed trials, best first, each with the overrides its job ran with
    (the same ``fixed`` + ``key=value`` list the sweeper passes)."""
    from hydra_plugins.fmnist_optuna_sweeper.records import SETTINGS_ATTR
    from hydra_plugins.fmnist_optuna_sweeper.search_space import SearchSpaceError, parse_search_space
    from hydra_plugins.fmnist_optuna_sweeper.workers import format_value
    from optuna.trial import TrialState

    where = f"study {sweep.study_name!r}"
    if len(study.directions) != 1:
        raise SweepRecordError(f"{where} has {len(study.directions)} objectives: fmnist.best needs a "
                               "single-objective study (one best trial)")
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None
                and math.isfinite(t.value)]
    if not complete:
        states = ", ".join(sorted({t.state.name for t in trials})) or "none"
        raise SweepRecordError(f"{where} has no completed trial ({len(trials)} trials: {states}): "
                               "nothing to retrain; see the trials' errors in the sweep's summary")
    try:
        space = parse_search_space(sweep.params, sweep.arguments)
    except SearchSpaceError as exc:
        raise SweepRecordError(f"{sweep.path / 'multirun.yaml'}: {exc}") from exc
    recorded = study.user_attrs.get(SETTINGS_ATTR)
    current = {o.get_key_element(): o.get_value_element_as_str()
               for o in OverridesParser.create().parse_overrides(space.fixed)}
    if recorded is not None and recorded != current:
        changed = sorted(k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k))
        raise SweepRecordError(
            f"{where} was started with other fixed settings than {sweep.path / 'multirun.yaml'} "
            f"holds ({', '.join(f'{k}: {recorded.get(k)} vs {current.get(k)}' for k in changed)}): "
            "the sweep directory does not describe this study's trials")
    for text in space.fixed:
        _check_override(text, f"{where}, fixed settings")
    sign = -1.0 if study.direction.name == "MAXIMIZE" else 1.0
    ranked = sorted(complete, key=lambda t: (sign * float(t.value), t.number))[:top]
    out = []
    for t in ranked:
        swept = [f"{space.key(name)}={format_value(value)}" for name, value in t.params.items()]
        for text in swept:
            _check_override(text, f"{where}, trial {t.number}")
        out.append(Trial(t.number, float(t.value), t.user_attrs.get("run_dir"), dict(t.params),
                         list(space.fixed), swept))
    return out

