"""Hydra override strings -> Optuna distributions: pure functions, no study, no launcher.

=============================================  =============================================
override value                                  distribution
=============================================  =============================================
``interval(0.1, 0.5)``                          ``FloatDistribution(0.1, 0.5)``
``int(interval(1, 8))``                         ``IntDistribution(1, 8)``
``tag(log, interval(1e-4, 1e-1))``              ``FloatDistribution(1e-4, 1e-1, log=True)``
``range(1, 10, 2)``                             ``IntDistribution(1, 9, step=2)``
``choice(a, b)`` or ``a,b``                     ``CategoricalDistribution(['a', 'b'])``
``5``                                           fixed: passed to every job, not searched
=============================================  =============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = [
    "SearchSpaceError",
    "distribution_from_override",
    "parse_search_space",
]


class SearchSpaceError(HydraException, ValueError):
    """A search-space entry is malformed; the message names the parameter."""


def _plain(value: Any) -> Any:
    """Hydra values -> what Optuna may store (str, int, float, bool, None)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def distribution_from_override(override: Override) -> BaseDistribution | None:
    """The distribution of one parsed override, or ``None`` when it is a fixed value."""
    name = override.get_key_element()
    if not override.is_sweep_override():
        return None
    value = override.value()
    if isinstance(value, ChoiceSweep):
        choices = [_plain(v) for v in value.list]
        if not choices:
            raise SearchSpaceError(f"{name}: choice() needs at least one value")
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        values = [_plain(v) for v in override.sweep_iterator()]
        if not values:
            raise SearchSpaceError(
                f"{name}: range({start}, {stop}, {step}) is empty: need start < stop for a "
                "positive step"
            )
        if all(isinstance(v, int) for v in (start, stop, step)) and step > 0:
            return IntDistribution(int(values[0]), int(values[-1]), step=int(step))
        return CategoricalDistribution(values)
    if isinstance(value, IntervalSweep):
        low, high, log = value.start, value.end, "log" in value.tags
        if low is None or high is None:
            raise SearchSpaceError(f"{name}: interval needs both bounds, got {value!r}")
        if not low < high:
            raise SearchSpaceError(
                f"{name}: interval needs low < high, got low={low}, high={high}"
            )
        if log and low <= 0:
            raise SearchSpaceError(f"{name}: a log interval needs low > 0, got low={low}")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise SearchSpaceError(f"{name}: unsupported sweep {value!r}")


def parse_search_space(
    params: Mapping[str, Any] | None, arguments: list[str] | tuple[str, ...] = ()
) -> tuple[dict[str, BaseDistribution], list[str]]:
    """Split ``hydra.sweeper.params`` and command-line ``arguments`` into searched
    distributions and fixed overrides (command-line entries win over config entries).

    Returns ``(distributions by override key, fixed override strings)``.

    >>> dists, fixed = parse_search_space({"lr": "tag(log, interval(1e-4, 1e-1))"}, ["seed=3"])
    >>> dists["lr"].log, fixed
    (True, ['seed=3'])
    """
    parser = OverridesParser.create()
    entries: dict[str, str] = {}
    for key, value in (params or {}).items():
        entries[str(key)] = f"{key}={value}"
    for argument in arguments:
        try:
            key = parser.parse_override(argument).get_key_element()
        except HydraException as exc:
            raise SearchSpaceError(f"cannot parse override {argument!r}: {exc}") from exc
        entries[key] = argument
    distributions: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for key, text in entries.items():
        try:
            override = parser.parse_override(text)
        except HydraException as exc:
            raise SearchSpaceError(f"{key}: cannot parse {text!r}: {exc}") from exc
        distribution = distribution_from_override(override)
        if distribution is None:
            fixed.append(text)
        else:
            distributions[key] = distribution
    return distributions, fixed
