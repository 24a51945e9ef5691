"""``fmnist [overrides]`` (or ``python -m fmnist``): one training job; ``-m`` for a multirun or
a sweep. ``fmnist --help`` lists the config groups, the main knobs and examples."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from fmnist.errors import our_error
from fmnist.paths import absolute_environment, absolute_overrides
from fmnist.quiet import silence_libraries


def config_dir() -> str:
    """The Hydra configs: ``fmnist/conf`` in an installed wheel, ``conf/`` of a checkout
    (editable install). Absolute, so the command works from any directory."""
    here = Path(__file__).resolve().parent
    packaged = here / "conf"
    return str(packaged if packaged.is_dir() else here.parent / "conf")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def _app(cfg: DictConfig) -> float | tuple[float, ...]:
    from fmnist.quiet import import_tensorflow

    import_tensorflow()  # before Keras, so that its start-up block is silenced
    from fmnist.app import run

    try:
        return run(cfg)
    except Exception as exc:
        # a single run ends with the message alone; in a multirun the sweeper records the
        # failure (Hydra prints FmnistErrors compactly), and HYDRA_FULL_ERROR=1 keeps the traceback
        ours = our_error(exc)
        if (ours is None or os.environ.get("HYDRA_FULL_ERROR") == "1"
                or HydraConfig.get().mode == RunMode.MULTIRUN):
            raise
        _log_to_files(f"error: {ours}")  # the run directory says why it holds no results
        print(f"error: {ours}", file=sys.stderr)
        sys.exit(1)


def _log_to_files(message: str) -> None:
    """``message`` in the job's log files only (``fmnist.log``), not again on the console."""
    record = logging.LogRecord("fmnist", logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


#: what Hydra adds under the message of an error it prints compactly
HYDRA_HINT = "\nSet the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n"


class _WithoutHydraHint:
    """stderr less Hydra's hint under an error it prints compactly, so that an expected error
    (ours, the sweeper's, a bad override) is its message alone; under a traceback the hint
    stays, and everything else passes through."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._traceback = False

    def write(self, text: str) -> int:
        self._traceback = self._traceback or "Traceback (most recent call last)" in text
        if text == HYDRA_HINT and not self._traceback:
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    """The console script: TensorFlow is imported only when a job runs (``--help`` is quick)."""
    silence_libraries()
    if sys.argv and sys.argv[0].endswith("__main__.py"):
        sys.argv[0] = "fmnist"
    # relative paths mean the same in every process this one starts (fmnist/paths.py)
    absolute_environment(os.environ, Path.cwd())
    sys.argv[1:] = absolute_overrides(sys.argv[1:], Path.cwd())
    stderr = sys.stderr
    sys.stderr = _WithoutHydraHint(stderr)  # type: ignore[assignment]
    try:
        _app()
    finally:
        sys.stderr = stderr


if __name__ == "__main__":
    main()
