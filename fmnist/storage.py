"""The Optuna storage URL a sweep's job reports to.

A sweep gives its jobs the storage URL with the password masked (``optuna.storage``, saved in
the run's config) and the real URL in the ``OPTUNA_SWEEPER_STORAGE`` environment variable,
which no file, log or command line holds. :func:`storage_url` picks the real one for the
masked one; a masked URL with no such variable (the summariser reading an old run) drops the
``:***`` and the masked query parameters (``password=***``) so that the PostgreSQL client finds
the password in ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import os
import re

# the sweeper's own masking and variable name, so that both sides agree on them
from hydra_plugins.fmnist_optuna_sweeper.storage import STORAGE_ENV, mask_url

__all__ = ["STORAGE_ENV", "mask_url", "storage_url"]


def storage_url(configured: str) -> str:
    """The URL to connect to for ``configured`` (a URL from the run's config).

    >>> storage_url("sqlite:///outputs/optuna.db")
    'sqlite:///outputs/optuna.db'
    """
    real = os.environ.get(STORAGE_ENV)
    if real and mask_url(real) == configured:
        return real
    # no secret at hand: drop the masked parts, so that libpq looks in PGPASSWORD / ~/.pgpass
    unmasked = configured.replace(":***@", "@", 1)
    unmasked = re.sub(r"(?<=[?&])[^=&#]*=\*\*\*(&|$)", "", unmasked)
    return unmasked.rstrip("?&")
