"""A dependent parameter through the official hook ``custom_search_space``: z is searched
within ``max_z_difference_from_x`` of x, and ``+w`` is a new key:

    python custom_search_space.py -m
"""

import hydra
from omegaconf import DictConfig
from optuna.trial import Trial


def configure(cfg: DictConfig, trial: Trial) -> None:
    x = trial.params["x"]
    d = cfg.max_z_difference_from_x
    trial.suggest_float("z", x - d, x + d)
    trial.suggest_float("+w", 0.0, 1.0)


@hydra.main(version_base=None, config_path="conf", config_name="custom_search_space")
def objective(cfg: DictConfig) -> float:
    return float(cfg.x) ** 2 + float(cfg.y) ** 2 + float(cfg.z) ** 2 + float(cfg.w)


if __name__ == "__main__":
    objective()
