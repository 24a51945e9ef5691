"""TensorFlow's thread pools for one job (``trainer.threads``).

Small CNNs do not scale across cores: two trials of one thread each train more images per
second in total than one trial of two threads (BENCHMARKS.md, issue 23). So a job takes the
cores it owns: ``auto`` = the machine's cores divided by the sweep's jobs running on it
(the sweeper puts that number in the job's environment, :data:`SHARING_ENV`), ``all`` =
TensorFlow's default (every core for each job's pools), or a number.

The pools are created when TensorFlow runs its first op, so :func:`configure_threads` must run
before that; in a process that already ran one (a later job of an in-process multirun) the
pools stay as they are, and the job records the count in effect.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
from hydra_plugins.fmnist_optuna_sweeper.workers import LOCAL_JOBS_ENV

from fmnist.errors import ConfigError

__all__ = ["SHARING_ENV", "configure_threads", "machine_cores", "sharing", "thread_count"]

log = logging.getLogger(__name__)

#: the number of the sweep's jobs running at once on this machine, set by the sweeper in the
#: environment of each job it starts (absent: the job has the machine to itself)
SHARING_ENV = LOCAL_JOBS_ENV


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity, as TensorFlow counts them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def sharing(env: Mapping[str, str]) -> int:
    """How many jobs share this machine, from :data:`SHARING_ENV` (1 when unset)."""
    text = env.get(SHARING_ENV, "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{SHARING_ENV} must be an integer >= 1, got {SHARING_ENV}={text!r}")
    return value


def thread_count(setting: Any, cores: int, jobs: int) -> int:
    """The intra-/inter-op threads of one job for ``trainer.threads`` on a machine of
    ``cores`` cores shared by ``jobs`` jobs: ``all`` = ``cores``, ``auto`` = ``cores // jobs``
    (at least 1), or the number given.

    >>> thread_count("auto", 16, 4)
    4
    """
    if cores < 1 or jobs < 1:
        raise ConfigError(f"cores and jobs must be >= 1, got cores={cores}, jobs={jobs}")
    if setting == "all":
        return cores
    if setting == "auto":
        return max(1, cores // jobs)
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise ConfigError(f"trainer.threads must be auto, all or an integer >= 1, "
                          f"got trainer.threads={setting!r}")
    return setting


def configure_threads(setting: Any = "auto", env: Mapping[str, str] | None = None) -> int:
    """Sizes this process's intra- and inter-op pools for ``trainer.threads`` and returns the
    threads each has. ``all``, or a count equal to the cores, leaves TensorFlow's default."""
    cores = machine_cores()
    wanted = thread_count(setting, cores, sharing(os.environ if env is None else env))
    if setting != "all" and wanted != cores:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(wanted)
            tf.config.threading.set_inter_op_parallelism_threads(wanted)
        except RuntimeError:  # TensorFlow already runs: its pools are fixed for this process
            if _in_effect(cores) != wanted:
                log.warning("trainer.threads=%s asks for %d threads, but TensorFlow already "
                            "started its pools in this process; they keep %d", setting, wanted,
                            _in_effect(cores))
    threads = _in_effect(cores)
    log.info("Threads: %d per pool (trainer.threads=%s, %d cores, %d job(s) on this machine)",
             threads, setting, cores, sharing(os.environ if env is None else env))
    return threads


def _in_effect(cores: int) -> int:
    """The intra-op threads TensorFlow uses (0 = its default: every core)."""
    return tf.config.threading.get_intra_op_parallelism_threads() or cores
