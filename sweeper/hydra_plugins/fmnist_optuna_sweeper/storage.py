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
import logging
import random
import re
import threading
import time
import urllib.parse
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import optuna

try:
    import fcntl
except ImportError:  # Windows: no file lock, threads are still serialised
    fcntl = None  # type: ignore[assignment]

from hydra_plugins.fmnist_optuna_sweeper import journal
from hydra_plugins.fmnist_optuna_sweeper.errors import SweepError

__all__ = [
    "MEMORY",
    "STORAGE_ENV",
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
]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: the environment variable that carries the storage URL, password included, to jobs: never a
#: command line or an override (those reach ``ps``, logs and the run directories' YAML files);
#: jobs receive the masked URL in ``optuna.storage`` and take the real one from here
STORAGE_ENV = "OPTUNA_SWEEPER_STORAGE"
#: the "URL" of a study in this process's memory (``storage: null`` with jobs run in process)
MEMORY = "memory"
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
    url = storage
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if url and journal.is_journal(url):  # absolute, for jobs that start elsewhere
        path = journal.journal_path(url)
        _make_parent(path, url)
        url = f"{journal.SCHEME}{path}"
    if not url:
        url = MEMORY if in_process else f"sqlite:///{(sweep_dir / f'optuna-{stamp}.db').absolute()}"
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        path = Path(url[len("sqlite:///"):]).absolute()
        _make_parent(path, url)
        url = f"sqlite:///{path}"
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
    """``postgresql://`` (or ``postgres://``) names SQLAlchemy's default PostgreSQL driver,
    psycopg 3; where only psycopg2 is installed, the URL is made to name psycopg2."""
    match = re.match(r"^(postgresql|postgres)://", url)
    if match is None:
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url[match.end():]
    return url


def make_storage(url: str, heartbeat_interval: int | None = None, grace_period: int | None = None,
                 retry_failed: int = 0) -> optuna.storages.BaseStorage:
    """An RDB storage; with heartbeats (``heartbeat_interval`` seconds) a trial whose sweep
    died is found stale after ``grace_period`` (default: twice the interval). ``MEMORY``: an
    in-memory storage (no heartbeats: nothing outlives the sweep)."""
    if url == MEMORY:
        return optuna.storages.InMemoryStorage()
    kwargs: dict[str, Any] = {}
    if heartbeat_interval:
        kwargs = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
        if retry_failed > 0:
            retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
            if retry_cls is not None:
                kwargs["heartbeat_stale_trial_callback"] = retry_cls(max_retry=retry_failed)
            else:  # optuna < 5
                kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(
                    max_retry=retry_failed)
    if journal.is_journal(url):  # a journal file: heartbeats of our own (see journal.py)
        return journal.HeartbeatJournalStorage(
            journal.journal_path(url), heartbeat_interval or None, grace_period,
            kwargs.get("heartbeat_stale_trial_callback"))
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {"pool_pre_ping": True})
    if url.startswith("sqlite:///"):
        _sqlite_wal(url[len("sqlite:///"):])
    with quiet():
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)


_WAL_FILES: set[str] = set()


def _sqlite_wal(path: str) -> None:
    """Our SQLite databases in write-ahead-log mode with ``synchronous=NORMAL``: a commit no
    longer waits for the disk (the database stays consistent; a power cut may lose the last
    commits), which more than halves the sweeper's own per-trial time, and readers (the
    dashboard, workers) do not block the writer. Other SQLite databases of the process are
    left alone."""
    if not _WAL_FILES:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            if not type(dbapi_connection).__module__.startswith("sqlite3"):
                return
            cursor = dbapi_connection.cursor()
            try:
                files = {row[2] for row in cursor.execute("PRAGMA database_list")}
                if files & _WAL_FILES:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA synchronous=NORMAL")
            finally:
                cursor.close()

    _WAL_FILES.add(str(Path(path).absolute()))


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
    ends with exactly ``n_trials`` trials: a PostgreSQL advisory lock, a file lock beside
    a SQLite database, or a symlink lock beside a journal file; other storages get the thread
    lock only."""

    def __init__(self, url: str, study_name: str, storage: optuna.storages.BaseStorage) -> None:
        self.url, self.study_name, self.storage = url, study_name, storage
        self.thread_lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self.thread_lock:
            if self.url.startswith("postgresql"):
                from sqlalchemy import text

                key = zlib.crc32(f"fmnist-optuna:{self.study_name}".encode())
                with self.storage.engine.connect() as conn:  # type: ignore[attr-defined]
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                    try:
                        yield
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
            elif journal.is_journal(self.url):
                with journal.study_lock(journal.journal_path(self.url)):
                    yield
            elif self.url.startswith("sqlite:///") and fcntl is not None:
                with open(self.url[len("sqlite:///"):] + ".lock", "w") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
            else:
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
