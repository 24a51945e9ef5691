"""An Optuna sweeper for Hydra on current Optuna: pruning, resume, parallel and distributed
workers, multi-objective studies, and optuna-dashboard-compatible storage.

Select it with ``hydra/sweeper=optuna`` (see ``config.OptunaSweeperConf`` for its keys).
"""

__version__ = "0.1.0"
