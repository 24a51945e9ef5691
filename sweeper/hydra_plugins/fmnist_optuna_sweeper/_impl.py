"""The official ``_impl`` names inside this package, for code written against the official
plugin with only the package name changed (see ``hydra_plugins.hydra_optuna_sweeper._impl``)."""

from __future__ import annotations

from hydra_plugins.hydra_optuna_sweeper._impl import (
    OptunaSweeperImpl,
    create_optuna_distribution_from_config,
    create_optuna_distribution_from_override,
    create_params_from_overrides,
)

__all__ = [
    "OptunaSweeperImpl",
    "create_optuna_distribution_from_config",
    "create_optuna_distribution_from_override",
    "create_params_from_overrides",
]
