"""No orphans: every process a sweep starts ends within seconds of the sweep's death, by any
signal (``kill -9`` included).

Before it starts any process, the sweep puts a token of its own in its environment
(``OPTUNA_SWEEPER_SWEEP``), which every process it starts inherits, whoever starts it: its
subprocess workers and their children, joblib's loky workers and the resource trackers they
share, submitit's local controllers and jobs, a local Ray cluster. It also starts a small
watchdog (this file run as a script, in a session of its own so that a signal to the sweep's
process group spares it) that waits for the sweep to end. When the sweep ends normally it says
so and the watchdog exits; when the sweep dies (its parent changes, or its pipe closes without
that word) the watchdog interrupts (SIGINT, as Ctrl-C would) every process whose environment
holds the token, kills (SIGKILL) those still alive ``grace`` seconds later, and exits once none
is left. Processes are found through ``/proc/<pid>/environ``: Linux only (elsewhere no
watchdog is started, and a job still stops with its sweep: ``callbacks.stop_with_parent``).

The script uses the standard library only: it runs as ``python -I reaper.py TOKEN GRACE``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["DONE", "SWEEP_ENV", "carriers", "carries", "main", "reap", "wait_for_end", "watching"]

#: the sweep's token, in the environment of every process it starts
SWEEP_ENV = "OPTUNA_SWEEPER_SWEEP"
#: what the sweep writes to the watchdog when it ends normally
DONE = b"done\n"
_PROC = Path("/proc")


def carries(environ: bytes, entry: bytes) -> bool:
    """Whether a ``/proc/<pid>/environ`` block (``NAME=value`` entries, NUL-separated) holds
    ``entry`` exactly."""
    return entry in environ.split(b"\0")


def carriers(token: str, proc: Path = _PROC, exclude: frozenset[int] = frozenset()) -> list[int]:
    """The processes (of this user: the others' environments cannot be read) whose environment
    holds ``SWEEP_ENV=token``, less ``exclude``. A zombie's environment reads empty."""
    entry = f"{SWEEP_ENV}={token}".encode()
    found = []
    for path in proc.glob("[0-9]*/environ"):
        pid = int(path.parent.name)
        if pid in exclude:
            continue
        try:
            if carries(path.read_bytes(), entry):
                found.append(pid)
        except OSError:  # gone, or not ours
            continue
    return sorted(found)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def reap(scan: Callable[[], list[int]], grace: float, *, poll: float = 0.2,
         kill: Callable[[int, int], None] = _signal, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep, give_up: float = 30.0) -> list[int]:
    """End the processes that ``scan()`` finds: SIGINT each once when first seen, SIGKILL those
    still found ``grace`` seconds after the start; return when none is found (or ``give_up``
    seconds after the kills). Returns every process it signalled."""
    start = clock()
    interrupted: list[int] = []
    while pids := scan():
        late = clock() - start >= grace
        for pid in pids:
            if late:
                kill(pid, signal.SIGKILL)
            elif pid not in interrupted:
                kill(pid, signal.SIGINT)
                interrupted.append(pid)
        if clock() - start >= grace + give_up:
            break
        sleep(poll)
    return interrupted


def wait_for_end(fd: int, parent: int, poll: float = 0.2,
                 getppid: Callable[[], int] = os.getppid) -> bool:
    """Wait until the sweep ends; True if it died (this process's parent is no longer
    ``parent``, or the pipe ``fd`` closed without :data:`DONE`), False if it said it is done."""
    received = b""
    while getppid() == parent:
        ready, _, _ = select.select([fd], [], [], poll)
        if not ready:
            continue
        chunk = os.read(fd, 64)
        if not chunk:
            return not received.startswith(DONE)
        received += chunk
        if received.startswith(DONE):
            return False
    return True


def main(argv: list[str]) -> int:
    """The watchdog: ``reaper.py TOKEN GRACE``, its stdin the sweep's pipe."""
    token, grace = argv[0], float(argv[1])
    parent = os.getppid()
    if wait_for_end(sys.stdin.fileno(), parent):
        ended = reap(lambda: carriers(token, exclude=frozenset({os.getpid()})), grace)
        if ended:
            print(f"[optuna sweeper] the sweep (process {parent}) died: ended the {len(ended)} "
                  f"process(es) it had started: {ended}", file=sys.stderr, flush=True)
    return 0


@contextlib.contextmanager
def watching(grace: float = 5.0) -> Iterator[str | None]:
    """Run a sweep under a watchdog (see the module docstring): the token is in this process's
    environment meanwhile (yielded; None where there is no ``/proc``, and no watchdog)."""
    if not (_PROC / str(os.getpid()) / "environ").exists():
        yield None
        return
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    previous = os.environ.get(SWEEP_ENV)
    os.environ[SWEEP_ENV] = token
    watchdog = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), token, str(grace)],
                                stdin=subprocess.PIPE, start_new_session=True)
    assert watchdog.stdin is not None
    try:
        yield token
    finally:
        with contextlib.suppress(OSError):
            watchdog.stdin.write(DONE)
            watchdog.stdin.close()
        watchdog.wait()
        if previous is None:
            os.environ.pop(SWEEP_ENV, None)
        else:
            os.environ[SWEEP_ENV] = previous


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
