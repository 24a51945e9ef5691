"""The official ``hydra-optuna-sweeper``'s module path, served by ``fmnist-optuna-sweeper``.

Configs that name ``hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper`` (as
lightning-hydra-template's ``hparams_search`` files do) and code that imports the official
names (``config.Direction``, ``*SamplerConfig``, ``_impl.create_params_from_overrides``, ...)
run on this plugin. Each module here is thin over ``hydra_plugins.fmnist_optuna_sweeper``;
this package stores nothing in Hydra's ConfigStore (``hydra/sweeper=optuna`` is registered
once, by ``fmnist_optuna_sweeper.config``).
"""

from hydra_plugins.fmnist_optuna_sweeper import __version__

__all__ = ["__version__"]
