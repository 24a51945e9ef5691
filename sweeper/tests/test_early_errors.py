"""Settings that used to fail every trial (or be dropped silently) are errors before the first
trial, naming the setting: a worker command that does not exist, an ``enqueue`` key that is not
searched, a storage file under a file."""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import FloatDistribution


def _module(name: str) -> Any:
    """The module as it is now: Hydra's plugin scan re-executes plugin modules and replaces
    them in ``sys.modules`` (so the error class is matched by name, not identity)."""
    return importlib.import_module(f"hydra_plugins.fmnist_optuna_sweeper.{name}")


def worker_command(*args: Any) -> Any:
    return _module("processes").worker_command(*args)


def _check_enqueued(*args: Any, **kwargs: Any) -> Any:
    return _module("plan").check_enqueued(*args, **kwargs)


def resolve(*args: Any) -> Any:
    return _module("storage").resolve(*args)


@contextlib.contextmanager
def _sweep_error(pattern: str) -> Iterator[None]:
    with pytest.raises(Exception) as info:  # a SweepError, of whichever import
        yield
    assert type(info.value).__name__ == "SweepError", repr(info.value)
    assert re.search(pattern, str(info.value)), str(info.value)


def _space() -> Any:
    space = _module("search_space")
    return space.SearchSpace(
        [space.Param("lr", "optim.learning_rate", FloatDistribution(1e-4, 1e-1), {})], [])


@pytest.mark.parametrize(("command", "message"), [
    (["no-such-command-22", "-m", "app"], "worker_command[0]='no-such-command-22' is not an executable"),
    (["/nonexistent/bin/python", "-m", "app"], "'/nonexistent/bin/python' is not an executable"),
    ([__file__], "is not an executable"),  # a file, but not executable
])
def test_a_worker_command_that_cannot_run_stops_the_sweep(command: list[str], message: str) -> None:
    with _sweep_error(re.escape(message)):
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
    with _sweep_error(re.escape(message)):
        _check_enqueued(entry, _space(), 3, custom=custom)


def test_an_enqueue_entry_may_name_custom_search_space_keys() -> None:
    entry = {"lr": 0.01, "optim.beta_1": 0.9}
    assert _check_enqueued(entry, _space(), 0, custom=True) == entry
    assert _check_enqueued({"lr": 0.01}, _space(), 0) == {"lr": 0.01}


def test_a_storage_file_under_a_file_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "passwd"
    blocker.write_text("root:x:0:0\n")
    for url in (f"sqlite:///{blocker}/x.db", f"journal:///{blocker}/x.log"):
        with _sweep_error(r"hydra\.sweeper\.storage=.*cannot create the directory"):
            resolve(url, "s", tmp_path)
    (tmp_path / "d.db").mkdir()
    with _sweep_error("is a directory, not a file"):
        resolve(f"sqlite:///{tmp_path / 'd.db'}", "s", tmp_path)
    assert blocker.read_text() == "root:x:0:0\n"
