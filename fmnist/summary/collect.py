"""Finding run directories and reading what each run left behind."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from tqdm import tqdm

from fmnist.errors import FmnistError
from fmnist.record import METRICS_FILE, RunRecord

__all__ = ["HISTORY_COLUMNS", "Run", "SummaryError", "collect_runs", "find_run_dirs", "label_prefixes",
           "read_run", "run_labels"]

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
    #: the config group options the run was composed with (``.hydra/hydra.yaml``), e.g.
    #: {"model": "deeper"} also when an experiment chose it
    choices: dict[str, str] = field(default_factory=dict)
    #: a short label for plots: the trial or job number
    label: str = ""

    def metric(self, split: str, name: str) -> float:
        value = (self.metrics.get(split) or {}).get(name)
        return float(value) if isinstance(value, int | float) else float("nan")

    def value(self, key: str) -> str:
        """The run's real value of an override key: the group option it was composed with
        (``model`` -> ``deeper``), else the composed config's value (``optim.learning_rate``),
        else its override; ``-`` when it has none."""
        if key in self.choices:
            return str(self.choices[key])
        node: Any = self.config
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None and not isinstance(node, dict | list):
            return str(node)
        return self.overrides.get(key, "-")


#: columns every history.csv holds (a run whose file lacks one is listed as damaged)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def _is_run_dir(path: Path) -> bool:
    return (path / ".hydra" / "config.yaml").is_file() or (path / METRICS_FILE).is_file()


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
            if ((p.name == "config.yaml" and p.parent.name == ".hydra") or
                (p.name == METRICS_FILE and not (p.parent / ".hydra").is_dir()
                 and not (p.parent.parent / "model.keras").is_file()))  # not RUN_DIR/evaluation
            and not _retrained(p, path)
        )
    unique = sorted(set(found), key=lambda p: (str(p.parent), _natural(p.name)))
    if not unique:
        raise SummaryError(
            f"no run directories under {', '.join(str(p) for p in paths)} (a run directory holds "
            ".hydra/config.yaml or metrics.json)"
        )
    return unique


def _retrained(path: Path, root: Path) -> bool:
    """Whether ``path`` lies in a sweep's ``best/`` directory below ``root`` (fmnist.best's
    runs: not trials of the sweep; the report shows their table instead)."""
    for parent in path.parents:
        if parent == root:
            return False
        if parent.name == "best" and (parent.parent / "optimization_results.yaml").is_file():
            return True
    return False


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


def _append(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def read_run(path: Path, root: Path | None = None) -> Run:
    """Read one run directory; never raises for a broken or unfinished run (its status and
    note say what is missing or damaged)."""
    inside = root is not None and path != root and root in path.parents
    name = str(path.relative_to(root)) if inside and root is not None else path.name
    run = Run(path=path, name=name, status="incomplete")
    overrides = _read_yaml(path / ".hydra" / "overrides.yaml")
    run.overrides = _overrides(overrides if isinstance(overrides, list) else None)
    config = _read_yaml(path / ".hydra" / "config.yaml")
    run.config = config if isinstance(config, dict) else {}
    hydra_cfg = _read_yaml(path / ".hydra" / "hydra.yaml")
    choices = (((hydra_cfg or {}).get("hydra") or {}).get("runtime") or {}).get("choices") \
        if isinstance(hydra_cfg, dict) else None
    run.choices = {k: str(v) for k, v in (choices or {}).items()
                   if v is not None and not k.startswith("hydra/")}
    metrics_path = path / METRICS_FILE
    if metrics_path.is_file():
        try:
            record = RunRecord.read(metrics_path, missing_status="incomplete")
            run.metrics, run.status = record.to_dict(), record.status
            if record.status == "failed":
                run.note = str(record.error or "failed")[:300]
            elif record.status == "pruned":
                run.note = f"pruned at epoch {record.epochs if record.epochs is not None else '?'}"
        except ValueError as exc:  # not JSON, not text, or not an object
            run.status = "damaged"
            run.note = f"metrics.json is unreadable: {exc}"
    else:
        run.note = "no metrics.json: the run is still going, or was killed"
    history_path = path / "history.csv"
    if history_path.is_file():
        try:
            history = pd.read_csv(history_path)
            missing = [c for c in HISTORY_COLUMNS if c not in history]
            if missing:
                run.note = _append(run.note, f"history.csv lacks {', '.join(missing)}")
                if run.status == "completed":
                    run.status = "damaged"
            history = history.apply(pd.to_numeric, errors="coerce")
            run.history = history if "epoch" in history else pd.DataFrame()
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            run.note = _append(run.note, f"history.csv is unreadable: {exc}")
    return run


def _unique_names(runs: list[Run], several_roots: bool) -> None:
    """Run ids unique across the summary, and short plot labels (the trial or job number)."""
    if several_roots:
        for run in runs:
            root = run.path.parents[len(Path(run.name).parts) - 1] if run.name != run.path.name \
                else run.path.parent
            run.name = f"{root.name}/{run.name}"
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.name] = seen.get(run.name, 0) + 1
        if seen[run.name] > 1:
            run.name = f"{run.name}~{seen[run.name]}"
    for run, label in zip(runs, run_labels(runs), strict=True):
        run.label = label


def _own_label(run: Run) -> str:
    """A run's label within its sweep: ``T<trial number>`` in an Optuna study, else its job
    directory's name (the job number), at most 8 characters."""
    trial = RunRecord.from_dict(run.metrics).trial_number
    label = f"T{trial}" if isinstance(trial, int) else run.path.name
    return label if len(label) <= 8 else label[-8:]


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Short, stable labels for plots and tables: each run's own label (``T6``, ``3``); when
    the runs come from several sweep directories and those labels repeat, prefixed with a
    letter per directory in the order met (``A:T6``, ``B:3``), so that a run keeps its number
    (see :func:`label_prefixes`)."""
    own = [_own_label(r) for r in runs]
    if len(set(own)) == len(own):
        return own
    letters: dict[Path, str] = {}
    for run in runs:
        letters.setdefault(run.path.parent, _letter(len(letters)))
    return [f"{letters[r.path.parent]}:{label}" for r, label in zip(runs, own, strict=True)]


def _letter(index: int) -> str:
    """A, B, ..., Z, AA, AB, ..."""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def label_prefixes(runs: Sequence[Run]) -> dict[str, Path]:
    """The directory each label prefix stands for (``{"A": .../sweeps/cont}``), if any."""
    return {r.label.split(":", 1)[0]: r.path.parent for r in runs if ":" in r.label}


def collect_runs(paths: Sequence[str | Path], progress: bool = True) -> list[Run]:
    """Read every run under ``paths``, with a progress bar for large sweeps."""
    dirs = find_run_dirs(paths)
    roots = [Path(p) for p in paths]

    def root_of(d: Path) -> Path | None:
        return next((r for r in roots if r == d or r in d.parents), None)

    iterator = tqdm(dirs, desc="Collating runs", unit="run", disable=not progress or len(dirs) < 20)
    runs = [read_run(d, root_of(d)) for d in iterator]
    used_roots = {root_of(d) for d in dirs}
    _unique_names(runs, several_roots=len(used_roots) > 1)
    return runs
