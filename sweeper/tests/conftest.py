"""Helpers for the sweeper's tests: run an example app as a sweep in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "example"


class Sweep:
    def __init__(self, proc: subprocess.CompletedProcess[str], sweep_dir: Path) -> None:
        self.proc, self.dir = proc, sweep_dir
        self.output = proc.stdout + proc.stderr

    @property
    def results(self) -> dict:
        return yaml.safe_load((self.dir / "optimization_results.yaml").read_text())


@pytest.fixture
def sweep(tmp_path: Path):
    """sweep(app, *overrides, check=True, python_args=()) -> Sweep, run with -W error; the
    study is kept in ``<tmp_path>/study.db`` unless ``hydra.sweeper.storage`` is given
    (``storage: null`` keeps nothing, so a test could not read the trials back)."""

    def run(app: str, *overrides: str, check: bool = True, python_args: tuple[str, ...] = ("-W", "error"),
            cwd: Path = EXAMPLE) -> Sweep:
        sweep_dir = tmp_path / "sweep"
        if not any(o.startswith("hydra.sweeper.storage=") for o in overrides):
            overrides = (f"hydra.sweeper.storage=sqlite:///{tmp_path / 'study.db'}", *overrides)
        proc = subprocess.run(
            [sys.executable, *python_args, str(EXAMPLE / app), "-m", f"hydra.sweep.dir={sweep_dir}",
             *overrides], cwd=cwd, capture_output=True, text=True, timeout=300)
        result = Sweep(proc, sweep_dir)
        if check:
            assert proc.returncode == 0, result.output[-4000:]
        return result

    return run
