"""A trivial Hydra app for the sweeper benchmark: returns (x - 2)^2 instantly."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg: DictConfig) -> float:
    return (float(cfg.x) - 2.0) ** 2


if __name__ == "__main__":
    main()
