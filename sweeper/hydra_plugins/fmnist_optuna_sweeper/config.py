"""The sweeper's config, registered in Hydra's ConfigStore as ``hydra/sweeper=optuna``
(the official plugin's name, so its configs run unchanged) and ``hydra/sweeper=optuna_plus``
(always this plugin, even when the official one is installed too).

Samplers and pruners are config groups, one option per node, with the official option
names: ``hydra/sweeper/sampler=tpe|random|cmaes|nsgaii|motpe|qmc|grid|gp|bruteforce`` and
``hydra/sweeper/pruner=nop|median|percentile|successive_halving|hyperband|threshold|wilcoxon``.
A sampler or pruner option left ``null`` takes Optuna's own default (Optuna 4.3+ deprecates
passing some of them, e.g. ``consider_prior``; the defaults are those of the official plugin).

The official plugin's public names (``Direction``, ``DistributionType``,
``DistributionConfig``, ``*SamplerConfig``) are also importable from
``hydra_plugins.hydra_optuna_sweeper.config``, this package's official face.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NoReturn

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

__all__ = ["PRUNERS", "SAMPLERS", "Direction", "DistributionConfig", "DistributionType",
           "OptunaSweeperConf", "motpe_removed"]


class DistributionType(Enum):
    """The ``type`` of an entry of the deprecated ``search_space``."""

    int = 1
    float = 2
    categorical = 3


class Direction(Enum):
    """``hydra.sweeper.direction`` (also plain strings ``minimize``/``maximize``)."""

    minimize = 1
    maximize = 2


@dataclass
class DistributionConfig:
    """One entry of the deprecated ``search_space`` (as in the official plugin)."""

    # int, float or categorical
    type: DistributionType
    # the values of a categorical distribution (str, int, float, bool)
    choices: list[Any] | None = None
    # the bounds of an int or float distribution
    low: float | None = None
    high: float | None = None
    # sample in the log domain (int or float)
    log: bool = False
    # the discretisation step (int or float)
    step: float | None = None


def motpe_removed(*args: Any, **kwargs: Any) -> NoReturn:
    """``hydra/sweeper/sampler=motpe`` on Optuna >= 4, as the official plugin's current line
    answers it."""
    raise ValueError("The 'motpe' sampler was removed in Optuna 4.0. Use "
                     "'hydra/sweeper/sampler=tpe' instead. TPESampler now handles multi-objective "
                     "optimization.")


# ----------------------------------------------------------------------------- samplers


@dataclass
class SamplerConf:
    _target_: str = MISSING


@dataclass
class TPESamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    consider_prior: bool | None = None
    prior_weight: float | None = None
    consider_magic_clip: bool | None = None
    consider_endpoints: bool | None = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = False
    warn_independent_sampling: bool | None = None


@dataclass
class MOTPESamplerConf(SamplerConf):
    # Optuna 4 removed MOTPESampler: an error that says to use tpe (the official plugin's
    # current line; its 1.3 line needs optuna < 3)
    _target_: str = "hydra_plugins.fmnist_optuna_sweeper.config.motpe_removed"


@dataclass
class RandomSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class CmaEsSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = None
    x0: dict[str, Any] | None = None
    sigma0: float | None = None
    n_startup_trials: int = 1
    independent_sampler: Any = None
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: str | None = None
    inc_popsize: int | None = None
    use_separable_cma: bool = False
    source_trials: Any = None


@dataclass
class NSGAIISamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: int | None = None
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    constraints_func: Any = None


@dataclass
class QMCSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.QMCSampler"
    seed: int | None = None
    qmc_type: str = "sobol"
    scramble: bool = False
    independent_sampler: Any = None
    warn_asynchronous_seeding: bool = True
    warn_independent_sampling: bool = True


@dataclass
class GPSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.GPSampler"
    seed: int | None = None
    independent_sampler: Any = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False
    constraints_func: Any = None
    warn_independent_sampling: bool = True


@dataclass
class BruteForceSamplerConf(SamplerConf):
    _target_: str = "optuna.samplers.BruteForceSampler"
    seed: int | None = None


@dataclass
class GridSamplerConf(SamplerConf):
    # the grid is built from ``params`` by the sweeper (every value of each distribution)
    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True
    seed: int | None = None


SAMPLERS: dict[str, type] = {
    "tpe": TPESamplerConf, "random": RandomSamplerConf, "cmaes": CmaEsSamplerConf,
    "nsgaii": NSGAIISamplerConf, "motpe": MOTPESamplerConf, "qmc": QMCSamplerConf,
    "gp": GPSamplerConf, "bruteforce": BruteForceSamplerConf, "grid": GridSamplerConf,
}


# ----------------------------------------------------------------------------- pruners


@dataclass
class MedianPrunerConf:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConf:
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class SuccessiveHalvingPrunerConf:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConf:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class ThresholdPrunerConf:
    _target_: str = "optuna.pruners.ThresholdPruner"
    lower: float | None = None
    upper: float | None = None
    n_warmup_steps: int = 0
    interval_steps: int = 1


@dataclass
class WilcoxonPrunerConf:
    _target_: str = "optuna.pruners.WilcoxonPruner"
    p_threshold: float = 0.1
    n_startup_steps: int = 2


#: ``nop`` is a plain mapping, not a schema: a pruner written inline in a config
#: (``pruner: {_target_: optuna.pruners.MedianPruner, n_startup_trials: 3}``) merges onto it
PRUNERS: dict[str, Any] = {
    "nop": {"_target_": "optuna.pruners.NopPruner"},
    "median": MedianPrunerConf, "percentile": PercentilePrunerConf,
    "successive_halving": SuccessiveHalvingPrunerConf, "hyperband": HyperbandPrunerConf,
    "threshold": ThresholdPrunerConf, "wilcoxon": WilcoxonPrunerConf,
}


# ----------------------------------------------------------------------------- the sweeper


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.fmnist_optuna_sweeper.sweeper.OptunaSweeper"
    # the sweeper builds sampler and pruner itself (to check them and to silence Optuna's
    # construction-time warnings), so Hydra passes them on as config
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])

    # the sampling algorithm: hydra/sweeper/sampler=tpe|random|cmaes|... or a node with _target_
    sampler: Any = MISSING
    # the pruner (jobs report intermediate values): hydra/sweeper/pruner=nop|median|...
    pruner: Any = MISSING
    # minimize or maximize, or a list of them for several objectives
    direction: Any = "minimize"
    # null: a fresh study that is not kept (in memory; a new SQLite file in the sweep
    # directory when jobs run in other processes); a URL (sqlite:///, postgresql://,
    # journal://) keeps the study there and resumes it by study_name
    storage: str | None = None
    # the study's name; null: a new unique name
    study_name: str | None = None
    # trials in the study (all states but WAITING count)
    n_trials: int = 20
    # trials at a time: with Hydra's basic launcher, each job in a new process of the app when
    # it can be started again (worker_command), else one after another in this process; with
    # other launchers, n_jobs jobs in flight through them; auto: trials_per_gpu per GPU on a GPU
    # machine, else one per CPU core
    n_jobs: Any = 2
    # the largest fraction of this sweep's trials that may fail before it stops (1.0: never)
    max_failure_rate: float = 0.0
    # the search space: config key -> override value (interval, range, choice, tag(log, ...))
    params: dict[str, Any] | None = None
    # a function (cfg, trial) -> None that suggests more parameters: module.function
    custom_search_space: str | None = None
    # deprecated (official 1.1 form): key -> {type, low, high, log, step, choices}
    search_space: dict[str, Any] | None = None
    enqueue: list[Any] = field(default_factory=list)
    retry_failed: int = 0
    heartbeat_interval: int | None = 30
    grace_period: int | None = None
    trial_overrides: bool | None = None
    worker_command: list[str] | None = None
    # with worker_command (or the running app) a Python app: one process per sweep worker runs
    # all of that worker's jobs (TensorFlow is imported once); false: a new process per job
    reuse_workers: bool = True
    accept_changed_settings: bool = False
    # run a sampled parameter set that a COMPLETE, PRUNED or RUNNING trial already has (true, as
    # the official plugin does: the study holds exactly the trials run); false: sample again (3
    # times, then at random; each rejected draw stays as a never-started FAIL trial); grid
    # samplers and enqueued trials are exempt. fmnist's shipped searches set false.
    allow_duplicates: bool = True
    devices: list[Any] | None = None
    gpus_per_trial: int = 1
    # trials sharing each GPU when n_jobs is auto (GPU memory grows as needed)
    trials_per_gpu: int = 1


_store = ConfigStore.instance()
for _name in ("optuna", "optuna_plus"):
    _store.store(group="hydra/sweeper", name=_name, node=OptunaSweeperConf,
                 provider="fmnist_optuna_sweeper")
for _name, _node in SAMPLERS.items():
    _store.store(group="hydra/sweeper/sampler", name=_name, node=_node,
                 provider="fmnist_optuna_sweeper")
for _name, _node in PRUNERS.items():
    _store.store(group="hydra/sweeper/pruner", name=_name, node=_node,
                 provider="fmnist_optuna_sweeper")
