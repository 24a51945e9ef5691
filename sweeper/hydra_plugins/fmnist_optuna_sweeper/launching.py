"""How a sweep runs ``n_jobs`` trials at once (``workers.py`` has the ways of running a job).

* ``n_jobs == 1``: each job goes through the configured launcher, one at a time (with Hydra's
  basic launcher, in the sweep's own process).
* ``n_jobs > 1`` with Hydra's basic launcher: each job runs as a subprocess of this machine
  when the app can be started again (``worker_command``, or this process was started as the
  app); else (pytest, a notebook, Hydra's test runner) one job after another in this process,
  as the official plugin runs them, with a warning.
* ``n_jobs > 1`` with any other launcher (joblib, submitit local or SLURM, Ray, RQ): ``n_jobs``
  worker threads each hand ONE job at a time to the launcher (``workers.ThroughLauncher``:
  ``launch([job])`` in a thread, back as soon as the job signals its end), tell its outcome
  and claim the next trial at once: there is no batch barrier, so a slow trial never holds
  back the others.
* A launcher that runs its jobs inside this process (a subclass of the basic launcher) runs
  them one after another, with a warning; one whose ``launch()`` sets up and tears down a
  cluster per call (Ray's AWS launcher) cannot run several at once: the sweep stops at setup
  and says so, rather than bypass it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper import processes, workers
from hydra_plugins.fmnist_optuna_sweeper.devices import (
    DeviceError,
    assign_devices,
    local_slots,
    visible_gpus,
)
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from omegaconf import DictConfig

__all__ = ["IN_PROCESS", "LAUNCHER", "SUBPROCESS", "LaunchError", "capacity_warning",
           "choose_mode", "is_basic", "jobs_at_once", "launcher_slots", "launches", "prepare",
           "runs_here", "sequential_warning", "worker_gpus"]

log = logging.getLogger(__name__)

#: launchers that cannot take one job per call from several threads, and why
_NOT_DRIVABLE = {
    "hydra_plugins.hydra_ray_launcher.ray_aws_launcher.RayAWSLauncher":
        "its launch() starts, syncs and may stop a Ray cluster on AWS for every call; start a Ray "
        "cluster yourself and use hydra/launcher=ray with hydra.launcher.ray.init.address",
}

IN_PROCESS = "in_process"  # one job at a time, handed to the launcher
SUBPROCESS = "subprocess"  # basic launcher, n_jobs > 1: our own worker processes
LAUNCHER = "launcher"  # another launcher, n_jobs > 1: n_jobs jobs in flight through it


class LaunchError(SweepError):
    """The configured launcher cannot run the sweep's jobs as asked."""


#: by name: Hydra's plugin scan imports its core plugins again, so a class object may differ
_BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def _names(launcher: Any) -> list[str]:
    """The qualified names of the launcher's class and its bases."""
    return [f"{c.__module__}.{c.__qualname__}" for c in type(launcher).__mro__]


def _name(launcher: Any) -> str:
    return _names(launcher)[0]


def is_basic(launcher: Any) -> bool:
    """Hydra's basic launcher itself (not a subclass)."""
    return _name(launcher) == _BASIC


def choose_mode(launcher: Any, n_jobs: int, can_start_app: bool = True) -> str:
    """How the sweep's jobs run (see the module docstring); ``can_start_app``: a worker
    command is known. Raises ``LaunchError`` for a launcher that cannot run ``n_jobs`` jobs
    at once."""
    if n_jobs <= 1:
        return IN_PROCESS
    if _name(launcher) == _BASIC:
        return SUBPROCESS if can_start_app else IN_PROCESS
    if _name(launcher) in _NOT_DRIVABLE:
        raise LaunchError(
            f"hydra.sweeper.n_jobs={n_jobs} hands one job at a time to the launcher from each of "
            f"{n_jobs} threads, which {_name(launcher)} cannot take: {_NOT_DRIVABLE[_name(launcher)]}; "
            f"or set hydra.sweeper.n_jobs=1")
    if _BASIC in _names(launcher):
        return IN_PROCESS  # it runs jobs inside this process, one at a time
    return LAUNCHER


def sequential_warning(launcher: Any, n_jobs: int) -> str:
    """Why ``n_jobs > 1`` runs one job at a time, and how to run them at once."""
    if is_basic(launcher):
        return (f"hydra.sweeper.n_jobs={n_jobs}: this process was not started as the app (pytest, a "
                f"notebook, Hydra's test runner?), so the jobs run one after another in it, as the "
                f"official plugin runs them; to run {n_jobs} at once set hydra.sweeper.worker_command "
                f"(e.g. [python, -m, my_app]) or use a parallel launcher (joblib, submitit_local)")
    return (f"hydra.sweeper.n_jobs={n_jobs}: {_name(launcher)} runs jobs inside this process, so "
            f"they run one after another; to run {n_jobs} at once use hydra/launcher=basic with "
            f"hydra.sweeper.worker_command, joblib, submitit_local, submitit_slurm or ray")


#: launchers whose jobs run on the sweep's machine (their workers inherit its environment)
_LOCAL = {"hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
          "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"}


def runs_here(launcher: Any) -> bool:
    """Whether the launcher runs its jobs on this machine (joblib, submitit's local executor)."""
    return _name(launcher) in _LOCAL


def launcher_slots(launcher: Any, cpu_count: int | None = None) -> int | None:
    """How many jobs the launcher itself runs at once, where it caps that (joblib's
    ``n_jobs``; -1 = all CPUs, -2 = all but one, ...), else None."""
    settings = getattr(launcher, "joblib", None)
    if not isinstance(settings, dict) or settings.get("n_jobs") is None:
        return None
    n = int(settings["n_jobs"])
    cpus = cpu_count or os.cpu_count() or 1
    return max(cpus + 1 + n, 1) if n < 0 else n


def capacity_warning(launcher: Any, n_jobs: int, cpu_count: int | None = None) -> str | None:
    """A warning when the launcher runs fewer jobs at once than the sweep's ``n_jobs``."""
    slots = launcher_slots(launcher, cpu_count)
    if slots is None or slots >= n_jobs:
        return None
    return (f"hydra.sweeper.n_jobs={n_jobs} but the launcher runs at most {slots} job(s) at once "
            f"(hydra.launcher.n_jobs); set hydra.launcher.n_jobs={n_jobs} to run {n_jobs}")


def prepare(launcher: Any) -> None:
    """Do once, before the worker threads start, what a launcher does lazily in ``launch()``
    and is unsafe from several threads at once: Ray's launcher calls ``ray.init()`` when Ray
    is not yet initialised, so two first calls would both start Ray (the second fails with
    "called ray.init twice")."""
    if _name(launcher) == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher":
        from hydra_plugins.hydra_ray_launcher._launcher_util import start_ray

        # the same settings as the launcher's own first call
        launcher.ray_cfg.init.setdefault("object_store_memory", 78643200)
        start_ray(launcher.ray_cfg.init)


def jobs_at_once(options: DictConfig) -> int:
    """Trials at a time: ``n_jobs``, or for ``auto`` ``trials_per_gpu`` per visible GPU
    (``devices``), else one per CPU core (devices.local_slots)."""
    n_jobs = options.n_jobs
    gpus = 0
    if n_jobs == "auto":
        gpus = len(visible_gpus(os.environ) if options.devices is None else list(options.devices))
    try:
        slots = local_slots(n_jobs, len(os.sched_getaffinity(0)), gpus,
                            int(options.gpus_per_trial), options.trials_per_gpu)
    except DeviceError as exc:
        raise SweepError(f"hydra.sweeper.{exc}") from exc
    if n_jobs == "auto":
        log.info("n_jobs=auto: %d trials at a time (%s)", slots,
                 f"{gpus} GPU(s) x trials_per_gpu={options.trials_per_gpu}"
                 if gpus and int(options.gpus_per_trial) else f"{slots} CPU core(s), a thread each")
    return slots


def worker_gpus(options: DictConfig, n_jobs: int) -> list[list[str]]:
    """The GPUs of each local worker (``devices``, ``gpus_per_trial``; devices.py)."""
    devices = options.devices
    try:
        slots = assign_devices(visible_gpus(os.environ) if devices is None else list(devices),
                               int(options.gpus_per_trial), n_jobs)
    except DeviceError as exc:
        raise SweepError(f"hydra.sweeper.{exc}") from exc
    if any(slots):
        log.info("GPUs of the %d workers: %s", n_jobs, "; ".join(",".join(s) for s in slots))
    return slots


def _command(launcher: Any, options: DictConfig, task_module: str, n_jobs: int) -> list[str] | None:
    """The command that starts the app again, for subprocess workers (basic launcher only)."""
    if n_jobs <= 1 or not is_basic(launcher):
        return None
    if options.worker_command:  # a wrong worker command is an error now, not n failed trials
        return processes.worker_command(options.worker_command, task_module)
    with contextlib.suppress(SweepError):  # not started as the app: the official sequential jobs
        return processes.worker_command(None, task_module)
    return None


def _in_process(launcher: Any, options: DictConfig, config: DictConfig, sweep_dir: Path,
                n_jobs: int, command: list[str] | None) -> list[workers.Launch]:
    if n_jobs > 1:
        log.warning(sequential_warning(launcher, n_jobs))
    return [workers.InProcess(launcher)]


def _subprocesses(launcher: Any, options: DictConfig, config: DictConfig, sweep_dir: Path,
                  n_jobs: int, command: list[str] | None) -> list[workers.Launch]:
    assert command is not None
    return [processes.Subprocess(command, config, sweep_dir, gpus=gpus, local_jobs=n_jobs,
                               reuse=bool(options.reuse_workers))
            for gpus in worker_gpus(options, n_jobs)]


def _through_launcher(launcher: Any, options: DictConfig, config: DictConfig, sweep_dir: Path,
                      n_jobs: int, command: list[str] | None) -> list[workers.Launch]:
    log.info("%d trials at a time through %s", n_jobs, type(launcher).__name__)
    if (warning := capacity_warning(launcher, n_jobs)) is not None:
        log.warning(warning)
    if runs_here(launcher):  # its jobs share this machine's cores
        os.environ[workers.LOCAL_JOBS_ENV] = str(n_jobs)
    prepare(launcher)
    return [workers.ThroughLauncher(launcher, sweep_dir / ".job_ends")] * n_jobs


_LAUNCHES = {IN_PROCESS: _in_process, SUBPROCESS: _subprocesses, LAUNCHER: _through_launcher}


def launches(launcher: Any, options: DictConfig, config: DictConfig, task_module: str,
             sweep_dir: Path) -> list[workers.Launch]:
    """One launch per sweep worker (see the module docstring): ``n_jobs`` of them, or one when
    the jobs run one after another in this process."""
    n_jobs = jobs_at_once(options)
    command = _command(launcher, options, task_module, n_jobs)
    mode = choose_mode(launcher, n_jobs, command is not None)
    return _LAUNCHES[mode](launcher, options, config, sweep_dir, n_jobs, command)
