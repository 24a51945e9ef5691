"""The sweeper's exceptions."""

from __future__ import annotations

from hydra.errors import CompactHydraException

__all__ = ["SweepError"]


class SweepError(CompactHydraException):
    """The sweep cannot start or had to stop; the message says why. Hydra prints the message
    alone and exits 1 (``HYDRA_FULL_ERROR=1`` shows the traceback)."""
