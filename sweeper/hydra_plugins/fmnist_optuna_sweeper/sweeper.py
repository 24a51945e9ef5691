"""The Optuna sweeper: ask a trial, launch its job, tell the outcome, until the study holds
``n_trials`` trials.

* Jobs find their trial through the storage and its id (``++optuna.*`` overrides), so they
  can report intermediate values and be pruned in this process, another process, or on
  another machine.
* ``n_trials`` is the study's total: running the same command again resumes the study, trial
  numbers and job directories continue, and trials left RUNNING by a killed sweep (their
  heartbeat stopped) are marked failed, or retried with ``retry_failed``.
* ``n_jobs > 1`` keeps that many jobs running, each in its own process; a worker that
  finishes asks for the next trial at once. Several sweeps (on one or many machines) may
  share a study through a PostgreSQL storage.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna

try:
    import fcntl
except ImportError:  # Windows: no file lock, threads are still serialised
    fcntl = None  # type: ignore[assignment]

from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from hydra_plugins.fmnist_optuna_sweeper import journal
from hydra_plugins.fmnist_optuna_sweeper.callbacks import RESULT_FILE
from hydra_plugins.fmnist_optuna_sweeper.devices import DeviceError, assign_devices, visible_gpus
from hydra_plugins.fmnist_optuna_sweeper.launching import (
    LAUNCHER,
    SUBPROCESS,
    capacity_warning,
    choose_mode,
    launch_one,
)
from hydra_plugins.fmnist_optuna_sweeper.search_space import SearchSpaceError, parse_search_space
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

__all__ = ["OptunaSweeper", "SweepError", "make_storage"]

log = logging.getLogger(__name__)

#: set in the environment of jobs that a sweep runs in their own process
WORKER_ENV = "OPTUNA_SWEEPER_WORKER"
_PLAIN = re.compile(r"^[A-Za-z0-9_.+\-/]+$")
_MISSING = object()


class SweepError(HydraException):
    """The sweep cannot start or had to stop; the message says why."""


def _format(value: Any) -> str:
    """A value as Hydra override text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def make_storage(
    url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
    retry_failed: int = 0,
) -> optuna.storages.BaseStorage:
    """An Optuna storage with heartbeats (so dead trials can be found) for any RDB URL."""
    kwargs: dict[str, Any] = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
    if retry_failed > 0:
        retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        if retry_cls is not None:
            kwargs["heartbeat_stale_trial_callback"] = retry_cls(max_retry=retry_failed)
        else:  # optuna < 5
            kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(
                max_retry=retry_failed)
    if journal.is_journal(url):
        return journal.HeartbeatJournalStorage(
            journal.journal_path(url), heartbeat_interval, grace_period,
            kwargs.get("heartbeat_stale_trial_callback"))
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 120}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)


@contextlib.contextmanager
def _heartbeat(storage: optuna.storages.BaseStorage, trial_id: int, interval: int | None
               ) -> Iterator[None]:
    """Record the trial's heartbeat every ``interval`` seconds while its job runs."""
    if not interval or not hasattr(storage, "record_heartbeat"):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class _Outcome:
    """How a job ended. (A plain class: Hydra's plugin scan runs this module outside
    ``sys.modules``, where dataclasses with postponed annotations fail.)"""

    def __init__(self, state: TrialState, values: list[float] | None = None,
                 error: str | None = None) -> None:
        self.state, self.values, self.error = state, values, error


class OptunaSweeper(Sweeper):
    """See the module docstring and ``config.OptunaSweeperConf`` for the options."""

    def __init__(self, **options: Any) -> None:
        # Hydra instantiates the sweeper recursively: sampler and pruner arrive as objects
        self.sampler = options.pop("sampler", None)
        self.pruner = options.pop("pruner", None)
        self.options = OmegaConf.create({k: v for k, v in options.items() if k != "_target_"})
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self._lock = threading.Lock()
        self._finished = 0
        self._failed = 0
        self._stop_reason: str | None = None
        self._slot = threading.local()  # the worker slot of each worker thread
        self._slot_devices: list[list[str]] = []

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # ------------------------------------------------------------------ configuration

    def _directions(self) -> list[str]:
        direction = self.options.direction
        directions = list(direction) if isinstance(direction, ListConfig | list) else [direction]
        for d in directions:
            if str(d).lower() not in ("maximize", "minimize"):
                raise SweepError(
                    f"hydra.sweeper.direction must be maximize or minimize (or a list of them), "
                    f"got {d!r}"
                )
        return [str(d).lower() for d in directions]

    def _storage_url(self) -> str:
        if self.options.storage:
            url = str(self.options.storage)
            # a journal path made absolute, for jobs that start elsewhere
            return f"journal://{journal.journal_path(url)}" if journal.is_journal(url) else url
        assert self.config is not None
        cwd = Path(self.config.hydra.runtime.cwd)
        path = cwd / "outputs" / "optuna.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    def _object(self, node: Any, default: Any) -> Any:
        if node is None:
            return default
        if isinstance(node, DictConfig):
            return instantiate(node)
        return node

    def _check_keys(self, distributions: dict[str, BaseDistribution]) -> None:
        """Every searched path must exist in the composed config (``+key`` adds one)."""
        assert self.config is not None
        for key in distributions:
            if key.startswith(("+", "~")) or "/" in key:
                continue
            if OmegaConf.select(self.config, key, default=_MISSING) is _MISSING:
                raise SearchSpaceError(
                    f"unknown parameter path {key!r}: the composed config has no such key "
                    f"(check its spelling, or write +{key} to add a new one)"
                )

    def _check_options(self) -> None:
        o = self.options
        if int(o.n_trials) < 1:
            raise SweepError(f"hydra.sweeper.n_trials must be >= 1, got {o.n_trials}")
        if int(o.n_jobs) < 1:
            raise SweepError(f"hydra.sweeper.n_jobs must be >= 1, got {o.n_jobs}")
        if not 0.0 <= float(o.max_failure_rate) <= 1.0:
            raise SweepError(
                f"hydra.sweeper.max_failure_rate must be in [0, 1], got {o.max_failure_rate}")

    # ------------------------------------------------------------------ the sweep

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None
        self._check_options()
        n_jobs = int(self.options.n_jobs)
        mode = choose_mode(self.launcher, n_jobs)  # before anything is written
        if mode == SUBPROCESS:
            self._slot_devices = self._assign_devices(n_jobs)
        params = OmegaConf.to_container(self.options.params, resolve=True) if self.options.params else {}
        distributions, fixed = parse_search_space(params, arguments)  # type: ignore[arg-type]
        self._check_keys(distributions)
        directions = self._directions()
        url = self._storage_url()
        study_name = str(self.options.study_name or "fmnist")
        storage, study = self._open_study(url, study_name, directions)
        existing = [d.name.lower() for d in study.directions]
        if existing != directions:
            raise SweepError(
                f"study {study_name!r} in {url} has directions {existing}, the sweep asks for "
                f"{directions}: use another study_name"
            )
        self.storage, self.storage_url, self.study = storage, url, study
        # jobs load the study from the storage, where Optuna keeps no pruner: store its config
        pruner_cfg = self.config.hydra.sweeper.get("pruner")
        study.set_user_attr(
            "pruner",
            OmegaConf.to_container(pruner_cfg, resolve=True) if isinstance(pruner_cfg, DictConfig) else None,
        )
        with self._study_lock():
            optuna.storages.fail_stale_trials(study)
            self._enqueue(study)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        self.sweep_dir, self.distributions, self.fixed = sweep_dir, distributions, fixed
        done = self._count(study)
        log.info(
            "Study %r in %s: %d of %d trials already taken; searching %s; %d job(s) at a time",
            study_name, url, done, self.options.n_trials, ", ".join(distributions) or "nothing",
            self.options.n_jobs,
        )
        if mode == LAUNCHER:
            log.info("%d trials at a time through %s", n_jobs, type(self.launcher).__name__)
            if (warning := capacity_warning(self.launcher, n_jobs)) is not None:
                log.warning(warning)
        if n_jobs == 1:
            self._worker(self._launch_in_process)
        else:
            launch = self._launch_subprocess if mode == SUBPROCESS else self._launch_in_process
            with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="trial") as pool:
                futures = [pool.submit(self._worker, launch, slot) for slot in range(n_jobs)]
                for future in futures:
                    future.result()
        self._write_results(study)
        if self._stop_reason:
            raise SweepError(self._stop_reason)

    def _open_study(self, url: str, study_name: str, directions: list[str]
                    ) -> tuple[optuna.storages.BaseStorage, optuna.Study]:
        """Create or load the study; retried, since workers that start together on a fresh
        database race to create its tables and the study."""
        for attempt in range(5):
            try:
                storage = make_storage(url, self.options.heartbeat_interval,
                                       self.options.grace_period, int(self.options.retry_failed))
                study = optuna.create_study(
                    study_name=study_name,
                    storage=storage,
                    sampler=self._object(self.sampler, None),
                    pruner=self._object(self.pruner, optuna.pruners.NopPruner()),
                    directions=directions,  # type: ignore[arg-type]
                    load_if_exists=True,
                )
                return storage, study
            except Exception as exc:  # sqlalchemy errors of a concurrent create
                if attempt == 4:
                    raise SweepError(f"cannot open study {study_name!r} in {url}: {exc}") from exc
                log.warning("Opening study %r failed (%s); retrying", study_name, exc)
                time.sleep(0.5 + random.random() * (attempt + 1))
        raise AssertionError("unreachable")

    def _enqueue(self, study: optuna.Study) -> None:
        for entry in self.options.enqueue or []:
            params = (OmegaConf.to_container(entry, resolve=True) if isinstance(entry, DictConfig)
                      else dict(entry))
            study.enqueue_trial(params, skip_if_exists=True)  # type: ignore[arg-type]

    @staticmethod
    def _count(study: optuna.Study) -> int:
        return sum(1 for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING)

    @contextlib.contextmanager
    def _study_lock(self) -> Iterator[None]:
        """Serialise 'count, then ask' across threads, processes and machines, so the study
        ends with exactly n_trials trials: a PostgreSQL advisory lock, or a file lock beside
        a SQLite database."""
        with self._lock:
            url = self.storage_url
            if url.startswith("postgresql"):
                from sqlalchemy import text

                key = zlib.crc32(f"fmnist-optuna:{self.study.study_name}".encode())
                with self.storage.engine.connect() as conn:  # type: ignore[attr-defined]
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                    try:
                        yield
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
            elif journal.is_journal(url):
                with journal.study_lock(journal.journal_path(url)):
                    yield
            elif url.startswith("sqlite:///") and fcntl is not None:
                with open(url[len("sqlite:///"):] + ".lock", "w") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
            else:
                yield

    def _claim(self) -> optuna.Trial | None:
        """The next trial (an enqueued one first), or None when the study is full."""
        with self._study_lock():
            if self._stop_reason or self._count(self.study) >= int(self.options.n_trials):
                return None
            with warnings.catch_warnings():
                # we record heartbeats ourselves (_heartbeat), not through Study.optimize
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                return self.study.ask(self.distributions)

    def _job_overrides(self, trial: optuna.Trial) -> list[str]:
        overrides = list(self.fixed)
        overrides += [f"{key}={_format(value)}" for key, value in trial.params.items()]
        if self.options.trial_overrides:
            overrides += [
                f"++optuna.storage={_format(self.storage_url)}",
                f"++optuna.study_name={_format(self.study.study_name)}",
                f"++optuna.trial_id={trial._trial_id}",
                f"++optuna.trial_number={trial.number}",
            ]
        return overrides

    def _assign_devices(self, n_jobs: int) -> list[list[str]]:
        devices = self.options.devices
        try:
            slots = assign_devices(visible_gpus(os.environ) if devices is None else list(devices),
                                   int(self.options.gpus_per_trial), n_jobs)
        except DeviceError as exc:
            raise SweepError(f"hydra.sweeper.{exc}") from exc
        if any(slots):
            log.info("GPUs of the %d workers: %s", n_jobs, "; ".join(",".join(s) for s in slots))
        return slots

    def _worker(self, launch: Any, slot: int = 0) -> None:
        self._slot.index = slot
        while (trial := self._claim()) is not None:
            overrides = self._job_overrides(trial)
            log.info("Trial %d: %s", trial.number, " ".join(
                f"{k}={_format(v)}" for k, v in trial.params.items()))
            with _heartbeat(self.storage, trial._trial_id, self.options.heartbeat_interval):
                try:
                    outcome, run_dir = launch(trial, overrides)
                except Exception as exc:  # the launcher itself broke: record, go on
                    outcome, run_dir = _Outcome(TrialState.FAIL, error=f"{type(exc).__name__}: {exc}"), None
            self._tell(trial, outcome, run_dir)

    def _launch_in_process(self, trial: optuna.Trial, overrides: list[str]
                           ) -> tuple[_Outcome, Path | None]:
        """One job through the configured launcher (from a worker thread when n_jobs > 1)."""
        outcome, run_dir = launch_one(self.launcher, trial.number, overrides)
        return self._outcome(outcome), run_dir or self.sweep_dir / str(trial.number)

    def _worker_command(self) -> list[str]:
        if self.options.worker_command:
            return [str(c) for c in self.options.worker_command]
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
            return [sys.executable, "-m", module]
        return [sys.executable, os.path.abspath(sys.argv[0])]

    def _launch_subprocess(self, trial: optuna.Trial, overrides: list[str]) -> tuple[_Outcome, Path]:
        run_dir = self.sweep_dir / str(trial.number)
        assert self.config is not None
        # the sweep's own hydra overrides (search path, logging, ...), less the sweep's
        hydra_overrides = [
            o for o in self.config.hydra.overrides.hydra
            if not o.lstrip("+~").startswith(
                ("hydra.sweeper", "hydra/sweeper", "hydra.sweep.", "hydra.mode", "hydra.run.dir"))
        ]
        # a single run (no sweeper in the worker) into the trial's job directory
        command = [
            *self._worker_command(), *hydra_overrides, *overrides,
            f"hydra.run.dir={_format(str(run_dir))}",
            "+hydra.callbacks.optuna_result._target_="
            "hydra_plugins.fmnist_optuna_sweeper.callbacks.JobResultWriter",
        ]
        logs = self.sweep_dir / ".workers"
        logs.mkdir(exist_ok=True)
        env = {**os.environ, WORKER_ENV: "1"}
        slot = getattr(self._slot, "index", 0)
        if slot < len(self._slot_devices) and self._slot_devices[slot]:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self._slot_devices[slot])
        with open(logs / f"{trial.number}.log", "w") as out:
            proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  cwd=str(self.config.hydra.runtime.cwd) if self.config else None)
        result = run_dir / RESULT_FILE
        if result.exists():
            return self._outcome(json.loads(result.read_text())), run_dir
        lines = [line for line in (logs / f"{trial.number}.log").read_text().splitlines()
                 if line.strip() and not line.startswith(("I0000", "W0000", "WARNING: All log"))]
        tail = "\n".join(lines[-15:])
        return _Outcome(TrialState.FAIL, error=f"worker exited with {proc.returncode}: {tail}"), run_dir

    @staticmethod
    def _outcome(data: dict[str, Any]) -> _Outcome:
        return _Outcome(TrialState[data["state"]], data.get("values"), data.get("error"))

    # ------------------------------------------------------------------ recording

    def _tell(self, trial: optuna.Trial, outcome: _Outcome, run_dir: Path | None) -> None:
        with self._lock:
            n_values = len(self.study.directions)
            if outcome.state == TrialState.COMPLETE and len(outcome.values or []) != n_values:
                outcome = _Outcome(TrialState.FAIL, error=(
                    f"the job returned {len(outcome.values or [])} value(s) {outcome.values}, "
                    f"the study has {n_values} direction(s)"))
            if run_dir is not None:
                trial.set_user_attr("run_dir", str(run_dir))
                for key, value in _run_metrics(run_dir).items():
                    trial.set_user_attr(key, value)
            if outcome.error:
                trial.set_user_attr("error" if outcome.state == TrialState.FAIL else "message",
                                    outcome.error[-2000:])
            if outcome.state == TrialState.COMPLETE:
                self.study.tell(trial, outcome.values)
            else:
                self.study.tell(trial, state=outcome.state)
            self._finished += 1
            self._failed += outcome.state == TrialState.FAIL
            self._report(trial.number, outcome)
            rate = self._failed / self._finished
            if outcome.state == TrialState.FAIL and rate > float(self.options.max_failure_rate):
                self._stop_reason = (
                    f"stopping the sweep: {self._failed} of {self._finished} trials failed "
                    f"({rate:.0%}), more than hydra.sweeper.max_failure_rate="
                    f"{self.options.max_failure_rate}; last error: {outcome.error}"
                )
                log.error(self._stop_reason)

    def _report(self, number: int, outcome: _Outcome) -> None:
        trials = self.study.get_trials(deepcopy=False)
        done = sum(1 for t in trials if t.state.is_finished())
        value = ", ".join(f"{v:.5g}" for v in outcome.values) if outcome.values else "-"
        if len(self.study.directions) == 1:
            try:
                best = f"best {self.study.best_value:.5g} (trial {self.study.best_trial.number})"
            except ValueError:
                best = "best -"
        else:
            best = f"Pareto set of {len(self.study.best_trials)}"
        message = f": {outcome.error.splitlines()[-1][:200]}" if outcome.error else ""
        log.info("Trial %d %s value %s | %s | %d/%d trials done%s", number, outcome.state.name,
                 value, best, done, self.options.n_trials, message)

    def _write_results(self, study: optuna.Study) -> None:
        trials = study.get_trials(deepcopy=False)
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        results: dict[str, Any] = {
            "name": "optuna",
            "study_name": study.study_name,
            "storage": self.storage_url,
            "directions": [d.name.lower() for d in study.directions],
            "n_trials": len(trials),
            "states": counts,
        }
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if len(study.directions) == 1 and complete:
            best = study.best_trial
            results.update(best_trial=best.number, best_value=best.value,
                           best_params=dict(best.params),
                           best_run_dir=best.user_attrs.get("run_dir"))
        elif complete:
            results["pareto_front"] = [
                {"trial": t.number, "values": list(t.values or []), "params": dict(t.params),
                 "run_dir": t.user_attrs.get("run_dir")}
                for t in study.best_trials
            ]
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")
        log.info("Results: %s", self.sweep_dir / "optimization_results.yaml")


def _run_metrics(run_dir: Path) -> dict[str, Any]:
    """Final metrics of a run directory's ``metrics.json``, for the trial's user attributes."""
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

