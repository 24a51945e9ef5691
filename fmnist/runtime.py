"""How one job uses its machine, set up before TensorFlow starts: threads per pool
(``trainer.threads``, threads.py), precision policy and GPUs (``trainer.mixed_precision``,
devices.py) and training steps per call of the compiled train function
(``trainer.steps_per_execution``). ``metrics.json`` records what was used."""

from __future__ import annotations

from typing import Any

import keras

from fmnist.devices import configure_devices
from fmnist.errors import ConfigError
from fmnist.threads import configure_threads

__all__ = ["configure_runtime", "steps_per_execution"]


def steps_per_execution(setting: Any) -> int:
    """``trainer.steps_per_execution``: training steps per call of the train function (fewer
    Python round trips; every callback but the per-batch ones sees the same run)."""
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise ConfigError(f"trainer.steps_per_execution must be an integer >= 1, "
                          f"got trainer.steps_per_execution={setting!r}")
    return setting


def configure_runtime(trainer: Any) -> dict[str, Any]:
    """Threads, devices and precision for ``cfg.trainer``, before anything runs on TensorFlow;
    returns what is used, for ``metrics.json``: ``threads``, ``steps_per_execution``,
    ``precision_policy`` and ``devices``."""
    spe = steps_per_execution(trainer.get("steps_per_execution", 1))
    threads = configure_threads(trainer.get("threads", "all"))
    gpus = configure_devices(trainer.get("mixed_precision"))
    return {"threads": threads, "steps_per_execution": spe,
            "precision_policy": keras.mixed_precision.global_policy().name,
            "devices": gpus or ["CPU"]}
