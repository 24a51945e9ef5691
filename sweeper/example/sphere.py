"""The sphere x^2 + y^2, minimised by the Optuna sweeper:

    python sphere.py -m                                     # TPE, 20 trials
    python sphere.py -m hydra/sweeper/sampler=cmaes         # another sampler
    python sphere.py -m --config-name grid                  # every point of a grid
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="sphere")
def sphere(cfg: DictConfig) -> float:
    if cfg.get("error"):
        raise RuntimeError("cfg.error is true")
    return float(cfg.x) ** 2 + float(cfg.y) ** 2


if __name__ == "__main__":
    sphere()
