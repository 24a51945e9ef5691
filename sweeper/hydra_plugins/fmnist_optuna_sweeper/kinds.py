"""Storage kinds: each kind of storage setting is one small class with its normalisation, the
file it lives in (if any), how its Optuna storage is built, its study lock and its SQLite
write-ahead-log setup. :func:`kind_of` picks the kind once, from the setting; callers never
look at a URL's prefix again.

==================  ================================================  ====================
kind                settings                                          study lock
==================  ================================================  ====================
:class:`Memory`     ``memory`` (``storage: null``, jobs in process)   threads only
:class:`SQLite`     ``sqlite:///path``                                ``<path>.lock`` flock
:class:`PostgreSQL` ``postgresql://`` / ``postgres://`` / ``+driver``  advisory lock
:class:`Journal`    ``journal:///path`` or a plain ``path.log``       symlink lock file
:class:`OtherRDB`   any other SQLAlchemy URL (MySQL, ...)             threads only
==================  ================================================  ====================
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna

try:
    import fcntl
except ImportError:  # Windows: no file lock, threads are still serialised
    fcntl = None  # type: ignore[assignment]

from hydra_plugins.fmnist_optuna_sweeper import journal

__all__ = ["MEMORY", "Heartbeats", "Journal", "Memory", "OtherRDB", "PostgreSQL", "SQLite",
           "StorageKind", "kind_of"]

#: the "URL" of a study in this process's memory (``storage: null`` with jobs run in process)
MEMORY = "memory"


class Heartbeats:
    """Heartbeat settings of a sweep's storage: ``interval`` seconds (None: no heartbeats),
    ``grace`` seconds before a silent trial is stale, ``retry`` reruns of a stale trial."""

    def __init__(self, interval: int | None = None, grace: int | None = None, retry: int = 0) -> None:
        self.interval, self.grace, self.retry = interval or None, grace, retry

    def stale_callback(self) -> Callable[[optuna.Study, Any], None] | None:
        """Optuna's retry callback for ``retry`` > 0 (named per Optuna version), else None."""
        if not self.interval or self.retry <= 0:
            return None
        retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        if retry_cls is None:  # optuna < 5
            retry_cls = optuna.storages.RetryFailedTrialCallback
        callback: Callable[[optuna.Study, Any], None] = retry_cls(max_retry=self.retry)
        return callback

    def rdb_kwargs(self) -> dict[str, Any]:
        """The heartbeat arguments of ``optuna.storages.RDBStorage``."""
        if not self.interval:
            return {}
        kwargs: dict[str, Any] = {"heartbeat_interval": self.interval, "grace_period": self.grace}
        callback = self.stale_callback()
        if callback is not None:
            name = ("heartbeat_stale_trial_callback"
                    if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback")
                    else "failed_trial_callback")
            kwargs[name] = callback
        return kwargs


class StorageKind:
    """One kind of storage setting (the base class: an RDB URL that SQLAlchemy understands)."""

    def __init__(self, url: str) -> None:
        self.setting, self.url = url, self.normalise(url)

    @staticmethod
    def matches(url: str) -> bool:
        return True

    def normalise(self, url: str) -> str:
        """The setting as the storage is opened (the installed driver)."""
        return url

    @property
    def file(self) -> Path | None:
        """The file the study lives in (SQLite, journal), absolute; else None."""
        return None

    def absolute(self) -> str:
        """The setting with its file's path made absolute (jobs may start elsewhere)."""
        return self.url

    def engine_kwargs(self) -> dict[str, Any]:
        return {"pool_pre_ping": True}

    def storage(self, heartbeats: Heartbeats | None = None) -> optuna.storages.BaseStorage:
        """A new Optuna storage for the setting, with the sweep's heartbeats."""
        return self._rdb(heartbeats)

    def _rdb(self, heartbeats: Heartbeats | None) -> optuna.storages.RDBStorage:
        with _quiet():
            return optuna.storages.RDBStorage(self.url, engine_kwargs=self.engine_kwargs(),
                                              **(heartbeats or Heartbeats()).rdb_kwargs())

    @contextlib.contextmanager
    def lock(self, study_name: str, storage: optuna.storages.BaseStorage) -> Iterator[None]:
        """Serialise "count the trials, then ask one" across processes (base: nothing more
        than the caller's thread lock)."""
        yield

    def dashboard_target(self) -> str:
        """The storage as ``optuna-dashboard`` takes it: the setting as given (not masked)."""
        return self.setting


class Memory(StorageKind):
    """A study in this process's memory: nothing outlives the sweep, no heartbeats."""

    @staticmethod
    def matches(url: str) -> bool:
        return url == MEMORY

    def storage(self, heartbeats: Heartbeats | None = None) -> optuna.storages.BaseStorage:
        return optuna.storages.InMemoryStorage()


class SQLite(StorageKind):
    """A SQLite file, in write-ahead-log mode with ``synchronous=NORMAL``: a commit no longer
    waits for the disk (the database stays consistent; a power cut may lose the last commits),
    which more than halves the sweeper's own per-trial time, and readers (the dashboard,
    workers) do not block the writer. Only this storage's engine gets the pragmas."""

    PREFIX = "sqlite:///"

    @staticmethod
    def matches(url: str) -> bool:
        return url.startswith("sqlite")

    @property
    def file(self) -> Path | None:
        path = self.url[len(self.PREFIX):].split("?", 1)[0] if self.url.startswith(self.PREFIX) else ""
        return Path(path).absolute() if path not in ("", ":memory:") else None

    def absolute(self) -> str:
        query = self.url.partition("?")[1:]
        return self.url if self.file is None else f"{self.PREFIX}{self.file}{''.join(query)}"

    def engine_kwargs(self) -> dict[str, Any]:
        return {"connect_args": {"timeout": 120}}

    def storage(self, heartbeats: Heartbeats | None = None) -> optuna.storages.BaseStorage:
        rdb = self._rdb(heartbeats)
        if self.file is not None:
            from sqlalchemy import event

            engine = rdb.engine
            engine.dispose()  # the connections opened while creating the tables: without pragmas
            event.listen(engine, "connect", _wal_pragmas)
        return rdb

    @contextlib.contextmanager
    def lock(self, study_name: str, storage: optuna.storages.BaseStorage) -> Iterator[None]:
        if self.file is None or fcntl is None:
            yield
            return
        with open(f"{self.file}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _wal_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class PostgreSQL(StorageKind):
    """A PostgreSQL database; ``postgresql://`` names SQLAlchemy's default driver, psycopg 3:
    where only psycopg2 is installed, the URL is made to name psycopg2."""

    _SCHEME = re.compile(r"^(postgresql|postgres)(\+\w+)?://")

    @staticmethod
    def matches(url: str) -> bool:
        return PostgreSQL._SCHEME.match(url) is not None

    def normalise(self, url: str) -> str:
        match = re.match(r"^(postgresql|postgres)://", url)
        if match is None:
            return url
        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
            return "postgresql+psycopg2://" + url[match.end():]
        return url

    @contextlib.contextmanager
    def lock(self, study_name: str, storage: optuna.storages.BaseStorage) -> Iterator[None]:
        from sqlalchemy import text

        key = zlib.crc32(f"fmnist-optuna:{study_name}".encode())
        with storage.engine.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


class Journal(StorageKind):
    """A journal file (``journal:///path`` or a plain ``path.log``), with heartbeats of our
    own (``journal.HeartbeatJournalStorage``)."""

    @staticmethod
    def matches(url: str) -> bool:
        return journal.is_journal(url)

    def normalise(self, url: str) -> str:
        journal.journal_path(url)  # a ValueError for a setting without a path
        return url

    @property
    def file(self) -> Path:
        return journal.journal_path(self.url)

    def absolute(self) -> str:
        return f"{journal.SCHEME}{self.file}"

    def storage(self, heartbeats: Heartbeats | None = None) -> optuna.storages.BaseStorage:
        beats = heartbeats or Heartbeats()
        return journal.HeartbeatJournalStorage(self.file, beats.interval, beats.grace,
                                               beats.stale_callback())

    @contextlib.contextmanager
    def lock(self, study_name: str, storage: optuna.storages.BaseStorage) -> Iterator[None]:
        with journal.study_lock(self.file):
            yield

    def dashboard_target(self) -> str:
        return str(self.file)  # optuna-dashboard's form of a journal file


class OtherRDB(StorageKind):
    """Any other SQLAlchemy URL (MySQL, ...): the base behaviour."""


#: in the order they are tried; the last one takes anything
KINDS: tuple[type[StorageKind], ...] = (Memory, Journal, SQLite, PostgreSQL, OtherRDB)


def kind_of(url: str) -> StorageKind:
    """The storage kind of a setting, normalised.

    >>> type(kind_of("journal:///shared/study.log")).__name__
    'Journal'
    """
    return next(kind for kind in KINDS if kind.matches(url))(url)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        yield

