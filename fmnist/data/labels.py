"""A run's label mapping (``labels.json``): class id k -> the original class value and name,
so a submission writes the labels the data used (e.g. 1..5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper import atomic

from fmnist.errors import DataError

__all__ = ["load_labels", "save_labels"]


def save_labels(path: str | Path, class_values: list[Any], class_names: list[str]) -> None:
    """Write the class-id -> original-value mapping (``labels.json``) of a run."""
    atomic.write_text(
        path, json.dumps({"class_values": class_values, "class_names": class_names}, indent=2) + "\n"
    )


def load_labels(path: str | Path) -> tuple[list[Any], list[str]]:
    """The mapping :func:`save_labels` wrote; a damaged file is a :class:`DataError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the label mapping {path}: {exc}") from exc
    values, names = (data.get(k) if isinstance(data, dict) else None
                     for k in ("class_values", "class_names"))
    if not isinstance(values, list) or not isinstance(names, list) or len(values) != len(names):
        raise DataError(f"{path} is not a label mapping: expected lists 'class_values' and "
                        "'class_names' of the same length")
    return values, [str(n) for n in names]
