"""Jobs as processes of the app (``n_jobs > 1`` with Hydra's basic launcher):
:func:`worker_command`, the command that starts the app again, and :class:`Subprocess`, the
launch that runs one job with it as a single run, with ``OPTUNA_SWEEPER_WORKER=1`` in its
environment; the job's outcome comes back through ``optuna_result.json`` (written by
``callbacks.JobResultWriter``). With ``reuse_workers`` (the default) the worker's process stays
for its next jobs (``resident.py``), so the app's imports are paid once per worker, not once
per trial.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper.callbacks import PARENT_ENV, RESULT_FILE
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome
from hydra_plugins.fmnist_optuna_sweeper.resident import Resident, resident_command
from hydra_plugins.fmnist_optuna_sweeper.storage import STORAGE_ENV, mask_url
from hydra_plugins.fmnist_optuna_sweeper.workers import (
    INTERRUPTED,
    LOCAL_JOBS_ENV,
    WORKER_ENV,
    format_value,
)
from omegaconf import DictConfig
from optuna.trial import TrialState

__all__ = ["Subprocess", "worker_command"]


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
        """Run the app with ``args``, its output into ``log_path`` (created empty here, so a
        job that dies at once still leaves one to read): in the resident worker, or in a
        process of its own; its exit status, None when the sweep is stopping."""
        env = self._env()
        with open(log_path, "w") as out:
            with self._guard:
                if self.stopping:
                    return None
                if self.resident is not None:
                    proc = self.resident.start(env)
                else:  # its own process group, as the resident worker's (resident.py)
                    proc = subprocess.Popen([*self.command, *args], stdout=out,
                                            stderr=subprocess.STDOUT, env=env, cwd=self.cwd,
                                            start_new_session=True)
                self._running.add(proc)
            try:
                return proc.wait() if self.resident is None else self.resident.run(args, env, log_path)
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
