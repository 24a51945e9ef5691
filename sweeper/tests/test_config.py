"""Every sampler and pruner option builds (under -W error), a node without _target_ is a clear
error, and every key of the sweeper's config is documented in the sweeper's README."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import warnings
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

README = Path(__file__).resolve().parents[1] / "README.md"


def _config():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.config")


def _sweeper():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.sweeper")


NEEDS = {"cmaes": "cmaes", "gp": "torch"}


@pytest.mark.parametrize("name", sorted(importlib.import_module(
    "hydra_plugins.fmnist_optuna_sweeper.config").SAMPLERS))
def test_every_sampler_option_builds_without_warnings(name: str) -> None:
    if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"needs {NEEDS[name]}")
    if name == "motpe":
        pytest.skip("removed in Optuna 4: test_motpe_says_it_was_removed")
    node = OmegaConf.structured(_config().SAMPLERS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampler = _sweeper().build(node, "sampler")
    if name == "grid":
        sampler = sampler({"x": [1, 2]})
    assert isinstance(sampler, optuna.samplers.BaseSampler)
    assert type(sampler).__name__.lower().startswith(
        {"bruteforce": "bruteforce", "nsgaii": "nsgaii"}.get(name, name[:3]))


@pytest.mark.parametrize("name", sorted(importlib.import_module(
    "hydra_plugins.fmnist_optuna_sweeper.config").PRUNERS))
def test_every_pruner_option_builds(name: str) -> None:
    node = OmegaConf.create(_config().PRUNERS[name]) if name == "nop" else \
        OmegaConf.structured(_config().PRUNERS[name])
    if name == "threshold":
        node.lower = 0.1  # it needs a bound
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pruner = _sweeper().build(node, "pruner")
    assert isinstance(pruner, optuna.pruners.BasePruner)


def test_node_without_target_is_a_clear_error() -> None:
    errors = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.errors")
    with pytest.raises(errors.SweepError, match=r"hydra.sweeper.sampler has no _target_ .*"
                       r"override hydra/sweeper/sampler: NAME"):
        _sweeper().build(OmegaConf.create({"seed": 1}), "sampler")
    with pytest.raises(errors.SweepError, match=r"(?s)cannot build hydra.sweeper.sampler "
                       r"optuna.samplers.RandomSampler: .*consider_prior.*to switch, use"):
        _sweeper().build(OmegaConf.create({"_target_": "optuna.samplers.RandomSampler",
                                           "consider_prior": True}), "sampler")


def _documented_keys() -> set[str]:
    """The first column of the README's key table (rows like ``| `key` | default | ... |``)."""
    text = README.read_text()
    section = text[text.index("## Configuration keys"):]
    section = section[: section.index("\n## ", 3)]
    keys = set()
    for line in section.splitlines():
        match = re.match(r"\|\s*((?:`[^`]+`(?:,\s*)?)+)\s*\|", line)
        if match:
            keys |= set(re.findall(r"`([^`]+)`", match.group(1)))
    return keys


def test_every_config_key_is_documented_in_the_readme() -> None:
    fields = {f.name for f in dataclasses.fields(_config().OptunaSweeperConf)
              if not f.name.startswith("_") and f.name != "defaults"}
    documented = _documented_keys()
    assert fields - documented == set(), "keys missing from sweeper/README.md"
    assert documented - fields == set(), "README documents keys the config does not have"
