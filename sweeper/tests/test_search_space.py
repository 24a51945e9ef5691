"""Override strings -> Optuna distributions (the official plugin's grammar and meaning),
conditional parameters, grids."""

from __future__ import annotations

import importlib

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution


def _space():
    """The module as it is now: Hydra's plugin scan re-executes plugin modules and replaces
    them in ``sys.modules``, so function and exception class must come from one import."""
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.search_space")


def parse(*args):
    return _space().parse_search_space(*args)


TABLE = [
    ("interval(0.1, 0.5)", FloatDistribution(0.1, 0.5)),
    ("interval(1, 4)", FloatDistribution(1.0, 4.0)),
    ("int(interval(1, 8))", IntDistribution(1, 8)),
    ("tag(log, interval(1e-4, 1e-1))", FloatDistribution(1e-4, 1e-1, log=True)),
    ("tag(log, int(interval(16, 256)))", IntDistribution(16, 256, log=True)),
    # range: the official plugin's meaning, stop included when it falls on the step
    ("range(1, 10, 2)", IntDistribution(1, 9, step=2)),
    ("range(1, 9, 2)", IntDistribution(1, 9, step=2)),
    ("range(0, 5)", IntDistribution(0, 5)),
    ("range(0.5, 5.5, step=1)", FloatDistribution(0.5, 5.5, step=1.0)),
    ("range(0.0, 1.0, 0.3)", FloatDistribution(0.0, 0.9, step=0.3)),
    ("shuffle(range(1, 4))", CategoricalDistribution([1, 2, 3])),
    ("shuffle(range(1, 10))", CategoricalDistribution(list(range(1, 10)))),
    ("choice(adam, adamax)", CategoricalDistribution(["adam", "adamax"])),
    ("adam,sgd,rmsprop", CategoricalDistribution(["adam", "sgd", "rmsprop"])),
    ("choice(true, false)", CategoricalDistribution([True, False])),
    ("choice(32, 64, 128)", CategoricalDistribution([32, 64, 128])),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_override_to_distribution(text: str, expected) -> None:
    space = parse({"x.y": text})
    assert space.distributions == {"x.y": expected} and space.fixed == []


@pytest.mark.parametrize(("value", "text"), [(5, "x.y=5"), ("adam", "x.y=adam"), (0.5, "x.y=0.5")])
def test_fixed_values_pass_through(value, text) -> None:
    space = parse({"x.y": value})
    assert space.distributions == {} and space.fixed == [text]


def test_command_line_wins_and_mixes() -> None:
    space = parse({"lr": "interval(0.1, 0.2)", "seed": 1},
                  ["lr=interval(0.3, 0.4)", "model=brief,deeper", "trainer.epochs=2"])
    assert space.distributions == {"lr": FloatDistribution(0.3, 0.4),
                                   "model": CategoricalDistribution(["brief", "deeper"])}
    assert space.fixed == ["seed=1", "trainer.epochs=2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("interval(0.5, 0.1)", r"x\.y: interval needs low < high, got low=0.5, high=0.1"),
        ("interval(0.5, 0.5)", r"x\.y: interval needs low < high"),
        ("tag(log, interval(0, 1))", r"x\.y: a log interval needs low > 0, got low=0"),
        ("range(5, 1)", r"x\.y: range\(5, 1, 1\) is empty"),
        ("shuffle(range(5, 1))", r"x\.y: range\(5, 1, 1\) is empty"),
        ("interval(0.1", r"x\.y: cannot parse"),
        ("choice(a, b", r"x\.y: cannot parse"),
    ],
)
def test_bad_search_space_names_the_parameter(text: str, message: str) -> None:
    with pytest.raises(_space().SearchSpaceError, match=message):
        parse({"x.y": text})


def test_bad_command_line_override() -> None:
    with pytest.raises(_space().SearchSpaceError, match="cannot parse override 'lr=interval\\(1,'"):
        parse({}, ["lr=interval(1,"])


def test_deprecated_search_space_form() -> None:
    m = _space()
    assert m.distribution_from_config("x", {"type": "int", "low": 0, "high": 10, "step": 2}) == \
        IntDistribution(0, 10, step=2)
    assert m.distribution_from_config("x", {"type": "float", "low": 1, "high": 100, "log": True}) == \
        FloatDistribution(1, 100, log=True)
    assert m.distribution_from_config("x", {"type": "categorical", "choices": [1, 2]}) == \
        CategoricalDistribution([1, 2])
    with pytest.raises(m.SearchSpaceError, match="x: type must be int, float or categorical"):
        m.distribution_from_config("x", {"type": "bool"})


# ----------------------------------------------------------------------------- conditional

OPTIM = {
    "optim": "choice(adam, sgd)",
    "adam_lr": {"key": "optim.learning_rate", "value": "tag(log, interval(1e-4, 1e-2))",
                "when": {"optim": "adam"}},
    "sgd_lr": {"key": "optim.learning_rate", "value": "tag(log, interval(1e-3, 1e-1))",
               "when": {"optim": "sgd"}},
    "optim.momentum": {"value": "interval(0.0, 0.99)", "when": {"optim": ["sgd"]}},
}


def test_conditional_entries_parse() -> None:
    space = parse(OPTIM)
    assert list(space.distributions) == ["optim"]
    assert [(p.name, p.key, p.when) for p in space.conditional] == [
        ("adam_lr", "optim.learning_rate", {"optim": ["adam"]}),
        ("sgd_lr", "optim.learning_rate", {"optim": ["sgd"]}),
        ("optim.momentum", "optim.momentum", {"optim": ["sgd"]}),
    ]
    assert space.key("sgd_lr") == "optim.learning_rate" and space.key("+w") == "+w"


def test_conditional_sampling_follows_the_choice() -> None:
    m = _space()
    space = parse(OPTIM)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask(space.distributions)
        values = dict(trial.params)
        for p in space.conditional:
            if m.active(p, values):
                values[p.name] = m.suggest(trial, p)
        if trial.params["optim"] == "adam":
            assert set(trial.params) == {"optim", "adam_lr"}
            assert 1e-4 <= trial.params["adam_lr"] <= 1e-2
        else:
            assert set(trial.params) == {"optim", "sgd_lr", "optim.momentum"}
        seen.add(trial.params["optim"])
        study.tell(trial, 0.0)
    assert seen == {"adam", "sgd"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": {"value": "interval(0, 1)", "when": {"b": 1}}}, "'when' names 'b', which is not a searched"),
        ({"a": {"value": "interval(0, 1)", "when": "b"}}, "'when' must map parameter names"),
        ({"a": {"values": "interval(0, 1)"}}, "a parameter mapping takes value"),
        ({"b": "choice(1, 2)", "a": {"value": 3, "when": {"b": 1}}},
         "a conditional parameter must be searched"),
    ],
)
def test_bad_conditional_entries(params, message) -> None:
    with pytest.raises(_space().SearchSpaceError, match=message):
        parse(params)


# ----------------------------------------------------------------------------- grids

def test_grid_holds_every_value() -> None:
    m = _space()
    space = parse({"x": "choice(-1, 1)", "y": "range(-1.0, 1.0, step=1)", "z": "range(1, 7, 3)",
                   "w": "choice(foo, bar)"})
    assert m.grid_values(space) == {"x": [-1, 1], "y": [-1.0, 0.0, 1.0], "z": [1, 4, 7],
                                    "w": ["foo", "bar"]}


@pytest.mark.parametrize(("params", "message"), [
    ({"x": "interval(0, 1)"}, "x: a grid needs discrete values"),
    ({"o": "choice(a, b)", "x": {"value": "choice(1, 2)", "when": {"o": "a"}}},
     "x: a grid cannot hold a conditional parameter"),
])
def test_grid_refuses_what_it_cannot_enumerate(params, message) -> None:
    m = _space()
    with pytest.raises(m.SearchSpaceError, match=message):
        m.grid_values(parse(params))
