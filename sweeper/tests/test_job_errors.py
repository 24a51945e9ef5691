"""A failing objective's traceback (its file and line) reaches the sweep's console and the
job's log in every way a job runs; the sweep's own expected errors are their message alone."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra_plugins.fmnist_optuna_sweeper.callbacks import job_traceback

EXAMPLE = Path(__file__).resolve().parents[1] / "example"
SPHERE = EXAMPLE / "sphere.py"
RAISE_LINE = next(i for i, line in enumerate(SPHERE.read_text().splitlines(), 1)
                  if 'raise RuntimeError("cfg.error is true")' in line)
WHERE = f'File "{SPHERE}", line {RAISE_LINE}, in sphere'
HAS_JOBLIB = importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is not None


@pytest.mark.parametrize("mode", [
    pytest.param(["hydra.sweeper.n_jobs=1"], id="in_process"),
    pytest.param(["hydra.sweeper.n_jobs=2"], id="subprocess_workers"),
    pytest.param(["hydra.sweeper.n_jobs=2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                 id="joblib_launcher", marks=pytest.mark.skipif(
                     not HAS_JOBLIB, reason="hydra-joblib-launcher is not installed")),
])
def test_a_failing_objective_shows_its_file_and_line(sweep, mode: list[str]) -> None:
    s = sweep("sphere.py", "error=true", "hydra.sweeper.n_trials=2",
              "hydra.sweeper.max_failure_rate=1.0", *mode, check=False)
    assert s.proc.returncode == 0  # max_failure_rate=1.0: the sweep ends normally (official)
    # on the console: each failed trial's traceback, down to the objective's raise
    assert s.output.count(WHERE) == 2, s.output[-3000:]
    assert 'raise RuntimeError("cfg.error is true")' in s.output
    # in each job's log
    for number in (0, 1):
        job_log = (s.dir / str(number) / "sphere.log").read_text()
        assert "The job failed:" in job_log and WHERE in job_log, job_log
    # the sweep's closing line says so, with no traceback of the sweeper's own
    assert "all 2 trials of this sweep failed" in s.output
    assert "sweeper.py" not in s.proc.stderr and "Traceback" not in s.proc.stderr


def test_resuming_with_other_settings_is_one_line_unless_hydra_full_error(sweep, tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    common = ("hydra.sweeper.study_name=s", f"hydra.sweeper.storage={storage}")
    sweep("sphere.py", "hydra.sweeper.n_trials=1", *common)
    s = sweep("sphere.py", "hydra.sweeper.n_trials=2", "y=2", *common, check=False)
    assert s.proc.returncode == 1
    # (Optuna's own "[I ...] Using an existing study" log line aside)
    first, *rest = [line for line in s.proc.stderr.strip().splitlines() if not line.startswith("[I ")]
    assert "was started with other fixed settings: y: (unset) -> 2" in first
    assert "Traceback" not in s.proc.stderr and all("HYDRA_FULL_ERROR" in line for line in rest if line)
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    full = subprocess.run([sys.executable, str(SPHERE), "-m", f"hydra.sweep.dir={tmp_path / 'full'}",
                           "hydra.sweeper.n_trials=2", "y=2", *common], cwd=EXAMPLE, env=env,
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 1 and "Traceback" in full.stderr and "SweepError" in full.stderr


@pytest.mark.parametrize(("override", "message"), [
    ("x=interval(2,1)", "x: interval needs low < high, got low=2.0, high=1.0"),
    ("z=interval(0,1)", "unknown parameter path 'z': the composed config has no such key"),
])
def test_a_search_space_error_is_its_message_alone(sweep, override: str, message: str) -> None:
    s = sweep("sphere.py", override, check=False)
    assert s.proc.returncode == 1
    assert "Traceback" not in s.proc.stderr, s.proc.stderr
    assert s.proc.stderr.strip().splitlines()[0].startswith(message), s.proc.stderr


def _raise_here() -> None:
    raise ValueError("x too big")


def test_job_traceback_names_the_file_and_line_of_the_raise() -> None:
    try:
        _raise_here()
    except ValueError as exc:
        text = job_traceback(exc)
    assert text.startswith("Traceback (most recent call last):")
    assert f'File "{__file__}"' in text and "in _raise_here" in text
    assert text.rstrip().endswith("ValueError: x too big")


def test_code_shipped_by_value_gets_its_file_back() -> None:
    """cloudpickle names code pickled by value ``<dynamic-code>``: the app's file comes back."""
    code = compile("def f():\n    raise KeyError('k')\n", "<dynamic-code>", "exec")
    namespace: dict = {}
    exec(code, namespace)
    try:
        namespace["f"]()
    except KeyError as exc:
        text = job_traceback(exc, main_file=str(SPHERE))
    assert f'File "{SPHERE}", line 2, in f' in text and "<dynamic-code>" not in text
