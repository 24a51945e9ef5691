"""Ctrl-C (SIGINT) of a sweep with two workers (and, slow, one in-process job): no trial starts
after the signal, the running ones end FAIL "interrupted", the sweep exits 130,
and running it again completes the study."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import REPO
from tests.test_sweeper import _search


def _training(run_dir: Path) -> bool:
    history = run_dir / "history.csv"
    return history.exists() and len(history.read_text().splitlines()) >= 2


@pytest.mark.parametrize("n_jobs", [2, pytest.param(1, marks=pytest.mark.slow)])
def test_ctrl_c_of_a_sweep_then_rerun(tmp_path: Path, n_jobs: int) -> None:
    conf = _search(tmp_path, "ctrlc", epochs=40)
    running = list(range(n_jobs))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    command = [sys.executable, "-m", "fmnist", "-m", "hparams_search=ctrlc",
               f"hydra.searchpath=[file://{conf}]", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=4",
               f"hydra.sweeper.n_jobs={n_jobs}"]
    proc = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not all(_training(tmp_path / "sweep" / str(n)) for n in running):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-3000:]
    study = optuna.load_study(study_name="ctrlc", storage=storage)
    trials = study.get_trials()
    assert [t.number for t in trials] == running, output[-3000:]  # none started after SIGINT
    assert all(t.state == TrialState.FAIL and "interrupted" in t.user_attrs["error"]
               for t in trials), [(t.state, t.user_attrs) for t in trials]
    assert not (tmp_path / "sweep" / str(n_jobs)).exists()

    rerun = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.state for t in trials[n_jobs:]] == [TrialState.COMPLETE] * (4 - n_jobs)
