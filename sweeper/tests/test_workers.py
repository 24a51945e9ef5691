"""Override formatting and the worker command (right, or a clear error at once)."""

from __future__ import annotations

import importlib
import sys

import pytest


def _workers():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.workers")


def _processes():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.processes")


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (None, "null"), (0.1, "0.1"), (3, "3"), ("adam", "adam"),
    ("a b", "'a b'"), ("it's", "'it\\'s'"), ("/tmp/x-1.db", "/tmp/x-1.db"),
])
def test_format_value(value, text: str) -> None:
    assert _workers().format_value(value) == text


def test_worker_command_configured_wins() -> None:
    assert _processes().worker_command(["python", "-m", "app"], "anything") == ["python", "-m", "app"]


def test_worker_command_under_pytest_is_a_clear_error() -> None:
    """This process is pytest, not the app: n_jobs > 1 must stop at once and say what to do."""
    errors = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.errors")
    with pytest.raises(errors.SweepError, match=r"was not started as the app whose task function is "
                       r"in 'my_app.main'.*hydra.sweeper.worker_command"):
        _processes().worker_command(None, "my_app.main")


def test_worker_command_of_a_module_app(monkeypatch) -> None:
    """``python -m pkg`` whose task function lives in ``pkg.app``."""
    main = type(sys)("__main__")
    main.__spec__ = type("Spec", (), {"name": "pkg.__main__"})()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert _processes().worker_command(None, "pkg.app") == [sys.executable, "-m", "pkg"]


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
    assert _processes().worker_command(None, "pip._internal.app") == [sys.executable, script]


class _SlowToNotice:
    """A launcher whose job ends (and signals it, as ``JobEndSignal`` does inside a real
    launched job) long before ``launch()`` returns, as submitit's once-a-second poll does."""

    def __init__(self, signals) -> None:
        self.signals, self.release = signals, __import__("threading").Event()
        self.returned = False

    def launch(self, jobs, initial_job_idx):
        import json

        self.signals.mkdir(parents=True, exist_ok=True)
        (self.signals / f"{initial_job_idx}.json").write_text(json.dumps(
            {"state": "COMPLETE", "values": [0.5], "output_dir": f"/runs/{initial_job_idx}"}))
        self.release.wait(30)
        self.returned = True
        raise RuntimeError("whatever launch() says after the job's end is not needed")


def test_through_launcher_hands_on_when_the_job_ends_not_when_launch_returns(tmp_path) -> None:
    from pathlib import Path
    from types import SimpleNamespace

    from optuna.trial import TrialState

    launcher = _SlowToNotice(tmp_path / ".job_ends")
    through = _workers().ThroughLauncher(launcher, tmp_path / ".job_ends", poll=0.01)
    outcome, run_dir = through(SimpleNamespace(number=7), ["x=1"])
    assert (outcome.state, outcome.values, run_dir) == (TrialState.COMPLETE, [0.5], Path("/runs/7"))
    assert not launcher.returned  # handed on while launch() still waits
    launcher.release.set()
    through.close()
    assert launcher.returned


def test_through_launcher_reports_a_launch_that_fails_without_a_signal(tmp_path) -> None:
    from types import SimpleNamespace

    class Broken:
        def launch(self, jobs, initial_job_idx):
            raise OSError("sbatch: command not found")

    through = _workers().ThroughLauncher(Broken(), tmp_path / ".job_ends", poll=0.01)
    with pytest.raises(OSError, match="sbatch"):
        through(SimpleNamespace(number=1), ["x=1"])
