"""The Optuna sweeper: ``sweep()`` reads as its steps. A pure plan from the options and the
arguments (``plan.py``), a session that opens and locks the study (``session.py``), the
launches that run jobs (``launching.py``, ``workers.py``), and the loop in which each worker
claims a trial, launches its job and tells the outcome until the study holds ``n_trials``
trials (``loop.py``); then ``optimization_results.yaml`` (``records.py``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from hydra_plugins.fmnist_optuna_sweeper import atomic, launching, reaper, records, storage
from hydra_plugins.fmnist_optuna_sweeper.config import OptunaSweeperConf
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.loop import SweepLoop
from hydra_plugins.fmnist_optuna_sweeper.plan import Plan, build, make_plan, target_name, warn_search_space
from hydra_plugins.fmnist_optuna_sweeper.session import Session, open_session
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

__all__ = ["OptunaSweeper", "SweepError", "build", "warn_search_space"]

log = logging.getLogger(__name__)
_MISSING = object()


def _extender(path: str | None) -> Any:
    """``custom_search_space``: a dotted path ``module.function``; ``.script.function`` names a
    function of the running script (as in the official examples)."""
    if not path:
        return None
    if path.startswith("."):
        module, _, name = path[1:].rpartition(".")
        main = sys.modules.get("__main__")
        if main is not None and Path(getattr(main, "__file__", "") or "").stem == module:
            return getattr(main, name)
    return get_method(path)


class OptunaSweeper(Sweeper):
    """See the module docstring and ``config.OptunaSweeperConf`` for the options."""

    def __init__(self, **options: Any) -> None:
        # options left out (a sweeper built in Python) take the config's defaults
        defaults = OmegaConf.structured(OptunaSweeperConf)
        given = {k: v for k, v in options.items() if k not in ("_target_", "sampler", "pruner")}
        self.options = OmegaConf.create({
            **{k: defaults[k] for k in defaults if k not in ("_target_", "_recursive_", "defaults",
                                                             "sampler", "pruner")},
            **given})
        self.sampler_cfg, self.pruner_cfg = options.get("sampler"), options.get("pruner")
        self.config: DictConfig | None = None
        self.extender = _extender(self.options.custom_search_space)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    # ------------------------------------------------------------------ the sweep

    def sweep(self, arguments: list[str]) -> None:
        # every process the sweep starts ends with it, whatever kills it (reaper.py)
        with reaper.watching():
            self._sweep(arguments)

    def _sweep(self, arguments: list[str]) -> None:
        assert self.config is not None
        o = self.options
        plan = make_plan(o, self.sampler_cfg, self.pruner_cfg, arguments, self.config,
                         custom=self.extender is not None)
        if plan.n_trials < int(o.n_trials):
            log.info("Capping n_trials at %d, the size of the grid", plan.n_trials)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        launches = launching.launches(self.launcher, o, self.config, self.task_function.__module__,
                                      sweep_dir)
        session = open_session(plan, o, self.config, sweep_dir,
                               in_process=all(launch.in_process for launch in launches))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(sweep_dir / "multirun.yaml") as tmp:
            OmegaConf.save(self.config, tmp)
        loop = SweepLoop(session, plan, config=self.config, extender=self.extender,
                         heartbeat_interval=o.heartbeat_interval,
                         max_failure_rate=float(o.max_failure_rate),
                         trial_overrides=self._trial_overrides(session.url),
                         allow_duplicates=bool(o.allow_duplicates))
        self._log_start(session, plan, loop, len(launches), sweep_dir)
        with storage.writing(session.url):  # a full disk: a clear error, not a traceback
            loop.run(launches)
        records.write_results(sweep_dir / records.RESULTS_FILE, session.study, session.masked_url)
        _log_best(session.study)
        if loop.interrupted.is_set():
            log.error("Interrupted (Ctrl-C): no new trial was started, the running ones are "
                      "FAIL; run the same command again to finish the study's %d trials", plan.n_trials)
            raise SystemExit(130)
        if (reason := loop.verdict(float(o.max_failure_rate))) is not None:
            raise SweepError(reason)

    def _trial_overrides(self, url: str) -> bool:
        """Pass jobs their trial's whereabouts: ``trial_overrides``, or when null, when the app's
        config has a place for them (``optuna.trial_id``); never for a study in memory."""
        o = self.options
        if url == storage.MEMORY and (o.trial_overrides or "NopPruner" not in target_name(
                self.pruner_cfg or {"_target_": "NopPruner"})):
            log.warning("storage null keeps the study in memory, which jobs cannot reach: they "
                        "get no optuna.* overrides, so they cannot report or be pruned; set "
                        "hydra.sweeper.storage (e.g. sqlite:///optuna.db) for that")
        if url == storage.MEMORY:
            return False
        if o.trial_overrides is not None:
            return bool(o.trial_overrides)
        assert self.config is not None  # set by setup()
        return OmegaConf.select(self.config, "optuna.trial_id", default=_MISSING) is not _MISSING

    def _log_start(self, session: Session, plan: Plan, loop: SweepLoop, n_jobs: int,
                   sweep_dir: Path) -> None:
        study = session.study
        watch = ("" if session.url == storage.MEMORY else " (watch it with: "
                 f"{records.dashboard_command(session.url, self._artifact_dir(sweep_dir))})")
        log.info("Study %r in %s: %d of %d trials taken; sampler %s; searching %s; %d job(s) at "
                 "a time%s", study.study_name, session.masked_url, loop.count(), plan.n_trials,
                 type(study.sampler).__name__,
                 ", ".join(p.name for p in plan.space.params) or "nothing", n_jobs, watch)

    def _artifact_dir(self, sweep_dir: Path) -> Path | None:
        """Where the jobs upload their files for the dashboard, when the app's config has an
        ``optuna.artifact_dir`` (as fmnist's: null = ``<sweep dir>/optuna_artifacts``)."""
        assert self.config is not None  # set by setup()
        configured = OmegaConf.select(self.config, "optuna.artifact_dir", default=_MISSING)
        if configured is _MISSING:
            return None
        return Path(str(configured)).absolute() if configured else sweep_dir / "optuna_artifacts"


def _log_best(study: optuna.Study) -> None:
    """The official plugin's closing log lines."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        log.info("No trial completed")
    elif len(study.directions) == 1:
        log.info("Best parameters: %s", study.best_trial.params)
        log.info("Best value: %s", study.best_trial.value)
    else:
        log.info("Number of Pareto solutions: %d", len(study.best_trials))
        for t in study.best_trials:
            log.info("    Values: %s, Params: %s", t.values, t.params)
