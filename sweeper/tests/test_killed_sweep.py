"""A finished job's result is in the storage before the job exits, and no process outlives its
sweep: a 2-job sweep killed (kill -9 or SIGTERM) after its jobs finished but before it told
their trials loses none of them, whatever ran the jobs (subprocess workers, joblib, submitit
local); nothing it started is alive 10 s later; the resumed sweep accepts the jobs' results
and ends at exactly n_trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra_plugins.fmnist_optuna_sweeper.job import open_study
from optuna.trial import TrialState
from procs import MARK, kill_marked, marked, outliving

SLEEPY = Path(__file__).resolve().parents[1] / "example" / "sleepy" / "app.py"
N_TRIALS = 4
JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
SUBMITIT = ["hydra/launcher=submitit_local"]
#: (launcher overrides, signal): every way of running jobs at once, both deadly signals
CASES = [
    pytest.param([], signal.SIGKILL, id="subprocess-workers-kill9"),
    pytest.param([], signal.SIGTERM, id="subprocess-workers-sigterm"),
    pytest.param(JOBLIB, signal.SIGKILL, id="joblib-kill9"),
    pytest.param(JOBLIB, signal.SIGTERM, id="joblib-sigterm"),
    pytest.param(SUBMITIT, signal.SIGKILL, id="submitit-local-kill9"),
    pytest.param(SUBMITIT, signal.SIGTERM, id="submitit-local-sigterm"),
]


def _sweep(tmp_path: Path, storage: str, launcher: list[str], token: str) -> subprocess.Popen[str]:
    """The sweep, its output in ``<tmp_path>/<token>.out`` (a pipe would keep the test waiting
    for every process that inherited it)."""
    with open(tmp_path / f"{token}.out", "w") as out:
        return subprocess.Popen(
            [sys.executable, str(SLEEPY), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
             f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_jobs=2",
             f"hydra.sweeper.n_trials={N_TRIALS}", "seconds=2", *launcher],
            cwd=tmp_path, env={**os.environ, MARK: token}, stdout=out, stderr=subprocess.STDOUT,
            text=True)


def _wait_for(done: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not done():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _completed(sweep_dir: Path) -> dict[int, list[float]]:
    """The values of the jobs that completed, by trial number, from the file each job writes
    as it ends, after it recorded its result in its trial: ``<number>/optuna_result.json``
    (subprocess workers) or ``.job_ends/<number>.json`` (a launcher's jobs)."""
    ends = {int(p.parent.name): p for p in sweep_dir.glob("*/optuna_result.json")}
    ends |= {int(p.stem): p for p in (sweep_dir / ".job_ends").glob("[0-9]*.json")}
    records = {number: json.loads(path.read_text()) for number, path in ends.items()}
    return {number: r["values"] for number, r in records.items() if r["state"] == "COMPLETE"}


def _kill_after_two_jobs_then_resume(tmp_path: Path, launcher: list[str], signum: int) -> None:
    if launcher:
        pytest.importorskip(f"hydra_plugins.hydra_{launcher[0].split('=')[1].split('_')[0]}_launcher")
    storage, sweep_dir = f"journal://{tmp_path / 'study.log'}", tmp_path / "sweep"
    token, again = uuid.uuid4().hex, uuid.uuid4().hex
    killed = _sweep(tmp_path, storage, launcher, token)
    resumed: subprocess.Popen[str] | None = None
    try:
        _wait_for(lambda: all((sweep_dir / str(n) / "started.json").exists() for n in (0, 1)),
                  "two jobs to start")
        # the sweep can tell nothing from now on: its jobs run on and end on their own
        os.kill(killed.pid, signal.SIGSTOP)
        started = marked(token)
        assert len(started) >= 4  # the sweep, its watchdog, two jobs (and their helpers)
        assert not _completed(sweep_dir), "a job ended before the sweep was stopped: too slow a machine?"
        _wait_for(lambda: len(_completed(sweep_dir)) == 2, "the two jobs to end")
        os.kill(killed.pid, signum)
        os.kill(killed.pid, signal.SIGCONT)  # a stopped process acts on SIGTERM once continued
        assert killed.wait(timeout=30) == -signum
        died = time.monotonic()

        # nothing lost: each job that completed has a COMPLETE trial with its values
        completed = _completed(sweep_dir)
        trials = open_study(storage, "sleepy").get_trials()
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 2  # told by the jobs themselves
        assert {t.number: t.values for t in trials} == completed
        assert all(t.user_attrs["run_dir"] == str(sweep_dir / str(t.number)) for t in trials)

        # the resumed sweep starts at once; meanwhile nothing of the killed one outlives it by 10 s
        resumed = _sweep(tmp_path, storage, launcher, again)
        alive = outliving(token, 10 - (time.monotonic() - died))
        assert not alive, (f"alive 10 s after the sweep's death: {alive} of {started}\n"
                           f"{(tmp_path / f'{token}.out').read_text()[-2000:]}")
        assert resumed.wait(timeout=300) == 0, (tmp_path / f"{again}.out").read_text()[-3000:]
    finally:
        for proc in (killed, resumed):
            if proc is not None:
                proc.kill()
        kill_marked(token)
        kill_marked(again)
    trials = open_study(storage, "sleepy").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * N_TRIALS  # exactly n_trials
    assert {t.number: t.values for t in trials if t.number in completed} == completed


#: the default suite's share: each launcher once, each signal at least once (all in -m slow)
QUICK = {"subprocess-workers-kill9", "joblib-sigterm", "submitit-local-kill9"}


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(("launcher", "signum"), [
    pytest.param(*case.values, id=case.id, marks=[] if case.id in QUICK else [pytest.mark.slow])
    for case in CASES])
def test_results_survive_and_no_process_outlives_a_killed_sweep(
        tmp_path: Path, launcher: list[str], signum: int) -> None:
    _kill_after_two_jobs_then_resume(tmp_path, launcher, signum)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("repeat", range(5))
@pytest.mark.parametrize(("launcher", "signum"), CASES)
def test_results_survive_and_no_process_outlives_a_killed_sweep_5_times(
        tmp_path: Path, launcher: list[str], signum: int, repeat: int) -> None:
    _kill_after_two_jobs_then_resume(tmp_path, launcher, signum)
