"""A run's record: what ``metrics.json`` in its directory says, as one typed object that the
training job writes and the tracking, the summariser and ``fmnist-best`` read.

The file stays plain JSON with the keys it always had (a field that is ``None`` is left out),
so run directories written before this class read the same; keys a reader does not know are
kept in :attr:`RunRecord.extra` and written back unchanged.

>>> record = RunRecord(status="completed", val={"accuracy": 0.9}, epochs=3)
>>> record.to_dict()
{'val': {'accuracy': 0.9}, 'status': 'completed', 'epochs': 3}
>>> RunRecord.from_dict({"status": "pruned", "epochs": 2, "new_key": 1}).extra
{'new_key': 1}
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra_plugins.fmnist_optuna_sweeper import atomic

from fmnist.metrics import flatten

__all__ = ["METRICS_FILE", "STATUSES", "RunRecord"]

#: the record's file name in a run directory
METRICS_FILE = "metrics.json"
#: what a finished job writes as ``status`` (readers add their own for a missing file)
STATUSES = ("completed", "pruned", "failed")


@dataclass(kw_only=True)
class RunRecord:
    """What one run recorded. Fields in the order they appear in ``metrics.json``."""

    #: metrics of each split evaluated (``loss``, ``accuracy``, ``f1_macro``, ...); a pruned
    #: run has ``val`` only (its last epoch's), ``data.train_on=train+val`` no ``val``
    train: dict[str, float] | None = None
    val: dict[str, float] | None = None
    test: dict[str, float] | None = None
    #: completed, pruned or failed (see :data:`STATUSES`)
    status: str
    #: a failed run: ``Type: message``, a note for the reader (a diverged run) and the traceback
    error: str | None = None
    note: str | None = None
    traceback: str | None = None
    #: epochs trained, and the epoch whose weights the model holds
    epochs: int | None = None
    best_epoch: int | None = None
    #: the model: its parameters, and how it was trained and evaluated
    params: int | None = None
    tta: bool | None = None
    ema: bool | None = None
    label_smoothing: float | None = None
    trainable_params: int | None = None
    #: time spent (seconds)
    train_seconds: float | None = None
    eval_seconds: float | None = None
    bn_recalibration_seconds: float | None = None
    bn_recalibration_call_seconds: list[float] | None = None
    wall_seconds: float | None = None
    #: what the job ran on (:func:`fmnist.runtime.configure_runtime`)
    threads: int | None = None
    steps_per_execution: int | None = None
    precision_policy: str | None = None
    devices: list[str] | None = None
    #: the Optuna trial, inside a sweep
    study_name: str | None = None
    trial_number: int | None = None
    trial_id: int | None = None
    #: the value of each ``optimized_metric`` name
    objectives: dict[str, float] | None = None
    #: keys this version does not know (written by another version), kept as they are
    extra: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> dict[str, float]:
        """The metrics of split ``name`` (``{}`` when it was not evaluated)."""
        value = getattr(self, name) if name in ("train", "val", "test") else None
        return value if isinstance(value, dict) else {}

    def headline(self) -> dict[str, float]:
        """The validation and test metrics a trial shows first (``val_accuracy``, ``val_f1_macro``,
        ``val_loss``, then the same for ``test``): those recorded."""
        pairs = [(split, name) for split in ("val", "test") for name in ("accuracy", "f1_macro", "loss")]
        return {f"{split}_{name}": value for split, name in pairs
                if (value := self.split(split).get(name)) is not None}

    def flat(self) -> dict[str, float]:
        """Every number by the name ``optimized_metric`` may give it (``val_accuracy``,
        ``wall_seconds``), objectives left out."""
        return flatten({k: v for k, v in self.to_dict().items() if k != "objectives"})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``metrics.json``: the fields that are set, then :attr:`extra`."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "extra" and getattr(self, f.name) is not None}
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], missing_status: str = "unknown") -> RunRecord:
        """The record a ``metrics.json`` object holds; ``missing_status`` when it has none."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        fields = {k: v for k, v in data.items() if k in known}
        fields["status"] = str(fields.get("status", missing_status))
        return cls(**fields, extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def read(cls, path: str | Path, missing_status: str = "unknown") -> RunRecord:
        """The record in ``path``: :class:`OSError` when it cannot be read, :class:`ValueError`
        when it is not a JSON object."""
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, found {type(data).__name__}")
        return cls.from_dict(data, missing_status)

    def write(self, path: str | Path) -> None:
        """Write the record to ``path`` in one piece (a crash leaves the old file or none)."""
        atomic.write_text(path, json.dumps(self.to_dict(), indent=2, default=float) + "\n")
