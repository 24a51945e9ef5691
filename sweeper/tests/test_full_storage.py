"""A full disk under the study's storage: the sweep stops with an error that names the storage
and what the system said (no traceback), the storage stays readable (a journal holds whole
lines only), no trial stays RUNNING once a later sweep has looked (the trial the failed sweep
held is failed: stale, or never started), and that later sweep completes the study to n_trials.

The disk is "full" through ``RLIMIT_FSIZE`` (no root needed): the sweep runs with a file size
limit just above the storage file's current size, and SIGXFSZ ignored, so a write past the
limit fails with ``EFBIG`` part-way, as one on a full disk fails with ``ENOSPC``. The limit
holds for every file the sweep writes; the others (its run directories, ``multirun.yaml``) stay
well below it, so what fails is the storage, as the error message shows."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from hydra_plugins.fmnist_optuna_sweeper.journal import HeartbeatJournalStorage, whole_lines
from hydra_plugins.fmnist_optuna_sweeper.stale import never_started
from hydra_plugins.fmnist_optuna_sweeper.storage import write_failure
from optuna.trial import TrialState
from sqlalchemy import exc as sa

SLEEPY = Path(__file__).resolve().parents[1] / "example" / "sleepy" / "app.py"
#: the later sweep fails a silent trial after 1 s (the default grace is twice 30 s)
QUICK_STALE = ("hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=1")


def _limited(size: int) -> Callable[[], None]:
    def limit() -> None:  # in the sweep's process, before it starts
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not kills
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def _sweep(tmp_path: Path, url: str, n_trials: int, *overrides: str,
           limit: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SLEEPY), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
         f"hydra.sweeper.storage={url}", f"hydra.sweeper.n_trials={n_trials}", "seconds=0",
         *overrides], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        preexec_fn=None if limit is None else _limited(limit))


def _trials(url: str, path: Path) -> list[optuna.trial.FrozenTrial]:
    storage = HeartbeatJournalStorage(path) if url.startswith("journal") else url
    return optuna.load_study(study_name="sleepy", storage=storage).get_trials()


#: case -> (storage, jobs at once, trials before, bytes of room above the storage file's size,
#: the system's words). With one job at a time (in the sweep's process) a journal grows by
#: ~310 bytes to open the study again, then per trial by ~146 (the trial), ~285 (its
#: parameter), ~122 (a fixed setting), ~147 (the heartbeat), 2 x 143 (the job's reports), ~144
#: (its directory), ~189 (its state): 600 bytes cut the parameter's line (the claim), 1530 the
#: state's (the tell). SQLite's write-ahead log outgrows the database's size within the first
#: trials. Two subprocess workers: their jobs write to the storage too (slow: their processes).
CASES = {
    "journal, full during a claim": ("journal", 1, 6, 600, "File too large"),
    "journal, full during a tell": ("journal", 1, 6, 1530, "File too large"),
    "sqlite": ("sqlite", 1, 2, 300, "disk I/O error"),
    "journal, two workers": ("journal", 2, 6, 1530, "File too large"),
    "sqlite, two workers": ("sqlite", 2, 2, 300, "disk I/O error"),
}


@pytest.mark.parametrize("case", [pytest.param(case, marks=[pytest.mark.slow] if "workers" in case else [])
                                  for case in CASES])
def test_a_full_storage_disk_stops_the_sweep_and_leaves_no_trial_running(tmp_path: Path,
                                                                         case: str) -> None:
    kind, n_jobs, before, room, said = CASES[case]
    path = tmp_path / ("study.log" if kind == "journal" else "study.db")
    url = f"journal://{path}" if kind == "journal" else f"sqlite:///{path}"
    n_trials, jobs = before + 3, f"hydra.sweeper.n_jobs={n_jobs}"
    assert _sweep(tmp_path, url, before, jobs).returncode == 0

    full = _sweep(tmp_path, url, n_trials, jobs, limit=path.stat().st_size + room)
    out = full.stdout + full.stderr
    assert full.returncode == 1, out[-3000:]
    assert f"cannot write to the study's storage {url}: " in out and said in out, out[-3000:]
    assert "Traceback" not in out
    if kind == "journal":
        assert path.read_bytes().endswith(b"\n")  # whole lines: every reader can read it
    held = [t.number for t in _trials(url, path) if t.state == TrialState.RUNNING]
    assert held, "the storage should have filled up during a trial"

    time.sleep(1.1)  # the held trial is silent for longer than the later sweep's grace period
    later = _sweep(tmp_path, url, n_trials, jobs, *QUICK_STALE)
    assert later.returncode == 0, (later.stdout + later.stderr)[-3000:]
    trials = _trials(url, path)
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert all(trials[n].state == TrialState.FAIL for n in held)
    unstarted = {t.number for t in trials if never_started(t)}  # failed with the reason
    assert all(trials[n].user_attrs["error"] for n in unstarted)
    assert len(trials) - len(unstarted) == n_trials  # the study is complete
    assert all(t.state == TrialState.COMPLETE for t in trials if t.number not in {*held, *unstarted})


# ----------------------------------------------------------------------------- the journal


def test_a_journal_append_that_finds_no_room_leaves_the_journal_whole(tmp_path: Path) -> None:
    path = tmp_path / "study.log"
    study = optuna.create_study(study_name="s", storage=HeartbeatJournalStorage(path))
    study.enqueue_trial({"x": 1.0})
    whole = path.stat().st_size
    # a writer whose file size limit lets half a line through
    fill = (f"import optuna; from hydra_plugins.fmnist_optuna_sweeper.journal import "
            f"HeartbeatJournalStorage as H; s = optuna.load_study(study_name='s', "
            f"storage=H({str(path)!r})); s.set_user_attr('big', 'x' * 400)")
    proc = subprocess.run([sys.executable, "-c", fill], capture_output=True, text=True, timeout=120,
                          preexec_fn=_limited(whole + 200))
    assert "File too large" in proc.stderr
    assert path.stat().st_size == whole  # cut back: no half line
    study.set_user_attr("after", 1)  # appends and reads go on
    assert optuna.load_study(study_name="s", storage=HeartbeatJournalStorage(path)).user_attrs == {
        "after": 1}


def test_an_unfinished_last_line_is_cut_off_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "study.log"
    study = optuna.create_study(study_name="s", storage=HeartbeatJournalStorage(path))
    with open(path, "ab") as f:  # what Optuna's own backend leaves on a full disk
        f.write(b'{"op_code":8,"worker_id":"w","stud')
    study.set_user_attr("after", 1)
    assert path.read_bytes().endswith(b'"after":1}}\n')
    assert optuna.load_study(study_name="s", storage=HeartbeatJournalStorage(path)).user_attrs == {
        "after": 1}


@pytest.mark.parametrize(("content", "chunk", "size"), [
    (b"", 4096, 0),
    (b"a\n", 4096, 2),
    (b"a\nb\n", 4096, 4),
    (b"a\nbc", 4096, 2),  # a line cut part-way
    (b"abc", 4096, 0),  # the first line cut
    (b"a\n" + b"b" * 10, 4, 2),  # the last newline several chunks back
    (b"a" * 9 + b"\n", 4, 10),
])
def test_whole_lines(tmp_path: Path, content: bytes, chunk: int, size: int) -> None:
    (tmp_path / "f").write_bytes(content)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert whole_lines(fd, chunk) == size
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- the words


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(("exc", "said"), [
    (OSError(errno.ENOSPC, "No space left on device"), "[Errno 28] No space left on device"),
    (OSError(errno.EFBIG, "File too large"), "[Errno 27] File too large"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "[Errno 122] Disk quota exceeded"),
    (OSError(errno.EACCES, "Permission denied"), None),
    (OSError(errno.ENOENT, "No such file: quota.txt"), None),  # an OSError's errno decides
    (sa.OperationalError("INSERT ...", {}, Exception("database or disk is full")),
     "(builtins.Exception) database or disk is full"),
    (_caused(optuna.exceptions.StorageInternalError("An exception is raised during the commit."),
             sa.OperationalError("COMMIT", {}, Exception("disk I/O error"))),
     "(builtins.Exception) disk I/O error"),
    (_caused(RuntimeError("wrapped"), OSError(errno.ENOSPC, "No space left on device")),
     "[Errno 28] No space left on device"),
    (sa.OperationalError("x", {}, Exception("database is locked")), None),
    (ValueError("bad"), None),
])
def test_write_failure(exc: BaseException, said: str | None) -> None:
    assert write_failure(exc) == said
