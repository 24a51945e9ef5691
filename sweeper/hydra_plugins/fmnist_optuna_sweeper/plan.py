"""A sweep's plan, from its options and its command-line arguments, before any storage is
touched: the directions, the search space, ``n_trials`` (capped at a grid's size), the
enqueued trials (checked against the space), the sampler and the pruner. Pure apart from
building the sampler and pruner objects; every error names the setting and the rule."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from hydra._internal.deprecation_warning import deprecation_warning
from hydra.utils import get_object, instantiate
from hydra_plugins.fmnist_optuna_sweeper import storage
from hydra_plugins.fmnist_optuna_sweeper.distinct import seed_of
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.pruners import pruner_spec
from hydra_plugins.fmnist_optuna_sweeper.search_space import (
    Param,
    SearchSpace,
    SearchSpaceError,
    distribution_from_config,
    grid_values,
    parse_search_space,
)
from omegaconf import DictConfig, ListConfig, OmegaConf

__all__ = ["Plan", "build", "check_enqueued", "check_options", "make_plan", "search_space",
           "target_name", "warn_search_space"]

_MISSING = object()
#: samplers whose optional packages Optuna imports only while sampling: checked before the
#: sweep creates a trial. class name -> (module, extra of this distribution)
_NEEDS = {"CmaEsSampler": [("cmaes", "cmaes")], "GPSampler": [("torch", "gp"), ("scipy", "gp")],
          "QMCSampler": [("scipy", "qmc")]}
_UPGRADE = "https://hydra.cc/docs/upgrades/1.1_to_1.2/changes_to_sweeper_config/"


class Plan(NamedTuple):
    """What a sweep will do (see the module docstring)."""

    directions: list[str]
    space: SearchSpace
    n_trials: int
    enqueued: list[dict[str, Any]]
    sampler: Any
    pruner: Any
    pruner_spec: dict[str, Any] | None  # the pruner's config, stored with the study for jobs
    seed: int | None = None  # the sampler's configured seed (None: unseeded, or a grid)
    #: the sampler built again with another seed (distinct.py); None when not seeded
    reseed: Callable[[int], Any] | None = None


def make_plan(options: DictConfig, sampler_cfg: Any, pruner_cfg: Any, arguments: list[str],
              config: DictConfig | None = None, custom: bool = False) -> Plan:
    """The plan of a sweep; ``config``: the composed config whose keys searched parameters
    must name; ``custom``: a ``custom_search_space`` function may add parameters."""
    directions = check_options(options)
    space = search_space(options, arguments, config)
    n_trials, grid = int(options.n_trials), None
    if target_name(sampler_cfg).endswith(("GridSampler", "BruteForceSampler")):
        grid = grid_values(space)
        n_trials = min(n_trials, functools.reduce(lambda n, v: n * len(v), grid.values(), 1))
    sampler = build(sampler_cfg, "sampler")
    if isinstance(sampler, functools.partial):  # grid: _partial_, built from params
        sampler = sampler(grid)
    enqueued = [check_enqueued(_plain(entry), space, i, custom=custom)
                for i, entry in enumerate(options.enqueue or [])]
    seed = seed_of(sampler_cfg)
    return Plan(directions, space, n_trials, enqueued, sampler, build(pruner_cfg, "pruner"),
                pruner_spec(pruner_cfg), seed,
                None if seed is None else functools.partial(_seeded, sampler_cfg))


def _seeded(sampler_cfg: Any, seed: int) -> Any:
    """The sampler of ``sampler_cfg`` with another ``seed``."""
    return build(sampler_cfg, "sampler", seed=seed)


def _plain(entry: Any) -> dict[str, Any]:
    if isinstance(entry, DictConfig):
        return dict(OmegaConf.to_container(entry, resolve=True))  # type: ignore[arg-type]
    return dict(entry)


def check_options(o: DictConfig) -> list[str]:
    """The options' own rules; returns the directions, lower case."""
    if int(o.n_trials) < 1:
        raise SweepError(f"hydra.sweeper.n_trials must be >= 1, got {o.n_trials}")
    if not 0.0 <= float(o.max_failure_rate) <= 1.0:
        raise SweepError(f"hydra.sweeper.max_failure_rate must be in [0, 1], got {o.max_failure_rate}")
    if o.retry_failed and not o.heartbeat_interval:
        raise SweepError("hydra.sweeper.retry_failed needs heartbeats to find dead trials: set "
                         "hydra.sweeper.heartbeat_interval (seconds)")
    if (o.retry_failed or o.accept_changed_settings) and not (o.study_name and o.storage):
        raise SweepError("retry_failed and accept_changed_settings act on an earlier sweep of the "
                         "same study: set hydra.sweeper.study_name and storage to resume it")
    if o.study_name is not None:
        storage.check_study_name(str(o.study_name))
    return _directions(o.direction)


def _directions(direction: Any) -> list[str]:
    directions = list(direction) if isinstance(direction, ListConfig | list) else [direction]
    out = [str(getattr(d, "name", d)).lower() for d in directions]
    for d in out:
        if d not in ("maximize", "minimize"):
            raise SweepError(f"hydra.sweeper.direction must be maximize or minimize (or a list "
                             f"of them), got {d!r}")
    return out


def search_space(o: DictConfig, arguments: list[str], config: DictConfig | None = None) -> SearchSpace:
    """The search space of ``params`` and the arguments (or the official plugin's deprecated
    ``search_space``); every searched key must exist in ``config`` (``+key`` adds one)."""
    warn_search_space(o.search_space, o.params)
    if o.search_space and o.params is None:  # the official plugin's deprecated form
        space = OmegaConf.to_container(o.search_space, resolve=True)
        assert isinstance(space, dict)
        base = parse_search_space({}, arguments)
        extra = [Param(str(k), str(k), distribution_from_config(str(k), v), {})
                 for k, v in space.items()]
        return SearchSpace(extra + base.params, base.fixed)
    params = OmegaConf.to_container(o.params, resolve=True) if o.params else {}
    space_ = parse_search_space(params, arguments)  # type: ignore[arg-type]
    if config is not None:
        _check_keys(space_, config)
    return space_


def _check_keys(space: SearchSpace, config: DictConfig) -> None:
    for p in space.params:
        if p.when or p.key.startswith(("+", "~")) or "/" in p.key:
            continue
        if OmegaConf.select(config, p.key, default=_MISSING) is _MISSING:
            raise SearchSpaceError(
                f"unknown parameter path {p.key!r}: the composed config has no such key "
                f"(check its spelling, or write +{p.key} to add a new one)")


def warn_search_space(search_space: Any, params: Any) -> None:
    """The official plugin's warnings for the deprecated ``search_space``."""
    if search_space is None:
        return
    if params is not None:
        warnings.warn("Both hydra.sweeper.params and hydra.sweeper.search_space are configured."
                      f"\nHydra will use hydra.sweeper.params for defining search space.\n{_UPGRADE}",
                      stacklevel=2)
    else:
        deprecation_warning(
            "`hydra.sweeper.search_space` is deprecated and will be removed in the next major "
            f"release.\nPlease configure with `hydra.sweeper.params`.\n{_UPGRADE}\n")


def target_name(node: Any) -> str:
    """The sampler's class path: from its config, or of an object passed in Python (a
    ``functools.partial`` of ``GridSampler`` included)."""
    if isinstance(node, DictConfig | dict):
        return str(node.get("_target_") or "")
    func = node.func if isinstance(node, functools.partial) else type(node)
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}"


def _spec(node: DictConfig | dict[str, Any], what: str) -> tuple[dict[str, Any], Any]:
    """The node as a plain dict, and the object its ``_target_`` names."""
    spec: dict[str, Any] = (OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
                            if isinstance(node, DictConfig) else dict(node))
    target = spec.get("_target_")
    if not target:
        raise SweepError(
            f"hydra.sweeper.{what} has no _target_ (got {spec}): pick one with "
            f"'override hydra/sweeper/{what}: NAME' in the defaults list (or "
            f"hydra/sweeper/{what}=NAME on the command line), or give _target_")
    try:
        return spec, get_object(str(target))
    except Exception as exc:
        raise SweepError(f"hydra.sweeper.{what}._target_={target}: {exc}") from exc


def _check_packages(built: Any, target: str, what: str) -> None:
    for module, extra in _NEEDS.get(getattr(built, "__name__", ""), []):
        if importlib.util.find_spec(module) is None:
            raise SweepError(
                f"hydra.sweeper.{what} {target} needs the package {module!r}, which is not "
                f"installed: pip install \"fmnist-optuna-sweeper[{extra}]\" (or pip install {module})")


def build(node: Any, what: str, **kwargs: Any) -> Any:
    """An Optuna sampler or pruner from its config node; options left null take Optuna's
    default (so deprecated options are not passed)."""
    if not isinstance(node, DictConfig | dict):
        return node
    spec, built = _spec(node, what)
    target = str(spec["_target_"])
    try:
        params = inspect.signature(built).parameters
    except Exception as exc:
        raise SweepError(f"hydra.sweeper.{what}._target_={target}: {exc}") from exc
    _check_packages(built, target, what)
    spec = {k: v for k, v in spec.items()
            if not (v is None and k in params and params[k].default is not inspect.Parameter.empty)}
    try:
        with storage.quiet():
            return instantiate(spec, **kwargs)
    except Exception as exc:
        hint = (f" (a {what} written inline in a config keeps the keys of the default option; to "
                f"switch, use 'override hydra/sweeper/{what}: NAME')"
                if "unexpected keyword" in str(exc) else "")
        raise SweepError(f"cannot build hydra.sweeper.{what} {target}: {exc}{hint}") from exc


def check_enqueued(entry: dict[str, Any], space: SearchSpace, index: int,
                   custom: bool = False) -> dict[str, Any]:
    """An ``enqueue`` entry whose values lie in their parameters' distributions (checked before
    any trial, so a search range narrowed on the command line is an error naming the value,
    not a trial left RUNNING), and whose keys are searched (unless a ``custom_search_space``
    may add the name)."""
    params = {p.name: p for p in space.params}
    for name, value in entry.items():
        param = params.get(name)
        if param is None and custom:
            continue  # may be a custom_search_space name
        if param is None:
            raise SweepError(
                f"hydra.sweeper.enqueue[{index}]: {name} is not searched, so its value would be "
                f"dropped; searched: {', '.join(sorted(params)) or 'nothing'}")
        dist = param.distribution
        try:
            inside = dist._contains(dist.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            raise SweepError(f"hydra.sweeper.enqueue[{index}]: {name}={value!r} is outside the "
                             f"search space of {name}: {dist}")
    return entry
