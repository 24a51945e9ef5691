"""The Optuna sweeper: check the options and the search space, open the study, then each of
``n_jobs`` workers claims a trial, launches its job and tells the outcome, until the study
holds ``n_trials`` trials; write ``optimization_results.yaml``.

The pieces: ``search_space`` (params -> distributions), ``storage`` (study, lock,
heartbeats), ``workers`` (how a job runs), ``records`` (tell, results, settings).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import logging
import os
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
from hydra._internal.deprecation_warning import deprecation_warning
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method, get_object, instantiate
from hydra_plugins.fmnist_optuna_sweeper import atomic, launching, records, stale, storage, workers
from hydra_plugins.fmnist_optuna_sweeper.config import OptunaSweeperConf
from hydra_plugins.fmnist_optuna_sweeper.devices import (
    DeviceError,
    assign_devices,
    local_slots,
    visible_gpus,
)
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.pruners import PRUNER_ATTR, pruner_spec
from hydra_plugins.fmnist_optuna_sweeper.search_space import (
    SearchSpace,
    SearchSpaceError,
    active,
    distribution_from_config,
    fixed_params,
    grid_values,
    parse_search_space,
    suggest,
)
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write
from optuna.trial import TrialState

__all__ = ["OptunaSweeper", "SweepError", "build", "warn_search_space"]

log = logging.getLogger(__name__)
_MISSING = object()
#: samplers whose optional packages Optuna imports only while sampling: checked before the
#: sweep creates a trial. class name -> (module, extra of this distribution)
_NEEDS = {"CmaEsSampler": [("cmaes", "cmaes")], "GPSampler": [("torch", "gp"), ("scipy", "gp")],
          "QMCSampler": [("scipy", "qmc")]}
_UPGRADE = "https://hydra.cc/docs/upgrades/1.1_to_1.2/changes_to_sweeper_config/"


def build(node: Any, what: str, **kwargs: Any) -> Any:
    """An Optuna sampler or pruner from its config node; options left null take Optuna's
    default (so deprecated options are not passed)."""
    if not isinstance(node, DictConfig | dict):
        return node
    spec: dict[str, Any] = (OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
                            if isinstance(node, DictConfig) else dict(node))
    target = spec.get("_target_")
    if not target:
        raise SweepError(
            f"hydra.sweeper.{what} has no _target_ (got {spec}): pick one with "
            f"'override hydra/sweeper/{what}: NAME' in the defaults list (or "
            f"hydra/sweeper/{what}=NAME on the command line), or give _target_")
    try:
        built = get_object(str(target))
        params = inspect.signature(built).parameters
    except Exception as exc:
        raise SweepError(f"hydra.sweeper.{what}._target_={target}: {exc}") from exc
    for module, extra in _NEEDS.get(getattr(built, "__name__", ""), []):
        if importlib.util.find_spec(module) is None:
            raise SweepError(
                f"hydra.sweeper.{what} {target} needs the package {module!r}, which is not "
                f"installed: pip install \"fmnist-optuna-sweeper[{extra}]\" (or pip install {module})")
    spec = {k: v for k, v in spec.items()
            if not (v is None and k in params and params[k].default is not inspect.Parameter.empty)}
    try:
        with storage.quiet():
            return instantiate(spec, **kwargs)
    except Exception as exc:
        hint = (f" (a {what} written inline in a config keeps the keys of the default option; to "
                f"switch, use 'override hydra/sweeper/{what}: NAME')"
                if "unexpected keyword" in str(exc) else "")
        raise SweepError(f"cannot build hydra.sweeper.{what} {target}: {exc}{hint}") from exc


def _target_name(node: Any) -> str:
    """The sampler's class path: from its config, or of an object passed in Python (a
    ``functools.partial`` of ``GridSampler`` included)."""
    if isinstance(node, DictConfig | dict):
        return str(node.get("_target_") or "")
    func = node.func if isinstance(node, functools.partial) else type(node)
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}"


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

    # ------------------------------------------------------------------ checks

    def _check_options(self) -> list[str]:
        o = self.options
        if int(o.n_trials) < 1:
            raise SweepError(f"hydra.sweeper.n_trials must be >= 1, got {o.n_trials}")
        if not 0.0 <= float(o.max_failure_rate) <= 1.0:
            raise SweepError(f"hydra.sweeper.max_failure_rate must be in [0, 1], got {o.max_failure_rate}")
        if o.retry_failed and not o.heartbeat_interval:
            raise SweepError("hydra.sweeper.retry_failed needs heartbeats to find dead trials: set "
                             "hydra.sweeper.heartbeat_interval (seconds)")
        if (o.retry_failed or o.accept_changed_settings) and not (o.study_name and o.storage):
            raise SweepError("retry_failed and accept_changed_settings act on an earlier sweep of the "
                             "same study: set hydra.sweeper.study_name and storage to resume it")
        if o.study_name is not None:
            storage.check_study_name(str(o.study_name))
        direction = o.direction
        directions = list(direction) if isinstance(direction, ListConfig | list) else [direction]
        out = [str(getattr(d, "name", d)).lower() for d in directions]
        for d in out:
            if d not in ("maximize", "minimize"):
                raise SweepError(f"hydra.sweeper.direction must be maximize or minimize (or a list "
                                 f"of them), got {d!r}")
        return out

    def _search_space(self, arguments: list[str]) -> SearchSpace:
        o = self.options
        warn_search_space(o.search_space, o.params)
        params = OmegaConf.to_container(o.params, resolve=True) if o.params else {}
        if o.search_space and o.params is None:  # the official plugin's deprecated form
            space = OmegaConf.to_container(o.search_space, resolve=True)
            assert isinstance(space, dict)
            base = parse_search_space({}, arguments)
            from hydra_plugins.fmnist_optuna_sweeper.search_space import Param

            extra = [Param(str(k), str(k), distribution_from_config(str(k), v), {})
                     for k, v in space.items()]
            return SearchSpace(extra + base.params, base.fixed)
        space_ = parse_search_space(params, arguments)  # type: ignore[arg-type]
        assert self.config is not None
        for p in space_.params:  # every searched key must exist ('+key' adds one)
            if p.when or p.key.startswith(("+", "~")) or "/" in p.key:
                continue
            if OmegaConf.select(self.config, p.key, default=_MISSING) is _MISSING:
                raise SearchSpaceError(
                    f"unknown parameter path {p.key!r}: the composed config has no such key "
                    f"(check its spelling, or write +{p.key} to add a new one)")
        return space_

    # ------------------------------------------------------------------ the sweep

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None
        o = self.options
        directions = self._check_options()
        space = self._search_space(arguments)
        n_trials = int(o.n_trials)
        grid = None
        target = _target_name(self.sampler_cfg)
        if target.endswith(("GridSampler", "BruteForceSampler")):
            grid = grid_values(space)
            size = 1
            for values in grid.values():
                size *= len(values)
            if n_trials > size:
                log.info("Capping n_trials at %d, the size of the grid", size)
                n_trials = size
        sampler = build(self.sampler_cfg, "sampler")
        if isinstance(sampler, functools.partial):  # grid: _partial_, built from params
            sampler = sampler(grid)
        pruner = build(self.pruner_cfg, "pruner")
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        n_jobs = self._n_jobs()
        command = None
        if n_jobs > 1 and launching.is_basic(self.launcher):
            if o.worker_command:  # a wrong worker command is an error now, not n failed trials
                command = workers.worker_command(o.worker_command, self.task_function.__module__)
            else:  # not started as the app: the official sequential jobs
                with contextlib.suppress(SweepError):
                    command = workers.worker_command(None, self.task_function.__module__)
        mode = launching.choose_mode(self.launcher, n_jobs, command is not None)
        if n_jobs > 1 and mode == launching.IN_PROCESS:
            log.warning(launching.sequential_warning(self.launcher, n_jobs))
            n_jobs = 1
        launches: list[workers.Launch] = [workers.InProcess(self.launcher)] * n_jobs
        if mode == launching.SUBPROCESS:
            assert command is not None
            launches = [workers.Subprocess(command, self.config, sweep_dir, gpus=gpus,
                                           local_jobs=n_jobs) for gpus in self._gpus(n_jobs)]
        elif mode == launching.LAUNCHER:
            log.info("%d trials at a time through %s", n_jobs, type(self.launcher).__name__)
            if (warning := launching.capacity_warning(self.launcher, n_jobs)) is not None:
                log.warning(warning)
            if launching.runs_here(self.launcher):  # its jobs share this machine's cores
                os.environ[workers.LOCAL_JOBS_ENV] = str(n_jobs)
            launching.prepare(self.launcher)
            launches = [workers.ThroughLauncher(self.launcher, sweep_dir / ".job_ends")] * n_jobs
        enqueued = [_check_enqueued(dict(OmegaConf.to_container(entry, resolve=True))  # type: ignore[arg-type]
                                    if isinstance(entry, DictConfig) else dict(entry), space, i,
                                    custom=self.extender is not None)
                    for i, entry in enumerate(o.enqueue or [])]
        url, study_name = storage.resolve(o.storage, o.study_name, sweep_dir,
                                          in_process=mode == launching.IN_PROCESS)
        url = storage.normalise_url(url)
        # the real URL reaches jobs through the environment only; every copy of the config that
        # is saved or handed on shows it masked
        os.environ[storage.STORAGE_ENV] = url
        _mask_storage(self.config, url)
        store, study = storage.open_study(
            url, study_name, directions, sampler, pruner, o.heartbeat_interval, o.grace_period,
            int(o.retry_failed))
        records.check_settings(study, space.fixed, bool(o.accept_changed_settings))
        # jobs load the study from the storage, where Optuna keeps no pruner: store its config
        study.set_user_attr(PRUNER_ATTR, pruner_spec(self.pruner_cfg))
        self.lock = storage.StudyLock(url, study_name, store)
        with self.lock(), storage.quiet():
            if o.heartbeat_interval:
                stale.fail_dead_trials(study, float(o.grace_period or 2 * o.heartbeat_interval))
            for entry in enqueued:
                study.enqueue_trial(entry, skip_if_exists=True)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(sweep_dir / "multirun.yaml") as tmp:
            OmegaConf.save(self.config, tmp)
        self.study, self.store, self.url, self.space = study, store, url, space
        # null: pass the trial's whereabouts when the app's config has a place for them
        self.trial_overrides = url != storage.MEMORY and (
            bool(o.trial_overrides) if o.trial_overrides is not None else
            OmegaConf.select(self.config, "optuna.trial_id", default=_MISSING) is not _MISSING)
        self.fixed = fixed_params(space)
        if url == storage.MEMORY and (o.trial_overrides or "NopPruner" not in _target_name(
                self.pruner_cfg or {"_target_": "NopPruner"})):
            log.warning("storage null keeps the study in memory, which jobs cannot reach: they "
                        "get no optuna.* overrides, so they cannot report or be pruned; set "
                        "hydra.sweeper.storage (e.g. sqlite:///optuna.db) for that")
        self.n_trials, self.failures = n_trials, records.Failures(float(o.max_failure_rate))
        self.stop_reason: str | None = None
        log.info("Study %r in %s: %d of %d trials taken; sampler %s; searching %s; %d job(s) at "
                 "a time%s", study_name, storage.mask_url(url),
                 self._count(), n_trials, type(study.sampler).__name__,
                 ", ".join(p.name for p in space.params) or "nothing", n_jobs,
                 "" if url == storage.MEMORY else
                 f" (watch it with: {records.dashboard_command(url, self._artifact_dir(sweep_dir))})")
        self.interrupted = threading.Event()
        try:
            if n_jobs == 1:
                self._worker(launches[0])
            else:
                self._parallel(launches)
        except KeyboardInterrupt:
            self.interrupted.set()
        finally:
            if isinstance(launches[0], workers.ThroughLauncher):
                launches[0].close()  # launches whose jobs ended but whose launch() goes on
        records.write_results(sweep_dir / records.RESULTS_FILE, study, storage.mask_url(url))
        _log_best(study)
        if self.interrupted.is_set():
            log.error("Interrupted (Ctrl-C): no new trial was started, the running ones are "
                      "FAIL; run the same command again to finish the study's %d trials", n_trials)
            raise SystemExit(130)
        reason = self.stop_reason or self.failures.all_failed()
        if reason and not self.stop_reason and float(o.max_failure_rate) >= 1.0:
            # failures never stop the sweep nor fail it (the official plugin returns normally)
            log.error("%s (max_failure_rate=1.0: the sweep ends normally)", reason)
            reason = None
        if reason:
            raise SweepError(reason)

    def _artifact_dir(self, sweep_dir: Path) -> Path | None:
        """Where the jobs upload their files for the dashboard, when the app's config has an
        ``optuna.artifact_dir`` (as fmnist's: null = ``<sweep dir>/optuna_artifacts``)."""
        assert self.config is not None  # set by setup()
        configured = OmegaConf.select(self.config, "optuna.artifact_dir", default=_MISSING)
        if configured is _MISSING:
            return None
        return Path(str(configured)).absolute() if configured else sweep_dir / "optuna_artifacts"
    def _n_jobs(self) -> int:
        """Trials at a time: ``n_jobs``, or for ``auto`` ``trials_per_gpu`` per visible GPU
        (``devices``), else one per CPU core (devices.local_slots)."""
        o = self.options
        n_jobs = o.n_jobs
        gpus = 0
        if n_jobs == "auto":
            gpus = len(visible_gpus(os.environ) if o.devices is None else list(o.devices))
        try:
            slots = local_slots(n_jobs, len(os.sched_getaffinity(0)), gpus,
                                int(o.gpus_per_trial), o.trials_per_gpu)
        except DeviceError as exc:
            raise SweepError(f"hydra.sweeper.{exc}") from exc
        if n_jobs == "auto":
            log.info("n_jobs=auto: %d trials at a time (%s)", slots,
                     f"{gpus} GPU(s) x trials_per_gpu={o.trials_per_gpu}" if gpus and int(o.gpus_per_trial)
                     else f"{slots} CPU core(s), a thread each")
        return slots

    def _gpus(self, n_jobs: int) -> list[list[str]]:
        """The GPUs of each local worker (``devices``, ``gpus_per_trial``; devices.py)."""
        devices = self.options.devices
        try:
            slots = assign_devices(visible_gpus(os.environ) if devices is None else list(devices),
                                   int(self.options.gpus_per_trial), n_jobs)
        except DeviceError as exc:
            raise SweepError(f"hydra.sweeper.{exc}") from exc
        if any(slots):
            log.info("GPUs of the %d workers: %s", n_jobs, "; ".join(",".join(s) for s in slots))
        return slots

    def _parallel(self, launches: list[workers.Launch]) -> None:
        """One worker per launch; on Ctrl-C no worker claims another trial, the running jobs
        are interrupted and their trials told FAIL before this returns (jobs handed to a
        launcher run to their end)."""
        with ThreadPoolExecutor(max_workers=len(launches), thread_name_prefix="trial") as pool:
            futures = [pool.submit(self._worker, launch) for launch in launches]
            try:
                for future in futures:
                    future.result()
            except KeyboardInterrupt:
                self.interrupted.set()
                log.warning("Ctrl-C: stopping the running jobs (a second Ctrl-C may leave "
                            "their trials RUNNING until a later sweep finds them stale)")
                local = [launch for launch in launches if isinstance(launch, workers.Subprocess)]
                for launch in local:
                    launch.interrupt()
                for launch in local:
                    launch.stop()
                for future in futures:
                    future.result()

    def _count(self) -> int:
        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.state != TrialState.WAITING and not stale.never_started(t))

    def _claim(self) -> optuna.Trial | None:
        """The next trial with its parameters (an enqueued one first), or None when done."""
        with self.lock():
            if self.stop_reason or self.interrupted.is_set() or self._count() >= self.n_trials:
                return None
            with storage.quiet():
                trial = self.study.ask(self.space.distributions)
            try:  # a trial whose sampling failed is failed now, not left RUNNING
                with storage.quiet():
                    values = dict(trial.params)
                    for param in self.space.conditional:
                        if active(param, values):
                            values[param.name] = suggest(trial, param)
                    for key, value in self.fixed.items():  # as the official plugin records them
                        trial.set_user_attr(key, value)
                    if self.extender is not None:
                        self.extender(self.config, trial)
                overlap = sorted(trial.params.keys() & self.fixed.keys())
                if overlap:
                    raise ValueError("Overlapping fixed parameters and search space parameters "
                                     f"found! Overlapping parameters: {overlap}")
            except BaseException as exc:
                stale.fail_unstarted(self.study, trial._trial_id, f"{type(exc).__name__}: {exc}")
                raise
            return trial

    def _job_overrides(self, trial: optuna.Trial) -> list[str]:
        overrides = list(self.space.fixed)
        overrides += [f"{self.space.key(k)}={workers.format_value(v)}" for k, v in trial.params.items()]
        if self.trial_overrides:
            overrides += [
                f"++optuna.storage={workers.format_value(storage.mask_url(self.url))}",
                f"++optuna.study_name={workers.format_value(self.study.study_name)}",
                f"++optuna.trial_id={trial._trial_id}",
                f"++optuna.trial_number={trial.number}",
            ]
        return overrides

    def _worker(self, launch: workers.Launch) -> None:
        while (trial := self._claim()) is not None:
            overrides = self._job_overrides(trial)
            log.info("Trial %d: %s", trial.number, " ".join(
                f"{k}={workers.format_value(v)}" for k, v in trial.params.items()))
            with storage.heartbeat(self.store, trial._trial_id, self.options.heartbeat_interval):
                interrupt: KeyboardInterrupt | None = None
                try:
                    outcome, run_dir = launch(trial, overrides)
                except KeyboardInterrupt as exc:  # Ctrl-C during an in-process job
                    self.interrupted.set()
                    interrupt, outcome, run_dir = exc, workers.Outcome(TrialState.FAIL), None
                except Exception as exc:  # the launcher itself broke: record, go on
                    outcome, run_dir = workers.Outcome(
                        TrialState.FAIL, error=f"{type(exc).__name__}: {exc}"), None
                if self.interrupted.is_set() and outcome.state != TrialState.COMPLETE:
                    outcome = workers.Outcome(TrialState.FAIL, error=workers.INTERRUPTED)
            with self.lock.thread_lock:
                outcome = records.tell(self.study, trial, outcome, run_dir)
                reason = self.failures.add(outcome)
                if reason and not self.stop_reason:
                    self.stop_reason = reason
                    log.error(reason)
                self._report(trial.number, outcome)
            if interrupt is not None:
                raise interrupt

    def _report(self, number: int, outcome: workers.Outcome) -> None:
        trials = self.study.get_trials(deepcopy=False)
        done = sum(1 for t in trials if t.state.is_finished())
        value = ", ".join(f"{v:.5g}" for v in outcome.values) if outcome.values else "-"
        if len(self.study.directions) == 1:
            sign = 1.0 if self.study.direction.name == "MINIMIZE" else -1.0
            complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
            best_trial = min(complete, key=lambda t: sign * float(t.value or 0.0), default=None)
            best = (f"best {best_trial.value:.5g} (trial {best_trial.number})" if best_trial
                    else "best -")
        else:
            best = f"{sum(t.state == TrialState.COMPLETE for t in trials)} complete"
        message = f": {outcome.error.splitlines()[-1][:200]}" if outcome.error else ""
        log.info("Trial %d %s value %s | %s | %d/%d trials done%s", number, outcome.state.name,
                 value, best, done, self.n_trials, message)
        if outcome.state == TrialState.FAIL and outcome.traceback:
            log.error("Trial %d failed:\n%s", number, outcome.traceback.rstrip())


def warn_search_space(search_space: Any, params: Any) -> None:
    """The official plugin's warnings for the deprecated ``search_space``."""
    if search_space is None:
        return
    if params is not None:
        warnings.warn("Both hydra.sweeper.params and hydra.sweeper.search_space are configured."
                      f"\nHydra will use hydra.sweeper.params for defining search space.\n{_UPGRADE}",
                      stacklevel=2)
    else:
        deprecation_warning(
            "`hydra.sweeper.search_space` is deprecated and will be removed in the next major "
            f"release.\nPlease configure with `hydra.sweeper.params`.\n{_UPGRADE}\n")


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


def _check_enqueued(entry: dict[str, Any], space: SearchSpace, index: int,
                    custom: bool = False) -> dict[str, Any]:
    """An ``enqueue`` entry whose values lie in their parameters' distributions (checked before
    any trial, so a search range narrowed on the command line is an error naming the value,
    not a trial left RUNNING), and whose keys are searched (unless a ``custom_search_space``
    may add the name)."""
    params = {p.name: p for p in space.params}
    for name, value in entry.items():
        param = params.get(name)
        if param is None and custom:
            continue  # may be a custom_search_space name
        if param is None:
            raise SweepError(
                f"hydra.sweeper.enqueue[{index}]: {name} is not searched, so its value would be "
                f"dropped; searched: {', '.join(sorted(params)) or 'nothing'}")
        dist = param.distribution
        try:
            inside = dist._contains(dist.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            raise SweepError(f"hydra.sweeper.enqueue[{index}]: {name}={value!r} is outside the "
                             f"search space of {name}: {dist}")
    return entry


def _mask_storage(config: DictConfig, url: str) -> None:
    """Mask the storage's password in the sweep's config (saved as ``multirun.yaml``) and in
    the hydra overrides every job's config is built from (saved in its ``.hydra/``): the
    command line's ``hydra.sweeper.storage=...`` and, when the URL came from a config file,
    one more override that replaces it there."""
    if not storage.has_password(url):
        return
    masked = storage.mask_url(url)
    with read_write(config), open_dict(config):
        config.hydra.sweeper.storage = masked
        overrides = [storage.mask_url(str(o)) for o in config.hydra.overrides.hydra]
        if not any(o.lstrip("+").startswith("hydra.sweeper.storage=") for o in overrides):
            overrides.append(f"hydra.sweeper.storage={workers.format_value(masked)}")
        config.hydra.overrides.hydra = overrides
