"""A shipped ``hparams_search`` preset, read generically: its search space (the params of
``hydra.sweeper.params``), its sampler and pruner specs, its epochs. Switching the benchmark
to another preset is one argument. Hydra's compose API only: no TensorFlow."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper.search_space import SearchSpace, parse_search_space

__all__ = ["CONF", "Preset", "load_preset"]

CONF = Path(__file__).resolve().parents[2] / "conf"


@dataclass(frozen=True)
class Preset:
    """What a sweep of ``hparams_search=name`` would run, with ``overrides`` on top.

    Attributes:
        name: the preset (``conf/hparams_search/<name>.yaml``).
        overrides: extra overrides it was composed with (the reduced problem).
        space: searched parameters and the preset's fixed overrides.
        sampler: the sampler spec (``_target_`` and arguments), resolved.
        pruner: the pruner spec, resolved (``{}``: none).
        epochs: ``trainer.epochs``, a trial's full budget.
        enqueue: the preset's enqueued configurations (run first by the sweeper).
        n_jobs: trials the sweeper runs at once.
        n_trials: trials of a sweep (the budget the README's sweep spends: n_trials x epochs).
    """

    name: str
    overrides: tuple[str, ...]
    space: SearchSpace
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    epochs: int
    enqueue: tuple[dict[str, Any], ...] = field(default=())
    n_jobs: int = 1
    n_trials: int = 1


def load_preset(name: str, overrides: Sequence[str] = ()) -> Preset:
    """Compose ``hparams_search=name`` with ``overrides`` and read its sweep settings.

    >>> load_preset("elastic_sgdr_quick", ["trainer.epochs=6"]).epochs
    6
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", [f"hparams_search={name}", *overrides], return_hydra_config=True)
        sweeper = cfg.hydra.sweeper
        params = OmegaConf.to_container(sweeper.params, resolve=False) or {}
        sampler = OmegaConf.to_container(sweeper.sampler, resolve=True) or {}
        pruner = OmegaConf.to_container(sweeper.get("pruner") or {}, resolve=True) or {}
        enqueue = OmegaConf.to_container(sweeper.get("enqueue") or [], resolve=True) or []
        epochs = int(cfg.trainer.epochs)
        setting = sweeper.get("n_jobs") or 1
        # auto: one trial per CPU core of this machine (the sweeper's rule without GPUs)
        n_jobs = len(os.sched_getaffinity(0)) if setting == "auto" else int(setting)
        n_trials = int(sweeper.get("n_trials") or 1)
    finally:
        GlobalHydra.instance().clear()
    assert isinstance(params, dict) and isinstance(sampler, dict) and isinstance(pruner, dict)
    assert isinstance(enqueue, list)
    return Preset(name, tuple(overrides), parse_search_space({str(k): v for k, v in params.items()}),
                  {str(k): v for k, v in sampler.items()}, {str(k): v for k, v in pruner.items()},
                  epochs, tuple(dict(e) for e in enqueue), n_jobs, n_trials)
