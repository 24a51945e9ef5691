"""The project's exception hierarchy: every error says what was wrong, with the value and the rule."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "FmnistError",
    "UnsafeFileError",
    "WeightsUnavailableError",
]


class FmnistError(Exception):
    """Base class of every error raised on purpose by fmnist."""


class DataError(FmnistError, ValueError):
    """A data file is missing, malformed or out of range."""


class UnsafeFileError(DataError):
    """A file would execute code or build objects other than plain arrays when loaded."""


class ConfigError(FmnistError, ValueError):
    """A configuration value breaks a rule (the message names the key, value and rule)."""


class WeightsUnavailableError(FmnistError, RuntimeError):
    """Pretrained weights were asked for but cannot be obtained (e.g. offline)."""
