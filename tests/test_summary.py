"""The summariser on real sweeps: tables against the runs' own files, plots, the HTML report,
mixed finished / failed / pruned / incomplete runs, an Optuna study, and bad inputs."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fmnist.summary import collect_runs, summarize
from fmnist.summary.__main__ import main as summary_main
from tests.conftest import REPO, run_module
from tests.test_sweeper import _search, _sweep

RUN_PLOTS = {"comparison_grid.png", "val_curves.png", "learning_rate.png", "confusion_matrix_best.png"}
STUDY_PLOTS = {"optuna_history.png", "optuna_intermediate.png", "optuna_importances.png",
               "optuna_parallel.png"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, data_dir) -> Path:
    """A real multirun: two models x two seeds, two epochs on a few hundred images."""
    out = tmp_path_factory.mktemp("summary") / "multirun"
    proc = run_module("fmnist", "-m", "model=brief,deeper", "seed=1,2", "trainer.epochs=2",
                      "data.train_size=300", "data.eval_size=200", "trainer.batch_size=32",
                      f"hydra.sweep.dir={out}", cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_multirun_writes_the_summary_without_extra_command(sweep: Path) -> None:
    summary = sweep / "summary"
    names = {p.name for p in summary.iterdir()}
    assert {"runs.csv", "runs.md", "groups.csv", "groups.md", "report.html"} <= names
    assert names >= RUN_PLOTS
    for png in RUN_PLOTS:
        assert (summary / png).stat().st_size > 10_000


def test_runs_table_matches_the_run_files(sweep: Path) -> None:
    table = pd.read_csv(sweep / "summary" / "runs.csv", dtype={"run": str})
    assert len(table) == 4 and set(table["status"]) == {"completed"}
    assert list(table["val_accuracy"]) == sorted(table["val_accuracy"], reverse=True)
    assert table.loc[0, "best"] == "★" and table["best"].fillna("").tolist().count("★") == 1
    for row in table.itertuples():
        m = _metrics(sweep / row.run)
        assert row.test_accuracy == pytest.approx(m["test"]["accuracy"])
        assert row.val_f1_macro == pytest.approx(m["val"]["f1_macro"])
        assert row.train_precision_macro == pytest.approx(m["train"]["precision_macro"])
        assert row.params == m["params"] and row.epochs == m["epochs"] == 2
        assert row.seconds == pytest.approx(m["wall_seconds"])
    assert set(table["model"]) == {"brief", "deeper"} and set(table["seed"].astype(str)) == {"1", "2"}


def test_groups_average_over_seeds(sweep: Path) -> None:
    groups = pd.read_csv(sweep / "summary" / "groups.csv")
    assert list(groups.columns[:1]) == ["model"] and len(groups) == 2
    runs = pd.read_csv(sweep / "summary" / "runs.csv", dtype={"run": str})
    for row in groups.itertuples():
        accs = runs.loc[runs["model"] == row.model, "test_accuracy"]
        assert row.runs == 2
        assert row.test_accuracy_mean == pytest.approx(accs.mean())
        assert row.test_accuracy_std == pytest.approx(accs.std())


def test_html_is_self_contained_and_embeds_every_plot(sweep: Path) -> None:
    html = (sweep / "summary" / "report.html").read_text()
    for png in RUN_PLOTS:
        data = base64.b64encode((sweep / "summary" / png).read_bytes()).decode()
        assert data in html
    assert "src=\"http" not in html and "<link" not in html
    assert "python -m fmnist -m" in html and "model=brief,deeper" in html
    assert "seed=1,2" in html


def test_mixed_finished_failed_pruned_and_incomplete_runs(sweep: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(sweep, mixed, ignore=shutil.ignore_patterns("summary", "*.keras"))
    (mixed / "1" / "metrics.json").write_text(json.dumps(
        {"status": "failed", "error": "ConfigError: model.dropout_conv2 must be in [0, 1)"}))
    pruned = _metrics(mixed / "2")
    pruned["status"] = "pruned"
    (mixed / "2" / "metrics.json").write_text(json.dumps(pruned))
    (mixed / "3" / "metrics.json").unlink()
    (mixed / "0" / "history.csv").write_text("not,a\ncsv,file,with,extra,\"")
    assert summary_main([str(mixed), "--output", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "runs.csv", dtype={"run": str}).set_index("run")
    assert table.loc["0", "status"] == "completed" and table.loc["1", "status"] == "failed"
    assert table.loc["2", "status"] == "pruned" and table.loc["3", "status"] == "incomplete"
    assert "dropout_conv2" in table.loc["1", "note"]
    assert "no metrics.json" in table.loc["3", "note"]
    assert table.loc["0", "best"] == "★"
    html = (tmp_path / "out" / "report.html").read_text()
    assert "1 failed" in html and "1 pruned" in html and "1 incomplete" in html


def test_bad_paths_give_clear_errors(tmp_path: Path, capsys) -> None:
    assert summary_main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert summary_main([str(tmp_path / "empty")]) == 2
    assert "no run directories under" in capsys.readouterr().err
    (tmp_path / "file.txt").write_text("x")
    assert summary_main([str(tmp_path / "file.txt")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        summary_main([str(tmp_path), "--top", "0"])


def test_several_paths_and_a_parent_directory(sweep: Path, tmp_path: Path) -> None:
    runs = collect_runs([sweep / "0", sweep / "1"], progress=False)
    assert [r.path.name for r in runs] == ["0", "1"]
    parent_runs = collect_runs([sweep.parent], progress=False)
    assert len(parent_runs) == 4
    report = summarize([sweep.parent], output=tmp_path / "parent", progress=False)
    assert report.exists()


def test_optuna_sweep_report_includes_the_study_plots(tmp_path: Path) -> None:
    _sweep(tmp_path, "report", "hydra.sweeper.n_trials=3", conf=_search(tmp_path, "report"))
    summary = tmp_path / "sweep" / "report" / "summary"
    names = {p.name for p in summary.iterdir()}
    assert names >= STUDY_PLOTS and {"study_best.csv", "study_states.csv",
                                     "study_importances.csv"} <= names
    best = pd.read_csv(summary / "study_best.csv")
    runs = pd.read_csv(summary / "runs.csv", dtype={"run": str})
    assert best.loc[0, "val_accuracy"] == pytest.approx(runs.loc[0, "val_accuracy"])
    html = (summary / "report.html").read_text()
    for png in STUDY_PLOTS:
        assert base64.b64encode((summary / png).read_bytes()).decode() in html


def test_summary_callback_can_be_switched_off(tmp_path: Path) -> None:
    out = tmp_path / "off"
    proc = run_module("fmnist", "-m", "trainer.epochs=1", "data.train_size=100",
                      "data.eval_size=100", f"hydra.sweep.dir={out}",
                      "hydra.callbacks.summary.enabled=false", cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "0" / "metrics.json").exists() and not (out / "summary").exists()


def test_runs_table_reads_run_level_objectives(tmp_path: Path) -> None:
    """``train_seconds`` is a run-level number, not the 'seconds' metric of the train split."""
    from fmnist.summary import Run, runs_table

    runs = [Run(path=tmp_path / n, name=n, status="completed",
                metrics={"train_seconds": s, "val": {"accuracy": 0.5}})
            for n, s in (("slow", 9.0), ("fast", 2.0))]
    table = runs_table(runs, "train_seconds")
    assert list(table["run"]) == ["fast", "slow"] and list(table["train_seconds"]) == [2.0, 9.0]
    assert table.loc[0, "best"] == "★"
