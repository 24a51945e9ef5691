"""Trials that a dead sweep left RUNNING. Optuna's ``fail_stale_trials`` fails those whose
heartbeat stopped; a trial whose sweep died before its first heartbeat (between ``ask`` and
the launch, e.g. a sampler that crashed) has none, and Optuna would leave it RUNNING, counted
as taken, forever. Here such a trial is failed too once it is older than the grace period,
marked ``never_started`` (its job never ran, so it does not count towards ``n_trials``), and
handed to the retry callback like any stale trial.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import logging
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["NEVER_STARTED", "fail_dead_trials", "fail_unstarted", "heartbeatless", "never_started"]

#: the user attribute of a trial failed before its job started (not counted in ``n_trials``)
NEVER_STARTED = "never_started"
log = logging.getLogger(__name__)


def never_started(trial: FrozenTrial) -> bool:
    """A trial failed before its job started (it does not count towards ``n_trials``)."""
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(NEVER_STARTED))


def heartbeatless(storage: Any, study_id: int) -> set[int]:
    """The ids of the study's RUNNING trials that never recorded a heartbeat (RDB and our
    journal storage; other storages keep no heartbeats: empty)."""
    backend = getattr(storage, "_backend", None)  # a study's RDB storage is wrapped in a cache
    if isinstance(backend, optuna.storages.BaseStorage):  # (a journal's _backend is its file)
        storage = backend
    if isinstance(storage, optuna.storages.RDBStorage):
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        # column queries (no ORM objects, whose cached relationships may be out of date)
        with _create_scoped_session(storage.scoped_session) as session:
            running = {int(tid) for (tid,) in session.query(models.TrialModel.trial_id)
                       .filter(models.TrialModel.state == TrialState.RUNNING)
                       .filter(models.TrialModel.study_id == study_id)}
            beating = {int(tid) for (tid,) in session.query(models.TrialHeartbeatModel.trial_id)
                       .filter(models.TrialHeartbeatModel.trial_id.in_(running))}
        return running - beating
    from hydra_plugins.fmnist_optuna_sweeper.journal import HEARTBEAT_ATTR

    # by name: Hydra's plugin scan may have imported journal.py again (another class object)
    if any(c.__name__ == "HeartbeatJournalStorage" for c in type(storage).__mro__):

        return {t._trial_id for t in storage.get_all_trials(study_id, deepcopy=False,
                                                             states=(TrialState.RUNNING,))
                if HEARTBEAT_ATTR not in t.system_attrs}
    return set()


def fail_unstarted(study: optuna.Study, trial_id: int, error: str) -> bool:
    """Fail a RUNNING trial whose job never started, marked ``never_started``, with ``error``
    recorded; False when another process finished it first, or when the storage cannot be
    written (a full disk: the trial stays RUNNING until a later sweep finds it without a
    heartbeat; the caller's own error goes on)."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id, NEVER_STARTED, True)
        storage.set_trial_user_attr(trial_id, "error", error)
        return bool(storage.set_trial_state_values(trial_id, state=TrialState.FAIL))
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
        return False
    except Exception as exc:
        log.warning("Could not fail trial %d (%s): %s: %s", trial_id, error, type(exc).__name__, exc)
        return False


def fail_dead_trials(study: optuna.Study, grace_period: float,
                     now: datetime.datetime | None = None) -> list[int]:
    """Fail the trials a dead sweep left RUNNING: stale heartbeats (Optuna), and no heartbeat
    at all for longer than ``grace_period`` seconds since the trial started; the latter are
    passed to the storage's stale-trial callback (``retry_failed``). Returns the ids of the
    latter."""
    storage = study._storage
    with contextlib.suppress(AttributeError, NotImplementedError):
        optuna.storages.fail_stale_trials(study)
    now = now or datetime.datetime.now()
    failed = []
    for trial_id in sorted(heartbeatless(storage, study._study_id)):
        trial = storage.get_trial(trial_id)
        start = trial.datetime_start
        if start is None or (now - start).total_seconds() <= grace_period:
            continue  # maybe a live sweep that is about to record the first heartbeat
        if fail_unstarted(study, trial_id, "the sweep that ran this trial died before its job "
                          "started (no heartbeat); failed by a later sweep"):
            failed.append(trial_id)
    callback = getattr(storage, "get_heartbeat_stale_trial_callback", lambda: None)()
    for trial_id in failed:
        if callback is not None:
            callback(study, copy.deepcopy(storage.get_trial(trial_id)))
    return failed
