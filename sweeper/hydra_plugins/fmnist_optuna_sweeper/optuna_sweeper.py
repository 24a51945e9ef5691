"""The official module name inside this package (``hydra_plugins.<this package>.optuna_sweeper``),
for code written against the official plugin with only the package name changed. The class
is registered with Hydra at ``hydra_plugins.hydra_optuna_sweeper.optuna_sweeper``."""

from __future__ import annotations

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

__all__ = ["OptunaSweeper"]
