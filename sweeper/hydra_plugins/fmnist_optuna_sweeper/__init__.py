"""A Hydra sweeper on current Optuna: a drop-in superset of the official
``hydra-optuna-sweeper`` (same config names and results file) that adds pruning, resume,
enqueued trials, heartbeats with retry, and parallel or distributed workers.

Select it with ``hydra/sweeper=optuna`` (or ``optuna_plus``); see ``config.OptunaSweeperConf``.
"""

__version__ = "0.7.0"
