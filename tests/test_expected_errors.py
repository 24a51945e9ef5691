"""Expected errors through the ``fmnist`` command: their message on one line and exit status 1,
no traceback (``HYDRA_FULL_ERROR=1`` shows one); a run refused before training says why in its
``fmnist.log``."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from tests.conftest import run_module


def _errors(stderr: str) -> list[str]:
    """stderr less Optuna's own log lines (``[I ...] Using an existing study ...``)."""
    return [line for line in stderr.strip().splitlines() if line and not line.startswith("[I ")]


def _env(full_error: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return {**env, "HYDRA_FULL_ERROR": "1"} if full_error else env


@pytest.mark.slow  # suite time: a faster sibling keeps the feature in the default run
def test_resuming_a_study_with_other_fixed_settings_is_one_line(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="q", storage=f"sqlite:///{tmp_path / 'o.db'}",
                                direction="maximize")
    study.set_user_attr("fixed_overrides", {"hparams_search": "elastic_sgdr_quick",
                                            "trainer.epochs": "3"})
    args = ("fmnist", "-m", "hparams_search=elastic_sgdr_quick", "hydra.sweeper.storage=sqlite:///o.db",
            "hydra.sweeper.study_name=q", "trainer.epochs=2", "hydra.sweep.dir=sweep")
    proc = run_module(*args, cwd=tmp_path, env=_env())
    assert proc.returncode == 1
    assert _errors(proc.stderr) == [
        "study 'q' was started with other fixed settings: trainer.epochs: 3 -> 2. Its trials "
        "would not be comparable: use another hydra.sweeper.study_name, or run again with the "
        "same settings, or accept the change with hydra.sweeper.accept_changed_settings=true"]
    full = run_module(*args, cwd=tmp_path, env=_env(full_error=True))
    assert full.returncode == 1 and "Traceback" in full.stderr


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.epochz=interval(1,2)", "unknown parameter path 'trainer.epochz': the composed config "
                                     "has no such key"),
    ("schedule.max_lr=interval(0.1,0.01)", "schedule.max_lr: interval needs low < high"),
])
def test_a_search_space_error_is_one_line(tmp_path: Path, override: str, message: str) -> None:
    proc = run_module("fmnist", "-m", "hparams_search=elastic_sgdr_quick", override,
                      "hydra.sweeper.storage=sqlite:///o.db", "hydra.sweep.dir=sweep",
                      cwd=tmp_path, env=_env())
    assert proc.returncode == 1
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith(message), proc.stderr


def test_a_bad_override_is_hydras_message_without_the_hint(tmp_path: Path) -> None:
    proc = run_module("fmnist", "trainer.epochz=2", "hydra.run.dir=run", cwd=tmp_path, env=_env())
    assert proc.returncode == 1
    assert proc.stderr.startswith("Could not override 'trainer.epochz'.")
    assert "HYDRA_FULL_ERROR" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_run_refused_before_training_says_why_in_its_log(tmp_path: Path) -> None:
    proc = run_module("fmnist", "trainer.epochs=two", "hydra.run.dir=run", cwd=tmp_path, env=_env())
    assert proc.returncode == 1
    message = "error: trainer.epochs must be an integer >= 1, got trainer.epochs='two'"
    assert proc.stderr.strip() == message
    assert message in (tmp_path / "run" / "fmnist.log").read_text()
