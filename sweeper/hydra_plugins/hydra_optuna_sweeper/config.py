"""The official plugin's config names (``hydra_plugins.hydra_optuna_sweeper.config``), over
``hydra_plugins.fmnist_optuna_sweeper.config``. Nothing is stored in the ConfigStore here.
(No ``from __future__ import annotations``: Hydra's plugin scan runs this module outside
``sys.modules``, where a dataclass with postponed annotations fails.)"""

from dataclasses import dataclass
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper import config as _ours
from hydra_plugins.fmnist_optuna_sweeper.config import (
    Direction,
    DistributionConfig,
    DistributionType,
)

__all__ = [
    "BruteForceSamplerConfig", "CmaEsSamplerConfig", "Direction", "DistributionConfig",
    "DistributionType", "GPSamplerConfig", "GridSamplerConfig", "MOTPESamplerConfig",
    "NSGAIISamplerConfig", "OptunaSweeperConf", "QMCSamplerConfig", "RandomSamplerConfig",
    "SamplerConfig", "TPESamplerConfig", "defaults",
]

SamplerConfig = _ours.SamplerConf
GridSamplerConfig = _ours.GridSamplerConf
TPESamplerConfig = _ours.TPESamplerConf
RandomSamplerConfig = _ours.RandomSamplerConf
CmaEsSamplerConfig = _ours.CmaEsSamplerConf
NSGAIISamplerConfig = _ours.NSGAIISamplerConf
MOTPESamplerConfig = _ours.MOTPESamplerConf
QMCSamplerConfig = _ours.QMCSamplerConf
GPSamplerConfig = _ours.GPSamplerConf
BruteForceSamplerConfig = _ours.BruteForceSamplerConf

#: the official module's defaults list of the sweeper node
defaults: list[Any] = [{"sampler": "tpe"}]


@dataclass
class OptunaSweeperConf(_ours.OptunaSweeperConf):
    """This plugin's sweeper config under the official ``_target_`` (for configs built in
    Python, e.g. with hydra-zen)."""

    _target_: str = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
