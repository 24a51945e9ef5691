"""Files written whole or not at all: a temporary file beside the target, renamed over it.

A sweep's files are read while it runs (the dashboard, a resumed sweep, the summariser) and
survive it: a full disk, a kill or an exception half-way through a write must leave the old
file, or none, never a truncated one. Every artifact a run or a sweep writes
(``optimization_results.yaml``, ``multirun.yaml``, ``model.keras``, ``metrics.json``, CSV
files, figures, the summary) goes through :func:`atomic_path`: the writer writes a temporary
file in the same directory (same file system, so the rename is atomic), which is flushed to
disk and renamed over the target only when the writer returns; on any error it is removed.

The temporary name keeps the target's suffix (``.model.x1y2.part.keras``), as Keras and
Matplotlib choose the format from it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_bytes", "write_text"]

#: permissions of a new file (an existing file keeps its own)
_NEW_MODE = 0o644


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed over ``path`` when the
    block ends without an error, removed otherwise.

    >>> import json, tempfile
    >>> target = Path(tempfile.mkdtemp()) / "metrics.json"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text(json.dumps({"accuracy": 0.9}))
    >>> target.read_text()
    '{"accuracy": 0.9}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as written:  # on disk before it replaces the old file
                os.fsync(written.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else _NEW_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """``Path(path).write_text(text)``, whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """``Path(path).write_bytes(data)``, whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
