"""A full disk while a run or a sweep writes its artifacts leaves the old file, never a
truncated one: each real writer runs in a subprocess whose file-size limit (RLIMIT_FSIZE,
SIGXFSZ ignored) makes the write fail with EFBIG part-way, as a full disk does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

_CHILD = r"""
import json, resource, signal, sys
from pathlib import Path

case, path = sys.argv[1], Path(sys.argv[2])
LIMIT = 100  # bytes: every new content below is larger, every old one smaller


def prepare():
    if case == "model_keras":
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64), keras.layers.Dense(3)])
        path.write_bytes(b"old model")
        return lambda: model_save(model)
    if case == "results_yaml":
        import optuna
        from hydra_plugins.fmnist_optuna_sweeper.records import write_results
        study = optuna.create_study(direction="maximize")
        for i in range(5):
            study.add_trial(optuna.trial.create_trial(params={"x": float(i)}, value=float(i),
                            distributions={"x": optuna.distributions.FloatDistribution(0, 9)}))
        return lambda: write_results(path, study, "sqlite:///x.db")
    if case == "submission_csv":
        import numpy as np
        from fmnist.predict import write_submission
        return lambda: write_submission(path, np.arange(50), np.eye(3)[np.arange(50) % 3], [1, 2, 3])
    if case == "labels_json":
        from fmnist.data import save_labels
        return lambda: save_labels(path, list(range(10)), [f"class {i}" for i in range(10)])
    if case == "figure_png":
        from fmnist import plots
        import numpy as np
        return lambda: plots.save(plots.confusion_matrix_figure(np.eye(3), ["a", "b", "c"]), path)
    if case == "job_end_json":
        from hydra_plugins.fmnist_optuna_sweeper.callbacks import _write_json
        return lambda: _write_json(path, {"status": "completed", "values": [0.5] * 40})
    if case == "plain_write_text":  # the control: an in-place write is truncated
        return lambda: path.write_text("x" * 1000)
    raise SystemExit(f"unknown case {case}")


def model_save(model):
    from hydra_plugins.fmnist_optuna_sweeper import atomic
    with atomic.atomic_path(path) as tmp:  # as fmnist.app saves model.keras
        model.save(tmp)


write = prepare()
if case != "model_keras":
    path.write_text("old")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
try:
    write()
    error = None
except Exception as exc:
    error = type(exc).__name__ + ": " + str(exc)[:200]
print(json.dumps({"error": error}))
"""

_CASES = {"model_keras": b"old model", "results_yaml": b"old", "submission_csv": b"old",
          "labels_json": b"old", "figure_png": b"old", "job_end_json": b"old"}


def _run(case: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, case, str(path)], cwd=path.parent,
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'sweeper'}",
                               "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
                               "HOME": str(path.parent.parent / "home")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", sorted(_CASES))
def test_a_full_disk_leaves_the_old_artifact(case: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = out / {"model_keras": "model.keras", "results_yaml": "optimization_results.yaml",
                       "submission_csv": "submission.csv", "labels_json": "labels.json",
                       "figure_png": "confusion_matrix.png", "job_end_json": "0.json"}[case]
    result = _run(case, path)
    assert result["error"] is not None and "File too large" in result["error"], result
    assert path.read_bytes() == _CASES[case]
    assert [p.name for p in out.iterdir()] == [path.name]  # no temporary left behind


def test_the_limit_does_truncate_an_in_place_write(tmp_path: Path) -> None:
    """The control: without a temporary file, the same limit leaves a damaged file."""
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "metrics.json"
    result = _run("plain_write_text", path)
    assert result["error"] is not None and "File too large" in result["error"], result
    assert path.read_bytes() == b"x" * 100
