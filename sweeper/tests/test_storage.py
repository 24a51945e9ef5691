"""Storage URLs and study names, transient errors, the study lock, directions."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import optuna
import pytest
from sqlalchemy import exc as sa


def _storage():
    return importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.storage")


def test_resolve(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    m = _storage()
    url, name = m.resolve(None, None, tmp_path / "s")
    assert url == m.MEMORY and name.startswith("study-")  # storage null: in memory
    assert m.resolve(None, None, tmp_path / "s")[1] != name  # a fresh study each time
    assert m.resolve(None, "a", tmp_path / "s") == (m.MEMORY, "a")
    # jobs in other processes: a new SQLite file in the sweep directory for each sweep
    first = m.resolve(None, "a", tmp_path / "s", in_process=False)
    assert first[0].startswith(f"sqlite:///{tmp_path / 's' / 'optuna-'}") and first[1] == "a"
    assert m.resolve(None, "a", tmp_path / "s", in_process=False)[0] != first[0]
    assert isinstance(m.make_storage(m.MEMORY), optuna.storages.InMemoryStorage)
    assert m.resolve("postgresql://u:p@h/db", "a", tmp_path) == ("postgresql://u:p@h/db", "a")
    assert m.resolve("sqlite:///x.db", None, tmp_path)[1].startswith("study-")
    assert m.resolve("sqlite:///out/x.db", "a", tmp_path)[0] == f"sqlite:///{tmp_path / 'out' / 'x.db'}"


def test_mask_url() -> None:
    assert _storage().mask_url("postgresql://optuna:secret@db/o") == "postgresql://optuna:***@db/o"
    assert _storage().mask_url("sqlite:////tmp/o.db") == "sqlite:////tmp/o.db"


@pytest.mark.parametrize(("exc", "transient"), [
    (sa.OperationalError("x", {}, Exception("database is locked")), True),
    (sa.OperationalError("x", {}, Exception("could not connect to server")), True),
    (sa.OperationalError("x", {}, Exception("table studies already exists")), True),
    (sa.IntegrityError("x", {}, Exception("UNIQUE constraint failed")), True),
    (optuna.exceptions.DuplicatedStudyError("s"), True),
    (sa.OperationalError("x", {}, Exception("unable to open database file")), False),
    (optuna.exceptions.ExperimentalWarning("heartbeat is experimental"), False),
    (ValueError("bad"), False),
])
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert _storage().is_transient(exc) is transient


def test_non_transient_error_is_not_retried(tmp_path: Path) -> None:
    m = _storage()
    errors = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.errors")
    calls = []

    def fails() -> None:
        calls.append(1)
        raise optuna.exceptions.ExperimentalWarning("heartbeat is experimental")

    with pytest.raises(errors.SweepError, match="cannot open: ExperimentalWarning"):
        m.retry_transient("cannot open", fails)
    assert calls == [1]
    with pytest.raises(errors.SweepError, match="unable to open database file"):
        m.open_study(f"sqlite:///{tmp_path}/no/such/dir/o.db", "s", ["minimize"], None, None, None,
                     None, 0)


def test_transient_error_is_retried() -> None:
    calls = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise sa.OperationalError("x", {}, Exception("database is locked"))
        return 7

    assert _storage().retry_transient("open", flaky) == 7 and len(calls) == 2


def test_directions_must_match(tmp_path: Path) -> None:
    m = _storage()
    url = f"sqlite:///{tmp_path / 'o.db'}"
    m.open_study(url, "s", ["maximize"], None, None, 30, None, 0)
    with pytest.raises(Exception, match=r"has directions \['maximize'\], the sweep asks for \['minimize'\]"):
        m.open_study(url, "s", ["minimize"], None, None, 30, None, 0)


def test_study_lock_keeps_the_trial_count_exact(tmp_path: Path) -> None:
    """Four threads, each with its own storage and lock object (as separate sweeps), claim
    trials until the study holds 10: 'count, then ask' under the file lock."""
    m = _storage()
    url = f"sqlite:///{tmp_path / 'o.db'}"
    m.open_study(url, "s", ["minimize"], None, None, None, None, 0)

    def worker() -> None:
        store, study = m.open_study(url, "s", ["minimize"], None, None, None, None, 0)
        lock = m.StudyLock(url, "s", store)
        while True:
            with lock():
                if len(study.get_trials(deepcopy=False)) >= 10:
                    return
                trial = study.ask()
            study.tell(trial, 0.0)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 10


@pytest.mark.parametrize(("url", "kind", "file", "absolute"), [
    ("memory", "Memory", None, "memory"),
    ("sqlite:///x.db", "SQLite", "{cwd}/x.db", "sqlite:///{cwd}/x.db"),
    ("sqlite:///x.db?timeout=3", "SQLite", "{cwd}/x.db", "sqlite:///{cwd}/x.db?timeout=3"),
    ("sqlite:///:memory:", "SQLite", None, "sqlite:///:memory:"),
    ("journal:///shared/s.log", "Journal", "/shared/s.log", "journal:///shared/s.log"),
    ("runs/s.log", "Journal", "{cwd}/runs/s.log", "journal://{cwd}/runs/s.log"),
    ("postgresql+psycopg2://u@h/d", "PostgreSQL", None, "postgresql+psycopg2://u@h/d"),
    ("mysql://u@h/d", "OtherRDB", None, "mysql://u@h/d"),
])
def test_storage_kinds(url: str, kind: str, file: str | None, absolute: str) -> None:
    from hydra_plugins.fmnist_optuna_sweeper.kinds import kind_of

    cwd = str(Path.cwd())
    found = kind_of(url)
    assert type(found).__name__ == kind
    assert found.file == (None if file is None else Path(file.format(cwd=cwd)))
    assert found.absolute() == absolute.format(cwd=cwd)


def test_sqlite_wal_is_set_on_its_own_engine_only(tmp_path: Path) -> None:
    import sqlite3

    from hydra_plugins.fmnist_optuna_sweeper.kinds import kind_of

    storage = kind_of(f"sqlite:///{tmp_path / 'a.db'}").storage()
    optuna.create_study(study_name="s", storage=storage).ask()
    other = sqlite3.connect(tmp_path / "other.db")
    with storage.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
