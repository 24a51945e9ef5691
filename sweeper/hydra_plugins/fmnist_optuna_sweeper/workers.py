"""How a trial's job runs. Each way of running is one ``launch(trial, overrides) -> (Outcome,
run_dir)``; a sweep worker calls it without caring where the job runs:

* :class:`InProcess` hands the job to the configured Hydra launcher (``n_jobs: 1``);
* :class:`ThroughLauncher` hands it to a launcher that runs jobs elsewhere, from each of
  ``n_jobs`` threads (``n_jobs > 1``, see ``launching.py``), and returns as soon as the job
  says it ended (``callbacks.JobEndSignal``), even before the launcher has noticed;
* :class:`Subprocess` runs the app again as a single run in a process of its own
  (``n_jobs > 1``), with ``OPTUNA_SWEEPER_WORKER=1`` in its environment; the job's outcome
  comes back through ``optuna_result.json`` (written by ``callbacks.JobResultWriter``). With
  ``reuse_workers`` (the default) that process stays for the worker's next jobs
  (``resident.py``), so the app's imports are paid once per worker, not once per trial.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Protocol

from hydra_plugins.fmnist_optuna_sweeper.callbacks import (
    PARENT_ENV,
    RESULT_FILE,
    JobEndSignal,
    JobErrorLog,
    outcome_from_job_return,
)
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome
from hydra_plugins.fmnist_optuna_sweeper.resident import Resident, resident_command
from hydra_plugins.fmnist_optuna_sweeper.storage import STORAGE_ENV, mask_url
from omegaconf import DictConfig
from optuna.trial import TrialState

__all__ = ["INTERRUPTED", "LOCAL_JOBS_ENV", "WORKER_ENV", "InProcess", "Launch", "Outcome", "Subprocess",
           "ThroughLauncher", "format_value", "worker_command"]

#: set in the environment of jobs that a sweep runs in their own process
WORKER_ENV = "OPTUNA_SWEEPER_WORKER"
#: the number of the sweep's jobs running at once on this machine, in the environment of each
#: job it starts there (a job sizes its thread pools by it: fmnist's ``trainer.threads: auto``)
LOCAL_JOBS_ENV = "OPTUNA_SWEEPER_LOCAL_JOBS"
#: the error of a trial whose job was stopped by Ctrl-C (SIGINT) of the sweep
INTERRUPTED = "interrupted: the sweep received Ctrl-C (SIGINT) while this trial ran"
_PLAIN = re.compile(r"^[A-Za-z0-9_.+\-/]+$")


class Launch(Protocol):
    """One way of running a trial's job: ``launch(trial, overrides) -> (outcome, the job's
    directory or None)``; ``interrupt()`` stops the running jobs (Ctrl-C of the sweep) where
    the launch can, ``close()`` waits for (or ends) what is left; ``in_process``: its jobs run
    in the sweep's process."""

    in_process: bool

    def __call__(self, trial: Any, overrides: list[str]) -> tuple[Outcome, Path | None]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


def format_value(value: Any) -> str:
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


def _add_callback(launcher: Any, callback: Any) -> None:
    """Add ``callback`` to those the launcher runs with each job (Hydra ships the sweep
    process's callbacks, pickled, with jobs that run elsewhere), once."""
    callbacks = getattr(getattr(launcher, "hydra_context", None), "callbacks", None)
    if callbacks is not None and not any(type(c) is type(callback) for c in callbacks.callbacks):
        callbacks.callbacks.append(callback)


class InProcess:
    """One job through the Hydra launcher of this process (the basic launcher runs it here).
    A failed job's traceback goes to its log file (``callbacks.JobErrorLog``)."""

    in_process = True

    def __init__(self, launcher: Any) -> None:
        self.launcher = launcher
        _add_callback(launcher, JobErrorLog())

    def interrupt(self) -> None:
        """Nothing to do: Ctrl-C reaches the job in this process."""

    def close(self) -> None:
        """Nothing is left running."""

    def __call__(self, trial: Any, overrides: list[str]) -> tuple[Outcome, Path | None]:
        ret = self.launcher.launch([tuple(overrides)], initial_job_idx=trial.number)[0]
        run_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir) if ret.hydra_cfg else None
        return Outcome.from_dict(outcome_from_job_return(ret)), run_dir


class ThroughLauncher:
    """One job through a launcher that runs it outside this process (joblib, submitit, Ray),
    called from each of ``n_jobs`` sweep threads. The job goes through :class:`InProcess` in
    a thread of its own; this returns when the job's :class:`JobEndSignal` file appears (the
    job has ended; the launcher may take a second more to notice), or when that call returns
    or raises first (a job that died without ending cleanly). Constructing one adds the
    signal to the callbacks the launcher ships with each job. :meth:`close` waits for the
    launches still finishing."""

    in_process = False

    def __init__(self, launcher: Any, signals: Path, poll: float = 0.05) -> None:
        self.inner, self.signals, self.poll = InProcess(launcher), signals, poll
        self._threads: list[threading.Thread] = []
        self._guard = threading.Lock()
        _add_callback(launcher, JobEndSignal(str(signals)))

    def __call__(self, trial: Any, overrides: list[str]) -> tuple[Outcome, Path | None]:
        signal_file = self.signals / f"{trial.number}.json"
        signal_file.unlink(missing_ok=True)  # another study's job of the same number
        result: Future[tuple[Outcome, Path | None]] = Future()

        def launch() -> None:
            try:
                result.set_result(self.inner(trial, overrides))
            except BaseException as exc:  # handed to the waiting worker
                result.set_exception(exc)

        thread = threading.Thread(target=launch, name=f"launch-{trial.number}", daemon=True)
        with self._guard:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        while True:
            try:
                returned = result.result(timeout=self.poll)
            except FutureTimeout:
                returned = None
            if signal_file.exists():  # the job's own account, with its traceback's frames
                data = json.loads(signal_file.read_text())
                return Outcome.from_dict(data), Path(data["output_dir"])
            if returned is not None:
                return returned

    def interrupt(self) -> None:
        """Nothing to do: jobs handed to a launcher run to their end."""

    def close(self) -> None:
        """Wait for the launches whose jobs have ended but whose ``launch()`` has not returned."""
        with self._guard:
            threads = list(self._threads)
        for thread in threads:
            thread.join()


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def worker_command(configured: Sequence[str] | None, task_module: str) -> list[str]:
    """The command that runs the app again (``python -m app``, ``python app.py``, a console
    script), or a :class:`SweepError` when this process was not started as the app (pytest,
    a notebook, Hydra's test runner) and ``worker_command`` is not set."""
    if configured:
        command = [str(c) for c in configured]
        if shutil.which(command[0]) is None:  # else every trial fails, and not the sweep
            raise SweepError(
                f"hydra.sweeper.worker_command[0]={command[0]!r} is not an executable file or a "
                "command on PATH (e.g. [python, -m, my_app])")
        return command
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    argv0 = sys.argv[0] if sys.argv else ""
    if spec is not None and spec.name:  # python -m NAME
        name = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
        if task_module == "__main__" or _top(task_module) == _top(name):
            return [sys.executable, "-m", name]
    elif task_module == "__main__" and argv0.endswith(".py") and os.path.isfile(argv0):
        return [sys.executable, os.path.abspath(argv0)]
    elif argv0 and os.path.isfile(argv0):  # a console script of the app's distribution?
        script = os.path.basename(argv0)
        for entry in importlib.metadata.entry_points(group="console_scripts"):
            if entry.name == script and _top(entry.value.split(":")[0]) == _top(task_module):
                return [sys.executable, os.path.abspath(argv0)]
    raise SweepError(
        f"hydra.sweeper.n_jobs > 1 runs each trial as a new process of the app, but this process "
        f"({argv0 or 'unknown'}) was not started as the app whose task function is in "
        f"{task_module!r} (pytest, a notebook, Hydra's test runner?): set "
        "hydra.sweeper.worker_command (e.g. [python, -m, my_app]) or use hydra.sweeper.n_jobs=1")


def _hydra_overrides(config: DictConfig) -> list[str]:
    """The sweep's own hydra overrides (search path, logging, ...) less the sweep's, plus
    the config that the app was started with (``--config-dir``/``--config-name``)."""
    keep = [o for o in config.hydra.overrides.hydra if not o.lstrip("+~").startswith(
        ("hydra.sweeper", "hydra/sweeper", "hydra.sweep.", "hydra.mode", "hydra.run.dir"))]
    flags = []
    for source in config.hydra.runtime.config_sources:
        if source.provider == "command-line" and source.schema == "file":
            flags += ["--config-dir", str(source.path)]
    if config.hydra.job.config_name:
        flags += ["--config-name", str(config.hydra.job.config_name)]
    return [*flags, *keep]


class Subprocess:
    """One job as a single run of the app in its own process, into ``<sweep dir>/<number>``."""

    in_process = False

    def __init__(self, command: list[str], config: DictConfig, sweep_dir: Path,
                 gpus: Sequence[str] = (), local_jobs: int = 1, reuse: bool = False) -> None:
        self.command, self.sweep_dir, self.local_jobs = command, sweep_dir, local_jobs
        self.gpus = list(gpus)  # this worker's CUDA_VISIBLE_DEVICES (devices.py); () = inherit
        self.hydra_overrides = _hydra_overrides(config)
        self.cwd = str(config.hydra.runtime.cwd)
        self.logs = sweep_dir / ".workers"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._running: set[subprocess.Popen[bytes]] = set()
        self._guard = threading.Lock()
        self.stopping = False
        # one process for all of this worker's jobs (resident.py), when the command is Python's
        resident = resident_command(command) if reuse else None
        self.resident = None if resident is None else Resident(resident, self.cwd)

    def interrupt(self) -> None:
        """Start no more jobs and interrupt the running ones (SIGINT, as Ctrl-C in a terminal
        does: the job records its failure)."""
        with self._guard:
            self.stopping = True
            running = list(self._running)
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)

    def stop(self, grace: float = 30.0) -> None:
        """:meth:`interrupt`, then SIGKILL the jobs still running after ``grace`` seconds."""
        self.interrupt()
        with self._guard:
            running = list(self._running)
        deadline = time.monotonic() + grace
        for proc in running:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()

    def close(self) -> None:
        """:meth:`stop` the jobs still running (none once every launch returned), and let the
        resident worker exit."""
        self.stop()
        if self.resident is not None:
            self.resident.close()

    def _env(self) -> dict[str, str]:
        """The environment of this worker's jobs: the storage URL travels in it (not in argv),
        and the job watches its parent, the sweep."""
        env = {**os.environ, WORKER_ENV: "1", PARENT_ENV: str(os.getpid()),
               LOCAL_JOBS_ENV: str(self.local_jobs)}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpus)
        return env

    def _run(self, args: list[str], log_path: Path) -> int | None:
        """Run the app with ``args``, its output into ``log_path``: in the resident worker, or
        in a process of its own; its exit status, None when the sweep is stopping."""
        with open(log_path, "w") as out:
            with self._guard:
                if self.stopping:
                    return None
                if self.resident is not None:
                    proc = self.resident.start(self._env())
                else:  # its own process group, as the resident worker's (resident.py)
                    proc = subprocess.Popen([*self.command, *args], stdout=out,
                                            stderr=subprocess.STDOUT, env=self._env(),
                                            cwd=self.cwd, start_new_session=True)
                self._running.add(proc)
            try:
                if self.resident is not None:
                    return self.resident.run(args, self._env(), log_path)
                return proc.wait()
            finally:
                with self._guard:
                    self._running.discard(proc)

    def __call__(self, trial: Any, overrides: list[str]) -> tuple[Outcome, Path | None]:
        run_dir = self.sweep_dir / str(trial.number)
        command = [
            *self.hydra_overrides, *overrides,
            f"hydra.run.dir={format_value(str(run_dir))}",
            "+hydra.callbacks.optuna_result._target_="
            "hydra_plugins.fmnist_optuna_sweeper.callbacks.JobResultWriter",
        ]
        url = os.environ.get(STORAGE_ENV, "")
        masked = mask_url(url)
        if masked != url:  # a password in a config file: the job's saved config shows it masked
            command.insert(-1, f"++hydra.sweeper.storage={format_value(masked)}")
        log_path = self.logs / f"{trial.number}.log"
        returncode = self._run(command, log_path)
        if returncode is None:
            return Outcome(TrialState.FAIL, error=INTERRUPTED), None
        result = run_dir / RESULT_FILE
        if result.exists():
            return Outcome.from_dict(json.loads(result.read_text())), run_dir
        lines = [line for line in log_path.read_text().splitlines()
                 if line.strip() and not line.startswith(("I0000", "W0000", "WARNING: All log"))]
        tail = "\n".join(lines[-15:])
        return Outcome(TrialState.FAIL, error=f"worker exited with {returncode}: {tail}"), run_dir
