"""Start-up noise of TensorFlow, Optuna and Hydra, silenced once per process while our own
warnings (and TensorFlow's real errors) stay.

TensorFlow 2.21 writes an ``absl`` block to the process's stderr while it loads (before
``TF_CPP_MIN_LOG_LEVEL`` is read), once per shared library, and a ``cuInit`` error on machines
without a GPU. :func:`import_tensorflow` loads it with file descriptor 2 captured and writes back
every line that is not one of those known start-up lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType

__all__ = ["NOISE", "SingleLaunchFilter", "import_tensorflow", "is_noise", "silence_libraries"]

#: stderr lines of TensorFlow's start-up that carry no information for a user
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]"          # absl INFO / WARNING lines
    r"|E\d{4} [\d:. ]+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|.*use_unbounded_threadpool which is not in the op definition)"
)


def is_noise(line: str) -> bool:
    """Whether one stderr line is TensorFlow start-up chatter."""
    return bool(NOISE.match(line))


@contextlib.contextmanager
def _captured_stderr() -> Iterator[None]:
    """Capture file descriptor 2 (C++ writes too) and replay its lines that are not noise."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. pytest's capture)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().decode(errors="replace").splitlines()
                    if line.strip() and not is_noise(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def import_tensorflow() -> ModuleType:
    """``import tensorflow`` (and its device discovery) without the start-up block."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    silence_libraries()
    with _captured_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf


class SingleLaunchFilter(logging.Filter):
    """Drops Hydra's "Launching 1 jobs locally" (said once per trial by a sweeper); a
    multirun's "Launching 4 jobs locally" stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Launching 1 jobs locally")


def silence_libraries() -> None:
    """Environment and filters for TensorFlow, absl, Optuna and Hydra (idempotent)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # Optuna: "... is experimental (supported from vX). The interface can change in the future."
    warnings.filterwarnings("ignore", message=r".*is experimental \(supported from v")
    warnings.filterwarnings("ignore", message=r".*Argument ``\w+`` is an experimental feature")
    launcher = logging.getLogger("hydra._internal.core_plugins.basic_launcher")
    if not any(isinstance(f, SingleLaunchFilter) for f in launcher.filters):
        launcher.addFilter(SingleLaunchFilter())
