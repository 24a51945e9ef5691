"""The run record: ``metrics.json`` as written before the record class reads and writes back the
same keys in the same order, and the readers' defaults for a file without a status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmnist.record import RunRecord

_COMPLETED = {
    "train": {"loss": 0.3, "accuracy": 0.9}, "val": {"loss": 0.4, "accuracy": 0.88},
    "test": {"loss": 0.41, "accuracy": 0.87, "f1_macro": 0.86},
    "status": "completed", "epochs": 3, "best_epoch": 2, "params": 1000, "tta": False, "ema": False,
    "label_smoothing": 0.0, "trainable_params": 990, "train_seconds": 1.5, "eval_seconds": 0.2,
    "bn_recalibration_seconds": 0.0, "bn_recalibration_call_seconds": [], "wall_seconds": 2.0,
    "threads": 2, "steps_per_execution": 1, "precision_policy": "float32", "devices": ["CPU"],
    "study_name": "s", "trial_number": 4, "trial_id": 5, "objectives": {"val_accuracy": 0.88},
}
_PRUNED = {"val": {"loss": 0.5, "accuracy": 0.8}, "status": "pruned", "epochs": 1, "best_epoch": 1,
           "wall_seconds": 1.0, "objectives": {"val_accuracy": 0.8}}
_FAILED = {"status": "failed", "error": "TrainingDiverged: loss is nan", "note": "loss is nan",
           "traceback": "Traceback ...", "wall_seconds": 0.5, "trial_number": 2}
_OTHER_VERSION = {"val": {"accuracy": 0.5}, "status": "completed", "a_future_key": [1, 2]}


@pytest.mark.parametrize("data", [_COMPLETED, _PRUNED, _FAILED, _OTHER_VERSION, {"status": "failed"}])
def test_a_metrics_file_reads_and_writes_back_unchanged(data: dict, tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data))
    record = RunRecord.read(path)
    assert list(record.to_dict().items()) == list(data.items())
    record.write(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == data


@pytest.mark.parametrize(("data", "missing", "status"), [
    ({}, "unknown", "unknown"),
    ({"epochs": 2}, "incomplete", "incomplete"),
    ({"status": "pruned"}, "missing", "pruned"),
])
def test_a_record_without_status_takes_the_readers_default(data: dict, missing: str, status: str) -> None:
    assert RunRecord.from_dict(data, missing_status=missing).status == status


def test_fields_and_flat_names() -> None:
    record = RunRecord.from_dict(_COMPLETED)
    assert record.trial_number == 4 and record.split("test")["accuracy"] == 0.87
    assert record.split("val") == {"loss": 0.4, "accuracy": 0.88} and RunRecord(status="x").split("val") == {}
    flat = record.flat()
    assert flat["val_accuracy"] == 0.88 and flat["wall_seconds"] == 2.0 and "objectives" not in flat


@pytest.mark.parametrize("text", ["[1, 2]", "not json", '"completed"'])
def test_a_file_that_is_not_a_json_object_is_a_value_error(text: str, tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(text)
    with pytest.raises(ValueError):
        RunRecord.read(path)
