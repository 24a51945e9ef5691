"""Processes a test marked: a sweep started with ``MARK=token`` in its environment passes the
mark to every process it starts, whoever starts it, so a test finds them all in Linux's
``/proc`` (as the sweep's own watchdog finds its token: ``reaper.py``)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from hydra_plugins.fmnist_optuna_sweeper.reaper import carries

__all__ = ["MARK", "kill_marked", "marked", "outliving"]

MARK = "FMNIST_ORPHAN_TEST"


def marked(token: str) -> list[int]:
    """The live processes whose environment holds ``MARK=token``."""
    entry = f"{MARK}={token}".encode()
    found = []
    for path in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if carries(path.read_bytes(), entry):
                found.append(int(path.parent.name))
    return found


def outliving(token: str, seconds: float) -> list[int]:
    """The marked processes still alive ``seconds`` from now (returns as soon as none is)."""
    deadline = time.monotonic() + seconds
    while (alive := marked(token)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def kill_marked(token: str) -> None:
    """SIGKILL every marked process: a failed test leaves nothing behind."""
    for pid in marked(token):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
