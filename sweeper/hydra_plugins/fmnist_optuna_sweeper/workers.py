"""How a trial's job runs. Each way of running is one ``launch(trial, overrides) -> (Outcome,
run_dir)``; a sweep worker calls it without caring where the job runs:

* :class:`InProcess` hands the job to the configured Hydra launcher (``n_jobs: 1``);
* :class:`ThroughLauncher` hands it to a launcher that runs jobs elsewhere, from each of
  ``n_jobs`` threads (``n_jobs > 1``, see ``launching.py``), and returns as soon as the job
  says it ended (``callbacks.JobEndSignal``), even before the launcher has noticed;
* ``processes.Subprocess`` runs the app again as a single run outside this process
  (``n_jobs > 1`` with the basic launcher; see ``processes.py``).
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Protocol

from hydra_plugins.fmnist_optuna_sweeper.callbacks import (
    JobEndSignal,
    JobErrorLog,
    outcome_from_job_return,
)
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome

__all__ = ["INTERRUPTED", "LOCAL_JOBS_ENV", "WORKER_ENV", "InProcess", "Launch", "Outcome",
           "ThroughLauncher", "format_value"]

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
