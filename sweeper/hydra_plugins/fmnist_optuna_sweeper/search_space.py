"""Search spaces: Hydra override strings -> Optuna distributions, conditional parameters,
grids. Pure functions: no study, no launcher.

The grammar and its meaning are the official ``hydra-optuna-sweeper``'s:

=============================================  =============================================
override value                                  distribution
=============================================  =============================================
``interval(0.1, 0.5)`` / ``interval(1, 4)``     ``FloatDistribution(0.1, 0.5)`` / ``(1.0, 4.0)``
``int(interval(1, 8))``                         ``IntDistribution(1, 8)``
``tag(log, interval(1e-4, 1e-1))``              ``FloatDistribution(1e-4, 1e-1, log=True)``
``range(1, 9, 2)``                              ``IntDistribution(1, 9, step=2)`` (stop included
                                                when it is on the step, as in the official plugin)
``range(0.5, 5.5, step=1)``                     ``FloatDistribution(0.5, 5.5, step=1)``
``shuffle(range(1, 4))``                        ``CategoricalDistribution([1, 2, 3])``
``choice(a, b)`` or ``a,b``                     ``CategoricalDistribution(['a', 'b'])``
``5``                                           fixed: passed to every job, not searched
=============================================  =============================================

A ``params`` entry may also be a mapping, for conditional and dependent parameters::

    optim: choice(adam, sgd)
    sgd_lr: {key: optim.learning_rate, value: "tag(log, interval(1e-3, 1e-1))", when: {optim: sgd}}
    optim.momentum: {value: "interval(0.0, 0.99)", when: {optim: sgd}}

``value`` is the override value, ``key`` the config key it sets (default: the entry's name,
which is also the Optuna parameter name), ``when`` maps earlier parameters to the value (or
list of values) for which this one is searched; otherwise it is neither searched nor set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.errors import CompactHydraException, HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = [
    "Param",
    "SearchSpace",
    "SearchSpaceError",
    "active",
    "distribution_from_config",
    "distribution_from_override",
    "fixed_params",
    "grid_values",
    "parse_search_space",
    "suggest",
]


class SearchSpaceError(CompactHydraException, ValueError):
    """A search-space entry is malformed; the message names the parameter (printed alone, as
    :class:`SweepError`)."""


class Param(NamedTuple):
    """One searched parameter: Optuna name, config key, distribution, condition."""

    name: str
    key: str
    distribution: BaseDistribution
    when: dict[str, list[Any]]


class SearchSpace(NamedTuple):
    """Searched parameters (in order) and fixed override strings."""

    params: list[Param]
    fixed: list[str]

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Unconditional parameters, by name (what ``study.ask`` samples at once)."""
        return {p.name: p.distribution for p in self.params if not p.when}

    @property
    def conditional(self) -> list[Param]:
        return [p for p in self.params if p.when]

    def key(self, name: str) -> str:
        """The config key a parameter sets (custom-search-space names are keys)."""
        return next((p.key for p in self.params if p.name == name), name)


def _plain(value: Any) -> Any:
    """Hydra values -> what Optuna may store (str, int, float, bool, None)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _stepped_high(start: float, stop: float, step: float) -> float:
    """The last value of start, start+step, ... that is <= stop."""
    n = math.floor((stop - start) / step + 1e-9)
    high = start + n * step
    return high if isinstance(high, int) else round(high, 12)


def _range_values(name: str, value: RangeSweep) -> list[Any]:
    """The values of a Hydra ``range`` (stop excluded), in order, ignoring ``shuffle``."""
    start, stop, step = value.start, value.stop, value.step
    assert start is not None and stop is not None
    if step == 0 or (stop - start) / step <= 0:
        raise SearchSpaceError(f"{name}: range({start}, {stop}, {step}) is empty: need start < stop "
                               "for a positive step")
    n = math.ceil((stop - start) / step - 1e-9)
    values = [start + i * step for i in range(n)]
    return [v if isinstance(v, int) else round(v, 12) for v in values]


def _choice(name: str, value: ChoiceSweep) -> BaseDistribution:
    choices = [_plain(v) for v in value.list]
    if not choices:
        raise SearchSpaceError(f"{name}: choice() needs at least one value")
    return CategoricalDistribution(choices)


def _range(name: str, value: RangeSweep) -> BaseDistribution:
    if value.shuffle:
        return CategoricalDistribution(_range_values(name, value))
    start, stop, step = value.start, value.stop, value.step
    assert start is not None and stop is not None
    if step <= 0 or not start < stop:
        raise SearchSpaceError(f"{name}: range({start}, {stop}, {step}) is empty: need start < "
                               "stop for a positive step")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return IntDistribution(int(start), int(_stepped_high(start, stop, step)), step=int(step))
    return FloatDistribution(float(start), float(_stepped_high(start, stop, step)), step=float(step))


def _interval(name: str, value: IntervalSweep) -> BaseDistribution:
    low, high, log = value.start, value.end, "log" in value.tags
    if low is None or high is None:
        raise SearchSpaceError(f"{name}: interval needs both bounds, got {value!r}")
    if not low < high:
        raise SearchSpaceError(f"{name}: interval needs low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise SearchSpaceError(f"{name}: a log interval needs low > 0, got low={low}")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


#: each kind of Hydra sweep and the function that makes its distribution
_SWEEPS: tuple[tuple[type, Any], ...] = ((ChoiceSweep, _choice), (RangeSweep, _range),
                                         (IntervalSweep, _interval))


def distribution_from_override(override: Override) -> BaseDistribution | None:
    """The distribution of one parsed override, or ``None`` when it is a fixed value."""
    name = override.get_key_element()
    if not override.is_sweep_override():
        return None
    value = override.value()
    for sweep, distribution in _SWEEPS:
        if isinstance(value, sweep):
            result: BaseDistribution = distribution(name, value)
            return result
    raise SearchSpaceError(f"{name}: unsupported sweep {value!r}")


def distribution_from_config(name: str, spec: Mapping[str, Any]) -> BaseDistribution:
    """The official plugin's deprecated ``search_space`` form:
    ``{type: int|float|categorical, low, high, log, step, choices}``."""
    kind = str(spec.get("type", ""))
    if kind == "categorical":
        return CategoricalDistribution([_plain(c) for c in spec.get("choices") or []])
    if kind not in ("int", "float"):
        raise SearchSpaceError(f"{name}: type must be int, float or categorical, got {kind!r}")
    low, high, log, step = spec.get("low"), spec.get("high"), bool(spec.get("log")), spec.get("step")
    if low is None or high is None:
        raise SearchSpaceError(f"{name}: a {kind} distribution needs low and high")
    if kind == "int":
        return IntDistribution(int(low), int(high), log=log, step=1 if log else int(step or 1))
    return FloatDistribution(float(low), float(high), log=log, step=None if log else step)


def _condition(name: str, when: Any) -> dict[str, list[Any]]:
    if not isinstance(when, Mapping) or not when:
        raise SearchSpaceError(f"{name}: 'when' must map parameter names to values, got {when!r}")
    return {str(k): [_plain(x) for x in v] if isinstance(v, Sequence) and not isinstance(v, str)
            else [_plain(v)] for k, v in when.items()}


def parse_search_space(
    params: Mapping[str, Any] | None, arguments: Sequence[str] = ()
) -> SearchSpace:
    """``hydra.sweeper.params`` and command-line ``arguments`` -> searched parameters and fixed
    overrides (a command-line entry replaces the config entry of the same key).

    >>> space = parse_search_space({"lr": "tag(log, interval(1e-4, 1e-1))"}, ["seed=3"])
    >>> space.distributions["lr"].log, space.fixed
    (True, ['seed=3'])
    """
    parser = OverridesParser.create()
    entries = {str(name): _entry(str(name), value) for name, value in (params or {}).items()}
    for argument in arguments:
        try:
            key = parser.parse_override(argument).get_key_element()
        except HydraException as exc:
            raise SearchSpaceError(f"cannot parse override {argument!r}: {exc}") from exc
        entries[key] = (key, argument, {})
    searched: list[Param] = []
    fixed: list[str] = []
    for name, (key, text, when) in entries.items():
        distribution = _parsed(parser, str(name), text)
        if distribution is None:
            if when:
                raise SearchSpaceError(f"{name}: a conditional parameter must be searched, got {text!r}")
            fixed.append(text)
            continue
        _check_condition(str(name), when, [p.name for p in searched])
        searched.append(Param(str(name), key, distribution, when))
    return SearchSpace(searched, fixed)


def _entry(name: str, value: Any) -> tuple[str, str, dict[str, list[Any]]]:
    """A ``params`` entry as (key, override text, condition)."""
    if not isinstance(value, Mapping):
        return name, f"{name}={value}", {}
    unknown = set(value) - {"value", "key", "when"}
    if unknown or "value" not in value:
        raise SearchSpaceError(f"{name}: a parameter mapping takes value (required), key and "
                               f"when, got {sorted(value)}")
    key = str(value.get("key") or name)
    when = _condition(name, value["when"]) if value.get("when") is not None else {}
    return key, f"{key}={value['value']}", when


def _parsed(parser: OverridesParser, name: str, text: str) -> BaseDistribution | None:
    try:
        override = parser.parse_override(text)
    except HydraException as exc:
        raise SearchSpaceError(f"{name}: cannot parse {text!r}: {exc}") from exc
    return distribution_from_override(override)


def _check_condition(name: str, when: Mapping[str, Any], searched: list[str]) -> None:
    for other in when:
        if other not in searched:
            raise SearchSpaceError(
                f"{name}: 'when' names {other!r}, which is not a searched parameter listed "
                f"before it (searched so far: {searched})")


def fixed_params(space: SearchSpace) -> dict[str, str]:
    """The fixed overrides as ``{key: value text}``, as the official plugin records them in
    each trial's ``user_attrs``.

    >>> fixed_params(parse_search_space({}, ["y=0", "+z=a b"]))
    {'y': '0', '+z': 'a b'}
    """
    parser = OverridesParser.create()
    out = {}
    for text in space.fixed:
        override = parser.parse_override(text)
        out[override.get_key_element()] = override.get_value_element_as_str()
    return out


def active(param: Param, values: Mapping[str, Any]) -> bool:
    """Whether a conditional parameter is searched, given the values sampled so far."""
    return all(other in values and values[other] in allowed for other, allowed in param.when.items())


def suggest(trial: Any, param: Param) -> Any:
    """Sample one parameter with the trial's public ``suggest_*`` API."""
    d = param.distribution
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(param.name, d.choices)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(param.name, d.low, d.high, step=d.step, log=d.log)
    assert isinstance(d, FloatDistribution)
    return trial.suggest_float(param.name, d.low, d.high, step=d.step, log=d.log)


def grid_values(space: SearchSpace) -> dict[str, list[Any]]:
    """Every value of each (discrete) parameter: the search space of a GridSampler."""
    grid: dict[str, list[Any]] = {}
    for p in space.params:
        d = p.distribution
        if p.when:
            raise SearchSpaceError(f"{p.name}: a grid cannot hold a conditional parameter")
        if isinstance(d, CategoricalDistribution):
            grid[p.name] = list(d.choices)
        elif isinstance(d, IntDistribution) and not d.log:
            grid[p.name] = list(range(d.low, d.high + 1, d.step))
        elif isinstance(d, FloatDistribution) and d.step is not None:
            n = round((d.high - d.low) / d.step)
            grid[p.name] = [round(d.low + i * d.step, 12) for i in range(n + 1)]
        else:
            raise SearchSpaceError(
                f"{p.name}: a grid needs discrete values (choice or range), got {d}")
    return grid
