"""Finding run directories and reading what each run left behind."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from tqdm import tqdm

from fmnist.errors import FmnistError

__all__ = ["Run", "SummaryError", "collect_runs", "find_run_dirs"]

log = logging.getLogger(__name__)

#: override keys that describe the sweep's bookkeeping, not a hyperparameter
_BOOKKEEPING = ("optuna.", "hydra.", "paths.")


class SummaryError(FmnistError):
    """Nothing to summarise, or a path that does not exist."""


@dataclass
class Run:
    """One job's directory and what it recorded."""

    path: Path
    name: str
    status: str
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""

    def metric(self, split: str, name: str) -> float:
        value = (self.metrics.get(split) or {}).get(name)
        return float(value) if isinstance(value, int | float) else float("nan")


def _is_run_dir(path: Path) -> bool:
    return (path / ".hydra" / "config.yaml").is_file() or (path / "metrics.json").is_file()


def find_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Every run directory at or below ``paths`` (a run, a multirun, or a parent of several)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SummaryError(f"{path} does not exist")
        if not path.is_dir():
            raise SummaryError(f"{path} is not a directory: give run, multirun or sweep directories")
        if _is_run_dir(path):
            found.append(path)
            continue
        found.extend(
            p.parent.parent if p.name == "config.yaml" else p.parent
            for p in sorted(path.rglob("*"))
            if (p.name == "config.yaml" and p.parent.name == ".hydra") or
               (p.name == "metrics.json" and not (p.parent / ".hydra").is_dir())
        )
    unique = sorted(set(found), key=lambda p: (str(p.parent), _natural(p.name)))
    if not unique:
        raise SummaryError(
            f"no run directories under {', '.join(str(p) for p in paths)} (a run directory holds "
            ".hydra/config.yaml or metrics.json)"
        )
    return unique


def _natural(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except yaml.YAMLError:
        return None


def _overrides(lines: Iterable[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines or []:
        key, _, value = str(line).partition("=")
        key = key.lstrip("+~")
        if not key.startswith(_BOOKKEEPING):
            out[key] = value
    return out


def read_run(path: Path, root: Path | None = None) -> Run:
    """Read one run directory; never raises for a broken or unfinished run (its status and
    note say what is missing)."""
    inside = root is not None and path != root and root in path.parents
    name = str(path.relative_to(root)) if inside and root is not None else path.name
    run = Run(path=path, name=name, status="incomplete")
    run.overrides = _overrides(_read_yaml(path / ".hydra" / "overrides.yaml"))
    run.config = _read_yaml(path / ".hydra" / "config.yaml") or {}
    metrics_path = path / "metrics.json"
    if metrics_path.is_file():
        try:
            run.metrics = json.loads(metrics_path.read_text())
            run.status = str(run.metrics.get("status", "incomplete"))
            if run.status == "failed":
                run.note = str(run.metrics.get("error", ""))[:300]
        except json.JSONDecodeError as exc:
            run.note = f"metrics.json is unreadable: {exc}"
    else:
        run.note = "no metrics.json: the run is still going, or was killed"
    history_path = path / "history.csv"
    if history_path.is_file():
        try:
            run.history = pd.read_csv(history_path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            run.note = (run.note + f"; history.csv is unreadable: {exc}").strip("; ")
    return run


def collect_runs(paths: Sequence[str | Path], progress: bool = True) -> list[Run]:
    """Read every run under ``paths``, with a progress bar for large sweeps."""
    dirs = find_run_dirs(paths)
    roots = [Path(p) for p in paths]

    def root_of(d: Path) -> Path | None:
        return next((r for r in roots if r == d or r in d.parents), None)

    iterator = tqdm(dirs, desc="Collating runs", unit="run", disable=not progress or len(dirs) < 20)
    return [read_run(d, root_of(d)) for d in iterator]
