"""Trials through Hydra's launchers (real joblib and submitit local jobs, no mocks): the sleepy
app (``example/sleepy``) as the job, so each sweep takes seconds."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra_plugins.fmnist_optuna_sweeper.launching import (
    IN_PROCESS,
    LAUNCHER,
    SUBPROCESS,
    capacity_warning,
    choose_mode,
    launcher_slots,
    sequential_warning,
)
from optuna.trial import TrialState

SLEEPY = Path(__file__).resolve().parents[1] / "example" / "sleepy" / "app.py"
# joblib's and submitit's launcher plugins are optional extras of the package
joblib_launcher = pytest.importorskip("hydra_plugins.hydra_joblib_launcher.joblib_launcher")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher")


def _sleepy(tmp_path: Path, *overrides: str, wait: bool = True) -> subprocess.Popen[str]:
    command = [sys.executable, str(SLEEPY), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               f"hydra.sweeper.storage=journal://{tmp_path / 'study.log'}", *overrides]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if wait:
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]
    return proc


def _study(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    from hydra_plugins.fmnist_optuna_sweeper.job import open_study

    return open_study(f"journal://{tmp_path / 'study.log'}", "sleepy").get_trials()


def _ran(tmp_path: Path, trial: optuna.trial.FrozenTrial) -> dict:
    run_dir = Path(trial.user_attrs["run_dir"])
    assert run_dir == tmp_path / "sweep" / str(trial.number)
    return json.loads((run_dir / "ran.json").read_text())


def _overlap(records: list[dict]) -> bool:
    spans = sorted((r["start"], r["end"]) for r in records)
    return any(b[0] < a[1] for a, b in itertools.pairwise(spans))


# ----------------------------------------------------------------------------- mode, pure


class _InProcessLauncher(BasicLauncher):
    """A launcher that runs its jobs inside the sweep's process, as custom ones may."""


@pytest.mark.parametrize(
    ("launcher", "n_jobs", "mode"),
    [
        (BasicLauncher(), 1, IN_PROCESS),
        (BasicLauncher(), 2, SUBPROCESS),
        (_InProcessLauncher(), 1, IN_PROCESS),
        (_InProcessLauncher(), 3, IN_PROCESS),  # one job after another (sequential_warning)
        (joblib_launcher.JoblibLauncher(n_jobs=2), 1, IN_PROCESS),
        (joblib_launcher.JoblibLauncher(n_jobs=2), 4, LAUNCHER),
    ],
)
def test_how_jobs_run(launcher: object, n_jobs: int, mode: str) -> None:
    assert choose_mode(launcher, n_jobs) == mode


def test_basic_launcher_without_a_way_to_start_the_app_runs_jobs_in_process() -> None:
    """Official semantics: n_jobs > 1 from pytest or a notebook runs the jobs one after another
    in the sweep's process; the warning says how to run them at once."""
    assert choose_mode(BasicLauncher(), 2, can_start_app=False) == IN_PROCESS
    assert "hydra.sweeper.worker_command" in sequential_warning(BasicLauncher(), 2)
    assert "runs jobs inside this process" in sequential_warning(_InProcessLauncher(), 3)


@pytest.mark.parametrize(
    ("n_jobs_setting", "cpus", "slots"),
    [(4, 2, 4), (-1, 2, 2), (-1, 8, 8), (-2, 8, 7), (-16, 8, 1)],
)
def test_joblib_slots(n_jobs_setting: int, cpus: int, slots: int) -> None:
    assert launcher_slots(joblib_launcher.JoblibLauncher(n_jobs=n_jobs_setting), cpus) == slots


def test_capacity_warning_names_the_setting() -> None:
    launcher = joblib_launcher.JoblibLauncher(n_jobs=-1)
    assert capacity_warning(launcher, 2, cpu_count=2) is None
    message = capacity_warning(launcher, 4, cpu_count=2)
    assert message is not None and "hydra.launcher.n_jobs=4" in message
    assert capacity_warning(BasicLauncher(), 4) is None


# ----------------------------------------------------------------------------- real launchers

PRUNE = [  # x=2 reports 0 (kept), x=10 reports 64 (pruned at its first step)
    "hydra/sweeper/pruner=threshold",
    "hydra.sweeper.pruner.upper=10",
    "hydra.sweeper.enqueue=[{x:2.0},{x:10.0},{x:2.5},{x:9.0}]",
]


def test_joblib_runs_two_trials_at_once_and_prunes_inside_its_workers(tmp_path: Path) -> None:
    _sleepy(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", "seconds=1.5", "steps=3", *PRUNE)
    trials = _study(tmp_path)
    assert len(trials) == 4
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED,
                                         TrialState.COMPLETE, TrialState.PRUNED]
    records = [_ran(tmp_path, t) for t in trials]
    assert all(r["process"].startswith("LokyProcess") for r in records)  # joblib's workers
    assert {r["local_jobs"] for r in records} == {"2"}  # the jobs know they share the machine
    assert all(r["pid"] != os.getpid() for r in records)
    assert _overlap(records), "two trials should run at the same time"
    for t, r in zip(trials, records, strict=True):
        if t.state == TrialState.PRUNED:
            # reported and pruned from inside the launched job, at its first step
            assert r["pruned_at"] == 1 and list(t.intermediate_values) == [1]
        else:
            assert sorted(t.intermediate_values) == [1, 2, 3]


def test_submitit_local_runs_a_job_per_trial_and_survives_a_killed_job(tmp_path: Path) -> None:
    proc = _sleepy(tmp_path, "hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2",
                   "hydra.sweeper.n_trials=4", "seconds=4", "steps=4", *PRUNE, wait=False)
    # once two jobs run, kill one from outside, as a scheduler or the OOM killer would
    deadline = time.time() + 120
    started: list[Path] = []
    while len(started) < 2 and time.time() < deadline:
        started = sorted((tmp_path / "sweep").glob("*/started.json"))
        time.sleep(0.2)
    assert len(started) == 2, "two jobs should run at the same time"
    assert not any(p.with_name("ran.json").exists() for p in started)
    victim = json.loads(started[0].read_text())
    os.kill(victim["pid"], signal.SIGKILL)
    victim["end"] = time.time()
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-3000:]

    trials = _study(tmp_path)
    assert len(trials) == 4
    killed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(killed) == 1 and killed[0].number == int(started[0].parent.name)
    assert "UncompletedJobError" in killed[0].user_attrs["error"]  # submitit: no result
    others = [t for t in trials if t.state != TrialState.FAIL]
    assert {t.state for t in others} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert any(t.state == TrialState.PRUNED for t in others)
    records = [_ran(tmp_path, t) for t in others]
    # one submitit job (its own folder) per trial, none in the sweep's process
    job_ids = [r["submitit_job_id"] for r in records]
    assert len(set(job_ids)) == len(records) and all(job_ids)
    for job_id in job_ids:
        assert (tmp_path / "sweep" / ".submitit" / job_id / f"{job_id}_0_result.pkl").exists()
    assert _overlap([*records, victim]), "two trials should run at the same time"
    # each job that ended signalled it from inside the submitit process (the sweep hands its
    # slot on at once instead of waiting for submitit's poll); the killed one could not
    ends = tmp_path / "sweep" / ".job_ends"
    for t in others:
        assert json.loads((ends / f"{t.number}.json").read_text())["state"] == t.state.name
    assert not (ends / f"{killed[0].number}.json").exists()


def test_parallel_local_workers_each_see_their_own_gpus(tmp_path: Path) -> None:
    # the basic launcher: worker subprocesses, CUDA_VISIBLE_DEVICES dealt round-robin per worker
    # (device ids need no real GPU: the sleepy job only records what it was given)
    _sleepy(tmp_path, "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4",
            "hydra.sweeper.devices=[5,7]", "seconds=0.5")
    trials = _study(tmp_path)
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    seen = [_ran(tmp_path, t)["cuda_visible_devices"] for t in trials]
    assert set(seen) == {"5", "7"}


def test_auto_jobs_run_trials_per_gpu_on_each_gpu(tmp_path: Path) -> None:
    # n_jobs=auto with 2 devices and trials_per_gpu=2: 4 workers, two on each device, every job
    # told that 4 share the machine (its thread pools follow)
    _sleepy(tmp_path, "hydra.sweeper.n_jobs=auto", "hydra.sweeper.trials_per_gpu=2",
            "hydra.sweeper.n_trials=8", "hydra.sweeper.devices=[5,7]", "seconds=1.5")
    records = [_ran(tmp_path, t) for t in _study(tmp_path)]
    assert len(records) == 8 and {r["local_jobs"] for r in records} == {"4"}
    assert sorted(r["cuda_visible_devices"] for r in records) == ["5"] * 4 + ["7"] * 4
    for device in ("5", "7"):
        on_it = [r for r in records if r["cuda_visible_devices"] == device]
        assert _overlap(on_it), f"two trials should share device {device} at the same time"


def test_auto_jobs_on_a_cpu_machine_run_one_trial_per_core(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    _sleepy(tmp_path, "hydra.sweeper.n_jobs=auto", "hydra.sweeper.devices=[]",
            f"hydra.sweeper.n_trials={2 * cores}", "seconds=4")
    records = [_ran(tmp_path, t) for t in _study(tmp_path)]
    assert {r["local_jobs"] for r in records} == {str(cores)}
    assert {r["cuda_visible_devices"] for r in records} == {None}
    if cores > 1:
        assert _overlap(records)


def test_ray_runs_two_trials_at_once(tmp_path: Path) -> None:
    # the dev extra installs hydra-ray-launcher beside joblib's and submitit's launchers; an
    # environment without it skips this test. A local Ray instance on loopback only.
    pytest.importorskip("hydra_plugins.hydra_ray_launcher.ray_launcher",
                        reason="hydra-ray-launcher is not installed (pip install -e '.[dev]')")
    _sleepy(tmp_path, "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init._node_ip_address=127.0.0.1",
            "+hydra.launcher.ray.init.include_dashboard=false",
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", "seconds=2", "steps=2", *PRUNE)
    trials = _study(tmp_path)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED,
                                         TrialState.COMPLETE, TrialState.PRUNED]
    records = [_ran(tmp_path, t) for t in trials]
    assert all(r["pid"] != os.getpid() for r in records)
    assert _overlap(records), "two trials should run at the same time"


def test_a_gpu_setting_that_cannot_be_met_stops_before_any_trial(tmp_path: Path) -> None:
    proc = _sleepy(tmp_path, "hydra.sweeper.n_jobs=2", "hydra.sweeper.devices=[0]",
                   "hydra.sweeper.gpus_per_trial=2", wait=False)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0
    assert "hydra.sweeper.gpus_per_trial=2 is more than the 1 device(s) available: ['0']" in out
    assert not (tmp_path / "study.log").exists()
