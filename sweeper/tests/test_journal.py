"""Optuna's journal file storage as the sweep's storage: URL forms, how jobs open it,
heartbeats (fmnist sweeps sharing a journal: tests/test_journal.py)."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import optuna
import pytest
from hydra_plugins.fmnist_optuna_sweeper import kinds
from hydra_plugins.fmnist_optuna_sweeper.job import open_study
from hydra_plugins.fmnist_optuna_sweeper.journal import (
    HEARTBEAT_ATTR,
    HeartbeatJournalStorage,
    is_journal,
    journal_path,
)
from hydra_plugins.fmnist_optuna_sweeper.stale import fail_dead_trials, heartbeatless, never_started
from optuna.trial import TrialState


@pytest.mark.parametrize(
    ("url", "journal"),
    [
        ("journal:///shared/study.log", True),
        ("journal://outputs/study.journal", True),
        ("/shared/study.log", True),
        ("study.log", True),
        ("sqlite:///outputs/optuna.db", False),
        ("sqlite:///outputs/optuna.log", False),
        ("postgresql://u@h/db", False),
        ("/shared/study.db", False),
    ],
)
def test_which_settings_name_a_journal(url: str, journal: bool) -> None:
    assert is_journal(url) is journal


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("journal:///shared/study.log", Path("/shared/study.log")),
        ("journal://outputs/study.log", Path.cwd() / "outputs" / "study.log"),
        ("/shared/study.log", Path("/shared/study.log")),
    ],
)
def test_journal_paths_are_absolute(url: str, path: Path) -> None:
    assert journal_path(url) == path


def test_an_empty_journal_path_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a file path, got 'journal://'"):
        journal_path("journal://")


def test_jobs_open_the_same_journal(tmp_path: Path) -> None:
    url = f"journal://{tmp_path / 'j' / 'study.log'}"
    # kinds.X looked up now: Hydra's plugin scan may have executed kinds.py again (new classes)
    assert isinstance(kinds.kind_of(url), kinds.Journal)
    study = optuna.create_study(study_name="s", storage=kinds.kind_of(url).storage())
    study.enqueue_trial({"x": 1.0})
    again = open_study(url, "s")  # as a job opens it
    assert len(again.get_trials()) == 1
    assert isinstance(kinds.kind_of("sqlite:///x.db"), kinds.SQLite)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_whose_heartbeat_stopped_is_failed_and_retried(tmp_path: Path) -> None:
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    storage = HeartbeatJournalStorage(tmp_path / "study.log", heartbeat_interval=1, grace_period=1,
                                      stale_trial_callback=retry)
    study = optuna.create_study(study_name="s", storage=storage)
    alive, dead, silent = (study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
                           for _ in range(3))
    storage.record_heartbeat(dead._trial_id)
    time.sleep(1.5)
    storage.record_heartbeat(alive._trial_id)
    assert storage._get_stale_trial_ids(study._study_id) == [dead._trial_id]
    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials()
    # the dead trial failed, its parameters wait to be retried; a trial that never beat is
    # left alone, as RDB storages do
    assert [t.state for t in trials] == [TrialState.RUNNING, TrialState.FAIL, TrialState.RUNNING,
                                         TrialState.WAITING]
    assert trials[3].params == trials[1].params
    assert isinstance(trials[0].system_attrs[HEARTBEAT_ATTR], float)
    assert silent.number == 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_without_any_heartbeat_is_failed_once_the_grace_period_is_over(tmp_path: Path) -> None:
    """A trial whose sweep died between claiming it and its first heartbeat (a full disk) is
    found in a journal as in an RDB storage (``stale.py``)."""
    storage = HeartbeatJournalStorage(tmp_path / "study.log", heartbeat_interval=30)
    study = optuna.create_study(study_name="s", storage=storage)
    beating, silent = (study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}) for _ in range(2))
    storage.record_heartbeat(beating._trial_id)
    assert heartbeatless(study._storage, study._study_id) == {silent._trial_id}
    later = datetime.datetime.now() + datetime.timedelta(seconds=61)
    assert fail_dead_trials(study, grace_period=120, now=later) == []  # maybe still starting
    assert fail_dead_trials(study, grace_period=60, now=later) == [silent._trial_id]
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.RUNNING, TrialState.FAIL]
    assert never_started(trials[1]) and "no heartbeat" in trials[1].user_attrs["error"]
