"""The ``_target_``s a run directory may ask for: this project's own, and nothing else.

A run directory is data: it is shared, downloaded and unpacked from archives, so its
``.hydra/config.yaml`` is no more trusted than any other file. Hydra's ``instantiate`` calls
whatever ``_target_`` names (``shutil.copyfile``, ``numpy.savetxt``, ...), so commands that
rebuild objects from a run's config (``fmnist-evaluate``) build only targets of this
project's own options: the ``_target_`` values of the shipped ``conf/`` YAML files (outside
Hydra's own ``hydra`` settings). Adding an option is adding its YAML, so a new model, optimizer,
augmentation or schedule is allowed without a second list to keep in step.

Every ``_target_`` in the node is checked, at any depth (``_args_`` included), after the
node's interpolations are resolved (so ``${oc.decode:...}`` cannot smuggle one in); anything
else is an :class:`UnsafeTargetError` before anything is built.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from fmnist.errors import UnsafeFileError

__all__ = ["UnsafeTargetError", "check_targets", "safe_instantiate", "shipped_targets"]


class UnsafeTargetError(UnsafeFileError):
    """A config read from a run directory names a ``_target_`` that is not this project's."""


def _conf_dir() -> Path:
    from fmnist.__main__ import config_dir

    return Path(config_dir())


def _targets_in(node: Any) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every ``_target_`` in a plain YAML tree."""
    stack: list[tuple[str, Any]] = [("", node)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                path = f"{where}.{key}" if where else str(key)
                if key == "_target_":
                    yield path, value
                else:
                    stack.append((path, value))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))


@functools.cache
def _shipped(conf_dir: Path) -> frozenset[str]:
    found: set[str] = set()
    for path in sorted(conf_dir.rglob("*.yaml")):
        if path.relative_to(conf_dir).parts[0] == "hydra":
            continue  # Hydra's own settings: sweepers, samplers, pruners, launchers
        try:
            tree = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(tree, dict):
            tree = {k: v for k, v in tree.items() if k != "hydra"}
        found.update(v for _, v in _targets_in(tree) if isinstance(v, str))
    return frozenset(found)


def shipped_targets(conf_dir: str | Path | None = None) -> frozenset[str]:
    """Every ``_target_`` of the YAML files under ``conf_dir`` (default: the shipped ``conf/``),
    leaving out ``conf/hydra/`` and ``hydra:`` sections.

    >>> "fmnist.models.brief" in shipped_targets()
    True
    """
    return _shipped(Path(conf_dir).resolve() if conf_dir is not None else _conf_dir().resolve())


def _plain(node: Any) -> Any:
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def check_targets(node: Any, where: str, allowed: Iterable[str] | None = None) -> Any:
    """The plain (resolved) copy of ``node`` when every ``_target_`` in it is in ``allowed``
    (default: :func:`shipped_targets`); else an :class:`UnsafeTargetError` naming the key, the
    value and the allowed ones.

    >>> check_targets({"_target_": "fmnist.models.brief", "filters": 8}, "model")
    {'_target_': 'fmnist.models.brief', 'filters': 8}
    """
    try:
        plain = _plain(node)
    except Exception as exc:  # an interpolation that does not resolve
        raise UnsafeTargetError(f"{where} cannot be resolved: {str(exc)[:300]}") from exc
    permitted = frozenset(allowed) if allowed is not None else shipped_targets()
    for key, target in _targets_in(plain):
        full = f"{where}.{key}"
        if not isinstance(target, str) or target not in permitted:
            shown = repr(target)[:120] if isinstance(target, str) else type(target).__name__
            raise UnsafeTargetError(
                f"{full}={shown} is not one of this project's targets, so it is not built (a run "
                f"directory is data, not code); allowed: {', '.join(sorted(permitted))}")
    return plain


def safe_instantiate(node: Any, where: str, extra: Iterable[str] = ()) -> Any:
    """``hydra.utils.instantiate`` of ``node`` after :func:`check_targets` (the shipped targets
    plus ``extra``)."""
    from hydra.utils import instantiate

    plain = check_targets(node, where, shipped_targets() | frozenset(extra))
    return instantiate(plain)
