"""Where a study lives: storage URLs and names, opening a study (retrying only transient
database errors), the study lock that keeps ``n_trials`` exact across workers, heartbeats.

=====================  ====================  =================================================
``storage``            ``study_name``        study
=====================  ====================  =================================================
null                   any                   a fresh study that is not kept, as in the official
                                             plugin: in memory when every job runs in the
                                             sweep's process, else in a new SQLite file
                                             ``<sweep dir>/optuna-<time>-<hex>.db`` (jobs in
                                             other processes must reach it)
``URL``                null                  a fresh study (a new unique name) in ``URL``
``URL``                ``NAME``              ``NAME`` in ``URL``: created, or resumed
=====================  ====================  =================================================
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import re
import threading
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import optuna
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError
from hydra_plugins.fmnist_optuna_sweeper.kinds import MEMORY, Heartbeats, kind_of

__all__ = [
    "MEMORY",
    "STORAGE_ENV",
    "StorageWriteError",
    "StudyLock",
    "check_study_name",
    "has_password",
    "heartbeat",
    "is_transient",
    "make_storage",
    "mask_url",
    "normalise_url",
    "open_study",
    "quiet",
    "resolve",
    "write_failure",
    "writing",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: the environment variable that carries the storage URL, password included, to jobs: never a
#: command line or an override (those reach ``ps``, logs and the run directories' YAML files);
#: jobs receive the masked URL in ``optuna.storage`` and take the real one from here
STORAGE_ENV = "OPTUNA_SWEEPER_STORAGE"
#: database messages worth a retry (a busy or unreachable server, a concurrent create)
_TRANSIENT = re.compile(r"locked|busy|timeout|timed out|could not connect|connection|already exists|"
                        r"terminat|deadlock|too many clients|starting up", re.IGNORECASE)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarnings (heartbeats, some samplers) and the heartbeat
    hint meant for ``Study.optimize``: we record heartbeats ourselves, so ``-W error`` runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        yield


def resolve(storage: str | None, study_name: str | None, sweep_dir: Path,
            in_process: bool = True) -> tuple[str, str]:
    """The storage URL and study name a sweep uses (see the module's table); ``in_process``:
    every job runs in the sweep's process. A relative SQLite path
    (``sqlite:///outputs/optuna.db``) is made absolute, so that jobs find the same file
    wherever they run; its directory is created."""
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if not storage:
        url = MEMORY if in_process else f"sqlite:///{(sweep_dir / f'optuna-{stamp}.db').absolute()}"
    else:
        url = storage
    kind = kind_of(url)
    if kind.file is not None:  # absolute, for jobs that start elsewhere
        _make_parent(kind.file, url)
        url = kind.absolute()
    name = study_name or f"study-{stamp}"
    return str(url), str(name)


def _make_parent(path: Path, url: str) -> None:
    """The storage file's directory, or a :class:`SweepError` naming the setting."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"hydra.sweeper.storage={mask_url(url)}: cannot create the directory "
                         f"{path.parent} ({exc.strerror or exc})") from exc
    if path.is_dir():
        raise SweepError(f"hydra.sweeper.storage={mask_url(url)}: {path} is a directory, not a "
                         "file")


def check_study_name(name: str) -> None:
    """A study name names directories (``hydra.sweep.dir: outputs/sweeps/${...study_name}``)
    and travels in overrides: no path separators, no ``.``/``..``, no control characters."""
    if (not name.strip() or name in (".", "..") or "/" in name or "\\" in name
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise SweepError(
            f"hydra.sweeper.study_name={name!r} cannot be used: a study name names a directory, "
            "so it must be non-empty, not '.' or '..', and hold no '/', '\\' or control characters")


#: ``scheme://user:password@``, read as SQLAlchemy reads it: the user holds no ``:`` or ``/`` and
#: may be empty, the password runs to the next ``@`` (so it may hold ``/``, ``?`` or ``:``)
_USERINFO = re.compile(r"([\w+.-]+://[^:/\s'\"]*:)[^@]*@")
#: ``?key=value`` / ``&key=value`` query parameters (libpq takes ``?password=``)
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s'\"]*)=([^&;#\s'\"]*)")
_SECRET_KEY = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)


def _mask_param(match: re.Match[str]) -> str:
    sep, key, value = match.groups()
    secret = _SECRET_KEY.search(urllib.parse.unquote_plus(key)) and value
    return f"{sep}{key}=***" if secret else match.group(0)


def mask_url(url: str) -> str:
    """``url`` (or a text holding URLs: an override, a command line) with every password
    hidden, for anything printed or saved: the ``user:password@`` part (an empty user too:
    ``postgresql://:***@host/db``) and query parameters whose name, percent-decoded, names a
    secret (``?password=***``, ``&sslpassword=***``, ``?pass%77ord=***``).

    >>> mask_url("postgresql://:pw@host/db?sslmode=require&password=pw")
    'postgresql://:***@host/db?sslmode=require&password=***'
    """
    return _QUERY_PARAM.sub(_mask_param, _USERINFO.sub(r"\1***@", url))


def has_password(url: str) -> bool:
    return mask_url(url) != url


def normalise_url(url: str) -> str:
    """The setting as its storage kind opens it (``kinds.py``): a PostgreSQL URL names the
    installed driver."""
    return url if url == MEMORY else kind_of(url).url


def make_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 retry_failed: int = 0) -> optuna.storages.BaseStorage:
    """The storage of a setting, built by its kind; with heartbeats (``heartbeat_interval``
    seconds) a trial whose sweep died is found stale after ``grace_period`` (default: twice the
    interval). ``MEMORY``: an in-memory storage (no heartbeats: nothing outlives the sweep)."""
    return kind_of(url).storage(Heartbeats(heartbeat_interval, grace_period, retry_failed))


def is_transient(exc: BaseException) -> bool:
    """Errors that a retry may cure: a locked or unreachable database, or two workers that
    create the same tables or study at once."""
    try:
        from sqlalchemy import exc as sa
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, optuna.exceptions.DuplicatedStudyError | sa.IntegrityError):
        return True
    if not isinstance(exc, sa.DBAPIError):
        return False
    return bool(exc.connection_invalidated) or bool(_TRANSIENT.search(str(exc.orig or exc)))


#: what a write that found no room says: a full disk or quota, a file at its size limit
#: (SQLite: "database or disk is full" on ENOSPC, "disk I/O error" on EFBIG; PostgreSQL:
#: "could not extend file")
_NO_ROOM = re.compile(r"no space left|disk is full|disk i/o error|file too large|disk quota|could not extend",
                      re.IGNORECASE)
_NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


class StorageWriteError(SweepError):
    """The study's storage cannot be written (a full disk, a file at its size limit, a quota)."""


def write_failure(exc: BaseException) -> str | None:
    """What a write that found no room said, when ``exc`` or an error that caused it is one
    (the database driver's error under Optuna's and SQLAlchemy's); else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_ROOM_ERRNOS:
            return str(seen)
        if not isinstance(seen, OSError) and _NO_ROOM.search(str(seen)):
            return (str(seen).strip().splitlines() or [""])[0]
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def writing(url: str) -> Iterator[None]:
    """Turn an error that says a write to the storage ``url`` found no room into a
    :class:`StorageWriteError` naming the storage and what to do."""
    try:
        yield
    except SweepError:
        raise  # says what went wrong already
    except Exception as exc:
        if (said := write_failure(exc)) is None:
            raise
        raise StorageWriteError(
            f"cannot write to the study's storage {mask_url(url)}: {said} (is its disk full?); "
            "the trials this sweep had claimed and not finished stay RUNNING until a later sweep "
            "fails them once hydra.sweeper.grace_period is over (those whose job had not started "
            "do not count towards n_trials): free some space and run the sweep again to finish "
            "the study") from exc


def retry_transient(what: str, call: Callable[[], T], attempts: int = 5) -> T:
    """``call()``, retried with a random back-off while it fails with a transient error."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc):
                raise SweepError(f"{what}: {type(exc).__name__}: {exc}") from exc
            if attempt == attempts - 1:
                raise SweepError(f"{what} failed {attempts} times: {type(exc).__name__}: {exc}") from exc
            log.warning("%s failed (%s); retrying", what, exc)
            time.sleep(0.5 + random.random() * (attempt + 1))
    raise AssertionError("unreachable")


def open_study(url: str, study_name: str, directions: list[str], sampler: Any, pruner: Any,
               heartbeat_interval: int | None, grace_period: int | None, retry_failed: int
               ) -> tuple[optuna.storages.BaseStorage, optuna.Study]:
    """Create or load the study, retrying transient errors only."""

    def attempt() -> tuple[optuna.storages.BaseStorage, optuna.Study]:
        storage = make_storage(url, heartbeat_interval, grace_period, retry_failed)
        with quiet():
            study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler,
                                        pruner=pruner, directions=directions,  # type: ignore[arg-type]
                                        load_if_exists=True)
        return storage, study

    storage, study = retry_transient(f"cannot open study {study_name!r} in {mask_url(url)}", attempt)
    existing = [d.name.lower() for d in study.directions]
    if existing != directions:
        raise SweepError(
            f"study {study_name!r} in {mask_url(url)} has directions {existing}, the sweep asks for "
            f"{directions}: use another hydra.sweeper.study_name")
    return storage, study


class StudyLock:
    """Serialises 'count, then ask' across threads, processes and machines, so that a study
    ends with exactly ``n_trials`` trials: the thread lock, then the storage kind's own lock
    (``kinds.py``: a PostgreSQL advisory lock, a file lock beside a SQLite database, a symlink
    lock beside a journal file)."""

    def __init__(self, url: str, study_name: str, storage: optuna.storages.BaseStorage) -> None:
        self.url, self.study_name, self.storage = url, study_name, storage
        self.kind = kind_of(url)
        self.thread_lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self.thread_lock, self.kind.lock(self.study_name, self.storage):
            yield


@contextlib.contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial_id: int, interval: int | None
              ) -> Iterator[None]:
    """Record the trial's heartbeat now, then every ``interval`` seconds while its job runs.
    The first beat is written here rather than in the thread, so that a short job's storage
    writes never wait for the heartbeat's (SQLite serialises writers; its busy wait sleeps)."""
    if not interval or not hasattr(storage, "record_heartbeat"):
        yield
        return
    stop = threading.Event()
    with contextlib.suppress(Exception):
        storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
