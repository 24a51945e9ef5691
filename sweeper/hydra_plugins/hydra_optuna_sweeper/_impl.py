"""The official plugin's ``_impl`` functions and ``OptunaSweeperImpl``, with its signatures
and return values (the pre-3.0 distribution classes its callers compare with), over this
plugin's ``search_space`` module. The sweep itself uses Optuna's current distributions."""

from __future__ import annotations

import warnings
from collections.abc import MutableMapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra_plugins.fmnist_optuna_sweeper.config import DistributionType
from hydra_plugins.fmnist_optuna_sweeper.search_space import (
    distribution_from_config,
    distribution_from_override,
)
from hydra_plugins.fmnist_optuna_sweeper.sweeper import warn_search_space
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import DictConfig, OmegaConf
from optuna import distributions as d

__all__ = [
    "OptunaSweeperImpl",
    "create_optuna_distribution_from_config",
    "create_optuna_distribution_from_override",
    "create_params_from_overrides",
]


def _official(dist: d.BaseDistribution) -> d.BaseDistribution:
    """The official plugin's class for a distribution (``IntUniformDistribution``, ...)."""
    with warnings.catch_warnings():  # Optuna's FutureWarning for each of these classes
        warnings.simplefilter("ignore", FutureWarning)
        if isinstance(dist, d.IntDistribution):
            if dist.log:
                return d.IntLogUniformDistribution(dist.low, dist.high)
            return d.IntUniformDistribution(dist.low, dist.high, step=dist.step)
        if isinstance(dist, d.FloatDistribution):
            if dist.log:
                return d.LogUniformDistribution(dist.low, dist.high)
            if dist.step is not None:
                return d.DiscreteUniformDistribution(dist.low, dist.high, dist.step)
            return d.UniformDistribution(dist.low, dist.high)
    return dist


def create_optuna_distribution_from_config(config: MutableMapping[str, Any]) -> d.BaseDistribution:
    """``{type: int|float|categorical, low, high, log, step, choices}`` -> a distribution."""
    spec = dict(config)
    kind = spec.get("type")
    if isinstance(kind, DistributionType):
        spec["type"] = kind.name
    return _official(distribution_from_config(str(spec.get("type")), spec))


def create_optuna_distribution_from_override(override: Override) -> Any:
    """A parsed override -> its distribution, or its value text when it is not a sweep."""
    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    dist = distribution_from_override(override)
    assert dist is not None
    return _official(dist)


def create_params_from_overrides(
    arguments: list[str],
) -> tuple[dict[str, d.BaseDistribution], dict[str, Any]]:
    """Override strings -> (searched distributions by key, fixed values by key)."""
    searched: dict[str, d.BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    for override in OverridesParser.create().parse_overrides(arguments):
        value = create_optuna_distribution_from_override(override)
        if isinstance(value, d.BaseDistribution):
            searched[override.get_key_element()] = value
        else:
            fixed[override.get_key_element()] = value
    return searched, fixed


class OptunaSweeperImpl(OptunaSweeper):
    """The official implementation class's constructor and ``_process_searchspace_config``
    on this plugin's sweeper."""

    def __init__(self, sampler: Any, direction: Any, storage: Any | None, study_name: str | None,
                 n_trials: int, n_jobs: int, max_failure_rate: float,
                 search_space: DictConfig | None, custom_search_space: str | None,
                 params: DictConfig | None, **options: Any) -> None:
        super().__init__(sampler, direction, storage, study_name, n_trials, n_jobs,
                         max_failure_rate, search_space, custom_search_space, params, **options)
        self.search_space, self.params = search_space, params
        self.search_space_distributions: dict[str, d.BaseDistribution] | None = None

    def _process_searchspace_config(self) -> None:
        """Warn about the deprecated ``search_space`` as the official plugin does, and read
        it when ``params`` is not set."""
        warn_search_space(self.search_space, self.params)
        if self.search_space is not None and self.params is None:
            space = OmegaConf.to_container(self.search_space, resolve=True) \
                if isinstance(self.search_space, DictConfig) else dict(self.search_space)
            assert isinstance(space, dict)
            self.search_space_distributions = {
                str(k): create_optuna_distribution_from_config(v) for k, v in space.items()}
        elif self.params is None:
            self.params = OmegaConf.create({})
