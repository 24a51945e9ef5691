"""``hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper``: this plugin's sweeper
under the official class path (Hydra accepts a sweeper only by the path it was registered
at, so this is a subclass defined here, not an alias)."""

from __future__ import annotations

from typing import Any

from hydra_plugins.fmnist_optuna_sweeper.sweeper import OptunaSweeper as _Sweeper

__all__ = ["OptunaSweeper"]

#: the official constructor's arguments, in its order
OFFICIAL_ARGS = ("sampler", "direction", "storage", "study_name", "n_trials", "n_jobs",
                 "max_failure_rate", "search_space", "custom_search_space", "params")


class OptunaSweeper(_Sweeper):
    """Class to interface with Optuna: the official signature (positional arguments in its
    order), plus this plugin's options by keyword."""

    def __init__(self, *args: Any, **options: Any) -> None:
        if len(args) > len(OFFICIAL_ARGS):
            raise TypeError(f"OptunaSweeper takes at most {len(OFFICIAL_ARGS)} positional "
                            f"arguments ({', '.join(OFFICIAL_ARGS)}), got {len(args)}")
        for name, value in zip(OFFICIAL_ARGS, args, strict=False):
            if name in options:
                raise TypeError(f"OptunaSweeper got multiple values for argument {name!r}")
            options[name] = value
        super().__init__(**options)
