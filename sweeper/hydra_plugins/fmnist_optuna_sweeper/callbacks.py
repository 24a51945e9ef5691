"""Hydra callbacks for jobs that the sweeper runs outside its own process. Such a job records
its own finished result (COMPLETE with its values, or PRUNED) in its trial through the job-side
module before it exits (:func:`record_result`), so a sweep killed while its jobs ran loses no
completed training; the sweep then finds the trial finished and accepts it. It also writes its
outcome (values, pruned, or the error) to ``optuna_result.json`` in the job directory, and
stops when the sweep that started it dies (``kill -9``): the next sweep fails (or, with
``retry_failed``, reruns) its trial once its heartbeat is stale."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra_plugins.fmnist_optuna_sweeper import atomic, job
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome
from omegaconf import DictConfig

__all__ = ["PARENT_ENV", "RESULT_FILE", "JobEndSignal", "JobErrorLog", "JobResultWriter",
           "job_traceback", "log_to_job_files", "main_file", "outcome_from_job_return",
           "record_result", "stop_with_parent"]

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

    obey_sigint()
    with _WATCHING_GUARD:  # once per process: a resident worker runs many jobs (resident.py)
        thread = _WATCHING.get(parent)
        if thread is None or not thread.is_alive():
            thread = _WATCHING[parent] = threading.Thread(target=watch, name="sweep-watch",
                                                           daemon=True)
            thread.start()
    return thread


def obey_sigint() -> None:
    """Let SIGINT interrupt this job (KeyboardInterrupt) even when it was started with SIGINT
    ignored (a sweep started in the background by a shell script, ``cmd &``, passes that on):
    the sweep stops its jobs with SIGINT, and the job runs in a session of its own, out of a
    terminal's reach. Only the main thread may set a handler; elsewhere nothing changes."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) == signal.SIG_IGN):
        signal.signal(signal.SIGINT, signal.default_int_handler)


_WATCHING: dict[int, threading.Thread] = {}
_WATCHING_GUARD = threading.Lock()


def outcome_from_job_return(ret: JobReturn, main_file: str | None = None) -> dict[str, Any]:
    """``{'state': 'COMPLETE'|'PRUNED'|'FAIL', 'values': [...], 'error': str}``; a failed job's
    also has its ``traceback`` (:func:`job_traceback`)."""
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
    return {"state": "FAIL", "error": f"{type(exc).__name__}: {exc}",
            "traceback": job_traceback(exc, main_file)}


_HYDRA_DIR = os.path.dirname(os.path.abspath(hydra.__file__)) + os.sep
#: the file name cloudpickle gives code it pickled by value (the app's ``__main__`` module,
#: shipped to a launcher's job)
_DYNAMIC_CODE = "<dynamic-code>"


def main_file() -> str | None:
    """The app's script (``__main__``) of this process, if it has one."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.abspath(path) if path else None


def _name_dynamic_code(te: traceback.TracebackException | None, main_file: str) -> None:
    """Give the frames of code shipped by value their file (and so their source line) back."""
    while te is not None:
        for i, frame in enumerate(te.stack):
            if frame.filename == _DYNAMIC_CODE:
                te.stack[i] = traceback.FrameSummary(main_file, frame.lineno, frame.name)
        te = te.__cause__ or te.__context__


def job_traceback(exc: BaseException, main_file: str | None = None) -> str:
    """The traceback of a job's exception from the task function down (Hydra's own frames
    above it left out, as Hydra does; all of them with ``HYDRA_FULL_ERROR=1``): the file and
    line where the objective failed. Frames of the app's ``__main__`` that a launcher shipped
    by value get ``main_file`` back. An exception that crossed a process boundary has lost its
    frames; then only its last line."""
    tb = exc.__traceback__
    if os.environ.get("HYDRA_FULL_ERROR") != "1":
        while tb is not None and tb.tb_next is not None and os.path.abspath(
                tb.tb_frame.f_code.co_filename).startswith(_HYDRA_DIR):
            tb = tb.tb_next
    te = traceback.TracebackException(type(exc), exc, tb)
    if main_file:
        _name_dynamic_code(te, main_file)
    return "".join(te.format())


def log_to_job_files(ret: JobReturn, main_file: str | None = None) -> None:
    """Write a failed job's traceback to the job's log files (the file handlers that Hydra's
    ``job_logging`` set up for it, e.g. ``<job dir>/<app>.log``; the sweep prints it on its
    console). Call while the job's logging is in force (``on_job_end``)."""
    outcome = outcome_from_job_return(ret, main_file)
    if outcome["state"] != "FAIL" or not outcome.get("traceback"):
        return
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "The job failed:\n%s",
                            (outcome["traceback"].rstrip(),), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def record_result(config: DictConfig, outcome: dict[str, Any]) -> None:
    """Finish the job's trial with its outcome when the job finished its work (COMPLETE or
    PRUNED; a failure is the sweep's to record, or a later sweep's to retry), through the
    job-side module; nothing outside a sweep. A storage problem is logged: the sweep, if alive,
    records the outcome as before."""
    if outcome.get("state") not in ("COMPLETE", "PRUNED"):
        return
    try:
        trial = job.trial_of(config.get("optuna"))
        if trial is not None:
            trial.set_result(Outcome.from_dict(outcome), Path(str(config.hydra.runtime.output_dir)))
    except Exception as exc:
        log.warning("Could not record the job's result in its trial: %s: %s", type(exc).__name__, exc)


class JobErrorLog(Callback):
    """Writes a failed job's traceback to its log file (:func:`log_to_job_files`). The sweep
    adds it to the callbacks of its launcher, so it runs wherever that runs the job."""

    def __init__(self) -> None:
        self.main_file = main_file()  # the sweep's app, for frames shipped by value

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        log_to_job_files(job_return, self.main_file)


class JobResultWriter(Callback):
    """In a job the sweep started as a subprocess: watch the sweep, and at the end record the
    result in the trial and in ``optuna_result.json``."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        parent = os.environ.get(PARENT_ENV, "")
        if parent.isdigit():
            stop_with_parent(int(parent))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        log_to_job_files(job_return)
        outcome = outcome_from_job_return(job_return)
        record_result(config, outcome)  # in the storage before the sweep hears of it
        _write_json(Path(config.hydra.runtime.output_dir) / RESULT_FILE, outcome)


class JobEndSignal(Callback):
    """Writes ``<directory>/<job number>.json`` (the job's outcome and directory) as a job ends.

    The sweep adds it to the callbacks that a launcher ships with every job (``n_jobs > 1``
    through a launcher: Hydra runs the sweep process's callbacks, pickled, in the launched
    job), so a sweep worker learns that its job ended without waiting for the launcher to
    notice (submitit checks once a second whether a job's process is gone)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.main_file = main_file()  # the sweep's app, for frames shipped by value

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        outcome = outcome_from_job_return(job_return, self.main_file)
        record_result(config, outcome)  # in the storage before the sweep hears of it
        _write_json(Path(self.directory) / f"{config.hydra.job.num}.json",
                    {**outcome, "output_dir": str(config.hydra.runtime.output_dir)})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as JSON at ``path``, whole or absent (the sweep may read it at any moment)."""
    atomic.write_text(path, json.dumps(data) + "\n")
