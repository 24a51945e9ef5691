"""The job side of a sweep: everything a job does with its Optuna trial goes through here.

A sweep passes each job ``optuna.storage`` (the URL with its password masked),
``optuna.study_name``, ``optuna.trial_id`` and ``optuna.trial_number`` as overrides, and the
real storage URL in the ``OPTUNA_SWEEPER_STORAGE`` environment variable, which no file, log or
command line holds. From that config node, :func:`trial_of` gives the job its
:class:`JobTrial`: the storage opened by its kind (SQLite, PostgreSQL, journal file, ...), the
study, and the pruner built from the study's stored spec (``pruners.py``'s allowlist)::

    trial = trial_of(cfg.get("optuna"))    # None outside a sweep
    if trial is not None:
        trial.report(epoch, value)
        if trial.should_prune(): ...
        trial.set_user_attrs({"val_accuracy": 0.91})
        trial.upload([Path("metrics.json")], artifact_dir)   # optuna-dashboard's files
        trial.note("### Completed ...")                       # and its note

:func:`open_study` opens an existing study for reading (reports, ``best``): a SQLite or journal
file that does not exist is an error, never created. The sweep records a job's outcome through
:func:`JobTrial.set_result` (``callbacks.py``) before the job exits.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.kinds import MEMORY, kind_of
from hydra_plugins.fmnist_optuna_sweeper.outcome import Outcome, tell
from hydra_plugins.fmnist_optuna_sweeper.pruners import PRUNER_ATTR, pruner_from_spec
from hydra_plugins.fmnist_optuna_sweeper.storage import STORAGE_ENV, mask_url, quiet

__all__ = ["STORAGE_ENV", "JobTrial", "StudyUnavailable", "open_study", "open_trial", "storage_url",
           "trial_of"]


class StudyUnavailable(SweepError):
    """A study cannot be read (its file is missing, its storage unreadable or in memory)."""


def storage_url(configured: str) -> str:
    """The URL to connect to for ``configured`` (a URL from the run's config): the real one
    from ``OPTUNA_SWEEPER_STORAGE`` when it masks to ``configured``; else the masked parts
    are dropped, so that libpq looks in ``PGPASSWORD`` / ``~/.pgpass``.

    >>> storage_url("sqlite:///outputs/optuna.db")
    'sqlite:///outputs/optuna.db'
    """
    real = os.environ.get(STORAGE_ENV)
    if real and mask_url(real) == configured:
        return real
    unmasked = configured.replace(":***@", "@", 1)
    unmasked = re.sub(r"(?<=[?&])[^=&#]*=\*\*\*(&|$)", "", unmasked)
    return unmasked.rstrip("?&")


def open_study(storage: str, study_name: str) -> optuna.Study:
    """The existing study ``study_name`` in ``storage`` (a setting as a run's config or results
    file holds it, password masked or not); else a :class:`StudyUnavailable` error naming the
    study and the reason."""
    url = storage_url(storage)
    where = f"study {study_name!r} in {mask_url(url)}"
    if url == MEMORY:
        raise StudyUnavailable(
            f"cannot read {where}: the sweep ran with hydra.sweeper.storage=null, which keeps its "
            "study in memory only; sweep again with a storage (e.g. "
            "hydra.sweeper.storage=sqlite:///outputs/optuna.db)")
    try:
        kind = kind_of(url)
    except ValueError as exc:
        raise StudyUnavailable(f"cannot read {where}: {exc}") from exc
    if kind.file is not None and not kind.file.is_file():  # reading never creates a storage
        raise StudyUnavailable(f"cannot read {where}: {kind.file} does not exist")
    try:
        with quiet():
            study = optuna.load_study(study_name=study_name, storage=kind.storage(),
                                      sampler=optuna.samplers.RandomSampler())
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise StudyUnavailable(f"cannot read {where}: {type(exc).__name__}: {first}") from exc
    return study


class JobTrial:
    """A job's handle on its trial: report, prune, record attributes, files, a note and the
    result. The study's pruner is the one its sweep stored (``pruners.py``). Multi-objective
    studies cannot prune (Optuna does not support it): reports are then not sent and
    :meth:`should_prune` is always False."""

    def __init__(self, study: optuna.Study, trial_id: int) -> None:
        study.pruner = pruner_from_spec(study.user_attrs.get(PRUNER_ATTR))
        self.study = study
        self.trial = optuna.trial.Trial(study, int(trial_id))
        self.trial_id, self.number = int(trial_id), self.trial.number
        self.single = len(study.directions) == 1

    def report(self, step: int, value: float) -> None:
        """Report ``value`` at ``step`` (non-finite values and multi-objective studies: not)."""
        if self.single and math.isfinite(value):
            self.trial.report(value, step=step)

    def should_prune(self) -> bool:
        return self.single and self.trial.should_prune()

    def set_user_attrs(self, attrs: Mapping[str, Any]) -> None:
        for key, value in attrs.items():
            self.trial.set_user_attr(key, value)

    def name_metrics(self, names: Sequence[str]) -> None:
        """Name the study's objectives (once, when they are unnamed and as many as its directions)."""
        if self.study.metric_names is None and len(names) == len(self.study.directions):
            self.study.set_metric_names(list(names))

    def upload(self, paths: Iterable[Path], store_dir: Path) -> None:
        """Upload the existing ``paths`` to the trial, in a ``FileSystemArtifactStore`` at
        ``store_dir`` (what ``optuna-dashboard --artifact-dir`` serves)."""
        from optuna.artifacts import FileSystemArtifactStore, upload_artifact

        store_dir.mkdir(parents=True, exist_ok=True)
        store = FileSystemArtifactStore(str(store_dir))
        for path in paths:
            if path.is_file():
                upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=self.trial)

    def note(self, markdown: str) -> None:
        """The trial's note in optuna-dashboard."""
        from optuna_dashboard import save_note

        save_note(self.trial, markdown)

    def set_result(self, outcome: Outcome, run_dir: Path | None = None) -> Outcome:
        """Finish the trial with ``outcome`` (its directory and error recorded first); a trial
        finished already keeps its state. Returns the outcome the trial holds."""
        with quiet():
            return tell(self.study, self.trial, outcome, run_dir)


def open_trial(storage: str, study_name: str, trial_id: int) -> JobTrial:
    """The trial ``trial_id`` of ``study_name`` in ``storage`` (see :func:`open_study`)."""
    return JobTrial(open_study(storage, study_name), trial_id)


def trial_of(node: Any) -> JobTrial | None:
    """The job's trial from its ``optuna`` config node (``storage``, ``study_name``,
    ``trial_id``); None outside a sweep (no node, no trial id or no storage)."""
    if not node or node.get("trial_id") is None or not node.get("storage"):
        return None
    return open_trial(str(node.get("storage")), str(node.get("study_name")), int(node.get("trial_id")))
