"""A worker process that stays: it runs one job after another of the app, so that what the app
imports (TensorFlow, Keras: several seconds of CPU) and what it caches is paid for once per
sweep worker rather than once per trial (``hydra.sweeper.reuse_workers``, on by default).

The sweep starts it as ``python -m hydra_plugins.fmnist_optuna_sweeper.resident -m APP`` (or
``... resident PATH/app.py``: the two ways a worker command can start a Python app) and writes
one job per line to its stdin: ``{"argv": [...], "env": {...}, "log": PATH}``. The worker runs
the app as ``python -m APP ARGV`` would (``runpy``, the app's ``__main__`` with Hydra's single
run), its output going to ``log``, with ``env`` added to its environment for that job, then
answers ``{"rc": N}`` on its own stdout and clears what Hydra (and Keras) hold between runs.
It exits at the end of its stdin, after a job that Ctrl-C (SIGINT) stopped, and after 25 jobs
(``OPTUNA_SWEEPER_JOBS_PER_PROCESS``: what a job leaves behind stays bounded; ``stop`` in its
answer tells the sweep to start a fresh process for the next job).

A job that kills the process (a crash, ``os._exit``) ends the worker; the sweep reads the job's
log and result file as it does for a process per job, and starts a new worker for the next.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import runpy
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from hydra_plugins.fmnist_optuna_sweeper.callbacks import obey_sigint

__all__ = ["JOBS_ENV", "Resident", "jobs_per_process", "resident_command"]

_MODULE = "hydra_plugins.fmnist_optuna_sweeper.resident"
#: jobs a worker process runs before a fresh one takes over (:func:`jobs_per_process`)
JOBS_ENV = "OPTUNA_SWEEPER_JOBS_PER_PROCESS"
DEFAULT_JOBS_PER_PROCESS = 25


def resident_command(command: Sequence[str]) -> list[str] | None:
    """The command of a resident worker for a worker ``command`` that starts a Python app
    (``[python, -m, NAME]`` or ``[python, SCRIPT]``, the script a file: ``app.py`` or a
    console script), else ``None`` (any other program: one process per job)."""
    if len(command) == 3 and command[1] == "-m" and _is_python(command[0]):
        return [command[0], "-m", _MODULE, "-m", command[2]]
    if len(command) == 2 and _is_python(command[0]) and os.path.isfile(command[1]):
        return [command[0], "-m", _MODULE, os.path.abspath(command[1])]
    return None


def _is_python(program: str) -> bool:
    return os.path.basename(program).startswith("python") or program == sys.executable


class Resident:
    """The sweep's side of one resident worker: :meth:`run` a job in it (starting it first when
    none is alive), :meth:`close` to let it exit."""

    def __init__(self, command: list[str], cwd: str) -> None:
        self.command, self.cwd = command, cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._guard = threading.Lock()

    def start(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """The worker's process, started with ``env`` when none is alive (its own session: a
        Ctrl-C in the terminal reaches the sweep only, which then interrupts its jobs itself)."""
        with self._guard:
            if self.proc is None or self.proc.poll() is not None:
                if self.proc is not None:  # it died in its last job
                    _close_pipes(self.proc)
                self.proc = subprocess.Popen(
                    self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, env=env, cwd=self.cwd, start_new_session=True)
            return self.proc

    def run(self, argv: list[str], env: dict[str, str], log: Path) -> int:
        """Run one job (the app's arguments ``argv``, ``env`` added to its environment, its
        output into ``log``) and return its exit status; a negative one (the signal) or 1
        when the worker died during the job."""
        proc = self.start(env)
        assert proc.stdin is not None and proc.stdout is not None
        job = json.dumps({"argv": argv, "env": env, "log": str(log)})
        try:
            proc.stdin.write(job.encode() + b"\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            answer = b""
        if not answer:  # the worker died: its status says how
            return proc.wait() or 1
        reply = json.loads(answer)
        if reply.get("stop"):
            self.close()
        return int(reply["rc"])

    def close(self, timeout: float = 10.0) -> None:
        """End the worker: the end of its stdin, then SIGKILL if it has not exited in
        ``timeout`` seconds."""
        with self._guard:
            proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _close_pipes(proc)


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


# ----------------------------------------------------------------------------- the worker


def _run_app(target: list[str], argv: list[str]) -> int:
    """Run the app (``['-m', NAME]`` or ``[PATH]``) with ``argv`` as ``python`` would; its exit
    status."""
    try:
        if target[0] == "-m":
            sys.argv = [target[1], *argv]
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = [target[0], *argv]
            runpy.run_path(target[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _clear() -> None:
    """Forget what the finished run left in Hydra's singletons and Keras's session."""
    with contextlib.suppress(Exception):
        from hydra.core.global_hydra import GlobalHydra

        GlobalHydra.instance().clear()
    keras = sys.modules.get("keras")
    if keras is not None:
        with contextlib.suppress(Exception):
            keras.backend.clear_session()
    gc.collect()


def _job(target: list[str], job: dict[str, Any], cwd: str) -> tuple[int, bool]:
    """One job, its output into its log; (exit status, whether Ctrl-C stopped it).

    The job gets streams of its own on file descriptors 1 and 2: a library that closes the
    stream it was given (absl's log handler closes a stream that is no longer ``sys.stderr``
    when the next job's logging replaces it) closes that job's, never the next one's."""
    environ, path, streams = dict(os.environ), sys.path[:], (sys.stdout, sys.stderr)
    for stream in streams:
        stream.flush()
    interrupted = False
    with open(job["log"], "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        # left open after the job: whoever kept a reference writes on (into a later log)
        sys.stdout, sys.stderr = (open(fd, "w", buffering=1, closefd=False, encoding="utf-8",  # noqa: SIM115
                                       errors="backslashreplace") for fd in (1, 2))
        os.environ.update(job["env"])
        try:
            code = _run_app(target, list(job["argv"]))
        except KeyboardInterrupt:  # Ctrl-C of the sweep: the job recorded its failure
            code, interrupted = 130, True
        except BaseException as exc:  # the job's error, as python would print it
            traceback.print_exception(exc, file=sys.__stderr__)
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(ValueError, OSError):
                    stream.flush()
            sys.stdout, sys.stderr = streams
            os.environ.clear()
            os.environ.update(environ)
            sys.path[:] = path
            os.chdir(cwd)
    return code, interrupted


def main(args: list[str]) -> int:
    """Serve jobs from stdin until its end (see the module docstring)."""
    target = args[:2] if args[:1] == ["-m"] else args[:1]
    if not target or (target[0] == "-m" and len(target) < 2):
        print("usage: python -m hydra_plugins.fmnist_optuna_sweeper.resident (-m MODULE | SCRIPT)",
              file=sys.stderr)
        return 2
    if target[0] != "-m":  # as `python SCRIPT` does: the script's directory first on the path
        sys.path.insert(0, str(Path(target[0]).resolve().parent))
    obey_sigint()  # the sweep interrupts a job with SIGINT (Ctrl-C of the sweep)
    answers: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
    cwd = os.getcwd()
    limit = jobs_per_process(os.environ)
    done = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        code, interrupted = _job(target, json.loads(line), cwd)
        done += 1
        stop = interrupted or done >= limit  # after its limit: a fresh process for the next job
        answers.write(json.dumps({"rc": code, "stop": stop}) + "\n")  # the sweep goes on
        if stop:
            return 130 if interrupted else 0
        _clear()  # while the sweep samples the next trial
    return 0


def jobs_per_process(environ: Mapping[str, str]) -> int:
    """How many jobs a worker process runs before it makes way for a fresh one: what a job
    leaves behind that clearing does not free (Keras and TensorFlow keep about 20 MiB per
    fmnist job) stays bounded. ``OPTUNA_SWEEPER_JOBS_PER_PROCESS`` (default 25)."""
    text = environ.get(JOBS_ENV, "")
    return int(text) if text.isdigit() and int(text) >= 1 else DEFAULT_JOBS_PER_PROCESS


def _exit(code: int) -> None:
    """Exit at once: the jobs' files are written and closed, and an interpreter holding
    TensorFlow takes 1-2 s to tear it down, which the sweep would wait for."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError, OSError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main(sys.argv[1:]))
