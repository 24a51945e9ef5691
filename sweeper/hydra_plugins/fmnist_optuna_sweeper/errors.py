"""The sweeper's exceptions."""

from __future__ import annotations

from hydra.errors import HydraException

__all__ = ["SweepError"]


class SweepError(HydraException):
    """The sweep cannot start or had to stop; the message says why."""
