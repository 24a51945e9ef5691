"""No orphans (reaper.py): every process a sweep starts (subprocess workers, joblib's loky
workers and resource trackers, submitit's local controllers and jobs, the watchdog itself)
ends within seconds of the sweep's death by kill -9 or SIGTERM, mid-trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hydra_plugins.fmnist_optuna_sweeper.reaper import SWEEP_ENV, carriers, carries, reap, wait_for_end
from procs import MARK, kill_marked, marked, outliving

SLEEPY = Path(__file__).resolve().parents[1] / "example" / "sleepy" / "app.py"


JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


@pytest.mark.slow  # the same end, results included, in test_killed_sweep.py's default cases
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(("launcher", "signum"), [
    pytest.param([], signal.SIGKILL, id="subprocess-workers-kill9"),
    pytest.param(JOBLIB, signal.SIGKILL, id="joblib-kill9"),
    pytest.param(JOBLIB, signal.SIGTERM, id="joblib-sigterm"),
    pytest.param(["hydra/launcher=submitit_local"], signal.SIGKILL, id="submitit-local-kill9"),
])
def test_no_process_of_a_killed_sweep_outlives_it(tmp_path: Path, launcher: list[str],
                                                  signum: int) -> None:
    if launcher:
        pytest.importorskip(f"hydra_plugins.hydra_{launcher[0].split('=')[1].split('_')[0]}_launcher")
    token = uuid.uuid4().hex
    sweep = subprocess.Popen(
        [sys.executable, str(SLEEPY), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
         f"hydra.sweeper.storage=journal://{tmp_path / 'study.log'}", "hydra.sweeper.n_jobs=2",
         "hydra.sweeper.n_trials=4", "seconds=120", *launcher],
        cwd=tmp_path, env={**os.environ, MARK: token}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "sweep").glob("*/started.json"))) < 2:  # two jobs mid-trial
            assert sweep.poll() is None, sweep.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "two jobs should have started"
            time.sleep(0.1)
        started = marked(token)
        assert len(started) >= 4  # the sweep, its watchdog, two jobs (and their helpers)
        sweep.send_signal(signum)
        out = sweep.communicate(timeout=30)[0]
        alive = outliving(token, 10)
        assert not alive, f"alive 10 s after the sweep's death: {alive} of {started}\n{out[-2000:]}"
    finally:
        sweep.kill()
        kill_marked(token)  # a failed test leaves nothing behind either


# ----------------------------------------------------------------------------- the pieces, pure


@pytest.mark.parametrize(("environ", "found"), [
    (b"A=1\0OPTUNA_SWEEPER_SWEEP=t1\0B=2\0", True),
    (b"OPTUNA_SWEEPER_SWEEP=t1", True),
    (b"OPTUNA_SWEEPER_SWEEP=t12\0", False),  # another sweep's token
    (b"X_OPTUNA_SWEEPER_SWEEP=t1\0", False),
    (b"", False),  # a zombie
])
def test_carries(environ: bytes, found: bool) -> None:
    assert carries(environ, f"{SWEEP_ENV}=t1".encode()) is found


def test_carriers_reads_proc(tmp_path: Path) -> None:
    for pid, environ in [(7, b"OPTUNA_SWEEPER_SWEEP=t\0"), (8, b"A=1\0"), (9, b"OPTUNA_SWEEPER_SWEEP=t\0")]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "environ").write_bytes(environ)
    (tmp_path / "self").mkdir()
    assert carriers("t", tmp_path) == [7, 9]
    assert carriers("t", tmp_path, exclude=frozenset({9})) == [7]


class _World:
    """Processes that end at given times, or on given signals, and a clock."""

    def __init__(self, ends: dict[int, float], sigint_ends: set[int]) -> None:
        self.ends, self.sigint_ends, self.now = ends, sigint_ends, 0.0
        self.sent: list[tuple[float, int, int]] = []

    def scan(self) -> list[int]:
        return [p for p, end in self.ends.items() if end > self.now]

    def kill(self, pid: int, signum: int) -> None:
        self.sent.append((self.now, pid, signum))
        if signum == signal.SIGKILL or pid in self.sigint_ends:
            self.ends[pid] = min(self.ends[pid], self.now + 0.1)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("ends", "sigint_ends", "expected"), [
    ({}, set(), []),  # nothing to do
    ({1: 99, 2: 99}, {1, 2}, [(0.0, 1, signal.SIGINT), (0.0, 2, signal.SIGINT)]),
    # 2 ignores SIGINT (a resource tracker): killed once the grace is over
    ({1: 99, 2: 99}, {1}, [(0.0, 1, signal.SIGINT), (0.0, 2, signal.SIGINT), (5.0, 2, signal.SIGKILL)]),
    # 3 ends by itself before the grace is over
    ({3: 2.0}, set(), [(0.0, 3, signal.SIGINT)]),
])
def test_reap_interrupts_then_kills(ends: dict[int, float], sigint_ends: set[int],
                                    expected: list[tuple[float, int, int]]) -> None:
    world = _World(ends, sigint_ends)
    reap(world.scan, 5.0, poll=0.5, kill=world.kill, clock=lambda: world.now, sleep=world.sleep)
    assert world.sent == expected
    assert world.scan() == []


def test_wait_for_end() -> None:
    for written, died in [(b"done\n", False), (b"", True), (b"do", True)]:
        read, write = os.pipe()
        os.write(write, written)
        os.close(write)
        assert wait_for_end(read, parent=os.getppid(), poll=0.01) is died
        os.close(read)
    read, write = os.pipe()  # the pipe open, the parent changed: died
    assert wait_for_end(read, parent=-1, poll=0.01) is True
    os.close(read)
    os.close(write)
