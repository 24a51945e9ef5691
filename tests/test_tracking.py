"""A swept job's records in its Optuna trial, read back through Optuna's own API: the
study's metric names, the run's files in the artifact store, and the dashboard note."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from fmnist.record import RunRecord
from fmnist.tracking import ARTIFACTS, note_text


def _note(study: optuna.Study, trial_id: int) -> str:
    from optuna_dashboard._note import get_note_from_system_attrs

    attrs = study._storage.get_study_system_attrs(study._study_id)
    return get_note_from_system_attrs(attrs, trial_id)["body"]


def test_a_swept_job_uploads_its_artifacts_and_note(compose_cfg, tmp_path: Path) -> None:
    from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta

    from fmnist.app import run

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="track", storage=storage, direction="maximize")
    trial = study.ask()
    out = tmp_path / "sweep" / "0"
    cfg = compose_cfg(f"paths.output_dir={out}", f"optuna.storage={storage}",
                      "optuna.study_name=track", f"optuna.trial_id={trial._trial_id}",
                      "optuna.trial_number=0")
    value = run(cfg)
    study.tell(trial, value)

    study = optuna.load_study(study_name="track", storage=storage)
    assert study.metric_names == ["val_accuracy"]
    frozen = study.trials[0]
    metas = get_all_artifact_meta(frozen, storage=study._storage)
    assert sorted(m.filename for m in metas) == sorted(ARTIFACTS)
    assert {m.filename: m.mimetype for m in metas}["curves.png"] == "image/png"
    store = FileSystemArtifactStore(str(tmp_path / "sweep" / "optuna_artifacts"))
    for meta in metas:
        copy = tmp_path / f"copy_{meta.filename}"
        download_artifact(artifact_store=store, artifact_id=meta.artifact_id, file_path=str(copy))
        assert copy.read_bytes() == (out / meta.filename).read_bytes()
    note = _note(study, frozen._trial_id)
    assert note.startswith("### Completed") and f"| val_accuracy | {value:.4f} |" in note
    assert f"Run directory: `{out}`" in note


@pytest.mark.parametrize(("metrics", "expected"), [
    ({"status": "pruned", "epochs": 1, "val": {"accuracy": 0.5}}, ["### Pruned", "Pruned at epoch 1.",
                                                                   "| val_accuracy | 0.5000 |"]),
    ({"status": "failed", "error": "ConfigError: bad"}, ["### Failed", "`ConfigError: bad`"]),
])
def test_note_says_status_and_metrics(metrics, expected) -> None:
    text = note_text(RunRecord.from_dict(metrics), Path("/runs/3"), ["val_accuracy"])
    for line in expected:
        assert line in text
    assert text.endswith("Run directory: `/runs/3`\n")


def test_a_sweep_on_a_journal_file_leaves_artifacts_and_a_note_on_every_trial(tmp_path: Path) -> None:
    """The journal storage (``journal:///``) reaches jobs through the sweeper's job-side module
    as any other storage does: every finished trial has its files, note and metrics."""
    from hydra_plugins.fmnist_optuna_sweeper.job import open_study
    from optuna.artifacts import get_all_artifact_meta

    from tests.test_sweeper import _search, _sweep

    storage = f"journal://{tmp_path / 'study.log'}"
    _sweep(tmp_path, "jtrack", "hydra.sweeper.n_trials=2", storage=storage,
           conf=_search(tmp_path, "jtrack", epochs=1))
    study = open_study(storage, "jtrack")
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert study.metric_names == ["val_accuracy"]
    for frozen in trials:
        metas = get_all_artifact_meta(frozen, storage=study._storage)
        assert sorted(m.filename for m in metas) == sorted(ARTIFACTS)
        note = _note(study, frozen._trial_id)
        assert note.startswith("### Completed") and f"| val_accuracy | {frozen.value:.4f} |" in note
        assert f"Run directory: `{frozen.user_attrs['run_dir']}`" in note
        assert frozen.user_attrs["status"] == "completed" and frozen.user_attrs["epochs"] == 1
