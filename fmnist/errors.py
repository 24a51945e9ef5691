"""The project's exception hierarchy: every error says what was wrong, with the value and the rule."""

from __future__ import annotations

import sys
from collections.abc import Callable

from hydra.errors import CompactHydraException

__all__ = [
    "ConfigError",
    "DataError",
    "FmnistError",
    "TrainingDiverged",
    "UnsafeFileError",
    "WeightsUnavailableError",
    "our_error",
    "run_cli",
]


class FmnistError(CompactHydraException):
    """Base class of every error raised on purpose by fmnist. A Hydra app prints its message
    alone (exit code 1, no traceback; ``HYDRA_FULL_ERROR=1`` shows one)."""


class DataError(FmnistError, ValueError):
    """A data file is missing, malformed or out of range."""


class UnsafeFileError(DataError):
    """A file would execute code or build objects other than plain arrays when loaded."""


class ConfigError(FmnistError, ValueError):
    """A configuration value breaks a rule (the message names the key, value and rule)."""


class TrainingDiverged(FmnistError, RuntimeError):
    """The loss became NaN or infinite; ``epoch`` (1-based) is where it was seen."""

    def __init__(self, message: str, epoch: int | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch


class WeightsUnavailableError(FmnistError, RuntimeError):
    """Pretrained weights were asked for but cannot be obtained (e.g. offline)."""


def our_error(exc: BaseException) -> FmnistError | None:
    """The :class:`FmnistError` that ``exc`` is or wraps (Hydra wraps errors raised inside
    ``instantiate``), else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FmnistError):
            return seen
        seen = seen.__cause__
    return None


def run_cli(action: Callable[[], object]) -> int:
    """Run a command-line action: print ``wrote <its result>`` and return 0, or print the
    message of the :class:`FmnistError` it raised (or that Hydra wrapped) to stderr and return 2
    (no traceback for bad input); any other exception propagates."""
    try:
        result = action()
    except Exception as exc:
        ours = our_error(exc)
        if ours is None:
            raise
        print(f"error: {ours}", file=sys.stderr)
        return 2
    print(f"wrote {result}")
    return 0
