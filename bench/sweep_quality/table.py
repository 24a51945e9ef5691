"""The replay table: one CSV row per configuration x epoch.

Columns: ``config`` (an id), ``epoch`` (1-based), ``val_accuracy`` (after that epoch, the value
a trial reports to its pruner), ``seconds`` (that epoch's wall time), ``test_accuracy`` (the
configuration's final test accuracy, on every row of it; empty when unknown), then one column
per searched parameter, named as in ``hydra.sweeper.params``. A JSON file next to it
(``<table>.json``) records the preset and the reduced problem the curves come from.

The recorder appends whole configurations (all epochs at once), so a table cut short by an
interrupted recorder never holds half a curve.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FIXED_COLUMNS", "Recorded", "TableError", "append", "meta_path", "read_meta", "read_table",
           "write_meta"]

FIXED_COLUMNS = ("config", "epoch", "val_accuracy", "seconds", "test_accuracy")


class TableError(ValueError):
    """A replay table that cannot be used; the message names the file, row and rule."""


@dataclass(frozen=True)
class Recorded:
    """One recorded configuration: its parameters and its curve.

    Attributes:
        config: its id in the table.
        params: searched parameter -> value.
        values: validation accuracy after epochs 1, 2, ...
        seconds: wall time of each epoch.
        test: final test accuracy (None: not recorded).
    """

    config: int
    params: dict[str, Any]
    values: tuple[float, ...]
    seconds: tuple[float, ...]
    test: float | None = None

    def __post_init__(self) -> None:
        if not self.values or len(self.values) != len(self.seconds):
            raise TableError(f"config {self.config}: needs as many epoch times as values (>= 1), got "
                             f"{len(self.values)} values and {len(self.seconds)} times")
        if any(s < 0 for s in self.seconds):
            raise TableError(f"config {self.config}: epoch seconds must be >= 0, got {self.seconds}")


def meta_path(table: Path) -> Path:
    return table.with_suffix(".json")


def write_meta(table: Path, meta: Mapping[str, Any]) -> None:
    meta_path(table).write_text(json.dumps(dict(meta), indent=2) + "\n")


def read_meta(table: Path) -> dict[str, Any]:
    path = meta_path(table)
    return json.loads(path.read_text()) if path.exists() else {}


def read_table(path: Path) -> list[Recorded]:
    """The configurations of a table, by id; epochs must run 1..n without gaps."""
    if not path.exists():
        raise TableError(f"replay table {path} does not exist (record it: see BENCHMARKS.md)")
    rows: dict[int, list[dict[str, str]]] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = set(FIXED_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise TableError(f"{path}: columns {sorted(missing)} are missing")
        names = [c for c in reader.fieldnames or () if c not in FIXED_COLUMNS]
        for row in reader:
            rows.setdefault(int(row["config"]), []).append(row)
    out = []
    for config, group in sorted(rows.items()):
        group.sort(key=lambda r: int(r["epoch"]))
        epochs = [int(r["epoch"]) for r in group]
        if epochs != list(range(1, len(group) + 1)):
            raise TableError(f"{path}: config {config} must have epochs 1..{len(group)}, got {epochs}")
        test = group[-1]["test_accuracy"]
        out.append(Recorded(config, {n: _value(group[0][n]) for n in names},
                            tuple(float(r["val_accuracy"]) for r in group),
                            tuple(float(r["seconds"]) for r in group),
                            float(test) if test not in ("", None) else None))
    return out


def append(path: Path, configs: Iterable[Recorded], names: Sequence[str]) -> None:
    """Appends configurations (header first when the file is new); parameter columns ``names``."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow([*FIXED_COLUMNS, *names])
        for c in configs:
            test = "" if c.test is None or not math.isfinite(c.test) else f"{c.test:.6g}"
            for epoch, (value, seconds) in enumerate(zip(c.values, c.seconds, strict=True), start=1):
                writer.writerow([c.config, epoch, f"{value:.6g}", f"{seconds:.4g}", test,
                                 *(_text(c.params[n]) for n in names)])


def _text(value: Any) -> str:
    return f"{value:.8g}" if isinstance(value, float) else str(value)


def _value(text: str) -> Any:
    """A parameter cell: int, float, bool or string (categorical choices), as written."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)
