"""No trial is left RUNNING by the sweep's own failures: whatever goes wrong between claiming a
trial and its job's start fails THAT trial with the reason (a table of failure kinds), and a
later sweep still completes the study to n_trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra_plugins.fmnist_optuna_sweeper import storage
from hydra_plugins.fmnist_optuna_sweeper.loop import SweepLoop
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome
from hydra_plugins.fmnist_optuna_sweeper.plan import Plan
from hydra_plugins.fmnist_optuna_sweeper.search_space import parse_search_space
from hydra_plugins.fmnist_optuna_sweeper.session import Session
from optuna.trial import TrialState

N_TRIALS = 3


class _BrokenSampler(optuna.samplers.RandomSampler):
    """A sampler that cannot sample (as CmaEsSampler without its optional package)."""

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        raise ModuleNotFoundError("No module named 'cmaes'")


def _raising_space(config: Any, trial: Any) -> None:
    raise ValueError("custom_search_space broke")


def _ok(trial: Any, overrides: list[str]) -> tuple[Outcome, Path | None]:
    return Outcome(TrialState.COMPLETE, [1.0]), None


class _Launch:
    in_process = True

    def __init__(self, run: Any = _ok) -> None:
        self.run = run

    def __call__(self, trial: Any, overrides: list[str]) -> tuple[Outcome, Path | None]:
        return self.run(trial, overrides)

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass


def _broken_launch(trial: Any, overrides: list[str]) -> tuple[Outcome, Path | None]:
    raise OSError("cannot start the job: no space left on device")


def _loop(tmp_path: Path, sampler: Any = None, extender: Any = None) -> SweepLoop:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    store = storage.make_storage(url, heartbeat_interval=60)
    study = optuna.create_study(study_name="s", storage=store, load_if_exists=True,
                                sampler=sampler or optuna.samplers.RandomSampler(seed=0))
    space = parse_search_space({"x": "choice(a, b)"})
    plan = Plan(["minimize"], space, N_TRIALS, [], study.sampler, None, None)
    session = Session(url, store, study, storage.StudyLock(url, "s", store))
    return SweepLoop(session, plan, config=None, extender=extender, heartbeat_interval=None,
                     max_failure_rate=1.0, trial_overrides=False)


#: failure kind -> (what to change, the error the failed trial records, the loop raises)
CASES = {
    "the sampler raises": ({"sampler": _BrokenSampler()}, "No module named 'cmaes'", True),
    "custom_search_space raises": ({"extender": _raising_space}, "custom_search_space broke", True),
    "a WAITING trial holds a value outside the choices": ({"waiting": {"x": "c"}}, "c", True),
    "the launch fails": ({"launch": _broken_launch}, "no space left on device", False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failure_before_the_job_starts_fails_that_trial(tmp_path: Path, case: str) -> None:
    change, error, raises = CASES[case]
    loop = _loop(tmp_path, change.get("sampler"), change.get("extender"))
    if "waiting" in change:  # written into the storage behind the sweep's back
        loop.study.enqueue_trial(change["waiting"], skip_if_exists=False)
    launch = _Launch(change.get("launch", _ok))
    if raises:
        with pytest.raises(Exception):  # noqa: B017  (the kind of error is the case's)
            loop.work(launch)
    else:
        loop.work(launch)
    trials = loop.study.get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    failed = trials[0]
    assert failed.state == TrialState.FAIL and error in failed.user_attrs["error"]

    again = _loop(tmp_path)  # a later sweep, all well: the study reaches n_trials
    again.work(_Launch())
    assert again.count() == N_TRIALS
    assert not [t for t in again.study.get_trials() if t.state == TrialState.RUNNING]
