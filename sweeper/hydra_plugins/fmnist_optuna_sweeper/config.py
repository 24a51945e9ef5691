"""The sweeper's config, registered in Hydra's ConfigStore as ``hydra/sweeper=optuna``.

Keys keep the official ``hydra-optuna-sweeper`` names where they exist (``sampler``,
``direction``, ``storage``, ``study_name``, ``n_trials``, ``n_jobs``, ``max_failure_rate``,
``params``), so existing configs carry over.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

__all__ = ["OptunaSweeperConf"]


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.fmnist_optuna_sweeper.sweeper.OptunaSweeper"

    #: "maximize" / "minimize", or a list of them for a multi-objective study (Pareto set)
    direction: Any = "maximize"
    #: study name; trials of every sweep with the same name and storage share one study
    study_name: str | None = None
    #: any Optuna storage URL (sqlite:///..., postgresql://...); None = sqlite under outputs/
    storage: str | None = None
    #: the study's total number of trials: a resumed sweep runs only the missing ones
    n_trials: int = 20
    #: trials at a time on this machine (>1 runs each job in its own process)
    n_jobs: int = 1
    #: stop when failed / finished trials of this sweep exceed this fraction
    max_failure_rate: float = 1.0
    #: an Optuna sampler config (``_target_``); None = TPESampler
    sampler: Any = None
    #: an Optuna pruner config (``_target_``); None = no pruning
    pruner: Any = None
    #: search space: parameter path -> override string (interval, choice, range, tag, ...)
    params: dict[str, Any] | None = None
    #: parameter sets (path -> value) run first, e.g. a known good configuration
    enqueue: list[Any] = field(default_factory=list)
    #: times a trial left RUNNING by a killed sweep is retried (0 = mark failed only)
    retry_failed: int = 0
    #: seconds between heartbeats of a running trial; a trial silent for grace_period
    #: seconds is stale (its sweep died) and is marked failed by the next sweep
    heartbeat_interval: int = 30
    grace_period: int | None = None
    #: pass ``++optuna.storage/study_name/trial_id/trial_number`` to jobs (for pruning)
    trial_overrides: bool = True
    #: program that runs one job when n_jobs > 1 (default: the running app, e.g.
    #: ``[python, -m, fmnist]``)
    worker_command: list[str] | None = None
    #: GPUs for parallel local trials (n_jobs > 1, basic launcher): each worker's jobs see
    #: gpus_per_trial of these, dealt round-robin (None = every visible GPU)
    devices: list[Any] | None = None
    gpus_per_trial: int = 1


ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="fmnist_optuna_sweeper"
)
