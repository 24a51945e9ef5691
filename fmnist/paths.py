"""Paths a user gives, made absolute where the command starts, so that they mean the same in
every process it starts: a sweep's worker, a launcher's job, a test's subprocess started in a
temporary directory.

``FMNIST_DATA_DIR=../shared/data/fashion-mnist fmnist ...`` and
``fmnist data.directory=../data hydra.sweeper.storage=sqlite:///outputs/optuna.db`` name files
relative to the directory the command was started in. A child process that starts elsewhere
would read them against its own directory, so the ``fmnist`` command rewrites them once, at
start-up: the environment variables in :data:`PATH_VARIABLES` and the command-line overrides of
:data:`PATH_KEYS` (plain ``key=value`` ones; a sweep over several paths, ``a,b``, is left as
written). The sweeper does the same for its storage URL. The run's saved overrides then name the
files it really read, so ``fmnist.evaluate`` finds them from any directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping, Sequence
from pathlib import Path

__all__ = ["PATH_KEYS", "PATH_VARIABLES", "absolute_environment", "absolute_override",
           "absolute_overrides"]

#: environment variables that name a file or directory
PATH_VARIABLES = ("FMNIST_DATA_DIR", "FMNIST_KAGGLE_TRAIN", "FMNIST_KAGGLE_PREDICT")
#: config keys that name a file or directory
PATH_KEYS = ("data.directory", "data.path", "data.predict_path", "optuna.artifact_dir",
             "paths.output_dir", "hydra.run.dir", "hydra.sweep.dir")

#: a value Hydra reads as one plain string (no quotes, interpolation, sweep or list)
_PLAIN = re.compile(r"^[A-Za-z0-9_.+\-/@%]+$")


def _absolute(value: str, cwd: Path) -> str:
    """``value`` against ``cwd`` when it is a relative path; as it is otherwise."""
    if not value or value.startswith("~") or os.path.isabs(value):
        return value
    return os.path.normpath(cwd / value)


def absolute_environment(environ: MutableMapping[str, str], cwd: Path,
                         names: Sequence[str] = PATH_VARIABLES) -> None:
    """Make the path variables ``names`` of ``environ`` absolute against ``cwd`` (in place).

    >>> env = {"FMNIST_DATA_DIR": "../shared/data"}
    >>> absolute_environment(env, Path("/work/repo"))
    >>> env["FMNIST_DATA_DIR"]
    '/work/shared/data'
    """
    for name in names:
        value = environ.get(name)
        if value:
            environ[name] = _absolute(value, cwd)


def absolute_override(text: str, cwd: Path, keys: Sequence[str] = PATH_KEYS) -> str:
    """One command-line argument with a relative path value of ``keys`` made absolute.

    >>> absolute_override("data.directory=../data", Path("/work/repo"))
    'data.directory=/work/data'
    >>> absolute_override("data.directory=a,b", Path("/work/repo"))   # a sweep: as written
    'data.directory=a,b'
    >>> absolute_override("trainer.epochs=2", Path("/work/repo"))
    'trainer.epochs=2'
    """
    key, sep, value = text.partition("=")
    if not sep or key.lstrip("+~") not in keys or value == "null" or not _PLAIN.match(value):
        return text
    path = _absolute(value, cwd)
    if not _PLAIN.match(path):
        path = "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"{key}={path}"


def absolute_overrides(args: Sequence[str], cwd: Path, keys: Sequence[str] = PATH_KEYS) -> list[str]:
    """:func:`absolute_override` of every argument (flags such as ``-m`` pass unchanged)."""
    return [arg if arg.startswith("-") else absolute_override(arg, cwd, keys) for arg in args]

