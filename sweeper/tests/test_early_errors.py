"""Settings that used to fail every trial (or be dropped silently) are errors before the first
trial, naming the setting: a worker command that does not exist, an ``enqueue`` key that is not
searched, a storage file under a file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.search_space import Param, SearchSpace
from hydra_plugins.fmnist_optuna_sweeper.storage import resolve
from hydra_plugins.fmnist_optuna_sweeper.sweeper import _check_enqueued
from hydra_plugins.fmnist_optuna_sweeper.workers import worker_command
from optuna.distributions import FloatDistribution

_SPACE = SearchSpace([Param("lr", "optim.learning_rate", FloatDistribution(1e-4, 1e-1), {})], [])


@pytest.mark.parametrize(("command", "message"), [
    (["no-such-command-22", "-m", "app"], "worker_command[0]='no-such-command-22' is not an executable"),
    (["/nonexistent/bin/python", "-m", "app"], "'/nonexistent/bin/python' is not an executable"),
    ([__file__], "is not an executable"),  # a file, but not executable
])
def test_a_worker_command_that_cannot_run_stops_the_sweep(command: list[str], message: str) -> None:
    with pytest.raises(SweepError, match=message.replace("[", r"\[").replace("]", r"\]")):
        worker_command(command, "app")


def test_a_worker_command_that_runs_is_kept() -> None:
    assert worker_command([sys.executable, "-m", "app"], "app") == [sys.executable, "-m", "app"]
    assert worker_command(["python3", "-m", "app"], "app") == ["python3", "-m", "app"]


@pytest.mark.parametrize(("entry", "custom", "message"), [
    ({"lr": 0.01, "optim.beta_1": 0.9}, False, "enqueue[3]: optim.beta_1 is not searched"),
    ({"learning_rate": 0.01}, False, "searched: lr"),
    ({"lr": 5.0}, False, "lr=5.0 is outside the search space"),
    ({"lr": 5.0}, True, "lr=5.0 is outside the search space"),
])
def test_an_enqueue_entry_is_checked_before_any_trial(entry: dict, custom: bool, message: str) -> None:
    with pytest.raises(SweepError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _check_enqueued(entry, _SPACE, 3, custom=custom)


def test_an_enqueue_entry_may_name_custom_search_space_keys() -> None:
    entry = {"lr": 0.01, "optim.beta_1": 0.9}
    assert _check_enqueued(entry, _SPACE, 0, custom=True) == entry
    assert _check_enqueued({"lr": 0.01}, _SPACE, 0) == {"lr": 0.01}


def test_a_storage_file_under_a_file_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "passwd"
    blocker.write_text("root:x:0:0\n")
    for url in (f"sqlite:///{blocker}/x.db", f"journal:///{blocker}/x.log"):
        with pytest.raises(SweepError, match=r"hydra\.sweeper\.storage=.*cannot create the directory"):
            resolve(url, "s", tmp_path)
    (tmp_path / "d.db").mkdir()
    with pytest.raises(SweepError, match="is a directory, not a file"):
        resolve(f"sqlite:///{tmp_path / 'd.db'}", "s", tmp_path)
    assert blocker.read_text() == "root:x:0:0\n"
