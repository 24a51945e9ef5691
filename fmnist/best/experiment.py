"""A trial as a Hydra experiment file: the config groups its job was composed with and every
value that differs from them (its swept values, the fixed overrides, and what the search's own
config files set), checked by composing the file and comparing with the trial's config.

    # @package _global_
    defaults:
      - override /model: deeper
      - _self_
    optim:
      learning_rate: 0.00068

The search's ``hparams_search`` and ``experiment`` options are not named (an experiment file
cannot pick another experiment); their effect is spelled out instead.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from fmnist.best.sweep import SPECIAL_KEYS, SweepRecordError, Trial

__all__ = ["ABSENT", "Composer", "Experiment", "flat_differences", "searchpath_override"]

#: groups whose effect is written out rather than named
_EXPANDED = ("experiment", "hparams_search")
#: a key that only the older config has (:func:`flat_differences`), or none at all (:func:`_lookup`)
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def searchpath_override(searchpath: Sequence[str]) -> list[str]:
    """``hydra.searchpath=[...]`` for a list of search-path entries (none when empty)."""
    return [f"hydra.searchpath=[{','.join(_quote(p) for p in searchpath)}]"] if searchpath else []


class Composer:
    """Composes fmnist's config (with the sweep's search path) through Hydra's compose API."""

    def __init__(self, searchpath: Sequence[str]) -> None:
        self.searchpath = list(searchpath)
        #: the groups of the primary defaults list (``override /g: x``; others are added)
        self.default_groups = set(_choices(self.compose([])))

    @contextlib.contextmanager
    def _hydra(self) -> Iterator[Any]:
        from hydra import initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra

        from fmnist.__main__ import config_dir

        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
                yield GlobalHydra.instance()
        finally:
            GlobalHydra.instance().clear()

    def compose(self, overrides: Sequence[str], extra_dirs: Sequence[str] = ()) -> DictConfig:
        """The config (with ``hydra``) for ``overrides``; ``extra_dirs`` join the search path."""
        from hydra import compose

        path = [*(f"file://{d}" for d in extra_dirs), *self.searchpath]
        with self._hydra():
            try:
                return compose("config", overrides=[*overrides, *searchpath_override(path)],
                               return_hydra_config=True)
            except Exception as exc:
                message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
                raise SweepRecordError(f"cannot compose the config of {' '.join(overrides)}: "
                                       f"{type(exc).__name__}: {message}") from exc


def _choices(cfg: DictConfig) -> dict[str, str]:
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
    assert isinstance(choices, dict)
    return {str(k): str(v) for k, v in choices.items() if v is not None and not str(k).startswith("hydra/")}


def _job(cfg: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(data, dict)
    return {str(k): v for k, v in data.items() if k != "hydra"}


def flat_differences(new: dict[str, Any], old: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of ``new`` whose value differs from ``old`` (mappings compared key by key,
    anything else as a whole), with ``new``'s values; keys only ``old`` has map to ``ABSENT``.

    >>> flat_differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}})
    {'a.c': 2}
    """
    out: dict[str, Any] = {}
    for key in [*new, *(k for k in old if k not in new)]:
        dotted = f"{prefix}{key}"
        if key not in new:
            out[dotted] = ABSENT
        elif isinstance(new[key], dict) and isinstance(old.get(key), dict):
            out.update(flat_differences(new[key], old[key], f"{dotted}."))
        elif key not in old or new[key] != old[key]:
            out[dotted] = new[key]
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


@dataclass(frozen=True)
class Experiment:
    """A trial's experiment file: its text and the trial's composed config (without hydra)."""

    trial: Trial
    text: str
    config: dict[str, Any]

    @classmethod
    def build(cls, composer: Composer, trial: Trial, header: Sequence[str]) -> Experiment:
        """The file for ``trial``, with ``header`` as comments; verified by composing it."""
        composed = composer.compose(trial.overrides)
        config, choices = _job(composed), _choices(composed)
        groups = {g: c for g, c in choices.items() if g not in _EXPANDED}
        base = _job(composer.compose(  # the same group options and nothing else
            [f"{'' if g in composer.default_groups else '+'}{g}={c}" for g, c in groups.items()]))
        values = flat_differences(config, base)
        for override in OverridesParser.create().parse_overrides(trial.overrides):
            key = override.get_key_element().lstrip("+")  # swept and fixed values: spelled out
            if key not in choices and (value := _lookup(config, key)) is not ABSENT:
                values[key] = value
        for key, value in values.items():
            if value is ABSENT:
                raise SweepRecordError(
                    f"trial {trial.number}: its config has no {key}, which its config groups set: "
                    "an experiment file cannot remove a key")
            if any(special in key for special in SPECIAL_KEYS):
                raise SweepRecordError(
                    f"trial {trial.number}: cannot write {key}={value!r} into an experiment file "
                    "(fmnist.best writes plain values and group options only)")
        lines = ["# @package _global_", *(f"# {h}" if h else "#" for h in header), "defaults:"]
        lines += [f"  - {'override ' if g in composer.default_groups else ''}/{g}: {c}"
                  for g, c in groups.items()]
        lines.append("  - _self_")
        body = OmegaConf.to_yaml(OmegaConf.create(_nest(values))) if values else ""
        text = "\n".join(lines) + "\n\n" + body
        experiment = cls(trial, text, config)
        experiment._verify(composer)
        return experiment

    def _verify(self, composer: Composer) -> None:
        """Compose the file as ``+experiment=NAME`` and compare with the trial's config."""
        with tempfile.TemporaryDirectory(prefix="fmnist-best-") as tmp:
            (Path(tmp) / "experiment").mkdir()
            (Path(tmp) / "experiment" / "candidate.yaml").write_text(self.text)
            got = _job(composer.compose(["+experiment=candidate"], extra_dirs=[tmp]))
        diff = flat_differences(got, self.config)
        if diff:
            raise SweepRecordError(
                f"trial {self.trial.number}: the experiment file does not reproduce the trial's "
                f"config; differences: {', '.join(f'{k}={v!r}' for k, v in list(diff.items())[:5])}")


def _lookup(data: dict[str, Any], key: str) -> Any:
    """The value at a dotted ``key`` of a plain container, or ``ABSENT``."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return ABSENT
        node = node[part]
    return node
