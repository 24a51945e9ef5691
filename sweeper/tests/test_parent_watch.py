"""A sweep's job stops when the sweep that started it dies (kill -9), instead of running on
with nobody to record its result."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

# The middle process starts a job that watches it, prints the job's pid, then waits forever.
_MIDDLE = """
import os, subprocess, sys
os.environ["PARENT"] = str(os.getpid())
job = subprocess.Popen([sys.executable, "-c", '''
import os, time
from hydra_plugins.fmnist_optuna_sweeper.callbacks import stop_with_parent
try:
    stop_with_parent(int(os.environ["PARENT"]), interval=0.1, grace=5)
    open(os.environ["MARK"] + ".ready", "w").close()
    time.sleep(120)
except KeyboardInterrupt:
    open(os.environ["MARK"], "w").write("interrupted")
'''])
print(job.pid, flush=True)
job.wait()
"""


def test_a_job_is_interrupted_when_its_sweep_is_killed(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    middle = subprocess.Popen([sys.executable, "-c", _MIDDLE], stdout=subprocess.PIPE, text=True,
                              env={"MARK": str(mark), "PATH": "/usr/bin:/bin",
                                   "PYTHONPATH": ":".join(sys.path)})
    assert middle.stdout is not None
    job = int(middle.stdout.readline())
    deadline = time.monotonic() + 30
    while not Path(f"{mark}.ready").exists():  # the job is watching
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.05)
    middle.kill()
    middle.wait()
    deadline = time.monotonic() + 30
    while not mark.exists():
        assert time.monotonic() < deadline, f"job {job} runs on after its sweep was killed"
        time.sleep(0.1)
    assert mark.read_text() == "interrupted"
