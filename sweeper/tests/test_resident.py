"""Resident workers (resident.py): a sweep worker runs all its jobs in one process of the app,
each job with its own arguments, environment, output and exit status, and a job that kills
that process costs only its own trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra_plugins.fmnist_optuna_sweeper.job import open_study
from hydra_plugins.fmnist_optuna_sweeper.resident import (
    JOBS_ENV,
    Resident,
    jobs_per_process,
    resident_command,
)
from optuna.trial import TrialState

SLEEPY = Path(__file__).resolve().parents[1] / "example" / "sleepy" / "app.py"
PY = sys.executable

#: a plain script as the app: what it does is in its arguments
SCRIPT = """\
import json, os, sys
out = {"pid": os.getpid(), "argv": sys.argv[1:], "env": os.environ.get("RESIDENT_TEST"),
       "cwd": os.getcwd()}
print(json.dumps(out))
what = sys.argv[1]
if what == "close-stderr":   # a library that closes the stream it was handed
    sys.stderr.close()
elif what == "chdir":
    os.chdir("/")
elif what == "exit":
    sys.exit(int(sys.argv[2]))
elif what == "raise":
    raise RuntimeError("asked to raise")
elif what == "crash":
    os._exit(5)
"""


@pytest.mark.parametrize(("command", "expected"), [
    ([PY, "-m", "my_app"], [PY, "-m", "hydra_plugins.fmnist_optuna_sweeper.resident", "-m", "my_app"]),
    (["python3", "-m", "my_app"],
     ["python3", "-m", "hydra_plugins.fmnist_optuna_sweeper.resident", "-m", "my_app"]),
    ([PY, str(SLEEPY)], [PY, "-m", "hydra_plugins.fmnist_optuna_sweeper.resident", str(SLEEPY)]),
    ([PY, "/no/such/app.py"], None),  # not a file: run as given, one process per job
    (["srun", PY, "-m", "my_app"], None),  # another program in front
    ([PY, "-u", "-m", "my_app"], None),  # interpreter options: run as given
    (["/usr/bin/env", "python", "-m", "my_app"], None),
])
def test_resident_command(command: list[str], expected: list[str] | None) -> None:
    assert resident_command(command) == expected


def _resident(tmp_path: Path) -> Resident:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    return Resident([PY, "-m", "hydra_plugins.fmnist_optuna_sweeper.resident", str(script)],
                    str(tmp_path))


def _ran(log: Path) -> dict[str, object]:
    return json.loads(log.read_text().splitlines()[0])


def test_jobs_share_a_process_with_their_own_arguments_environment_and_status(tmp_path: Path) -> None:
    resident = _resident(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        runs = [("plain", {}, 0), ("close-stderr", {}, 0), ("chdir", {"RESIDENT_TEST": "1"}, 0),
                ("exit", {}, 3), ("raise", {}, 1), ("plain", {}, 0)]
        seen = []
        for n, (what, extra, status) in enumerate(runs):
            log = tmp_path / f"{n}.log"
            args = [what, "3"] if what == "exit" else [what]
            assert resident.run(args, {**env, **extra}, log) == status, log.read_text()
            seen.append(_ran(log))
        assert len({s["pid"] for s in seen}) == 1  # one process for all six
        assert [s["argv"][0] for s in seen] == [r[0] for r in runs]
        assert [s["env"] for s in seen] == [None, None, "1", None, None, None]  # one job's only
        assert all(s["cwd"] == str(tmp_path) for s in seen)  # the chdir did not stay
        assert "RuntimeError: asked to raise" in (tmp_path / "4.log").read_text()
        # a job that ends the process: its status, and the next job gets a new process
        assert resident.run(["crash"], env, tmp_path / "crash.log") == 5
        assert resident.run(["plain"], env, tmp_path / "after.log") == 0
        assert _ran(tmp_path / "after.log")["pid"] != seen[0]["pid"]
    finally:
        resident.close()
    assert resident.proc is None


@pytest.mark.parametrize(("environ", "limit"), [
    ({}, 25), ({JOBS_ENV: "3"}, 3), ({JOBS_ENV: "1"}, 1), ({JOBS_ENV: "0"}, 25), ({JOBS_ENV: "x"}, 25),
])
def test_jobs_per_process(environ: dict[str, str], limit: int) -> None:
    assert jobs_per_process(environ) == limit


def test_a_worker_process_makes_way_for_a_fresh_one_after_its_jobs(tmp_path: Path) -> None:
    resident = _resident(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), JOBS_ENV: "2"}
    try:
        for n in range(5):
            assert resident.run(["plain"], env, tmp_path / f"{n}.log") == 0
        pids = [_ran(tmp_path / f"{n}.log")["pid"] for n in range(5)]
    finally:
        resident.close()
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


def _sweep(tmp_path: Path, *overrides: str) -> list[int]:
    """A 2-worker sweep of sleepy; the process of each of its trials."""
    storage = f"journal://{tmp_path / 'study.log'}"
    proc = subprocess.run(
        [PY, str(SLEEPY), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.sweeper.storage={storage}",
         "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=6", "seconds=0.2", *overrides],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    trials = open_study(storage, "sleepy").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    for t in trials:  # each job's own value, from its own run directory
        ran = json.loads((tmp_path / "sweep" / str(t.number) / "optuna_result.json").read_text())
        assert t.values == ran["values"] == [(t.params["x"] - 2.0) ** 2]
    return [json.loads((tmp_path / "sweep" / str(n) / "started.json").read_text())["pid"]
            for n in range(6)]


def test_a_sweep_runs_each_worker_s_jobs_in_one_process(tmp_path: Path) -> None:
    assert len(set(_sweep(tmp_path))) == 2


def test_reuse_workers_false_starts_a_process_per_job(tmp_path: Path) -> None:
    assert len(set(_sweep(tmp_path, "hydra.sweeper.reuse_workers=false"))) == 6
