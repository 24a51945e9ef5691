"""A finished job's result is in the storage before the job exits: a sweep killed (kill -9)
after its jobs finished but before it told their trials loses none of them, and the resumed
sweep accepts them and ends at exactly n_trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hydra_plugins.fmnist_optuna_sweeper.job import open_study
from optuna.trial import TrialState

SLEEPY = Path(__file__).resolve().parents[1] / "example" / "sleepy" / "app.py"


def _sweep(tmp_path: Path, storage: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SLEEPY), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
         f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4",
         "seconds=2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(paths: list[Path], what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not all(p.exists() for p in paths):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_results_of_jobs_that_finished_survive_a_killed_sweep(tmp_path: Path) -> None:
    storage = f"journal://{tmp_path / 'study.log'}"
    proc = _sweep(tmp_path, storage)
    jobs = [tmp_path / "sweep" / str(n) for n in (0, 1)]
    _wait_for([j / "started.json" for j in jobs], "two jobs to start")
    # the sweep can tell nothing from now on: its jobs run on and end on their own
    os.kill(proc.pid, signal.SIGSTOP)
    _wait_for([j / "optuna_result.json" for j in jobs], "the two jobs to end")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    killed = open_study(storage, "sleepy").get_trials()
    assert [t.state for t in killed] == [TrialState.COMPLETE] * 2  # told by the jobs themselves
    for t in killed:
        result = json.loads((tmp_path / "sweep" / str(t.number) / "optuna_result.json").read_text())
        assert t.values == result["values"]
        assert t.user_attrs["run_dir"] == str(tmp_path / "sweep" / str(t.number))

    resumed = _sweep(tmp_path, storage)
    out = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, out[-3000:]
    trials = open_study(storage, "sleepy").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4  # exactly n_trials
    assert [t.values for t in trials[:2]] == [t.values for t in killed]
