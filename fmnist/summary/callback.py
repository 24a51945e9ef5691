"""A Hydra callback that writes the sweep summary at the end of every multirun."""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["SummaryCallback"]

log = logging.getLogger(__name__)


class SummaryCallback(Callback):
    """On by default (``hydra.callbacks.summary.enabled=false`` switches it off). A failure
    to summarise is logged, never raised: the sweep's own results are already on disk."""

    def __init__(self, enabled: bool = True, top_n: int = 8) -> None:
        self.enabled, self.top_n = enabled, top_n

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        from fmnist.summary.report import summarize

        sweep_dir = config.hydra.sweep.dir
        try:
            report = summarize([sweep_dir], top_n=self.top_n, progress=True)
            log.info("Sweep summary: %s", report)
        except Exception as exc:
            log.error("Could not write the sweep summary of %s: %s", sweep_dir, exc)
