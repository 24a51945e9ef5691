"""fmnist's shipped Optuna searches: each composes, its search space parses, and every key it
sets exists in the config of the optimizer (or other choice) it is searched for."""

from __future__ import annotations

import importlib

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF


def _space():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.search_space")


def _compose(*overrides: str):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose("config", overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("search", sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml")))
def test_search_composes_and_says_what_fmnist_needs(search: str) -> None:
    cfg = _compose(f"hparams_search={search}")
    sweeper = cfg.hydra.sweeper
    assert sweeper.direction == "maximize" and sweeper.study_name
    assert OmegaConf.to_container(sweeper)["storage"]  # explicit (resolved in the sweep)
    space = _space().parse_search_space(OmegaConf.to_container(sweeper.params))
    assert space.params


def test_optimizer_search_sets_only_keys_of_the_chosen_optimizer() -> None:
    cfg = _compose("hparams_search=optimizer")
    space = _space().parse_search_space(OmegaConf.to_container(cfg.hydra.sweeper.params))
    assert space.distributions["optim"].choices == ("adam", "adamax", "sgd")
    expected = {"adam": {"adam_learning_rate", "optim.beta_1", "optim.beta_2"},
                "adamax": {"adam_learning_rate", "optim.beta_1", "optim.beta_2"},
                "sgd": {"sgd_learning_rate", "optim.momentum"}}
    for optim, names in expected.items():
        active = [p for p in space.conditional if _space().active(p, {"optim": optim})]
        assert {p.name for p in active} == names
        composed = _compose(f"optim={optim}")
        for p in active:
            assert OmegaConf.select(composed, p.key) is not None, f"{optim}: no {p.key}"
