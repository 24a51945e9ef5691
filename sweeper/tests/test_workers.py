"""Override formatting and the worker command (right, or a clear error at once)."""

from __future__ import annotations

import importlib
import sys

import pytest


def _workers():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.workers")


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (None, "null"), (0.1, "0.1"), (3, "3"), ("adam", "adam"),
    ("a b", "'a b'"), ("it's", "'it\\'s'"), ("/tmp/x-1.db", "/tmp/x-1.db"),
])
def test_format_value(value, text: str) -> None:
    assert _workers().format_value(value) == text


def test_worker_command_configured_wins() -> None:
    assert _workers().worker_command(["python", "-m", "app"], "anything") == ["python", "-m", "app"]


def test_worker_command_under_pytest_is_a_clear_error() -> None:
    """This process is pytest, not the app: n_jobs > 1 must stop at once and say what to do."""
    errors = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.errors")
    with pytest.raises(errors.SweepError, match=r"was not started as the app whose task function is "
                       r"in 'my_app.main'.*hydra.sweeper.worker_command"):
        _workers().worker_command(None, "my_app.main")


def test_worker_command_of_a_module_app(monkeypatch) -> None:
    """``python -m pkg`` whose task function lives in ``pkg.app``."""
    main = type(sys)("__main__")
    main.__spec__ = type("Spec", (), {"name": "pkg.__main__"})()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert _workers().worker_command(None, "pkg.app") == [sys.executable, "-m", "pkg"]


def test_worker_command_of_a_console_script(monkeypatch) -> None:
    """A console script (here pip's) whose entry point is in the task function's package."""
    import shutil
    from pathlib import Path

    script = shutil.which("pip", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("no pip console script beside this Python")
    main = type(sys)("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [script])
    assert _workers().worker_command(None, "pip._internal.app") == [sys.executable, script]
