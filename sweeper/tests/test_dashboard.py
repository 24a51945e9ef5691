"""The dashboard command a sweep prints shows the study and, where jobs upload files, them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra_plugins.fmnist_optuna_sweeper.records import dashboard_command


@pytest.mark.parametrize(("url", "artifacts", "command"), [
    ("sqlite:///o.db", None, "optuna-dashboard sqlite:///o.db"),
    ("sqlite:////s/o.db", Path("/s/optuna_artifacts"),
     "optuna-dashboard sqlite:////s/o.db --artifact-dir /s/optuna_artifacts"),
    ("journal:///shared/study.log", None, "optuna-dashboard /shared/study.log"),
    ("postgresql://u:secret@db/optuna", None, "optuna-dashboard 'postgresql://u:***@db/optuna'"),
    ("sqlite:////my dir/o.db", Path("/my dir/art"),
     "optuna-dashboard 'sqlite:////my dir/o.db' --artifact-dir '/my dir/art'"),
])
def test_dashboard_command(url: str, artifacts: Path | None, command: str) -> None:
    assert dashboard_command(url, artifacts) == command


@pytest.mark.parametrize(("overrides", "artifacts"), [
    ((), None),                                                        # the app keeps no artifacts
    (("+optuna.artifact_dir=null",), "{sweep}/optuna_artifacts"),      # fmnist's default
    (("+optuna.artifact_dir={tmp}/store",), "{tmp}/store"),
])
def test_the_printed_command_names_the_apps_artifact_store(sweep, tmp_path: Path, overrides,
                                                          artifacts) -> None:
    s = sweep("sphere.py", "hydra.sweeper.n_trials=1", *(o.format(tmp=tmp_path) for o in overrides))
    line = next(line for line in s.output.splitlines() if "watch it with: optuna-dashboard" in line)
    expected = f"optuna-dashboard sqlite:///{tmp_path / 'study.db'}"  # the fixture's storage
    if artifacts is not None:
        expected += " --artifact-dir " + artifacts.format(sweep=s.dir, tmp=tmp_path)
    assert line.endswith(f"(watch it with: {expected})"), line
