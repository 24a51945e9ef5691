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


def _as_in_a_terminal() -> None:
    """The sweep as a terminal starts it, SIGINT not ignored (whatever started pytest: a shell
    script's ``cmd &`` starts it, and pytest-xdist's workers, with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
                            stderr=subprocess.STDOUT, text=True, preexec_fn=_as_in_a_terminal)
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


def _alive_jobs(sweep_dir: Path) -> list[int]:
    """Processes running a job of ``sweep_dir`` (zombies count as gone)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            zombie = "State:\tZ" in (proc / "status").read_text()
        except OSError:
            continue
        if f"hydra.run.dir={sweep_dir}/".encode() in cmdline and not zombie:
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_kill_9_of_a_sweep_stops_its_workers_and_resume_completes(tmp_path: Path) -> None:
    conf = _search(tmp_path, "killed", epochs=400)  # would run for minutes
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "fmnist", "-m", "hparams_search=killed",
               f"hydra.searchpath=[file://{conf}]", f"hydra.sweep.dir={sweep_dir}",
               f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=4",
               "hydra.sweeper.n_jobs=2", "hydra.sweeper.heartbeat_interval=1",
               "hydra.sweeper.grace_period=3"]
    proc = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_as_in_a_terminal)
    deadline = time.monotonic() + 300
    while not all(_training(sweep_dir / str(n)) for n in (0, 1)):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    assert len(_alive_jobs(sweep_dir)) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while _alive_jobs(sweep_dir):  # the orphaned jobs notice and stop (within ~1 s + cleanup)
        assert time.monotonic() < deadline, "the jobs of a killed sweep keep running"
        time.sleep(0.5)
    time.sleep(3)  # the grace period: their trials' heartbeats are now stale

    rerun = subprocess.run([*command, "trainer.epochs=1", "hydra.sweeper.accept_changed_settings=true"],
                           cwd=REPO, env=dict(os.environ), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    trials = optuna.load_study(study_name="killed", storage=storage).get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.state for t in trials] == [TrialState.FAIL] * 2 + [TrialState.COMPLETE] * 2
