"""A Hydra callback for jobs that the sweeper runs in their own process: it writes the job's
outcome (values, pruned, or the error) to ``optuna_result.json`` in the job directory, and
stops the job when the sweep that started it dies (``kill -9``): nobody would record its
result, and the next sweep fails (or, with ``retry_failed``, reruns) its trial once its
heartbeat is stale."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra_plugins.fmnist_optuna_sweeper import atomic
from omegaconf import DictConfig

__all__ = ["PARENT_ENV", "RESULT_FILE", "JobEndSignal", "JobResultWriter",
           "outcome_from_job_return", "stop_with_parent"]

RESULT_FILE = "optuna_result.json"
#: the sweep's process id, in the environment of the jobs it starts
PARENT_ENV = "OPTUNA_SWEEPER_PARENT"
log = logging.getLogger(__name__)


def stop_with_parent(parent: int, interval: float = 1.0, grace: float = 30.0) -> threading.Thread:
    """Watch (in a daemon thread) that this process's parent is still ``parent``; when it is
    not (the sweep died and the job was re-parented), interrupt this process as Ctrl-C would,
    and end it ``grace`` seconds later if it still runs."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.error("The sweep (process %d) is gone: stopping this job, whose result nobody "
                  "would record", parent)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(grace)
        os._exit(1)

    thread = threading.Thread(target=watch, name="sweep-watch", daemon=True)
    thread.start()
    return thread


def outcome_from_job_return(ret: JobReturn) -> dict[str, Any]:
    """``{'state': 'COMPLETE'|'PRUNED'|'FAIL', 'values': [...], 'error': str}``."""
    if ret.status == JobStatus.COMPLETED:
        value = ret.return_value
        values = list(value) if isinstance(value, list | tuple) else [value]
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError):
            return {"state": "FAIL", "error": f"the job returned {value!r}, not a number"}
        if any(not math.isfinite(v) for v in floats):
            return {"state": "FAIL", "error": f"the job returned a non-finite value {floats}"}
        return {"state": "COMPLETE", "values": floats}
    exc = ret._return_value
    if type(exc).__name__ == "TrialPruned":
        return {"state": "PRUNED", "error": str(exc)}
    return {"state": "FAIL", "error": f"{type(exc).__name__}: {exc}"}


class JobResultWriter(Callback):
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        parent = os.environ.get(PARENT_ENV, "")
        if parent.isdigit():
            stop_with_parent(int(parent))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        _write_json(Path(config.hydra.runtime.output_dir) / RESULT_FILE,
                    outcome_from_job_return(job_return))


class JobEndSignal(Callback):
    """Writes ``<directory>/<job number>.json`` (the job's outcome and directory) as a job ends.

    The sweep adds it to the callbacks that a launcher ships with every job (``n_jobs > 1``
    through a launcher: Hydra runs the sweep process's callbacks, pickled, in the launched
    job), so a sweep worker learns that its job ended without waiting for the launcher to
    notice (submitit checks once a second whether a job's process is gone)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        _write_json(Path(self.directory) / f"{config.hydra.job.num}.json",
                    {**outcome_from_job_return(job_return),
                     "output_dir": str(config.hydra.runtime.output_dir)})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as JSON at ``path``, whole or absent (the sweep may read it at any moment)."""
    atomic.write_text(path, json.dumps(data) + "\n")
