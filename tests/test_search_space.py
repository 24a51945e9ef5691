from __future__ import annotations

import importlib

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution


def _space():
    """The module as it is now: Hydra's plugin scan re-executes plugin modules and replaces
    them in ``sys.modules``, so function and exception class must come from one import."""
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.search_space")


def parse_search_space(*args):
    return _space().parse_search_space(*args)

TABLE = [
    ("interval(0.1, 0.5)", FloatDistribution(0.1, 0.5)),
    ("interval(1, 4)", FloatDistribution(1.0, 4.0)),
    ("int(interval(1, 8))", IntDistribution(1, 8)),
    ("tag(log, interval(1e-4, 1e-1))", FloatDistribution(1e-4, 1e-1, log=True)),
    ("tag(log, int(interval(16, 256)))", IntDistribution(16, 256, log=True)),
    ("range(1, 10, 2)", IntDistribution(1, 9, step=2)),
    ("range(0, 5)", IntDistribution(0, 4)),
    ("range(0.5, 2.0, 0.5)", CategoricalDistribution([0.5, 1.0, 1.5])),
    ("choice(adam, adamax)", CategoricalDistribution(["adam", "adamax"])),
    ("adam,sgd,rmsprop", CategoricalDistribution(["adam", "sgd", "rmsprop"])),
    ("choice(true, false)", CategoricalDistribution([True, False])),
    ("choice(32, 64, 128)", CategoricalDistribution([32, 64, 128])),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_override_to_distribution(text: str, expected) -> None:
    distributions, fixed = parse_search_space({"x.y": text})
    assert distributions == {"x.y": expected} and fixed == []


@pytest.mark.parametrize(("value", "text"), [(5, "x.y=5"), ("adam", "x.y=adam"), (0.5, "x.y=0.5")])
def test_fixed_values_pass_through(value, text) -> None:
    assert parse_search_space({"x.y": value}) == ({}, [text])


def test_command_line_wins_and_mixes() -> None:
    distributions, fixed = parse_search_space(
        {"lr": "interval(0.1, 0.2)", "seed": 1}, ["lr=interval(0.3, 0.4)", "model=brief,deeper",
                                                   "trainer.epochs=2"])
    assert distributions == {"lr": FloatDistribution(0.3, 0.4),
                             "model": CategoricalDistribution(["brief", "deeper"])}
    assert fixed == ["seed=1", "trainer.epochs=2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("interval(0.5, 0.1)", r"x\.y: interval needs low < high, got low=0.5, high=0.1"),
        ("interval(0.5, 0.5)", r"x\.y: interval needs low < high"),
        ("tag(log, interval(0, 1))", r"x\.y: a log interval needs low > 0, got low=0"),
        ("range(5, 1)", r"x\.y: range\(5, 1, 1\) is empty"),
        ("interval(0.1", r"x\.y: cannot parse"),
        ("choice(a, b", r"x\.y: cannot parse"),
    ],
)
def test_bad_search_space_names_the_parameter(text: str, message: str) -> None:
    with pytest.raises(_space().SearchSpaceError, match=message):
        parse_search_space({"x.y": text})


def test_bad_command_line_override() -> None:
    with pytest.raises(_space().SearchSpaceError, match="cannot parse override 'lr=interval\\(1,'"):
        parse_search_space({}, ["lr=interval(1,"])
