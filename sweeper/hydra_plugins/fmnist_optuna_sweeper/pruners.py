"""The pruner a sweep's jobs use, and the one contract between the two sides: the sweep writes
its pruner's config as the study's ``pruner`` user attribute (:func:`pruner_spec`: a plain
dict ``{_target_: optuna.pruners.X, **kwargs}``; Optuna's storages keep no pruner), and each
job builds it back (:func:`pruner_from_spec`).

The storage may be shared, so nothing executable is taken from it: only the Optuna pruner
classes in :data:`ALLOWED_PRUNERS` are built, with plain arguments (numbers, strings, booleans,
null) and, for ``PatientPruner``, a nested pruner spec; anything else is an
:class:`UnsafePrunerSpec` error before anything runs.
"""

from __future__ import annotations

from typing import Any

import optuna
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from omegaconf import DictConfig, OmegaConf

__all__ = ["ALLOWED_PRUNERS", "PRUNER_ATTR", "PrunerSpecError", "UnsafePrunerSpec", "pruner_from_spec",
           "pruner_spec"]

#: the study user attribute that holds the pruner's config
PRUNER_ATTR = "pruner"
#: the pruners a job builds from a study's ``pruner`` attribute
ALLOWED_PRUNERS = {
    f"optuna.pruners.{name}": getattr(optuna.pruners, name)
    for name in ("MedianPruner", "PercentilePruner", "SuccessiveHalvingPruner", "HyperbandPruner",
                 "ThresholdPruner", "PatientPruner", "WilcoxonPruner", "NopPruner")
}
_NESTED = {"wrapped_pruner"}  # arguments that are themselves pruner specs
_PLAIN = (bool, int, float, str, type(None))


class PrunerSpecError(SweepError, ValueError):
    """A study's ``pruner`` attribute cannot be built (the message names the key and value)."""


class UnsafePrunerSpec(PrunerSpecError):
    """A study's ``pruner`` attribute names something other than an allowed Optuna pruner, or
    passes it anything but plain values."""


def pruner_spec(node: Any) -> dict[str, Any] | None:
    """The pruner's resolved config (``{_target_, kwargs...}``, nulls dropped), as the sweep
    stores it for its jobs; None for a pruner given as an object or without ``_target_``."""
    if not isinstance(node, DictConfig) or not node.get("_target_"):
        return None
    spec = OmegaConf.to_container(node, resolve=True)
    assert isinstance(spec, dict)
    return {str(k): v for k, v in spec.items() if v is not None}


def _argument(key: str, value: Any, where: str) -> Any:
    """One argument of an allowed pruner: a plain value, or a nested pruner spec."""
    if key.startswith("_"):
        raise UnsafePrunerSpec(f"{where}.{key} is not allowed (only _target_ and arguments)")
    if key in _NESTED and (value is None or isinstance(value, dict)):
        return None if value is None else pruner_from_spec(value, where=f"{where}.{key}")
    if isinstance(value, _PLAIN):
        return value
    raise UnsafePrunerSpec(f"{where}.{key} must be a number, string, boolean or null, got "
                           f"{type(value).__name__} {value!r}")


def pruner_from_spec(spec: Any, *, where: str = "pruner") -> optuna.pruners.BasePruner:
    """The pruner a study's ``pruner`` attribute describes (``None`` or ``{}``: no pruning).

    >>> pruner_from_spec({"_target_": "optuna.pruners.MedianPruner", "n_warmup_steps": 2})
    ... # doctest: +ELLIPSIS
    <optuna.pruners._median.MedianPruner object at ...>
    """
    if spec is None or spec == {}:
        return optuna.pruners.NopPruner()
    if not isinstance(spec, dict):
        raise UnsafePrunerSpec(f"{where} must be a mapping with _target_, got {type(spec).__name__}")
    target = spec.get("_target_")
    if target not in ALLOWED_PRUNERS:
        raise UnsafePrunerSpec(
            f"{where}._target_={target!r} is not an allowed pruner; allowed: "
            f"{', '.join(sorted(ALLOWED_PRUNERS))}")
    kwargs = {key: _argument(key, value, where) for key, value in spec.items() if key != "_target_"}
    try:
        pruner: optuna.pruners.BasePruner = ALLOWED_PRUNERS[target](**kwargs)
    except (TypeError, ValueError) as exc:
        raise PrunerSpecError(f"{where}: {target}({kwargs}) failed: {exc}") from exc
    return pruner
