"""``pip install ./sweeper`` into a fresh virtual environment with only ``hydra-core``, then a
three-line Hydra app sweeps with TPE, CMA-ES, NSGA-II and a grid (slow: it installs from PyPI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SWEEPER = Path(__file__).resolve().parents[1]
APP = """\
import hydra
@hydra.main(version_base=None, config_path=None)
def f(cfg): return (cfg.x - 1) ** 2 + (cfg.y + 2) ** 2
if __name__ == "__main__": f()
"""


@pytest.mark.slow
def test_fresh_install_sweeps_with_four_samplers(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "hydra-core",
                              f"{SWEEPER}[cmaes]"], capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    (tmp_path / "app.py").write_text(APP)
    space = ["+x=interval(-5.0, 5.0)", "+y=interval(-5.0, 5.0)"]
    runs = {
        "tpe": [*space],
        "cmaes": ["hydra/sweeper/sampler=cmaes", *space],
        "nsgaii": ["hydra/sweeper/sampler=nsgaii", *space],
        "grid": ["hydra/sweeper/sampler=grid", "+x=range(-1, 3)", "+y=choice(-2, 0)"],
    }
    for name, overrides in runs.items():
        sweep_dir = tmp_path / name
        proc = subprocess.run(
            [str(python), "-W", "error", "app.py", "-m", "hydra/sweeper=optuna",
             "hydra.sweeper.n_trials=12", f"hydra.sweep.dir={sweep_dir}", *overrides],
            cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
        results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
        assert results["states"] == {"COMPLETE": 10 if name == "grid" else 12}, name
        if name == "grid":  # 5 x 2 points (range includes its stop), n_trials capped; (1, -2) is on the grid
            assert results["best_value"] == 0 and results["best_params"] == {"+x": 1, "+y": -2}
        else:
            assert results["best_value"] < 10, name


@pytest.mark.slow
def test_plain_editable_install_is_found_by_hydra_under_both_class_paths(tmp_path: Path) -> None:
    """``pip install -e ./sweeper`` (setuptools' default editable mode): Hydra's plugin scan
    finds the sweeper, under its own class path and the official one."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(SWEEPER)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    (tmp_path / "app.py").write_text(APP)
    for target in ("hydra_plugins.fmnist_optuna_sweeper.sweeper.OptunaSweeper",
                   "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"):
        sweep_dir = tmp_path / target.split(".")[1]
        proc = subprocess.run(
            [str(python), "-W", "error", "app.py", "-m", "hydra/sweeper=optuna",
             f"hydra.sweeper._target_={target}", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=1",
             f"hydra.sweep.dir={sweep_dir}", "+x=interval(-5.0, 5.0)", "+y=interval(-5.0, 5.0)"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{target}: {proc.stderr[-3000:]}"
        results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
        assert results["states"] == {"COMPLETE": 3} and results["storage"] == "memory"
