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
from optuna.trial import TrialState

from fmnist.storage import mask_url, storage_url
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


def _command_lines(but: int) -> list[str]:
    """Command lines of every process but ``but`` (what ``ps`` shows)."""
    lines = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or proc.name == str(but):
            continue
        try:
            lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return lines


@pytest.mark.postgres
@pytest.mark.parametrize("given", ["command_line_2_workers",
                                   pytest.param("config_file_in_process", marks=pytest.mark.slow)])
def test_the_password_is_in_no_file_output_or_command_line(tmp_path: Path, given: str,
                                                           postgres_url: str) -> None:  # noqa: F811
    # postgresql:// with the installed driver (psycopg2) works; the server trusts loopback,
    # so any password connects, and each copy of it is a leak
    url = postgres_url.replace("postgresql+psycopg2://postgres@",
                               f"postgresql://postgres:{PASSWORD}@")
    in_file = given == "config_file_in_process"
    conf = _search(tmp_path, "secret", epochs=1, extra=f"    storage: {url}" if in_file else "")
    command = [sys.executable, "-m", "fmnist", "-m", "hparams_search=secret",
               f"hydra.searchpath=[file://{conf}]", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               "hydra.sweeper.n_trials=2", f"hydra.sweeper.n_jobs={1 if in_file else 2}",
               *([] if in_file else [f"hydra.sweeper.storage={url}"])]
    proc = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen_in_ps = []
    while proc.poll() is None:
        seen_in_ps += [line for line in _command_lines(but=proc.pid) if PASSWORD in line]
        time.sleep(0.5)
    output = proc.communicate()[0]
    assert proc.returncode == 0, output[-3000:]
    assert not seen_in_ps, seen_in_ps[:2]
    assert PASSWORD not in output
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "hparams_search"]
    leaking = [str(p.relative_to(tmp_path)) for p in files if PASSWORD.encode() in p.read_bytes()]
    assert not leaking, leaking
    assert len(files) > 30 and any(p.name == "multirun.yaml" for p in files)
    assert "postgres:***@" in (tmp_path / "sweep" / "multirun.yaml").read_text()
    study = optuna.load_study(study_name="secret", storage=postgres_url)
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
