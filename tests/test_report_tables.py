"""Report tables a person can read at 1280 px (every column shown, wrapped rather than cut
off, checked in headless Chromium), per-factor averages of a grid multirun, stable prefixed
run labels over several directories, legends in the order they say, and a confusion matrix
whose axis labels are inside the figure. On synthetic run directories."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pytest

from fmnist.plots import confusion_matrix_figure
from fmnist.summary import collect_runs, summarize
from fmnist.summary.collect import label_prefixes, run_labels
from fmnist.summary.figures import run_figures
from fmnist.summary.study_figures import study_figures
from fmnist.summary.tables import factor_table, runs_table, short_names, swept_keys
from tests.conftest import REPO
from tests.test_report_figures import _legend_labels, _write_run, continuous_sweep, multirun

__all__ = ["continuous_sweep", "multirun"]  # fixtures used here

#: a searched space with long names, as elastic_sgdr's
WIDE_KEYS = ["augment.elastic.alpha", "augment.elastic.sigma", "schedule.max_lr",
             "schedule.min_lr_fraction", "model.dropout_conv2", "model.dropout_conv3",
             "optim.beta_1", "optim.beta_2", "trainer.epochs"]
LONG_ERROR = ("ConfigError: trainer.eval_train_size must be at least the number of classes (10), "
              "got 3; see conf/trainer/default.yaml and the README's section on quick runs for "
              "what each knob means, then run the same command again")


@pytest.fixture
def wide_sweep(tmp_path: Path) -> Path:
    """12 runs of a search over nine long-named keys, three failed with a long error."""
    root = tmp_path / "sweeps" / "wide_search_with_a_long_name"
    rng = np.random.default_rng(1)
    for n in range(12):
        values = {k: float(rng.uniform(0.001, 0.9)) for k in WIDE_KEYS}
        values["trainer.epochs"] = 2 + n % 2
        status = "failed" if n in (3, 7, 11) else "completed"
        _write_run(root / str(n), config={"optimized_metric": "val_accuracy"},
                   overrides=[f"{k}={v!r}" for k, v in values.items()], choices={}, epochs=3,
                   status=status, val=0.5 + 0.01 * n, trial=n)
        if status == "failed":
            (root / str(n) / "metrics.json").write_text(json.dumps(
                {"status": "failed", "error": LONG_ERROR, "trial_number": n, "wall_seconds": 1.0}))
    return root


def _screenshots():
    sys.path.insert(0, str(REPO / "scripts"))
    import report_screenshots

    try:
        report_screenshots.chromium()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return report_screenshots


def test_report_tables_fit_1280_px_with_every_column(wide_sweep: Path, continuous_sweep: Path,
                                                     tmp_path: Path) -> None:
    shots = _screenshots()
    report = summarize([wide_sweep, continuous_sweep], output=tmp_path / "out", progress=False)
    page = shots.measure(report, 1280)
    assert page["wide"] == [] and page["width"] <= 1280, page
    html_text = report.read_text().replace("\u200b", "")
    runs_md = (tmp_path / "out" / "runs.md").read_text().splitlines()[0]
    for column in (c.strip() for c in runs_md.strip("|").split("|")):
        assert f"<th>{column}</th>" in html_text, column  # every column of the page's table
    assert "overflow-x" not in html_text  # no scroll box that hides columns
    png = shots.screenshot(report, tmp_path / "report.png", width=1280)
    assert png.exists()
    assert shots.main([str(report), "-o", str(tmp_path / "shots")]) == 0


def test_report_screenshots_take_a_relative_path(wide_sweep: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shots = _screenshots()
    summarize([wide_sweep], progress=False)
    monkeypatch.chdir(wide_sweep.parent)
    assert shots.main([f"{wide_sweep.name}/summary/report.html", "-o", "shots"]) == 0
    assert (wide_sweep.parent / "shots" / f"{wide_sweep.name}.png").exists()


def test_a_grid_multirun_averages_each_factor(multirun: Path) -> None:
    runs = collect_runs([multirun], progress=False)
    factors = factor_table(runs).set_index(["factor", "option"])
    for factor, option, values in [("model", "brief", [0.71, 0.74]), ("model", "deeper", [0.78, 0.80]),
                                   ("optim", "adam", [0.71, 0.78]), ("optim", "adamax", [0.74, 0.80])]:
        row = factors.loc[(factor, option)]
        assert row["runs"] == row["completed"] == 2
        assert row["val_accuracy_mean"] == pytest.approx(np.mean(values))
        assert row["val_accuracy_std"] == pytest.approx(np.std(values, ddof=1))
    summarize([multirun], progress=False)
    md = (multirun / "summary" / "factors.md").read_text()
    assert "| model | brief | 2 | 2 | 0 | 0 | 0.7250 ± 0.0212 |" in md
    html_text = (multirun / "summary" / "report.html").read_text()
    assert "By factor" in html_text
    assert "By combination" not in html_text  # each combination ran once: it would repeat the runs


def test_several_directories_keep_trial_numbers_behind_a_prefix(continuous_sweep: Path,
                                                                tmp_path: Path) -> None:
    second = continuous_sweep.parent / "again"
    shutil.copytree(continuous_sweep, second)
    runs = collect_runs([continuous_sweep, second], progress=False)
    # a letter per directory, in the order read (sorted paths), before each run's own label
    assert label_prefixes(runs) == {"A": second, "B": continuous_sweep}
    labels = {(r.path.parent.name, r.label) for r in runs}
    assert {("again", f"A:T{n}") for n in range(12)} | {("cont", f"B:T{n}") for n in range(12)} == labels
    report = summarize([continuous_sweep, second], output=tmp_path / "out", progress=False)
    assert f"A = <code>{second}</code>, B = <code>{continuous_sweep}</code>" in report.read_text()
    alone = collect_runs([continuous_sweep], progress=False)
    assert run_labels(alone) == [r.label for r in alone] and "T6" in run_labels(alone)


def test_no_two_columns_share_a_name(wide_sweep: Path) -> None:
    summarize([wide_sweep], progress=False)
    for name in ("runs.md", "runs.csv"):
        text = (wide_sweep / "summary" / name).read_text().splitlines()[0]
        columns = [c.strip() for c in text.strip("|").replace(",", "|").split("|")]
        assert len(columns) == len(set(columns)), columns
    header = (wide_sweep / "summary" / "runs.md").read_text().splitlines()[0]
    assert "| trainer.epochs |" in header and "| epochs |" in header


@pytest.mark.parametrize(("keys", "reserved", "expected"), [
    (["model.dropout_conv2"], [], {"model.dropout_conv2": "dropout_conv2"}),
    (["trainer.epochs"], ["epochs"], {}),
    (["a.lr", "b.lr"], [], {}),
    (["model"], ["model"], {}),
])
def test_short_names(keys, reserved, expected) -> None:
    assert short_names(keys, reserved) == expected


def test_legends_list_runs_best_first(continuous_sweep: Path) -> None:
    runs = collect_runs([continuous_sweep], progress=False)
    table = runs_table(runs)
    ranked = list(table["label"])
    figures = {name: fig for _, name, fig in run_figures(runs, list(table["run"]), top_n=8,
                                                         keys=swept_keys(runs))}
    assert _legend_labels(figures["val_curves.png"]) == ranked[:8]
    study = optuna.load_study(study_name="cont", storage=runs[0].config["optuna"]["storage"])
    trials = sorted((t for t in study.trials if t.value is not None), key=lambda t: -t.value)
    by_name = {name: fig for _, name, fig in study_figures(study, 8)}
    labels = [x for x in _legend_labels(by_name["optuna_intermediate.png"]) if x.startswith("T")]
    assert labels == [f"T{t.number}" for t in trials][:len(labels)]
    for fig in [*figures.values(), *by_name.values()]:
        plt.close(fig)


def test_confusion_matrix_labels_both_axes_inside_the_figure() -> None:
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
             "Bag", "Ankle boot"]
    fig = confusion_matrix_figure(np.eye(10) * 10 + 1, names)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    box = fig.bbox
    for label in (ax.xaxis.label, ax.yaxis.label):
        extent = label.get_window_extent()
        assert extent.x0 >= box.x0 and extent.y0 >= box.y0, (label.get_text(), extent, box)
    plt.close(fig)
