"""Rules live on what an option builds: a builder's or class's own (``checked``), a library
class's registered on a base class (``register``); ``check_option`` reads them without
building, so the pre-check and the builder raise the same error."""

from __future__ import annotations

import re

import pytest

from fmnist.errors import ConfigError
from fmnist.rules import DROPOUT, POSITIVE_INT, Rule, check_option, checked, register, rules_for


@checked("model", units=POSITIVE_INT, rate=DROPOUT)
def toy_builder(input_shape: tuple[int, ...], units: int = 4, rate: float = 0.0) -> tuple[int, float]:
    return units, rate


@checked("schedule", period=Rule("number", lambda v: v > 0, "> 0 epochs"))
class ToySchedule:
    def __init__(self, period: float = 1.0) -> None:
        self.period = period


class _Library:
    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha


class _LibrarySubclass(_Library):
    pass


register(_Library, alpha=Rule("number", lambda v: 0 <= v < 1, "a number in [0, 1)"))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: toy_builder((28, 28, 1), 0), "model.units must be an integer >= 1, got model.units=0"),
    (lambda: toy_builder((28, 28, 1), rate=1.0), "model.rate must be in [0, 1), got model.rate=1.0"),
    (lambda: toy_builder((28, 28, 1), units="8"), "model.units must be an integer >= 1, got model.units='8'"),
    (lambda: ToySchedule(0), "schedule.period must be > 0 epochs, got schedule.period=0"),
    (lambda: ToySchedule(period=float("nan")), "schedule.period must be > 0 epochs"),
])
def test_a_checked_builder_or_class_checks_each_call(call, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        call()


def test_good_calls_build() -> None:
    assert toy_builder((28, 28, 1), 8, 0.5) == (8, 0.5)
    assert ToySchedule(2).period == 2


@pytest.mark.parametrize(("node", "group", "message"), [
    ({"_target_": "tests.test_rules.toy_builder", "units": -1}, "model",
     "model.units must be an integer >= 1"),
    ({"_target_": "tests.test_rules.ToySchedule", "period": -1}, "schedule", "schedule.period must be > 0"),
    ({"_target_": "tests.test_rules._LibrarySubclass", "alpha": 1.5}, "optim",
     "optim.alpha must be a number in [0, 1), got optim.alpha=1.5"),
    ({"_target_": "tests.test_rules.toy_builder", "units": 3, "other": "x"}, "model", None),
    ({"_target_": "no.such.target", "units": -1}, "model", None),  # left to instantiate
    ({"units": -1}, "model", None),  # no target: nothing to check against
])
def test_check_option_uses_the_targets_rules_without_building(node: dict, group: str,
                                                              message: str | None) -> None:
    if message is None:
        check_option(node, group)
    else:
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_option(node, group)


def test_rules_are_inherited_from_a_registered_base_class() -> None:
    assert set(rules_for(_LibrarySubclass)) == {"alpha"}
    assert set(rules_for(ToySchedule)) == {"period"} and set(rules_for(toy_builder)) == {"units", "rate"}
    assert rules_for(len) == {}
