"""A conditional search space in config: the momentum is searched only for SGD, and each
optimizer has its own learning-rate range:  python conditional.py -m"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="conditional")
def loss(cfg: DictConfig) -> float:
    target = {"adam": 1e-3, "sgd": 3e-2}[cfg.optim.name]
    momentum_gap = abs(cfg.optim.momentum - 0.9) if cfg.optim.name == "sgd" else 0.0
    return abs(cfg.optim.lr - target) / target + momentum_gap


if __name__ == "__main__":
    loss()
