"""Rules for config values, kept where each option is defined.

A :class:`Rule` is a value's type and range with the rule in words; it raises a
:class:`~fmnist.errors.ConfigError` naming the key, the value and the rule. An option's rules
live on what the option builds: :func:`checked` puts them on a builder function or a class of
ours (checked at every call, and readable without calling it), :func:`register` on a library
class that the module configuring its family knows (``keras.optimizers.Optimizer``: every
Keras optimizer a YAML names inherits them). :func:`check_option` checks a config node against
the rules of its ``_target_`` without building anything, so the multirun pre-check and a
single run's check before the data loads use the same rules the builder does.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fmnist.errors import ConfigError

__all__ = ["DROPOUT", "FRACTION", "POSITIVE_INT", "SIZE", "Rule", "check_option", "check_value",
           "checked", "register", "rules_for"]

F = TypeVar("F", bound=Callable[..., Any])


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "number": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "verbose": lambda v: v == "auto" or (_is_int(v) and v in (0, 1, 2)),
    "workers": lambda v: v == "auto" or (_is_int(v) and v >= 1),
}
_NO_RANGE = ("bool", "str", "verbose", "workers")  # kinds whose type check is the whole rule


def check_value(key: str, value: Any, kind: str, check: Callable[[Any], bool] | None,
                rule: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is of ``kind`` (``int?``: null allowed) and
    passes ``check``.

    >>> check_value("trainer.epochs", 0, "int", lambda v: v > 0, "an integer >= 1")
    Traceback (most recent call last):
    fmnist.errors.ConfigError: trainer.epochs must be an integer >= 1, got trainer.epochs=0
    """
    if kind.endswith("?"):
        if value is None:
            return
        kind = kind[:-1]
    ok = _TYPES[kind](value) and (check is None or kind in _NO_RANGE or check(value))
    if not ok:
        raise ConfigError(f"{key} must be {rule}, got {key}={value!r}")


@dataclass(frozen=True)
class Rule:
    """A value's kind (``int``, ``number``, ``bool``, ...; ``?`` allows null), its range and the
    rule in words."""

    kind: str
    check: Callable[[Any], bool] | None
    text: str

    def __call__(self, key: str, value: Any) -> None:
        check_value(key, value, self.kind, self.check, self.text)


#: rules several options share
POSITIVE_INT = Rule("int", lambda v: v > 0, "an integer >= 1")
DROPOUT = Rule("number", lambda v: 0 <= v < 1, "in [0, 1)")
#: a share of the images held out (a data option's ``val_fraction``, ``test_fraction``)
FRACTION = Rule("number", lambda v: 0 < v < 1, "a number in (0, 1)")
#: a subset size, or null for all
SIZE = Rule("int?", lambda v: v > 0, "null or an integer >= 1")


#: rules of library classes' arguments, by class (their subclasses inherit them)
_REGISTERED: dict[type, dict[str, Rule]] = {}


def register(cls: type, **rules: Rule) -> None:
    """Give the library class ``cls`` (and its subclasses) rules for its arguments."""
    _REGISTERED[cls] = rules


def checked(group: str, **rules: Rule) -> Callable[[F], F]:
    """Check the named arguments of a builder function (or a class's constructor) against
    ``rules`` at every call; the rules stay readable as ``config_rules`` for
    :func:`check_option`. Errors name ``<group>.<argument>``."""

    def decorate(target: F) -> F:
        function = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
        signature = inspect.signature(function)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind_partial(*args, **kwargs)
            for name, value in bound.arguments.items():
                if name in rules:
                    rules[name](f"{group}.{name}", value)
            return function(*args, **kwargs)

        if isinstance(target, type):
            target.__init__ = wrapper  # type: ignore[misc]
            target.config_rules = rules  # type: ignore[attr-defined]
            return target
        wrapper.config_rules = rules  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def rules_for(target: Any) -> dict[str, Rule]:
    """The argument rules of a builder or class: its own (:func:`checked`) and, for a class,
    those registered for it or a base class (:func:`register`)."""
    if not isinstance(target, type):
        return dict(getattr(target, "config_rules", {}))
    rules: dict[str, Rule] = {}
    for cls in reversed(target.__mro__):
        rules.update(_REGISTERED.get(cls, {}))
        rules.update(cls.__dict__.get("config_rules", {}))
    return rules


def check_option(node: Mapping[str, Any] | None, group: str) -> None:
    """Check the config node of group ``group`` (``cfg.model``) against the rules of its
    ``_target_``, without building it. Keys the target has no rule for are left to it."""
    if not node or not isinstance(node.get("_target_"), str):
        return
    from hydra.utils import get_object

    try:
        target = get_object(node["_target_"])
    except Exception:  # an unknown target: instantiating it reports that
        return
    for name, rule in rules_for(target).items():
        if name in node:
            try:
                value = node[name]
            except Exception as exc:  # an interpolation that cannot resolve
                raise ConfigError(f"{group}.{name} cannot be read: {exc}") from exc
            rule(f"{group}.{name}", value)
