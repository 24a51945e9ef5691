"""The storage password never leaves the sweep's process in clear: not in a file of the sweep,
not in its output, not on a worker's command line (``ps``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from hydra_plugins.fmnist_optuna_sweeper.job import storage_url
from hydra_plugins.fmnist_optuna_sweeper.storage import mask_url
from optuna.trial import TrialState

from tests.conftest import REPO
from tests.test_sweeper import _search, postgres_url  # noqa: F401  (the fixture)

PASSWORD = "Pw-5e1f0c-never-written"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://optuna:secret@db-host/optuna", "postgresql://optuna:***@db-host/optuna"),
        ("postgresql+psycopg2://u:p%40ss@h:5432/d", "postgresql+psycopg2://u:***@h:5432/d"),
        ("postgresql://optuna@db-host/optuna", "postgresql://optuna@db-host/optuna"),
        ("sqlite:////tmp/optuna.db", "sqlite:////tmp/optuna.db"),
        # the issue-22 forms: empty user, query parameters (percent-encoded names too)
        ("postgresql://:secret@db-host/optuna", "postgresql://:***@db-host/optuna"),
        ("postgresql://db-host/optuna?password=secret", "postgresql://db-host/optuna?password=***"),
        ("postgresql://u@h/d?sslmode=require&password=s%40cret&application_name=x",
         "postgresql://u@h/d?sslmode=require&password=***&application_name=x"),
        ("postgresql://h/d?pass%77ord=secret", "postgresql://h/d?pass%77ord=***"),
        ("postgresql://h/d?sslpassword=secret&PWD=two", "postgresql://h/d?sslpassword=***&PWD=***"),
        ("postgresql://u:se/cr?et@h/d", "postgresql://u:***@h/d"),  # SQLAlchemy: up to the @
        ("postgresql://h:5432/d?sslmode=require", "postgresql://h:5432/d?sslmode=require"),
        ("journal:///shared/a:b@c.log", "journal:///shared/a:b@c.log"),
        # texts holding a URL: an override, a command line
        ("hydra.sweeper.storage='postgresql://h/d?password=secret'",
         "hydra.sweeper.storage='postgresql://h/d?password=***'"),
        ("fmnist -m hydra.sweeper.storage=postgresql://:secret@h/d seed=1",
         "fmnist -m hydra.sweeper.storage=postgresql://:***@h/d seed=1"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_a_job_takes_the_real_url_from_the_environment(monkeypatch) -> None:
    real = "postgresql+psycopg2://optuna:secret@db/optuna"
    monkeypatch.setenv("OPTUNA_SWEEPER_STORAGE", real)
    assert storage_url(mask_url(real)) == real
    assert storage_url("sqlite:///x.db") == "sqlite:///x.db"
    monkeypatch.delenv("OPTUNA_SWEEPER_STORAGE")  # no secret at hand: let libpq find it
    assert storage_url(mask_url(real)) == "postgresql+psycopg2://optuna@db/optuna"
    for masked, bare in [("postgresql://:***@db/o", "postgresql://@db/o"),
                         ("postgresql://db/o?password=***", "postgresql://db/o"),
                         ("postgresql://db/o?sslmode=a&password=***", "postgresql://db/o?sslmode=a"),
                         ("postgresql://db/o?password=***&sslmode=a", "postgresql://db/o?sslmode=a")]:
        assert storage_url(masked) == bare


def _command_lines(but: int, command: list[str]) -> list[str]:
    """Command lines of every process but ``but`` (what ``ps`` shows), leaving out ``but``'s
    own ``command`` (the user typed it; a fork of the sweep shows it until its exec)."""
    own = " ".join(command) + " "
    lines = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(but):
            continue
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if line != own:
            lines.append(f"[pid {proc.name}] {line}")
    return lines


#: the URL forms a password comes in: (URL with {pw} for it, what multirun.yaml shows instead)
_FORMS = {
    "user_password": ("postgresql://postgres:{pw}@{host}", "postgres:***@"),
    "empty_user": ("postgresql://:{pw}@{host}", "postgresql://:***@"),  # libpq: PGUSER
    "query_password": ("postgresql://postgres@{host}?sslmode=disable&password={pw}",
                       "?sslmode=disable&password=***"),
}


@pytest.mark.postgres
@pytest.mark.parametrize(("given", "form"), [
    ("command_line_2_workers", "user_password"),
    pytest.param("command_line_2_workers", "empty_user", marks=pytest.mark.slow),
    pytest.param("command_line_2_workers", "query_password", marks=pytest.mark.slow),
    pytest.param("config_file_in_process", "user_password", marks=pytest.mark.slow),
    pytest.param("config_file_in_process", "query_password", marks=pytest.mark.slow),
])
def test_the_password_is_in_no_file_output_or_command_line(tmp_path: Path, given: str, form: str,
                                                           postgres_url: str) -> None:  # noqa: F811
    # postgresql:// with the installed driver (psycopg2) works; the server trusts loopback,
    # so any password connects, and each copy of it is a leak
    host = postgres_url.split("@", 1)[1]
    template, shown = _FORMS[form]
    url = template.format(pw=PASSWORD, host=host)
    in_file = given == "config_file_in_process"
    name = f"secret_{form}_{'file' if in_file else 'cli'}"  # one study each, in one database
    conf = _search(tmp_path, name, epochs=1, extra=f"    storage: '{url}'" if in_file else "")
    command = [sys.executable, "-m", "fmnist", "-m", f"hparams_search={name}",
               f"hydra.searchpath=[file://{conf}]", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               "hydra.sweeper.n_trials=2", f"hydra.sweeper.n_jobs={1 if in_file else 2}",
               *([] if in_file else [f"hydra.sweeper.storage='{url}'"])]
    proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PGUSER": "postgres"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen_in_ps = []
    while proc.poll() is None:
        seen_in_ps += [line for line in _command_lines(proc.pid, command) if PASSWORD in line]
        time.sleep(0.5)
    output = proc.communicate()[0]
    assert proc.returncode == 0, output[-3000:]
    assert not seen_in_ps, seen_in_ps[:2]
    assert PASSWORD not in output
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "hparams_search"]
    leaking = [str(p.relative_to(tmp_path)) for p in files if PASSWORD.encode() in p.read_bytes()]
    assert not leaking, leaking
    assert len(files) > 30 and any(p.name == "multirun.yaml" for p in files)
    assert shown in (tmp_path / "sweep" / "multirun.yaml").read_text()
    study = optuna.load_study(study_name=name, storage=postgres_url)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2


def test_postgresql_urls_name_the_installed_driver() -> None:
    import importlib
    import importlib.util

    storage = importlib.import_module("hydra_plugins.fmnist_optuna_sweeper.storage")
    url = "postgresql://optuna@db-host/optuna"
    if importlib.util.find_spec("psycopg") is None:  # this environment: psycopg2 only
        assert storage.normalise_url(url) == "postgresql+psycopg2://optuna@db-host/optuna"
        assert storage.normalise_url("postgres://u@h/d") == "postgresql+psycopg2://u@h/d"
    for kept in ("postgresql+psycopg2://u@h/d", "sqlite:///x.db", "mysql://u@h/d"):
        assert storage.normalise_url(kept) == kept
    assert storage.has_password("postgresql://u:p@h/d") and not storage.has_password(url)
