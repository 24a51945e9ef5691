"""Optuna's journal file storage, for clusters without a database server.

A journal is one append-only file on a filesystem every machine of the sweep can reach (NFS,
Lustre, ...); Optuna serialises writes with a lock file beside it (a symlink, which works on
NFSv2 and later). Storage settings name it in one of two forms::

    journal:///shared/sweeps/study.log     # the URL form (three slashes: an absolute path)
    /shared/sweeps/study.log               # a plain path ending in .log (optuna-dashboard's form)

Optuna 5 keeps heartbeats for RDB storages only. ``HeartbeatJournalStorage`` adds them: a
heartbeat is the trial's ``fmnist:heartbeat`` system attribute (the writer's wall-clock
time), and a RUNNING trial whose last heartbeat is older than the grace period is stale, so
``optuna.storages.fail_stale_trials`` and the retry callback work as with RDB storages. The
machines' clocks must roughly agree (NTP), as the grace period is compared across them.

An append is whole or absent (``WholeLineFileBackend``): Optuna's own backend leaves the part
of a line written before a full disk stopped it (``EFBIG``, ``ENOSPC``), the next append
completes that line into one that is not JSON, and from then on every reader of the journal
fails with a ``JSONDecodeError``: one full disk would end the study. Here a failed append is
cut off again, and an unfinished last line that an older writer left (one that no reader has
taken, as Optuna skips it) is cut off before the next append.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock
from optuna.trial import FrozenTrial, TrialState

__all__ = ["HeartbeatJournalStorage", "WholeLineFileBackend", "is_journal", "journal_path",
           "study_lock", "whole_lines"]

log = logging.getLogger(__name__)

SCHEME = "journal://"
HEARTBEAT_ATTR = "fmnist:heartbeat"


def is_journal(url: str) -> bool:
    """Whether a storage setting names a journal file (``journal://...`` or ``*.log``)."""
    return url.startswith(SCHEME) or (
        "://" not in url and url.endswith(".log"))


def journal_path(url: str) -> Path:
    """The journal file a setting names, made absolute (jobs may start elsewhere).

    >>> journal_path("journal:///shared/study.log")
    PosixPath('/shared/study.log')
    """
    path = url[len(SCHEME):] if url.startswith(SCHEME) else url
    if not path:
        raise ValueError(f"a journal storage needs a file path, got {url!r}")
    return Path(path).expanduser().absolute()


def whole_lines(fd: int, chunk: int = 4096) -> int:
    """The size of the file ``fd`` up to the end of its last complete line (``\\n``): its
    size, unless a write stopped part-way through a line."""
    end = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


class WholeLineFileBackend(JournalFileBackend):
    """Optuna's journal file backend whose appends are whole lines or nothing (see the module
    docstring); the same file format and lock."""

    def __init__(self, file_path: str) -> None:
        self.file_path, self.lock = file_path, JournalFileSymlinkLock(file_path)
        super().__init__(file_path, self.lock)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in logs).encode()
        self.lock.acquire()
        try:
            fd = os.open(self.file_path, os.O_RDWR | os.O_APPEND)
            try:
                _append(fd, data, self.file_path)
            finally:
                os.close(fd)
        finally:
            self.lock.release()


def _append(fd: int, data: bytes, path: str) -> None:
    """Append ``data`` to ``fd`` whole, or cut the file back and raise."""
    size = whole_lines(fd)
    if size < os.fstat(fd).st_size:
        log.warning("%s ends in an unfinished line (a write that failed part-way): cut off",
                    path)
        os.ftruncate(fd, size)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.ftruncate(fd, size)
        raise


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal storage whose trials carry heartbeats (see the module docstring)."""

    def __init__(self, path: str | Path, heartbeat_interval: int | None = None,
                 grace_period: int | None = None,
                 stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
                 ) -> None:
        if heartbeat_interval is not None and heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be > 0, got heartbeat_interval={heartbeat_interval}")
        if grace_period is not None and grace_period <= 0:
            raise ValueError(f"grace_period must be > 0, got grace_period={grace_period}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(WholeLineFileBackend(str(path)))
        self.path = Path(path)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        assert self.heartbeat_interval is not None
        grace = self.grace_period or 2 * self.heartbeat_interval
        now = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            beat = trial.system_attrs.get(HEARTBEAT_ATTR)
            if isinstance(beat, int | float) and now - beat > grace:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.stale_trial_callback


@contextlib.contextmanager
def study_lock(path: Path) -> Iterator[None]:
    """Hold the study lock of a journal: a symlink lock file beside it (``<journal>.study.lock``),
    so sweeps on many machines serialise "count the trials, then ask one"."""
    lock = JournalFileSymlinkLock(f"{path}.study")
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
