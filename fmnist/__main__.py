"""``python -m fmnist [overrides]`` — one training job; ``-m`` for a multirun or a sweep."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import fmnist  # noqa: F401  (sets the TensorFlow / Keras environment before they load)
from fmnist.app import run


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | tuple[float, ...]:
    return run(cfg)


if __name__ == "__main__":
    main()
