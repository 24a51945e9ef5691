"""A sweep's session with its study: the storage resolved (the real URL only in the jobs'
environment, masked everywhere else), the study opened (or resumed, its fixed settings
checked), the pruner's spec stored for the jobs, the study lock, and under it the trials a
dead sweep left RUNNING failed and the enqueued trials added."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
from hydra_plugins.fmnist_optuna_sweeper import records, stale, storage
from hydra_plugins.fmnist_optuna_sweeper.plan import Plan
from hydra_plugins.fmnist_optuna_sweeper.pruners import PRUNER_ATTR
from hydra_plugins.fmnist_optuna_sweeper.workers import format_value
from omegaconf import DictConfig, open_dict, read_write

__all__ = ["Session", "mask_storage", "open_session"]


class Session:
    """An open study: its storage ``url`` (unmasked), Optuna ``store``, ``study`` and ``lock``."""

    def __init__(self, url: str, store: optuna.storages.BaseStorage, study: optuna.Study,
                 lock: storage.StudyLock) -> None:
        self.url, self.store, self.study, self.lock = url, store, study, lock

    @property
    def masked_url(self) -> str:
        return storage.mask_url(self.url)


def open_session(plan: Plan, options: DictConfig, config: DictConfig, sweep_dir: Path,
                 in_process: bool) -> Session:
    """Open (or resume) the study of ``plan``; ``in_process``: every job runs in this process
    (so ``storage: null`` may keep the study in memory)."""
    o = options
    url, study_name = storage.resolve(o.storage, o.study_name, sweep_dir, in_process=in_process)
    url = storage.normalise_url(url)
    # the real URL reaches jobs through the environment only; every copy of the config that
    # is saved or handed on shows it masked
    os.environ[storage.STORAGE_ENV] = url
    mask_storage(config, url)
    store, study = storage.open_study(
        url, study_name, plan.directions, plan.sampler, plan.pruner, o.heartbeat_interval,
        o.grace_period, int(o.retry_failed))
    lock = storage.StudyLock(url, study_name, store)
    with storage.writing(url):
        records.check_settings(study, plan.space.fixed, bool(o.accept_changed_settings))
        # jobs load the study from the storage, where Optuna keeps no pruner: store its config
        study.set_user_attr(PRUNER_ATTR, plan.pruner_spec)
        with lock(), storage.quiet():
            if o.heartbeat_interval:
                stale.fail_dead_trials(study, float(o.grace_period or 2 * o.heartbeat_interval))
            for entry in plan.enqueued:
                study.enqueue_trial(entry, skip_if_exists=True)
    return Session(url, store, study, lock)


def mask_storage(config: DictConfig, url: str) -> None:
    """Mask the storage's password in the sweep's config (saved as ``multirun.yaml``) and in
    the hydra overrides every job's config is built from (saved in its ``.hydra/``): the
    command line's ``hydra.sweeper.storage=...`` and, when the URL came from a config file,
    one more override that replaces it there."""
    if not storage.has_password(url):
        return
    masked = storage.mask_url(url)
    with read_write(config), open_dict(config):
        config.hydra.sweeper.storage = masked
        overrides = [storage.mask_url(str(o)) for o in config.hydra.overrides.hydra]
        if not any(o.lstrip("+").startswith("hydra.sweeper.storage=") for o in overrides):
            overrides.append(f"hydra.sweeper.storage={format_value(masked)}")
        config.hydra.overrides.hydra = overrides
